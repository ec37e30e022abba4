"""Where symnn writes files: the one atomic writer, output-path checks, and the cache directory.

``atomic_write`` replaces only regular files (never a device, FIFO, directory or a symlink to
one), keeps an existing file's permission bits and gives a new file the umask's default mode.
``check_output`` validates an output path before a long run, so a bad path fails before any work.

``cache_dir()`` follows the platform's convention: ``$SYMNN_CACHE_DIR`` if set, else
``$XDG_CACHE_HOME/symnn``, else ``~/.cache/symnn``. The kernel cache (``symnn.codegen``) lives
there, and so does Numba's cache of symnn's and verify's own compiled functions (``symnn.jit``).

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
>>> atomic_write(path, b"whole")
>>> path.read_bytes()
b'whole'
>>> atomic_write(path.parent, b"x")  # doctest: +ELLIPSIS
Traceback (most recent call last):
symnn.files.OutputPathError: output path '...' is a directory, not a regular file; name a file to write
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import SymnnError


class OutputPathError(SymnnError, ValueError):
    """An output path that symnn refuses to write: a special file, a directory, an input, an unwritable place."""


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _path(path: object) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise OutputPathError(f"an output path must be a str or a pathlib.Path, got {type(path).__name__}")
    return Path(path)


def _target(path: Path) -> tuple[Path, os.stat_result | None]:
    """The file a write to ``path`` replaces (a symlink's target) and its stat, refusing non-regular files."""
    try:
        st = os.stat(path)  # follows symlinks: a link to a device is refused like the device
    except FileNotFoundError:
        if path.is_symlink():
            raise OutputPathError(
                f"output path {str(path)!r} is a dangling symlink; remove it or name another file"
            ) from None
        return path, None
    except OSError as e:
        raise OutputPathError(f"cannot inspect output path {str(path)!r} ({e.strerror}); name another file") from None
    if not stat.S_ISREG(st.st_mode):
        raise OutputPathError(
            f"output path {str(path)!r} is {_kind(st.st_mode)}, not a regular file; name a file to write"
        )
    return (Path(os.path.realpath(path)) if path.is_symlink() else path), st


def _umask_mode() -> int:
    """0o666 minus the process umask: the mode ``open(..., "w")`` would give a new file."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def writable(directory: Path) -> bool:
    """Whether a file can be created in ``directory`` (tried, not guessed: root, /proc, read-only mounts)."""
    try:
        with tempfile.TemporaryFile(dir=directory, prefix=".symnn-probe-"):
            return True
    except OSError:
        return False


def check_output(path: str | Path, inputs: Iterable[str | Path] = (), what: str = "output") -> Path:
    """``path`` if symnn may write it: its directory exists and is writable, it is (or will be) a regular file
    that is none of ``inputs``. Raises ``OutputPathError`` naming the path and the fix.
    """
    path = _path(path)
    if str(path) == "" or path.name in ("", ".", ".."):
        raise OutputPathError(f"{what} path {str(path)!r} names no file; give a file name")
    target, st = _target(path)
    parent = target.parent
    if not parent.is_dir():
        raise OutputPathError(
            f"the directory of {what} path {str(path)!r} does not exist; create {str(parent)!r} first"
        )
    if not writable(parent):
        raise OutputPathError(f"the directory {str(parent)!r} of {what} path {str(path)!r} is not writable")
    if st is not None:
        for source in inputs:
            try:
                same = os.path.samefile(path, source)
            except OSError:
                continue
            if same:
                raise OutputPathError(
                    f"{what} path {str(path)!r} is the input {str(source)!r}; writing it would destroy the input, "
                    "name another file"
                )
    return path


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    Readers, in this process or another, see either the old file or the whole new one. Only a
    regular file (or a symlink to one, whose target is replaced) is ever replaced; its mode is kept.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise OutputPathError(f"atomic_write writes bytes, got {type(data).__name__}; encode text first")
    target, st = _target(_path(path))
    mode = stat.S_IMODE(st.st_mode) if st is not None else _umask_mode()
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as e:
        raise OutputPathError(f"cannot write {str(path)!r}: {e.strerror} in {str(target.parent)!r}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
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


__all__ = ["OutputPathError", "atomic_write", "cache_dir", "cache_source", "check_output", "writable"]
