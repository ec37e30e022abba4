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

import functools
import hashlib
import json
import platform
import sys
from collections.abc import Mapping

import llvmlite
import numba
from numba.core import config
from numba.core.registry import cpu_target

#: The fields of ``environment()``, each something that changes the compiled code.
FIELDS = ("blas", "numba", "llvmlite", "python", "triple", "cpu", "cpu_features", "numba_config")


def have_blas() -> bool:
    """Whether the generated ``_gemm_*`` helpers reach BLAS here: they call SciPy's ``cython_blas`` ?gemm."""
    try:
        import scipy.linalg.cython_blas  # noqa: F401  (the same probe as the generated modules')
    except ImportError:
        return False
    return True


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
