"""What the machine code of a kernel depends on besides its source: BLAS, Numba, LLVM, Python, the CPU.

The generated modules choose between a BLAS and a loop version of the matrix products when they
are imported (``HAVE_BLAS``), and Numba keys its own cache by function name and source file, not by
that choice. So the kernel cache keeps one directory per environment (``environment_id()``):
two environments sharing a cache directory never load each other's machine code.

>>> env = environment()
>>> sorted(env) == sorted(FIELDS) and environment_id(env).startswith(("blas-", "loops-"))
True
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import platform
import sys
import types
from collections.abc import Iterator, Mapping

import llvmlite
import numba
from numba.core import config
from numba.core.registry import cpu_target

#: The fields of ``environment()``, each something that changes the compiled code.
FIELDS = ("blas", "numba", "llvmlite", "python", "triple", "cpu", "cpu_features", "numba_config")


_CYTHON_BLAS = "scipy.linalg.cython_blas"


@contextlib.contextmanager
def cython_blas() -> Iterator[bool]:
    """Whether SciPy's ``cython_blas`` (the BLAS the generated ``_gemm_*`` helpers call) is here; while
    the block runs, importing it costs no ``scipy.linalg``.

    Importing ``scipy.linalg.cython_blas`` imports the package ``scipy.linalg`` first: ~0.2 s of
    modules that neither the kernels nor Numba's own BLAS check (``numba.np.arraymath``, imported at
    Numba's first compile or cache load) use -- about half of loading a cached kernel. So the
    extension is loaded by itself and offered in ``sys.modules`` while the block runs; after it,
    ``sys.modules`` is as an ordinary import would leave it: the entry is bound to ``scipy.linalg``
    if that package was imported meanwhile, and removed otherwise (a later import gets the same module).
    """
    if _CYTHON_BLAS in sys.modules or "scipy.linalg" in sys.modules:
        yield _importable(_CYTHON_BLAS)
        return
    module = _load_alone(_CYTHON_BLAS)
    if module is None:  # not an extension beside the package (another layout), or missing: the ordinary import
        yield _importable(_CYTHON_BLAS)
        return
    sys.modules[_CYTHON_BLAS] = module
    try:
        yield True
    finally:
        parent = sys.modules.get("scipy.linalg")
        if parent is not None:
            parent.cython_blas = sys.modules.get(_CYTHON_BLAS, module)  # type: ignore[attr-defined]
        elif sys.modules.get(_CYTHON_BLAS) is module:
            del sys.modules[_CYTHON_BLAS]


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def _load_alone(name: str) -> types.ModuleType | None:
    """The extension module ``name`` loaded from its package's directory without importing the package."""
    package = name.rpartition(".")[0]
    top = importlib.util.find_spec(package.partition(".")[0])
    if top is None or top.submodule_search_locations is None:
        return None
    where = [os.path.join(p, *package.split(".")[1:]) for p in top.submodule_search_locations]
    spec = importlib.machinery.PathFinder.find_spec(name, where)
    if spec is None or spec.loader is None or not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
        return None
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except ImportError:
        return None
    return module


def have_blas() -> bool:
    """Whether the generated ``_gemm_*`` helpers reach BLAS here: they call SciPy's ``cython_blas`` ?gemm."""
    with cython_blas() as found:
        return found


@functools.cache
def environment() -> dict[str, str]:
    """BLAS availability, Numba and llvmlite versions, Python, and the target Numba compiles for.

    The target is Numba's own ``magic_tuple`` (triple, CPU name, CPU features), which honours
    ``NUMBA_CPU_NAME`` and ``NUMBA_CPU_FEATURES``; the feature string is kept as its hash. Numba's
    settings that change the code it generates (``NUMBA_OPT``, ``NUMBA_BOUNDSCHECK``,
    ``NUMBA_DEBUGINFO``) are part of it too: Numba's own cache does not tell them apart.
    """
    triple, cpu, features = cpu_target.target_context.codegen().magic_tuple()
    return {
        "blas": "yes" if have_blas() else "no",
        "numba": numba.__version__,
        "llvmlite": llvmlite.__version__,
        "python": f"{sys.implementation.name}-{sys.version_info[0]}.{sys.version_info[1]}-{platform.machine()}",
        "triple": str(triple),
        "cpu": str(cpu),
        "cpu_features": hashlib.sha256(str(features).encode()).hexdigest()[:16],
        "numba_config": " ".join(
            f"{k}={getattr(config, k, None)!r}" for k in ("OPT", "BOUNDSCHECK", "DEBUGINFO_DEFAULT")
        ),
    }


def environment_id(env: Mapping[str, str] | None = None) -> str:
    """``blas-<hash>`` or ``loops-<hash>``: the name of the environment's directory in the kernel cache."""
    env = environment() if env is None else env
    digest = hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()[:16]
    return f"{'blas' if env['blas'] == 'yes' else 'loops'}-{digest}"
