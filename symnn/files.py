"""Where symnn writes files: one atomic writer, and one cache directory outside the installed package.

``cache_dir()`` follows the platform's convention: ``$SYMNN_CACHE_DIR`` if set, else
``$XDG_CACHE_HOME/symnn``, else ``~/.cache/symnn``. The kernel cache (``symnn.codegen``) lives
there, and so does Numba's cache of symnn's and verify's own compiled functions (``symnn.jit``).

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
>>> atomic_write(path, b"whole")
>>> path.read_bytes()
b'whole'
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    Readers, in this process or another, see either the old file or the whole new one.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cache_dir() -> Path:
    """``$SYMNN_CACHE_DIR``, else ``$XDG_CACHE_HOME/symnn``, else ``~/.cache/symnn``.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG base directory specification says.
    """
    env = os.environ.get("SYMNN_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "symnn"
    return Path.home() / ".cache" / "symnn"


def cache_source() -> str:
    """Which rule chose ``cache_dir()``: ``SYMNN_CACHE_DIR``, ``XDG_CACHE_HOME`` or ``default``."""
    if os.environ.get("SYMNN_CACHE_DIR"):
        return "SYMNN_CACHE_DIR"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return "XDG_CACHE_HOME" if xdg and os.path.isabs(xdg) else "default"


__all__ = ["atomic_write", "cache_dir", "cache_source"]
