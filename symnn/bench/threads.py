"""How many threads BLAS, Numba, PyTorch and XLA use in a benchmark run: one value, pinned, and reported.

BLAS reads its thread count once, when NumPy loads it: ``pinned_env`` is the environment a
benchmark process must start with (``symnn bench`` starts its run in a child process with it);
``describe`` reports it (``symnn bench`` adds what threadpoolctl sees, when installed). This
module imports nothing heavy.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

#: Read once by OpenBLAS, MKL, OpenMP and Numba when they load.
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS")
#: XLA's CPU client (JAX): one thread for its Eigen kernels and intra-op work.
XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def pinned_env(threads: int = 1, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with every thread variable set to ``threads``.

    >>> pinned_env(1, {})["OPENBLAS_NUM_THREADS"]
    '1'
    """
    out = dict(os.environ if env is None else env)
    out.update(dict.fromkeys(THREAD_VARS, str(threads)))
    if threads == 1:
        out.setdefault("XLA_FLAGS", XLA_FLAGS)
    return out


def is_pinned(threads: int = 1, env: Mapping[str, str] | None = None) -> bool:
    """Whether every thread variable is set to ``threads``.

    >>> is_pinned(1, {"OPENBLAS_NUM_THREADS": "1"}), is_pinned(1, pinned_env(1, {}))
    (False, True)
    """
    env = os.environ if env is None else env
    return all(env.get(v) == str(threads) for v in THREAD_VARS)


def describe(threads: int = 1) -> str:
    """How the thread variables were set for this process, in a few words.

    >>> import os; "before numpy import" in describe(1) or "not pinned" in describe(1)
    True
    """
    if is_pinned(threads):
        return f"{threads} ({'/'.join(THREAD_VARS)}={threads} before numpy import)"
    state = "unset when numpy loaded" if "numpy" in sys.modules else "unset"
    return f"not pinned ({'/'.join(THREAD_VARS)} {state})"
