"""``njit`` for symnn's and verify's own functions: Numba's cache of them lives in the user cache directory.

Numba caches a ``cache=True`` function beside its source file, which for an installed package is
inside site-packages: a file pip did not install outlives ``pip uninstall`` and turns the package
into an empty namespace package. ``njit`` here is ``numba.njit(cache=True, ...)`` with a cache
locator put in front of Numba's own that claims the files of this distribution's two packages
only (``PACKAGES``) and sends their cache to ``numba_cache_dir()``, one directory per Numba version.
Numba's caching of the user's own functions is left as it is. Every module of symnn or verify that
compiles a function for the disk cache uses this ``njit``, so the locator is in place before Numba
decides where the cache goes (at decoration).

>>> from symnn.executor import kernels
>>> str(numba_cache_dir()) in kernels.program_forward.stats.cache_path
True
"""

from __future__ import annotations

import os
import stat
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
from numba.core import caching

from .errors import CacheError, SymnnWarning
from .files import cache_dir

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


def owner_uid() -> int:
    """The user the cache must belong to (a function, so a test can play another user)."""
    return os.getuid()


def _check_dir(path: Path, parent: bool = False) -> None:
    """Refuse a directory others can write, or (unless it is ``parent``, which root may own) not the user's own."""
    st = path.stat()
    where = "the parent of the cache directory" if parent else "the cache directory"
    if not stat.S_ISDIR(st.st_mode):
        raise CacheError(f"{where} {path} is not a directory; set SYMNN_CACHE_DIR to a directory of yours")
    owners = (owner_uid(), 0) if parent else (owner_uid(),)
    if st.st_uid not in owners:
        raise CacheError(
            f"{where} {path} belongs to uid {st.st_uid}, not to you (uid {owner_uid()}), and symnn executes the code "
            f"cached there; set SYMNN_CACHE_DIR to a directory you own (mkdir -m 700 DIR)"
        )
    sticky = parent and st.st_mode & stat.S_ISVTX  # like /tmp: others cannot rename or remove what is yours
    if st.st_mode & stat.S_IWOTH and not sticky:
        raise CacheError(
            f"{where} {path} is writable by others (mode {stat.S_IMODE(st.st_mode):o}), and symnn executes the "
            f"code cached there; run chmod o-w {path}, or set SYMNN_CACHE_DIR to a directory only you can write"
        )


def trusted_cache_dir(root: Path | None = None, *below: str) -> Path:
    """``root`` (default ``cache_dir()``), created mode 0700, once it and every directory ``below`` it are safe.

    Safe: the directory and each existing subdirectory on the way to ``root / below`` belong to the user and
    are not writable by others, and root's parent is not writable by others (unless sticky, like /tmp) and
    belongs to the user or to root. Group write is allowed (a umask of 002 gives it to the user's own group).
    Raises ``CacheError`` naming the directory and the fix.
    """
    root = cache_dir() if root is None else root
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    resolved = root.resolve()
    _check_dir(resolved.parent, parent=True)
    _check_dir(resolved)
    path = resolved
    for part in below:
        path = path / part
        if not path.exists():
            break
        _check_dir(path)
    return root


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
            self._cache_path = str(_numba_root() / self.get_suitable_cache_subpath(py_file))

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


_private: Path | None = None


def _numba_root() -> Path:
    """``numba_cache_dir()`` if the cache directory is safe (Numba's index files are pickles), else a private one.

    An unsafe cache directory gets one warning per process and a fresh temporary directory (mode 0700) instead:
    symnn's own functions compile again, and nothing planted there is ever unpickled.
    """
    global _private
    version = numba_cache_dir().relative_to(cache_dir())
    try:
        trusted_cache_dir(None, *version.parts)
    except CacheError as e:
        if _private is None:
            _private = Path(tempfile.mkdtemp(prefix="symnn-numba-"))
            warnings.warn(f"{e}; Numba's cache of symnn's own functions goes to {_private}", SymnnWarning, stacklevel=2)
        return _private
    return numba_cache_dir()


def install_numba_locator() -> bool:
    """Send Numba's cache of symnn's and verify's ``cache=True`` functions to ``numba_cache_dir()``.

    Numba chooses where a function's cache goes when the function is decorated, so ``njit``
    runs it before decorating.
    Returns False, changing nothing, if this version of Numba has no locator list to extend.
    """
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    classes = getattr(impl, "_locator_classes", None)
    if _Locator is None or not isinstance(classes, list):
        return False
    if _Locator not in classes:
        classes.insert(0, _Locator)
    return True


def njit(*signature: Any, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(*signature, cache=True, **options)`` with the cache under ``numba_cache_dir()``."""
    install_numba_locator()
    return numba.njit(*signature, cache=True, **options)  # type: ignore[call-overload, no-any-return]


__all__ = [
    "NUMBA_SUBDIR",
    "PACKAGES",
    "install_numba_locator",
    "njit",
    "numba_cache_dir",
    "owner_uid",
    "trusted_cache_dir",
]
