"""The on-disk kernel cache: generated modules keyed by a content hash of the graph, per environment.

Layout of the cache directory (``symnn.files.cache_dir()``: ``$SYMNN_CACHE_DIR``, else
``$XDG_CACHE_HOME/symnn``, else ``~/.cache/symnn``)::

    kernels/<environment>/            one per environment (``environment.environment_id``)
        environment.json              what the machine code depends on: BLAS, Numba, llvmlite, CPU
        <key>.json                    {"module": "k_<sha>.py", "sha256": ..., "environment": ..., "path": ...}
        k_<sha>.py                    the generated module (content-addressed: its name comes from its hash)
        __pycache__/                  Numba's cache of the module's compiled machine code
    numba/numba-<version>/            Numba's cache of symnn's and verify's own functions (``symnn.jit``)

A lookup verifies the checksum before anything is executed; a corrupted, truncated or
foreign entry is deleted and rebuilt. Every file is written to a temporary name and moved
into place with ``os.replace``, so concurrent processes see either nothing or a whole file.
The module is executed from the very bytes that were verified, never re-read.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import types
from pathlib import Path

from ..files import atomic_write
from .module import CODEGEN_VERSION

_MODULE_NAME = re.compile(r"k_[0-9a-f]{32}\.py")
#: The subdirectory of the cache directory holding one directory of kernels per environment.
KERNELS_SUBDIR = "kernels"
ENVIRONMENT_FILE = "environment.json"


def kernels_dir(root: Path, environment: str) -> Path:
    """The directory of the kernels compiled in ``environment`` (an ``environment_id``) under ``root``."""
    return root / KERNELS_SUBDIR / environment


def record_environment(directory: Path, env: dict[str, str]) -> None:
    """Write ``environment.json`` (what ``symnn cache`` shows of the environment) unless it is there."""
    path = directory / ENVIRONMENT_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(env, indent=1, sort_keys=True).encode())


def cache_key(fingerprint: str, dtype: str) -> str:
    """sha256 of the graph's fingerprint, the dtype and the code generator's version."""
    return hashlib.sha256(f"{fingerprint}|{dtype}|codegen-{CODEGEN_VERSION}".encode()).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def discard(directory: Path, key: str, module: str | None = None) -> None:
    """Delete an entry that failed verification (and Numba's files compiled from it)."""
    (directory / f"{key}.json").unlink(missing_ok=True)
    if module is not None and _MODULE_NAME.fullmatch(module):
        (directory / module).unlink(missing_ok=True)
        stem = module[: -len(".py")]
        for stale in (directory / "__pycache__").glob(f"{stem}.*"):
            stale.unlink(missing_ok=True)


def lookup(directory: Path, key: str, environment: str | None = None) -> tuple[Path, str] | None:
    """The verified (path, source) of the entry for ``key``, or None (a bad entry is removed).

    An entry recorded for another ``environment`` than the one given is foreign: it is removed too.
    """
    meta = directory / f"{key}.json"
    try:
        info = json.loads(meta.read_bytes())
        module = info["module"]
        expected = info["sha256"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        discard(directory, key)
        return None
    if (
        not isinstance(module, str)
        or not _MODULE_NAME.fullmatch(module)
        or info.get("version") != CODEGEN_VERSION
        or (environment is not None and info.get("environment") != environment)
    ):
        discard(directory, key, module if isinstance(module, str) else None)
        return None
    path = directory / module
    try:
        data = path.read_bytes()
    except OSError:
        discard(directory, key, module)
        return None
    if _sha256(data) != expected:
        discard(directory, key, module)
        return None
    try:
        return path, data.decode("utf-8")
    except UnicodeDecodeError:  # pragma: no cover - the checksum matched bytes we wrote as UTF-8
        discard(directory, key, module)
        return None


def store(directory: Path, key: str, source: str, meta: dict[str, str]) -> Path:
    """Write the module (unless an identical one is there) and then its metadata."""
    directory.mkdir(parents=True, exist_ok=True)
    data = source.encode("utf-8")
    digest = _sha256(data)
    name = f"k_{digest[:32]}.py"
    path = directory / name
    try:
        same = _sha256(path.read_bytes()) == digest
    except OSError:
        same = False
    if not same:  # rewriting an identical file would change its mtime and void Numba's cache
        atomic_write(path, data)
    info = {"module": name, "sha256": digest, "version": CODEGEN_VERSION, **meta}
    atomic_write(directory / f"{key}.json", json.dumps(info, indent=1).encode())
    return path


def load_module(path: Path, source: str) -> types.ModuleType:
    """Execute verified ``source`` as the module at ``path`` (so Numba can cache beside it)."""
    name = path.stem
    known = sys.modules.get(name)
    if known is not None and getattr(known, "__file__", None) == str(path):
        return known
    module = types.ModuleType(name)
    module.__file__ = str(path)
    code = compile(source, str(path), "exec")
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module
