"""Verification certificates: a saved kernel run in a fresh process, checked, the record embedded in it.

``certify`` (behind ``symnn compile MODEL -o k.py --verify`` and ``save_certified(kernel, path,
model=graph)``) saves the module, imports it in a new Python process (only the file: numpy and
numba), runs it at a seeded random point and compares every output with the numeric executor (an
independent implementation) and the derivative outputs with the central differences of
``verify.oracles`` (on the forward graph, evaluated by the oracles' own evaluator):

    grad:  grad . v      ~ d/dt f(p + t v)                      (3 random directions v)
    jvp:   <c, tangent>  ~ d/dt <c, f(p + t t)>                 (3 random cotangents c)
    hvp:   <c, H t>      ~ d/dt <c, grad f(p + t t)>            (3 random cotangents c)

When every check passes, a block is appended to the module::

    # >>> symnn certificate ... >>>
    CERTIFICATE = {...}          # a plain literal, importable as ``k.CERTIFICATE``
    # <<< symnn certificate <<<

It records the content hashes of the model graph and of the compiled program, the sha256 of the
module's source *without the block*, every oracle with its point (seed, distribution, hash of the
arrays), maximum error and tolerance, and the library versions. ``recheck`` (``symnn check k.py``)
reads the block without executing anything (``ast.literal_eval``), refuses a module whose source
hash no longer matches (``unverified``: modified code is never run), rebuilds the model's program
and compares its hashes, then re-runs every check on the module: ``verified`` only if all pass
again, ``refuted`` otherwise. The model is rebuilt from the zoo name the certificate records; a
model defined in a file or module is code, imported only when the caller names it again.

>>> h = "0" * 64
>>> cert = {"format": FORMAT, "model": None, "mode": "grad", "dtype": "float64", "model_sha256": h,
...         "program_sha256": h, "source_sha256": source_hash("x = 1\\n"), "point": {"seed": 0, "sha256": h},
...         "oracles": [], "checks": [{"what": "loss vs executor"}], "versions": {}}
>>> body, cert = split(embed("x = 1\\n", cert))
>>> body == "x = 1\\n" and cert["source_sha256"] == source_hash(body)
True
>>> split(embed("x = 1\\n", cert | {"point": {"seed": "0"}}))  # doctest: +ELLIPSIS
Traceback (most recent call last):
verify.certify.CertificateError: the certificate's field 'point' is malformed (...
"""

from __future__ import annotations

import ast
import hashlib
import math
import os
import platform
import pprint
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from symnn import zoo
from symnn.codegen import MODES, OLD_MODES, Kernel, program
from symnn.diff import grad
from symnn.errors import GraphError, SizeError, SymnnError
from symnn.executor import Executor
from symnn.files import atomic_write
from symnn.ir import Graph

from .oracles import finite_differences
from .report import Comparison, VerificationError

FORMAT = "symnn-certificate/1"
BEGIN = "# >>> symnn certificate (`symnn check THIS_FILE` re-runs it; editing the code voids it) >>>"
END = "# <<< symnn certificate <<<"
#: The keys every certificate has (``split`` refuses a block that lacks one).
KEYS = (
    "format",
    "model",
    "mode",
    "dtype",
    "model_sha256",
    "program_sha256",
    "source_sha256",
    "point",
    "oracles",
    "checks",
    "versions",
)
#: The two oracles a certificate names.
EXECUTOR, FD = "executor", "central differences"
#: How the check point is drawn (recorded in certificates).
POINT = "every input entry N(0, 0.5^2), numpy default_rng(seed)"
VERDICTS = ("verified", "refuted", "unverified")
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


class CertificateError(SymnnError, ValueError):
    """A certificate block that cannot be read (malformed, duplicated, missing keys)."""


class KernelRunError(SymnnError, RuntimeError):
    """A saved kernel module that cannot be imported or run in a fresh process."""


# -- the block ------------------------------------------------------------------------------------------
def source_hash(body: str) -> str:
    """sha256 of a module's source without its certificate block (trailing newlines normalized)."""
    return hashlib.sha256((body.rstrip("\n") + "\n").encode("utf-8")).hexdigest()


def point_hash(point: Mapping[str, np.ndarray], names: Sequence[str]) -> str:
    """sha256 of the check point: every array in ``names`` order, as little-endian float64."""
    h = hashlib.sha256()
    for n in names:
        h.update(n.encode("utf-8") + b"\0")
        h.update(np.ascontiguousarray(point[n], dtype="<f8").tobytes())
    return h.hexdigest()


def versions() -> dict[str, str]:
    """The versions of Python and of the libraries a kernel's checks depend on."""
    found = {"python": platform.python_version()}
    for dist in ("symnn", "sympy", "numpy", "numba", "llvmlite"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "not installed"
    return found


def _literal(value: Any) -> Any:
    """``value`` with non-finite floats as strings, so the block stays a Python literal."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): _literal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_literal(v) for v in value]
    return value


def embed(source: str, cert: Mapping[str, Any]) -> str:
    """``source`` (without a block) followed by the certificate block."""
    if BEGIN in source or END in source:
        raise CertificateError("the source already carries a certificate block; embed into the bare source")
    literal = pprint.pformat(_literal(dict(cert)), width=110, sort_dicts=False)
    return f"{source.rstrip(chr(10))}\n\n\n{BEGIN}\nCERTIFICATE = {literal}\n{END}\n"


def split(text: str) -> tuple[str, dict[str, Any] | None]:
    """The source without its certificate block, and the certificate (``None`` if there is none).

    The block is parsed as a literal, never executed; a malformed or repeated block is an error.
    """
    if text.count(BEGIN) == 0 and text.count(END) == 0:
        return text, None
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise CertificateError("the module has a malformed or repeated certificate block; recompile it with --verify")
    start, stop = text.index(BEGIN), text.index(END) + len(END)
    inner = text[start + len(BEGIN) : stop - len(END)].strip()
    try:
        body_nodes = ast.parse(inner, mode="exec").body
        assign = body_nodes[0] if len(body_nodes) == 1 else None
        if not isinstance(assign, ast.Assign) or [ast.unparse(t) for t in assign.targets] != ["CERTIFICATE"]:
            raise ValueError("not a single CERTIFICATE = {...} assignment")
        cert = ast.literal_eval(assign.value)
    except (SyntaxError, ValueError) as e:
        raise CertificateError(f"the certificate block cannot be read ({e}); recompile with --verify") from None
    if not isinstance(cert, dict) or cert.get("format") != FORMAT:
        raise CertificateError(f"not a {FORMAT} certificate; recompile the kernel with this version's --verify")
    missing = [k for k in KEYS if k not in cert]
    if missing:
        raise CertificateError(f"the certificate lacks {missing}; recompile the kernel with --verify")
    _check_fields(cert)
    body = text[:start].rstrip("\n") + "\n" + text[stop:].lstrip("\n")
    return body.rstrip("\n") + "\n", cert


def _is_hash(v: Any) -> bool:
    return isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v)


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


#: Each field of a certificate and the test its value must pass (a hand-edited block fails one by name).
FIELDS: dict[str, tuple[str, Any]] = {
    "model": ("a model spec string or None", lambda v: v is None or isinstance(v, str)),
    "mode": (f"one of {MODES}", lambda v: isinstance(v, str) and (v in MODES or v in OLD_MODES)),
    "dtype": ("'float64' or 'float32'", lambda v: v in ("float64", "float32")),
    "model_sha256": ("64 hex digits", _is_hash),
    "program_sha256": ("64 hex digits", _is_hash),
    "source_sha256": ("64 hex digits", _is_hash),
    "point": (
        "{'seed': int >= 0, 'sha256': 64 hex digits, ...}",
        lambda v: isinstance(v, dict) and _is_count(v.get("seed")) and _is_hash(v.get("sha256")),
    ),
    "oracles": ("a list of dicts", lambda v: isinstance(v, list) and all(isinstance(o, dict) for o in v)),
    "checks": (
        "a non-empty list of {'what': str, ...}",
        lambda v: isinstance(v, list) and v and all(isinstance(c, dict) and isinstance(c.get("what"), str) for c in v),
    ),
    "versions": (
        "a dict of name -> version string",
        lambda v: isinstance(v, dict) and all(isinstance(a, str) and isinstance(b, str) for a, b in v.items()),
    ),
}


def _check_fields(cert: dict[str, Any]) -> None:
    """Raise CertificateError naming the first field whose value has the wrong type or form."""
    for key, (form, ok) in FIELDS.items():
        if not ok(cert[key]):
            raise CertificateError(
                f"the certificate's field {key!r} is malformed ({str(cert[key])[:40]!r}; expected {form}); "
                "recompile the kernel with --verify"
            )


def read(path: str | Path) -> tuple[str, dict[str, Any] | None]:
    """:func:`split` of the file at ``path``."""
    return split(Path(path).read_text(encoding="utf-8"))


# -- running and checking a saved module -------------------------------------------------------------------
def random_point(prog: Graph, seed: int) -> Arrays:
    """Seeded values for every input of the compiled program (parameters, data, tangents): N(0, 0.5^2)."""
    rng = np.random.default_rng(seed)
    leaves = {**prog.inputs, **prog.params}
    return {name: 0.5 * rng.standard_normal(shape) for name, shape in leaves.items()}


def input_names(path: Path) -> tuple[str, ...] | None:
    """INPUT_NAMES of a saved module, read without importing it (its order is the module's own)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "INPUT_NAMES" for t in node.targets
            ):
                names = ast.literal_eval(node.value)
                return tuple(names) if all(isinstance(n, str) for n in names) else None
    except (SyntaxError, ValueError, TypeError, RecursionError):  # not a module symnn wrote: its own order
        return None
    return None


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
            raise KernelRunError(f"importing and running {path} in a fresh process failed: {tail}")
        with np.load(dst) as f:
            return {n: f[f"o{i}"] for i, n in enumerate(outputs)}


def _compare(what: str, got: Any, want: Any, tol: float) -> Comparison:
    """``got`` against ``want`` as one relative comparison; ``what`` ends with the oracle's name."""
    return Comparison.relative(what, got, want, tol, EXECUTOR if what.endswith(f" vs {EXECUTOR}") else FD)


def _central(
    what: str, graph: Graph, point: Arrays, output: str, direction: Arrays, got: np.ndarray, seed: int, tol: float
) -> list[Comparison]:
    """``got`` (the derivative of ``output`` along ``direction``) against ``verify.oracles``' central differences.

    Projected on 3 random cotangents c: <c, got> ~ d/dt <c, output(point + t direction)> (a scalar
    output is compared as it is). A projection whose steps all straddle a kink is left out.
    """
    rng = np.random.default_rng(seed)
    cotangents = [None] if got.shape == () else [rng.standard_normal(got.shape) for _ in range(3)]
    pairs = []
    for c in cotangents:
        (estimate,) = finite_differences(graph, point, output, c, [direction])
        if estimate.value is not None:
            pairs.append((float(got) if c is None else float(np.vdot(c, got)), estimate.value))
    if not pairs:
        return []
    return [_compare(what, [g for g, _ in pairs], [w for _, w in pairs], tol)]


def kernel_dtype(outputs: Mapping[str, np.ndarray], declared: Any = None) -> np.dtype:
    """The precision the checks hold a kernel to: float64 if it returned any float64 array (or ``declared``
    says float64), float32 only if it is float32 throughout. Never the certificate's word alone.
    """
    kinds = {np.asarray(v).dtype for v in outputs.values()}
    strange = sorted(str(k) for k in kinds if k not in (np.float64, np.float32))
    if strange:
        raise KernelRunError(f"the kernel returned arrays of dtype {', '.join(strange)}; expected float64 or float32")
    if np.dtype(np.float64) in kinds or (declared is not None and np.dtype(declared) == np.float64):
        return np.dtype(np.float64)
    return np.dtype(np.float32)


#: The most memory a check may hold (the point, the child's copy, its outputs and the executor's reference).
MAX_CHECK_BYTES = 2 * 2**30


def check_bytes(prog: Graph) -> int:
    """Bytes a check of ``prog`` holds at least: 4 float64 copies of its inputs and outputs."""
    leaves = {**prog.inputs, **prog.params}
    scalars = sum(math.prod(s) for s in leaves.values()) + sum(math.prod(prog.shape(o)) for o in prog.outputs)
    return 4 * 8 * scalars


def refuse_large(prog: Graph, mode: str) -> None:
    """Raise SizeError, with the estimate, if checking ``prog`` would hold more than ``MAX_CHECK_BYTES``."""
    need = check_bytes(prog)
    if need > MAX_CHECK_BYTES:
        raise SizeError(
            f"checking this {mode} kernel would hold about {need / 2**30:,.1f} GiB (its inputs and outputs, 4 copies "
            f"in float64), above the limit of {MAX_CHECK_BYTES / 2**30:.0f} GiB; check a smaller model"
        )


def check_saved(graph: Graph, prog: Graph, path: Path, mode: str, dtype: Any = None, seed: int = 0) -> list[Comparison]:
    """Run the saved module of ``prog`` (``mode`` of ``graph``) in a fresh process; compare it with its oracles.

    The tolerances follow the dtype the kernel actually returns (``kernel_dtype``); ``dtype`` (the
    compiled kernel's, when known) can only make them stricter. A check that would hold more than
    ``MAX_CHECK_BYTES`` is refused with its estimate before anything is allocated.
    """
    refuse_large(prog, mode)
    point = random_point(prog, seed)
    names = list(input_names(path) or {**prog.inputs, **prog.params})
    got = run_saved(path, names, point, list(prog.output_names))
    dtype = kernel_dtype(got, dtype)
    tol = 1e-9 if dtype == np.float64 else 2e-4
    fd_tol = 1e-5 if dtype == np.float64 else 2e-3
    ex = Executor(graph)  # float64: the reference for both dtypes
    base = {k: v for k, v in point.items() if not k.startswith("tangent:")}
    tangents = {k.removeprefix("tangent:"): v for k, v in point.items() if k.startswith("tangent:")}
    checks = []
    if OLD_MODES.get(mode, mode) == "value":  # certificates of earlier releases say "forward"
        ref = ex.forward(base)
        return [_compare(f"{n} vs {EXECUTOR}", got[n], ref[n], tol) for n in prog.output_names]
    loss_name = graph.output_names[0]
    if mode in ("grad", "hvp"):
        loss, grads = ex.grad(base)
        checks.append(_compare(f"{loss_name} vs {EXECUTOR}", got[loss_name], loss, tol))
        checks += [_compare(f"grad:{p} vs {EXECUTOR}", got[f"grad:{p}"], grads[p], tol) for p in graph.params]
    if mode == "grad":
        rng = np.random.default_rng(seed + 1)
        for i in range(3):
            v = {p: rng.standard_normal(s) for p, s in graph.params.items()}
            dot = np.asarray(sum(np.vdot(got[f"grad:{p}"], v[p]) for p in v))
            checks += _central(f"grad . v{i} vs {FD}", graph, base, loss_name, v, dot, seed + 1, fd_tol)
    if mode == "jvp":
        outs, tans = ex.jvp(base, tangents)
        for n in graph.output_names:
            checks.append(_compare(f"{n} vs {EXECUTOR}", got[n], outs[n], tol))
            checks.append(_compare(f"tangent:{n} vs {EXECUTOR}", got[f"tangent:{n}"], tans[n], tol))
            what = f"tangent:{n} vs {FD}"
            checks += _central(what, graph, base, n, tangents, got[f"tangent:{n}"], seed + 1, fd_tol)
    if mode == "hvp":
        gradient = grad(graph)
        for p in graph.params:
            what = f"hvp:{p} vs {FD} of the gradient"
            checks += _central(what, gradient, base, f"grad:{p}", tangents, got[f"hvp:{p}"], seed + 1, fd_tol)
    return checks


def oracle_of(check: Comparison) -> str:
    """The oracle a certificate's check compared with: ``"executor"`` or ``"central differences"``."""
    return check.oracle or (EXECUTOR if check.where.endswith(f" vs {EXECUTOR}") else FD)


def check_record(check: Comparison) -> dict[str, Any]:
    """A check as a certificate records it: what, oracle, error, tolerance, ok."""
    return {
        "what": check.where,
        "oracle": oracle_of(check),
        "error": float(check.error),
        "tol": float(check.tolerance),
        "ok": bool(check.ok),
    }


def check_line(check: Comparison) -> str:
    """One line per check: ``ok`` or ``FAIL``, what was compared, the relative error and its tolerance."""
    verdict = "ok  " if check.ok else "FAIL"
    return f"  {verdict} {check.where}: relative error {check.error:.1e} (tolerance {check.tolerance:.0e})"


# -- making a certificate ------------------------------------------------------------------------------------
def certificate(
    graph: Graph, prog: Graph, kernel: Kernel, checks: Sequence[Comparison], mode: str, seed: int, model: str | None
) -> dict[str, Any]:
    """The certificate of ``kernel`` (the ``mode`` program ``prog`` of ``graph``) from ``checks`` that all passed."""
    if not checks or not all(c.ok for c in checks):
        raise GraphError("a certificate needs at least one check and every check passed")
    oracles = []
    for oracle in dict.fromkeys(oracle_of(c) for c in checks):
        mine = [c for c in checks if oracle_of(c) == oracle]
        entry: dict[str, Any] = {
            "oracle": oracle,
            "checks": len(mine),
            "max_error": max(float(c.error) for c in mine),
            "tolerance": max(float(c.tolerance) for c in mine),
        }
        if oracle == FD and mode == "grad":
            entry["directions"] = {"count": len(mine), "seed": seed + 1, "distribution": "N(0, 1) per entry"}
        oracles.append(entry)
    point = {"seed": seed, "distribution": POINT, "sha256": point_hash(random_point(prog, seed), list(kernel.inputs))}
    return {
        "format": FORMAT,
        "model": model,
        "mode": mode,
        "dtype": kernel.dtype.name,
        "model_sha256": graph.fingerprint(),
        "program_sha256": prog.fingerprint(),
        "source_sha256": source_hash(kernel.source),
        "point": point,
        "oracles": oracles,
        "checks": [check_record(c) for c in checks],
        "versions": versions(),
    }


def certify(
    graph: Graph, prog: Graph, kernel: Kernel, path: str | Path, mode: str, seed: int = 0, model: str | None = None
) -> tuple[list[Comparison], dict[str, Any] | None]:
    """Save ``kernel``, check the file in a fresh process and, if every check passed, embed the certificate.

    A module that failed its checks is left on disk without a certificate (``recheck`` calls it
    unverified); the checks are returned either way. ``model`` is the spec recorded for re-checks.
    """
    refuse_large(prog, mode)  # before the file is written
    path = kernel.save(path)
    checks = check_saved(graph, prog, path, mode, kernel.dtype, seed)
    if checks and all(c.ok for c in checks):
        cert = certificate(graph, prog, kernel, checks, mode, seed, model)
        atomic_write(path, embed(kernel.source, cert).encode("utf-8"))
        return checks, cert
    return checks, None


def program_of(kernel: Kernel, model: Graph) -> tuple[str, Graph] | None:
    """The mode and program of ``model`` that ``kernel`` was compiled from (by content hash), if any."""
    for mode in MODES:
        if mode != "value" and not model.params:
            continue
        try:
            prog = program(model, mode)
        except GraphError:  # e.g. grad of a model whose output is not a scalar
            continue
        if prog.fingerprint() == kernel.graph_fingerprint:
            return mode, prog
    return None


def save_certified(kernel: Kernel, path: str | Path, model: Graph | str, seed: int = 0) -> Path:
    """Save ``kernel`` with a verification certificate: the Python form of ``symnn compile --verify``.

    ``model`` is the graph the kernel computes, or whose gradient, JVP or HVP program it computes
    (or a MODEL spec such as ``"mlp:4-8-1"``, then recorded so that ``symnn check PATH`` can rebuild
    it). A disagreement raises ``VerificationError`` and leaves the file without a certificate.
    """
    if not isinstance(kernel, Kernel):
        raise GraphError(f"save_certified needs a compiled Kernel (symnn.compile(graph)), got {type(kernel).__name__}")
    spec = model if isinstance(model, str) else None
    graph = zoo.resolve(model).graph() if isinstance(model, str) else model
    if not isinstance(graph, Graph):
        raise GraphError(f"model= needs the symnn Graph the kernel was compiled from, got {model!r}")
    found = program_of(kernel, graph)
    if found is None:
        raise GraphError(
            "this kernel computes neither the given model nor its grad/jvp/hvp program; pass the graph it "
            "was compiled from (compile(g) or compile(symnn.grad(g)) -> save_certified(kernel, path, model=g))"
        )
    mode, prog = found
    checks, cert = certify(graph, prog, kernel, path, mode, seed, spec)
    if cert is None:
        bad = "; ".join(check_line(c).strip() for c in checks if not c.ok)
        raise VerificationError(f"{path} disagrees with its oracles, no certificate written: {bad}")
    return Path(path)


# -- re-checking a certificate -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class KernelVerdict:
    """The outcome of re-checking one saved kernel: verified, refuted or unverified, and why."""

    path: str
    verdict: str
    reasons: tuple[str, ...] = ()
    checks: tuple[Comparison, ...] = ()
    notes: tuple[str, ...] = ()
    certificate: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return self.verdict == "verified"

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "verdict": self.verdict,
            "ok": self.ok,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "checks": [check_record(c) for c in self.checks],
            "certified": None
            if self.certificate is None
            else {k: self.certificate[k] for k in ("model", "mode", "dtype", "source_sha256", "oracles", "versions")},
        }

    def render(self) -> str:
        lines = [f"{self.path}: {self.verdict.upper()}"]
        lines += [f"  reason: {r}" for r in self.reasons]
        lines += [check_line(c) for c in self.checks]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def is_kernel_file(spec: str) -> bool:
    """Whether a ``symnn check`` argument names a saved kernel module (an existing ``.py`` file, no ``:attr``)."""
    return spec.endswith(".py") and Path(spec).is_file()


def recheck(path: str | Path, model: str | Graph | None = None) -> KernelVerdict:
    """Re-run the checks of the certificate embedded in the kernel module at ``path``.

    ``model`` rebuilds the certified model: a MODEL spec or the Graph itself (default: the spec the
    certificate records, if it is a zoo name).
    """
    if not isinstance(path, str | Path):
        raise CertificateError(f"recheck needs the path of a saved kernel module, got {type(path).__name__}")
    where = str(path)
    try:
        body, cert = read(path)
    except OSError as e:
        return KernelVerdict(where, "unverified", (f"cannot read the file: {e}",))
    except UnicodeDecodeError as e:
        return KernelVerdict(
            where, "unverified", (f"the file is not UTF-8 text ({e.reason} at byte {e.start}); not run",)
        )
    except CertificateError as e:
        return KernelVerdict(where, "unverified", (str(e),))
    if cert is None:
        fix = "compile it with `symnn compile MODEL -o FILE --verify` or verify.certify.save_certified"
        return KernelVerdict(where, "unverified", (f"the module carries no certificate; {fix}",))

    def unverified(reason: str) -> KernelVerdict:
        return KernelVerdict(where, "unverified", (reason,), certificate=cert)

    actual = source_hash(body)
    if actual != cert["source_sha256"]:
        return unverified(
            f"the source was modified after certification (sha256 {actual[:16]}..., certificate "
            f"{str(cert['source_sha256'])[:16]}...); it was not run. Recompile it with --verify"
        )
    spec = model if model is not None else cert["model"]
    if isinstance(spec, Graph):
        graph, spec = spec, "the given graph"
    if not spec:
        return unverified("the certificate names no model (saved from Python); pass --model SPEC to rebuild it")
    if model is None and str(spec).partition(":")[0] not in zoo.ZOO:
        return unverified(
            f"the certificate names model {spec!r}, which is code; symnn check imports it only when told to: "
            f"pass --model {spec}"
        )
    try:
        if spec != "the given graph":
            graph = zoo.resolve(str(spec)).graph()
        prog = program(graph, str(cert["mode"]))
    except SymnnError as e:
        return unverified(f"cannot rebuild model {spec!r}: {e}")
    if graph.fingerprint() != cert["model_sha256"]:
        return unverified(f"model {spec!r} builds a different graph than the certified one (content hash differs)")
    if prog.fingerprint() != cert["program_sha256"]:
        return unverified(
            f"the {cert['mode']} program of {spec!r} differs from the certified one (different symnn version?)"
        )
    try:
        refuse_large(prog, str(cert["mode"]))  # before the point is drawn: a 3.6e9-parameter model is refused here
    except SizeError as e:
        return unverified(str(e))
    seed = int(cert["point"]["seed"])
    notes = []
    names = list(input_names(Path(path)) or {**prog.inputs, **prog.params})
    if point_hash(random_point(prog, seed), names) != cert["point"]["sha256"]:
        notes.append(f"the point drawn from seed {seed} differs from the certified one (numpy's generator changed)")
    now = versions()
    changed = {k: (v, now.get(k)) for k, v in cert["versions"].items() if now.get(k) != v}
    if changed:
        notes.append("versions differ: " + ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items()))
    try:
        checks = check_saved(graph, prog, Path(path), str(cert["mode"]), None, seed)  # tolerances: the kernel's dtype
    except KernelRunError as e:
        return KernelVerdict(where, "refuted", (str(e),), notes=tuple(notes), certificate=cert)
    recorded = {c["what"] for c in cert["checks"]}
    missing = sorted(recorded - {c.where for c in checks})
    if not checks:
        return KernelVerdict(where, "refuted", ("no check ran",), notes=tuple(notes), certificate=cert)
    reasons = [f"{c.where}: error {c.error:.1e} above tolerance {c.tolerance:.0e}" for c in checks if not c.ok]
    reasons += [f"recorded check {w!r} did not run again" for w in missing]
    verdict = "refuted" if reasons else "verified"
    return KernelVerdict(where, verdict, tuple(reasons), tuple(checks), tuple(notes), cert)


__all__ = [
    "BEGIN",
    "END",
    "EXECUTOR",
    "FD",
    "FORMAT",
    "KEYS",
    "VERDICTS",
    "CertificateError",
    "KernelRunError",
    "KernelVerdict",
    "certificate",
    "certify",
    "check_bytes",
    "check_line",
    "check_record",
    "check_saved",
    "embed",
    "input_names",
    "is_kernel_file",
    "kernel_dtype",
    "oracle_of",
    "point_hash",
    "program_of",
    "random_point",
    "read",
    "recheck",
    "refuse_large",
    "run_saved",
    "save_certified",
    "source_hash",
    "split",
    "versions",
]
