"""What the cache directory holds (``symnn cache``), and clearing exactly the files symnn wrote there.

The files symnn writes have names it chose (``cache.py``'s layout): entries ``<sha256>.json``,
modules ``k_<sha>.py``, ``environment.json``, the signing key ``cache.key`` (clearing it voids every
entry: a new one is made), their temporary names while being written, and
Numba's ``.nbi``/``.nbc`` files of those modules and of symnn's own functions. Anything else in
the directory is counted as "other" and never touched. Nothing here imports or executes a cached
module: entries are read as JSON.

>>> import tempfile
>>> inv = survey(Path(tempfile.mkdtemp()))
>>> (inv.files, inv.bytes, inv.environments)
(0, 0, ())
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..jit import NUMBA_SUBDIR
from .cache import ENVIRONMENT_FILE, KERNELS_SUBDIR, KEY_FILE

_ENV_DIR = re.compile(r"(blas|loops)-[0-9a-f]{16}")
_ENTRY = r"[0-9a-f]{64}\.json|k_[0-9a-f]{32}(\.failed)?\.py"
_NUMBA = r"\.nb[ic](\.tmp\.[0-9a-f]+)?"  # Numba's index and data files, and its temporary names
_OWN = rf"{_ENTRY}|{re.escape(ENVIRONMENT_FILE)}"
_IN_ENV_DIR = re.compile(rf"({_OWN})|\.({_OWN})\..+\.tmp")  # files, and atomic_write's temporary names
_IN_ROOT = re.compile(rf"({_ENTRY})|\.({_ENTRY})\..+\.tmp")  # entries written before one directory per environment
_KEY = re.compile(rf"{re.escape(KEY_FILE)}|\.{re.escape(KEY_FILE)}\..+\.tmp")
_MODULE_NUMBA = re.compile(rf"k_[0-9a-f]{{32}}\..+{_NUMBA}")
_OWN_NUMBA = re.compile(rf".+{_NUMBA}")
_KEY_JSON = re.compile(r"[0-9a-f]{64}\.json")


@dataclass(frozen=True)
class Entry:
    """One cached module: a kernel or a shared helper, the path its products take, its size with Numba's files."""

    key: str
    kind: str  # "kernel" or "helper"
    name: str  # the helper's name, or the first 16 hex digits of the graph's fingerprint
    dtype: str
    path: str  # "blas" or "loops"; "-" for a helper without a matrix product
    module: str
    compiled: bool  # Numba's machine code of the module is on disk
    bytes: int


@dataclass(frozen=True)
class Environment:
    """The kernels of one environment (``environment_id``) and what that environment is."""

    id: str
    info: dict[str, str]
    current: bool
    entries: tuple[Entry, ...]
    bytes: int


@dataclass(frozen=True)
class Inventory:
    """The cache directory: its environments, Numba's cache of symnn's functions, totals."""

    root: Path
    environments: tuple[Environment, ...]
    numba_files: int  # Numba's cache of symnn's and verify's own functions
    numba_bytes: int
    old_files: int  # entries of symnn before one directory per environment
    files: int  # every file symnn wrote here
    bytes: int
    other_files: int  # files symnn did not write: left alone by clear()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (paths as strings)."""
        return {
            "root": str(self.root),
            "files": self.files,
            "bytes": self.bytes,
            "other_files": self.other_files,
            "environments": [
                {
                    "id": e.id,
                    "current": e.current,
                    "info": e.info,
                    "bytes": e.bytes,
                    "entries": [vars(x) for x in e.entries],
                }
                for e in self.environments
            ],
            "numba": {"dir": str(self.root / NUMBA_SUBDIR), "files": self.numba_files, "bytes": self.numba_bytes},
            "old_files": self.old_files,
        }


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []


def _dirs(directory: Path) -> list[Path]:
    """Subdirectories, not links to directories: clearing never reaches outside the cache."""
    return sorted(p for p in directory.iterdir() if p.is_dir() and not p.is_symlink()) if directory.is_dir() else []


def _kernel_files(directory: Path, names: re.Pattern[str]) -> Iterator[Path]:
    """symnn's files in a directory of kernels (or the old top level), with Numba's files of its modules."""
    yield from (p for p in _files(directory) if names.fullmatch(p.name))
    yield from (p for p in _files(directory / "__pycache__") if _MODULE_NUMBA.fullmatch(p.name))


def _numba_files(root: Path) -> Iterator[Path]:
    """Numba's cache of symnn's own functions: ``numba/numba-<version>/<source dir>/*.nb[ic]``."""
    for version in _dirs(root / NUMBA_SUBDIR):
        for source in _dirs(version):
            yield from (p for p in _files(source) if _OWN_NUMBA.fullmatch(p.name))


def _environment_dirs(root: Path) -> list[Path]:
    return [d for d in _dirs(root / KERNELS_SUBDIR) if _ENV_DIR.fullmatch(d.name)]


def ours(root: Path) -> list[Path]:
    """Every file under ``root`` that symnn wrote (and so may delete)."""
    found = [p for d in _environment_dirs(root) for p in _kernel_files(d, _IN_ENV_DIR)]
    keys = [p for p in _files(root) if _KEY.fullmatch(p.name)]
    return found + list(_numba_files(root)) + list(_kernel_files(root, _IN_ROOT)) + keys


def _size(paths: list[Path]) -> int:
    total = 0
    for p in paths:
        try:
            total += p.stat().st_size
        except OSError:  # removed meanwhile by another process
            pass
    return total


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _entry(directory: Path, meta_file: Path) -> Entry:
    info = _read_json(meta_file)
    module = str(info.get("module", ""))
    numba = [p for p in _files(directory / "__pycache__") if module and p.name.startswith(module[: -len(".py")] + ".")]
    helper = info.get("helper")
    return Entry(
        key=meta_file.stem,
        kind="helper" if helper else "kernel",
        name=str(helper) if helper else str(info.get("fingerprint", "?"))[:16],
        dtype=str(info.get("dtype", "?")),
        path=str(info.get("path", "-")),
        module=module,
        compiled=any(p.name.endswith(".nbc") for p in numba),
        bytes=_size([meta_file, directory / module, *numba] if module else [meta_file]),
    )


def survey(root: Path, current: str | None = None) -> Inventory:
    """What ``root`` holds; ``current`` (an ``environment_id``) marks this process's environment."""
    environments = []
    for d in _environment_dirs(root):
        entries = tuple(_entry(d, m) for m in _files(d) if _KEY_JSON.fullmatch(m.name))
        size = _size(list(_kernel_files(d, _IN_ENV_DIR)))
        environments.append(Environment(d.name, _read_json(d / ENVIRONMENT_FILE), d.name == current, entries, size))
    numba = list(_numba_files(root))
    old = list(_kernel_files(root, _IN_ROOT))
    mine = ours(root)
    everything = [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []
    return Inventory(
        root=root,
        environments=tuple(environments),
        numba_files=len(numba),
        numba_bytes=_size(numba),
        old_files=len(old),
        files=len(mine),
        bytes=_size(mine),
        other_files=len(everything) - len(set(mine)),
    )


def clear(root: Path) -> tuple[int, int]:
    """Delete the files symnn wrote under ``root`` (nothing else), then its directories left empty.

    Returns (files removed, bytes removed).
    """
    removed = size = 0
    for path in ours(root):
        try:
            n = path.stat().st_size
            path.unlink()
        except OSError:  # gone already (another process), or not ours to remove after all
            continue
        removed, size = removed + 1, size + n
    empty = [d / "__pycache__" for d in _environment_dirs(root)] + _environment_dirs(root)
    empty += [s for v in _dirs(root / NUMBA_SUBDIR) for s in _dirs(v)] + _dirs(root / NUMBA_SUBDIR)
    empty += [root / KERNELS_SUBDIR, root / NUMBA_SUBDIR, root / "__pycache__"]
    for d in empty:
        try:
            d.rmdir()  # only if empty: a directory holding anything else stays
        except OSError:
            pass
    return removed, size
