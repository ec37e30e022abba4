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

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
from numba.core import caching

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


__all__ = ["NUMBA_SUBDIR", "PACKAGES", "install_numba_locator", "njit", "numba_cache_dir"]
