"""``symnn check path/to/kernel.py``: confirm or refute the certificate a saved kernel carries.

The verdict is one of three, and only a full re-run can give the first:

- ``verified``: the source hash matches, the model rebuilds to the recorded graph and program
  hashes, and every recorded check passes again on the module, run in a fresh process;
- ``refuted``: the hashes match but a check fails now;
- ``unverified``: there is no certificate, the source was edited after certification (the module
  is then never run), the model cannot be rebuilt, or its graph differs from the recorded one.

The certificate names the model it was compiled from. A zoo name is rebuilt directly; a model
defined in a file or module is code, so it is imported only when the user names it again with
``--model`` (a certificate never makes ``symnn check`` import anything by itself).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from symnn.certificate import CertificateError, point_hash, read, source_hash, versions
from symnn.compile_cmd import Check, input_names, program, random_point, verify
from symnn.errors import SymnnError
from symnn.ir import Graph

VERDICTS = ("verified", "refuted", "unverified")


@dataclass(frozen=True)
class KernelVerdict:
    """The outcome of re-checking one saved kernel."""

    path: str
    verdict: str
    reasons: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()
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
            "checks": [c.as_dict() for c in self.checks],
            "certified": None
            if self.certificate is None
            else {k: self.certificate[k] for k in ("model", "mode", "dtype", "source_sha256", "oracles", "versions")},
        }

    def render(self) -> str:
        lines = [f"{self.path}: {self.verdict.upper()}"]
        lines += [f"  reason: {r}" for r in self.reasons]
        lines += [c.line() for c in self.checks]
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
    from symnn.cli import load_graph
    from symnn.zoo import ZOO

    where = str(path)
    try:
        body, cert = read(path)
    except OSError as e:
        return KernelVerdict(where, "unverified", (f"cannot read the file: {e}",))
    except CertificateError as e:
        return KernelVerdict(where, "unverified", (str(e),))
    if cert is None:
        fix = "compile it with `symnn compile MODEL -o FILE --verify` or kernel.save(path, model=graph)"
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
    if model is None and str(spec).partition(":")[0] not in ZOO:
        return unverified(
            f"the certificate names model {spec!r}, which is code; symnn check imports it only when told to: "
            f"pass --model {spec}"
        )
    try:
        if spec != "the given graph":
            graph = load_graph(str(spec))
        prog = program(graph, str(cert["mode"]))
    except SymnnError as e:
        return unverified(f"cannot rebuild model {spec!r}: {e}")
    if graph.fingerprint() != cert["model_sha256"]:
        return unverified(f"model {spec!r} builds a different graph than the certified one (content hash differs)")
    if prog.fingerprint() != cert["program_sha256"]:
        return unverified(
            f"the {cert['mode']} program of {spec!r} differs from the certified one (different symnn version?)"
        )
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
        checks = verify(graph, prog, Path(path), str(cert["mode"]), np.dtype(str(cert["dtype"])), seed)
    except RuntimeError as e:
        return KernelVerdict(where, "refuted", (str(e),), notes=tuple(notes), certificate=cert)
    recorded = {c["what"] for c in cert["checks"]}
    missing = sorted(recorded - {c.what for c in checks})
    if not checks:
        return KernelVerdict(where, "refuted", ("no check ran",), notes=tuple(notes), certificate=cert)
    reasons = [f"{c.what}: error {c.error:.1e} above tolerance {c.tol:.0e}" for c in checks if not c.ok]
    reasons += [f"recorded check {w!r} did not run again" for w in missing]
    verdict = "refuted" if reasons else "verified"
    return KernelVerdict(where, verdict, tuple(reasons), tuple(checks), tuple(notes), cert)


def run(paths: Sequence[str], model: str | None = None, as_json: bool = False, out: TextIO | None = None) -> int:
    """The body of ``symnn check FILE.py ...``: 0 if every kernel is verified, else 1."""
    import sys

    out = out if out is not None else sys.stdout
    results = [recheck(p, model) for p in paths]
    if as_json:
        print(
            json.dumps({"ok": all(r.ok for r in results), "kernels": [r.to_json() for r in results]}, indent=2),
            file=out,
        )
    else:
        print("\n\n".join(r.render() for r in results), file=out)
    return 0 if results and all(r.ok for r in results) else 1


__all__ = ["VERDICTS", "KernelVerdict", "is_kernel_file", "recheck", "run"]
