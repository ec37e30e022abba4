"""Where symnn writes files: one atomic writer, and one cache directory outside the installed package.

``cache_dir()`` follows the platform's convention: ``$SYMNN_CACHE_DIR`` if set, else
``$XDG_CACHE_HOME/symnn``, else ``~/.cache/symnn``. The kernel cache (``symnn.codegen``) lives
there, and so does Numba's cache of the functions symnn and verify compile with ``cache=True``
(the executor's kernels, the boolean kernels): importing this module puts a cache locator in front
of Numba's own for the files of those two packages only, so that nothing is ever written inside the
installed package (a file pip did not install outlives ``pip uninstall`` and turns the package into
an empty namespace package). Numba's caching of the user's own functions is left as it is.

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
from typing import Any

import numba
from numba.core import caching


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


#: The packages whose ``cache=True`` functions Numba caches under ``cache_dir()``: this distribution's.
PACKAGES = (Path(__file__).resolve().parent, Path(__file__).resolve().parent.parent / "verify")
#: The subdirectory of ``cache_dir()`` holding Numba's cache of those functions.
NUMBA_SUBDIR = "numba"


def numba_cache_dir(root: Path | None = None) -> Path:
    """Numba's cache of symnn's and verify's own functions: one directory per Numba version.

    Numba keeps one version per index file, so two environments sharing the cache directory with
    different versions would otherwise overwrite each other's entries on every run.
    """
    return (cache_dir() if root is None else root) / NUMBA_SUBDIR / f"numba-{numba.__version__}"


def _inside_packages(py_file: str) -> bool:
    try:
        path = Path(py_file).resolve()
    except OSError:
        return False
    return any(path.is_relative_to(package) for package in PACKAGES)


_Locator: Any = None
_BASES = (getattr(caching, "_SourceFileBackedLocatorMixin", None), getattr(caching, "_CacheLocator", None))
if None not in _BASES:  # Numba's locator API (0.59 to 0.68 at least); without it Numba caches in the tree

    class _Locator(*_BASES):  # type: ignore[misc,no-redef]
        """Numba's cache of a function defined in symnn's or verify's own files, under ``numba_cache_dir()``."""

        def __init__(self, py_func: Any, py_file: str) -> None:
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = str(numba_cache_dir() / self.get_suitable_cache_subpath(py_file))

        def get_cache_path(self) -> str:
            return self._cache_path

        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            if not _inside_packages(py_file):
                return None  # the user's functions: Numba's own locators decide
            try:
                return super().from_function(py_func, py_file)
            except (OSError, RuntimeError):  # no home directory to find: Numba's own locators decide
                return None


def install_numba_locator() -> bool:
    """Send Numba's cache of symnn's and verify's ``cache=True`` functions to ``numba_cache_dir()``.

    Numba chooses where a function's cache goes when the function is decorated, so this must
    run before the decorated modules are imported (this module runs it when it is imported).
    Returns False, changing nothing, if this version of Numba has no locator list to extend.
    """
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    classes = getattr(impl, "_locator_classes", None)
    if _Locator is None or not isinstance(classes, list):
        return False
    if _Locator not in classes:
        classes.insert(0, _Locator)
    return True


install_numba_locator()

__all__ = ["PACKAGES", "atomic_write", "cache_dir", "cache_source", "install_numba_locator", "numba_cache_dir"]
