"""Verification certificates: what a saved kernel was checked against, embedded in the module itself.

``symnn compile MODEL -o k.py --verify`` (or ``kernel.save(path, model=graph)``) runs the saved
module in a fresh process, compares it with the numeric executor and with central differences,
and, when every check passes, appends a block to the module::

    # >>> symnn certificate ... >>>
    CERTIFICATE = {...}          # a plain literal, importable as ``k.CERTIFICATE``
    # <<< symnn certificate <<<

It records the content hashes of the model graph and of the compiled program, the sha256 of the
module's source *without the block*, every oracle with its point (seed, distribution, hash of the
arrays), maximum error and tolerance, and the library versions. ``symnn check k.py`` reads the
block without executing anything (``ast.literal_eval``), refuses a module whose source hash no
longer matches (``unverified``: modified code is never run), rebuilds the model's program and
compares its hashes, then re-runs every check on the module: ``verified`` only if all pass again,
``refuted`` otherwise.

>>> cert = dict.fromkeys(KEYS, None) | {"format": FORMAT, "source_sha256": source_hash("x = 1\\n")}
>>> body, cert = split(embed("x = 1\\n", cert))
>>> body == "x = 1\\n" and cert["source_sha256"] == source_hash(body)
True
"""

from __future__ import annotations

import ast
import hashlib
import math
import platform
import pprint
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SymnnError

FORMAT = "symnn-certificate/1"
BEGIN = "# >>> symnn certificate (`symnn check THIS_FILE` re-runs it; editing the code voids it) >>>"
END = "# <<< symnn certificate <<<"
#: The keys every certificate has (``check`` refuses a block that lacks one).
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


class CertificateError(SymnnError, ValueError):
    """A certificate block that cannot be read (malformed, duplicated, missing keys)."""


def source_hash(body: str) -> str:
    """sha256 of a module's source without its certificate block (trailing newlines normalized)."""
    return hashlib.sha256((body.rstrip("\n") + "\n").encode("utf-8")).hexdigest()


def point_hash(point: Mapping[str, np.ndarray], names: list[str]) -> str:
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
    body = text[:start].rstrip("\n") + "\n" + text[stop:].lstrip("\n")
    return body.rstrip("\n") + "\n", cert


def read(path: str | Path) -> tuple[str, dict[str, Any] | None]:
    """:func:`split` of the file at ``path``."""
    return split(Path(path).read_text(encoding="utf-8"))


__all__ = ["BEGIN", "END", "FORMAT", "KEYS", "CertificateError", "embed", "point_hash", "read", "source_hash", "split"]
