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
import os
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
FD = "central differences"
#: How the check point is drawn (recorded in certificates).
POINT = "every input entry N(0, 0.5^2), numpy default_rng(seed)"
Arrays = dict[str, np.ndarray]

# The child process: load the saved file by path, run it once, write its outputs. Paths come in argv.
_CHILD = """
import importlib.util, sys
import numpy as np
spec = importlib.util.spec_from_file_location("symnn_saved_kernel", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = mod  # Numba's cache pickles references to the module's functions by module name
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
    oracle: str = "executor"

    @property
    def ok(self) -> bool:
        return bool(self.error <= self.tol)  # NaN fails

    def line(self) -> str:
        return (
            f"  {'ok  ' if self.ok else 'FAIL'} {self.what}: relative error {self.error:.1e} (tolerance {self.tol:.0e})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {"what": self.what, "oracle": self.oracle, "error": self.error, "tol": self.tol, "ok": self.ok}


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
    """Import the module at ``path`` in a fresh Python process and run it at ``point``.

    The child compiles the module's source afresh (a private, temporary Numba cache).
    """
    with tempfile.TemporaryDirectory(prefix="symnn-verify-") as tmp:
        src, dst = Path(tmp, "point.npz"), Path(tmp, "out.npz")
        np.savez(src, **{f"a{i}": point[n] for i, n in enumerate(names)})  # type: ignore[arg-type]
        # A private Numba cache: the check compiles the source it read (the certificate hashes the source,
        # not machine code cached beside it, which may come from an older file or another import name).
        env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp, "numba-cache"))}
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), str(src), str(dst)], capture_output=True, text=True, env=env
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
    names = list(input_names(path) or {**prog.inputs, **prog.params})
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
            checks.append(Check(f"grad . v{i} vs central differences", _rel(_dot(kernel_grad, v), fd), fd_tol, FD))
    if mode == "jvp":
        tangents = {k.removeprefix("tangent:"): v for k, v in point.items() if k.startswith("tangent:")}
        outs, tans = ex.jvp(base, tangents)
        for n in graph.output_names:
            checks.append(Check(f"{n} vs executor", _rel(got[n], outs[n]), tol))
            checks.append(Check(f"tangent:{n} vs executor", _rel(got[f"tangent:{n}"], tans[n]), tol))
            fd = _central(functools.partial(_output, ex, n), base, tangents)
            checks.append(Check(f"tangent:{n} vs central differences", _rel(got[f"tangent:{n}"], fd), fd_tol, FD))
    if mode == "hvp":
        t = {k.removeprefix("tangent:"): v for k, v in point.items() if k.startswith("tangent:")}
        for p in graph.params:
            fd = _central(functools.partial(_grad_of, ex, p), base, t)
            checks.append(
                Check(f"hvp:{p} vs central differences of the executor gradient", _rel(got[f"hvp:{p}"], fd), fd_tol, FD)
            )
    return checks


def input_names(path: Path) -> tuple[str, ...] | None:
    """INPUT_NAMES of a saved module, read without importing it (its order is the module's own)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "INPUT_NAMES" for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    return None


def certificate(
    graph: Graph, prog: Graph, kernel: Any, checks: list[Check], mode: str, seed: int, model: str | None
) -> dict[str, Any]:
    """The certificate of ``kernel`` (a program of ``graph``) from the ``checks`` that passed."""
    from .certificate import FORMAT, point_hash, source_hash, versions

    if not checks or not all(c.ok for c in checks):
        raise GraphError("a certificate needs at least one check and every check passed")
    names = list(kernel.inputs)
    oracles = []
    for oracle in dict.fromkeys(c.oracle for c in checks):
        mine = [c for c in checks if c.oracle == oracle]
        entry: dict[str, Any] = {
            "oracle": oracle,
            "checks": len(mine),
            "max_error": max(c.error for c in mine),
            "tolerance": max(c.tol for c in mine),
        }
        if oracle == FD and mode == "grad":
            entry["directions"] = {"count": len(mine), "seed": seed + 1, "distribution": "N(0, 1) per entry"}
        oracles.append(entry)
    return {
        "format": FORMAT,
        "model": model,
        "mode": mode,
        "dtype": kernel.dtype.name,
        "model_sha256": graph.fingerprint(),
        "program_sha256": prog.fingerprint(),
        "source_sha256": source_hash(kernel.source),
        "point": {"seed": seed, "distribution": POINT, "sha256": point_hash(random_point(prog, seed), names)},
        "oracles": oracles,
        "checks": [c.as_dict() for c in checks],
        "versions": versions(),
    }


def save_verified(
    graph: Graph, prog: Graph, kernel: Any, path: Path, mode: str, seed: int = 0, model: str | None = None
) -> tuple[list[Check], dict[str, Any] | None]:
    """Save ``kernel``, verify the file in a fresh process and, if every check passed, embed the certificate.

    A module that failed its checks is left on disk without a certificate (``symnn check`` calls it
    unverified); the checks are returned either way.
    """
    from .certificate import embed
    from .codegen.cache import atomic_write

    path = kernel.save(path)
    checks = verify(graph, prog, path, mode, kernel.dtype, seed)
    if checks and all(c.ok for c in checks):
        cert = certificate(graph, prog, kernel, checks, mode, seed, model)
        atomic_write(path, embed(kernel.source, cert).encode("utf-8"))
        return checks, cert
    return checks, None


def run(model: str, output: str, mode: str, dtype_name: str, check: bool, seed: int, as_json: bool) -> int:
    """The ``symnn compile`` command: 0 on success, 1 if --verify disagrees."""
    from .cli import load_graph
    from .codegen import compile

    graph = load_graph(model)
    prog = program(graph, mode)
    dtype = np.dtype(dtype_name)
    kernel = compile(prog, dtype=dtype)
    path = Path(output)
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
    if not check:
        kernel.save(path)
    else:
        lines.append(f"verify: {path} imported and run in a fresh Python process at a random point (seed {seed})")
        cert = None
        try:
            checks, cert = save_verified(graph, prog, kernel, path, mode, seed, model)
        except RuntimeError as e:
            checks = []
            report["verify_error"] = str(e)
            lines.append(f"  FAIL {e}")
        lines += [c.line() for c in checks]
        report["checks"] = [c.as_dict() for c in checks]
        status = 0 if cert is not None else 1
        report["ok"] = status == 0
        report["certificate"] = cert
        if cert is not None:
            lines.append(f"verify: ok; certificate embedded in {path} (source sha256 {cert['source_sha256'][:16]}...)")
            lines.append(f"  re-check it any time: symnn check {path}")
        else:
            lines.append("verify: FAILED (the saved module disagrees; see above); no certificate written")
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print("\n".join(lines))
    return status
