"""A user's scalar sympy model: its gradient, a flat-vector kernel, scipy.optimize.minimize, the oracles.

Run: ``python examples/scalar_formula.py [--quick]``. A damped oscillation
y(t) = A exp(-k t) cos(w t + phi) is fitted to noisy samples by least squares. The loss is one
scalar sympy expression over the four parameters and the samples (data inputs); ``formula``
turns it into a graph, ``grad`` differentiates it, and ``compile_flat`` gives a kernel that takes
all parameters as one vector and returns (loss, gradient vector): what
``scipy.optimize.minimize(..., jac=True)`` calls. The kernel's gradient is checked against the
complex-step oracle (independent of symnn's derivatives and code generator) and against finite
differences. A second model, a two-layer network written with MatrixSymbols, shows that matrix
expressions work too (``verify.gradcheck`` runs every oracle on it).
"""

import argparse

import numpy as np
import sympy as sp
from scipy.optimize import minimize

from symnn import grad
from symnn.codegen.flat import compile_flat
from symnn.formula import formula
from symnn.functions import sigmoid
from verify import gradcheck
from verify.oracles import complex_step, finite_differences

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--quick", action="store_true", help="fewer samples (CI)")
n = 40 if ap.parse_args().quick else 200

# -- the model, as a sympy user writes it -----------------------------------------------------------------
A, k, w, phi = sp.symbols("A k w phi", real=True)
ts = sp.symbols(f"t0:{n}", real=True)
ys = sp.symbols(f"y0:{n}", real=True)
loss = sp.Add(*((A * sp.exp(-k * t) * sp.cos(w * t + phi) - y) ** 2 for t, y in zip(ts, ys, strict=True))) / n

graph = formula(loss, params=[A, k, w, phi], inputs=[*ts, *ys])
kernel = compile_flat(grad(graph))
print(f"loss graph: {len(graph)} nodes; gradient kernel: {kernel}")
print("parameter layout (name -> slice of theta):", kernel.params.slices)

# -- data: the true curve plus noise ------------------------------------------------------------------------
rng = np.random.default_rng(0)
truth = {"A": 1.5, "k": 0.3, "w": 2.0, "phi": 0.4}
t_data = np.linspace(0.0, 6.0, n)
y_data = truth["A"] * np.exp(-truth["k"] * t_data) * np.cos(truth["w"] * t_data + truth["phi"])
y_data += 0.02 * rng.normal(size=n)
data = kernel.inputs.ravel({**{f"t{i}": t_data[i] for i in range(n)}, **{f"y{i}": y_data[i] for i in range(n)}})

# -- the oracles check the kernel's gradient at the starting point --------------------------------------------
start = kernel.params.ravel({"A": 1.0, "k": 0.1, "w": 1.8, "phi": 0.0})
value, gradient = kernel.value_and_grad(start, data)
point = {**kernel.params.unravel(start), **kernel.inputs.unravel(data)}
basis = [{name: np.float64(1.0)} for name in kernel.params.names]
for oracle, tol in ((complex_step, 1e-12), (finite_differences, 1e-7)):
    reference = np.array([e.value for e in oracle(graph, point, "out", None, basis)])
    err = np.abs(gradient - reference).max() / max(1.0, np.abs(reference).max())
    print(f"gradient vs {oracle.__name__}: max relative error {err:.1e}")
    assert err < tol, (oracle.__name__, err)

# -- scipy fits the parameters: one kernel call per function evaluation -------------------------------------
res = minimize(kernel.value_and_grad, start, args=(data,), jac=True, method="BFGS")
fitted = {name: float(v) for name, v in kernel.params.unravel(res.x).items()}
print(f"minimize: {res.nfev} calls, loss {value:.4f} -> {res.fun:.6f}")
print("fitted:", {name: round(v, 3) for name, v in fitted.items()}, " truth:", truth)
assert res.success and res.fun < 1e-3
assert all(abs(fitted[name] - truth[name]) < 0.05 for name in truth)

# -- matrix expressions: a two-layer network with MatrixSymbols ------------------------------------------------
W = sp.MatrixSymbol("W", 3, 2)
b = sp.MatrixSymbol("b", 3, 1)
v = sp.MatrixSymbol("v", 3, 1)
x = sp.MatrixSymbol("x", 2, 1)
target = sp.Symbol("target", real=True)
net = v.T * (W * x + b).applyfunc(sigmoid)  # a 1x1 matrix expression
net_graph = formula((net[0, 0] - target) ** 2, params=[W, b, v], inputs=[x, target])
print("two-layer network leaves:", list(net_graph.params), list(net_graph.inputs))
report = gradcheck(net_graph, seed=1)
print(report)
assert report.ok
