"""A user's own activation: from a sympy expression to a verified kernel.

Run: ``python examples/custom_activation.py``. Mish, x * tanh(softplus(x)), written with sympy's
``log(1 + exp(x))``: symnn recognises it as its stable softplus, so the kernel stays finite at +-1000.
"""

import numpy as np
import sympy as sp

from symnn import compile, grad
from symnn.layers import Activation, Linear, Sequential
from symnn.printing import to_text
from symnn.trace import trace
from verify import gradcheck

x = sp.Symbol("x", real=True)
mish = Activation(x * sp.tanh(sp.log(1 + sp.exp(x))), x)
print("activation:", mish)
print("its derivative, by sympy:", sp.simplify(sp.diff(x * sp.tanh(sp.log(1 + sp.exp(x))), x)))

graph = trace(Sequential(Linear(3, 5), mish, Linear(5, 1)), "mse", {"x": (8, 3)})
print(to_text(grad(graph)))

report = gradcheck(graph, seed=1)
print(report)
assert report.ok

kernel = compile(grad(graph))
far = {name: np.full(shape, 1000.0) for name, shape in kernel.inputs.items()}
out = kernel(far)
print("at inputs of 1000 every output is finite:", all(np.all(np.isfinite(v)) for v in out.values()))
assert all(np.all(np.isfinite(v)) for v in out.values())
