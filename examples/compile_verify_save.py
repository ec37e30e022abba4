"""Generate a gradient kernel, verify it against independent oracles, save it, and use the saved module.

Run: ``python examples/compile_verify_save.py [--quick]``. The shell equivalent is
``symnn compile mlp:4-8-1 -o kernel.py --verify`` then ``symnn check kernel.py``.
"""

import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np

from symnn import Executor, compile, grad
from symnn.layers import MLP
from symnn.trace import trace
from verify import gradcheck, save_certified
from verify.certify import recheck

graph = trace(MLP((4, 8, 1), "tanh"), "mse", {"x": (16, 4)})
kernel = compile(grad(graph))  # value and gradient of the loss, as a Numba kernel

# 1. every derivative path against every oracle (finite differences, complex step, mpmath, ...)
report = gradcheck(graph, seed=0)
print(report)
assert report.ok, "the gradient disagrees with an oracle"

# 2. save the module: it needs only numpy and numba, its docstring says how to call it. save_certified
#    runs the saved file in a fresh process, checks it against the executor and central differences,
#    and embeds a certificate (hashes of graph and source, oracles, errors, tolerances, versions).
#    (kernel.save(path) writes the module alone, without checks.)
path = Path(tempfile.mkdtemp()) / "mlp_kernel.py"
save_certified(kernel, path, model=graph)
spec = importlib.util.spec_from_file_location("mlp_kernel", path)
module = importlib.util.module_from_spec(spec)
sys.modules["mlp_kernel"] = module
spec.loader.exec_module(module)

rng = np.random.default_rng(0)
arrays = {name: rng.standard_normal(shape) for name, shape in kernel.inputs.items()}
saved = module.run(arrays)
value, grads = Executor(graph).grad(arrays)  # the independent numeric executor
print(f"loss: saved module {float(saved['loss']):.12f}, executor {value:.12f}")
for name, g in grads.items():
    err = np.max(np.abs(saved[f"grad:{name}"] - g))
    print(f"grad:{name:5s} max |saved - executor| = {err:.2e}")
    assert err < 1e-10
print(f"certificate: {len(module.CERTIFICATE['checks'])} checks, source sha256 {module.CERTIFICATE['source_sha256']}")

# 3. re-check the certificate later (the library recomputes the hash and re-runs every check)
verdict = recheck(path, model=graph)  # from the shell: symnn check FILE --model SPEC
print(verdict.render())
assert verdict.ok
print("saved at", path)
