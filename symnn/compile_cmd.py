"""``symnn compile MODEL -o kernel.py [--verify]``: a standalone kernel module, checked in a fresh process.

The mode picks the program: ``grad`` (loss and the gradient of every parameter, the default),
``forward`` (the model's outputs), ``jvp`` (outputs and tangents, inputs ``tangent:<param>``)
or ``hvp`` (loss, gradient and the Hessian-vector products ``hvp:<param>``).

``--verify`` imports the saved file in a new Python process (only the file: numpy and numba),
runs it at a seeded random point and compares every output with the numeric executor (an
independent oracle) and the derivative outputs with central finite differences of the
executor's float64 values along random directions:

    grad:  grad . v  ~ (f(p + h v) - f(p - h v)) / 2h
    jvp:   tangent   ~ (f(p + h t) - f(p - h t)) / 2h
    hvp:   H t       ~ (grad(p + h t) - grad(p - h t)) / 2h
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import GraphError
from .executor import Executor
from .ir import Graph

MODES = ("grad", "forward", "jvp", "hvp")
Arrays = dict[str, np.ndarray]

# The child process: load the saved file by path, run it once, write its outputs. Paths come in argv.
_CHILD = """
import importlib.util, sys
import numpy as np
spec = importlib.util.spec_from_file_location("symnn_saved_kernel", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
with np.load(sys.argv[2]) as f:
    point = {n: np.ascontiguousarray(f["a%d" % i], dtype=mod.DTYPE) for i, n in enumerate(mod.INPUT_NAMES)}
res = mod.run(point)
np.savez(sys.argv[3], **{"o%d" % i: np.asarray(res[n]) for i, n in enumerate(mod.OUTPUT_NAMES)})
"""


@dataclass(frozen=True)
class Check:
    """One comparison: what was compared, the worst relative error and its tolerance."""

    what: str
    error: float
    tol: float

    @property
    def ok(self) -> bool:
        return bool(self.error <= self.tol)  # NaN fails

    def line(self) -> str:
        return (
            f"  {'ok  ' if self.ok else 'FAIL'} {self.what}: relative error {self.error:.1e} (tolerance {self.tol:.0e})"
        )


def program(graph: Graph, mode: str) -> Graph:
    """The graph that ``mode`` compiles: the model itself, its gradient, JVP or HVP program."""
    from .diff import grad, hvp, jvp

    if mode == "forward":
        return graph
    if not graph.params:
        raise GraphError(f"--mode {mode} differentiates with respect to the parameters, but the model has none")
    if mode != "jvp" and graph.shape(graph.outputs[0]) != ():
        raise GraphError(
            f"--mode {mode} needs a scalar first output (a loss), but {graph.output_names[0]!r} has shape "
            f"{graph.shape(graph.outputs[0])}; use --mode forward or jvp"
        )
    return {"grad": grad, "jvp": jvp, "hvp": hvp}[mode](graph)


def random_point(prog: Graph, seed: int) -> Arrays:
    """Seeded values for every input of the compiled program (parameters, data, tangents): N(0, 0.5^2)."""
    rng = np.random.default_rng(seed)
    leaves = {**prog.inputs, **prog.params}
    return {name: 0.5 * rng.standard_normal(shape) for name, shape in leaves.items()}


def run_saved(path: Path, names: list[str], point: Mapping[str, np.ndarray], outputs: list[str]) -> Arrays:
    """Import the module at ``path`` in a fresh Python process and run it at ``point``."""
    with tempfile.TemporaryDirectory(prefix="symnn-verify-") as tmp:
        src, dst = Path(tmp, "point.npz"), Path(tmp, "out.npz")
        np.savez(src, **{f"a{i}": point[n] for i, n in enumerate(names)})  # type: ignore[arg-type]
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), str(src), str(dst)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"importing and running {path} in a fresh process failed: {tail}")
        with np.load(dst) as f:
            return {n: f[f"o{i}"] for i, n in enumerate(outputs)}


def _rel(got: np.ndarray | float, want: np.ndarray | float) -> float:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return float("inf")
    return float(np.max(np.abs(got - want), initial=0.0) / max(float(np.max(np.abs(want), initial=0.0)), 1e-12))


def _dot(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> float:
    return float(sum(np.vdot(a[k], b[k]) for k in b))


def _central(fn: Callable[[Arrays], np.ndarray | float], point: Arrays, direction: Mapping[str, np.ndarray]) -> float:
    """Central difference of ``fn`` along ``direction``, step scaled to the point."""
    scale = max(1.0, max(float(np.max(np.abs(v), initial=0.0)) for v in point.values()))
    h = 1e-5 * scale
    plus = {k: v + h * direction[k] if k in direction else v for k, v in point.items()}
    minus = {k: v - h * direction[k] if k in direction else v for k, v in point.items()}
    return (np.asarray(fn(plus)) - np.asarray(fn(minus))) / (2 * h)  # type: ignore[return-value]


def _output(ex: Any, name: str, vals: dict[str, np.ndarray]) -> np.ndarray:
    return np.asarray(ex.forward(vals)[name])


def _grad_of(ex: Any, name: str, vals: dict[str, np.ndarray]) -> np.ndarray:
    return np.asarray(ex.grad(vals)[1][name])


def verify(graph: Graph, prog: Graph, path: Path, mode: str, dtype: np.dtype, seed: int = 0) -> list[Check]:
    """Run the saved module in a fresh process and compare it with the executor and finite differences."""
    point = random_point(prog, seed)
    names = list(_input_names(path) or {**prog.inputs, **prog.params})
    got = run_saved(path, names, point, list(prog.output_names))
    tol = 1e-9 if dtype == np.float64 else 2e-4
    fd_tol = 1e-5 if dtype == np.float64 else 2e-3
    ex = Executor(graph)  # float64: the reference for both dtypes
    base = {k: v for k, v in point.items() if not k.startswith("tangent:")}
    checks = []
    if mode == "forward":
        ref = ex.forward(base)
        for n in prog.output_names:
            checks.append(Check(f"{n} vs executor", _rel(got[n], ref[n]), tol))
        return checks
    loss_name = graph.output_names[0]
    if mode in ("grad", "hvp"):
        loss, grads = ex.grad(base)
        checks.append(Check(f"{loss_name} vs executor", _rel(got[loss_name], loss), tol))
        for p in graph.params:
            checks.append(Check(f"grad:{p} vs executor", _rel(got[f"grad:{p}"], grads[p]), tol))
    if mode == "grad":
        rng = np.random.default_rng(seed + 1)
        kernel_grad = {p: got[f"grad:{p}"] for p in graph.params}
        for i in range(3):
            v = {p: rng.standard_normal(s) for p, s in graph.params.items()}
            fd = _central(lambda vals: ex.forward(vals)[loss_name], base, v)
            checks.append(Check(f"grad . v{i} vs central differences", _rel(_dot(kernel_grad, v), fd), fd_tol))
    if mode == "jvp":
        tangents = {k.removeprefix("tangent:"): v for k, v in point.items() if k.startswith("tangent:")}
        outs, tans = ex.jvp(base, tangents)
        for n in graph.output_names:
            checks.append(Check(f"{n} vs executor", _rel(got[n], outs[n]), tol))
            checks.append(Check(f"tangent:{n} vs executor", _rel(got[f"tangent:{n}"], tans[n]), tol))
            fd = _central(functools.partial(_output, ex, n), base, tangents)
            checks.append(Check(f"tangent:{n} vs central differences", _rel(got[f"tangent:{n}"], fd), fd_tol))
    if mode == "hvp":
        t = {k.removeprefix("tangent:"): v for k, v in point.items() if k.startswith("tangent:")}
        for p in graph.params:
            fd = _central(functools.partial(_grad_of, ex, p), base, t)
            checks.append(
                Check(f"hvp:{p} vs central differences of the executor gradient", _rel(got[f"hvp:{p}"], fd), fd_tol)
            )
    return checks


def _input_names(path: Path) -> tuple[str, ...] | None:
    """INPUT_NAMES of a saved module, read without importing it (its order is the module's own)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "INPUT_NAMES" for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    return None


def run(model: str, output: str, mode: str, dtype_name: str, check: bool, seed: int, as_json: bool) -> int:
    """The ``symnn compile`` command: 0 on success, 1 if --verify disagrees."""
    from .cli import load_graph
    from .codegen import compile

    graph = load_graph(model)
    prog = program(graph, mode)
    dtype = np.dtype(dtype_name)
    kernel = compile(prog, dtype=dtype)
    path = kernel.save(output)
    report: dict = {
        "model": model,
        "mode": mode,
        "dtype": dtype.name,
        "path": str(path),
        "inputs": {k: list(v) for k, v in kernel.inputs.items()},
        "outputs": {k: list(v) for k, v in kernel.outputs.items()},
    }
    lines = [
        f"symnn compile: {model} ({mode}, {dtype.name}) -> {path}",
        f"  inputs:  {', '.join(f'{k} {v}' for k, v in kernel.inputs.items())}",
        f"  outputs: {', '.join(f'{k} {v}' for k, v in kernel.outputs.items())}",
    ]
    status = 0
    if check:
        lines.append(f"verify: {path} imported and run in a fresh Python process at a random point (seed {seed})")
        try:
            checks = verify(graph, prog, path, mode, dtype, seed)
        except RuntimeError as e:
            checks = []
            report["verify_error"] = str(e)
            lines.append(f"  FAIL {e}")
            status = 1
        lines += [c.line() for c in checks]
        report["checks"] = [{"what": c.what, "error": c.error, "tol": c.tol, "ok": c.ok} for c in checks]
        if not all(c.ok for c in checks):
            status = 1
        lines.append("verify: ok" if status == 0 else "verify: FAILED (the saved module disagrees; see above)")
        report["ok"] = status == 0
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print("\n".join(lines))
    return status
