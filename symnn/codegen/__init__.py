"""Code generation: ``compile(graph)`` prints a Graph as a Numba module and returns a Kernel.

``printer`` (one emitter per op) and ``scalar`` (elementwise bodies, one name table) write the
source, ``fuse`` plans which elementwise nodes share a loop, ``einsum`` which contractions go to
BLAS, ``module`` assembles the standalone file, ``cache`` keeps it on disk, ``kernel`` runs it.
"""

from .cache import cache_dir
from .kernel import Kernel, compile
from .module import CODEGEN_VERSION

__all__ = ["CODEGEN_VERSION", "Kernel", "cache_dir", "compile"]
