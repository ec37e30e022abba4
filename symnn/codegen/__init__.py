"""Code generation: ``compile(graph)`` prints a Graph as a Numba module and returns a Kernel.

    kernel = compile(grad(graph))                 # float64; compile(g, dtype=np.float32) for float32
    result = kernel(params_and_inputs)            # {output name: array}; a loss is a 0-d array
    kernel(params_and_inputs, out=buffers)        # writes into preallocated buffers, returns them
    kernel.source, kernel.save("kernel.py")       # the standalone module (numpy and numba only)
    kernel.path                                   # "blas" if its matrix products call BLAS, else "loops"
    program(graph, "hvp")                         # what `symnn compile --mode` compiles: value, grad, jvp, hvp
    k = compile_flat(grad(formula(...)))          # a scalar graph on flat vectors: k.value_and_grad(theta, data)

How the source is written: ``fuse`` plans which elementwise nodes share one loop (with ``sympy.cse``
over their bodies), ``einsum`` which contractions are (batched) matrix products (SciPy's BLAS
``?gemm`` called directly from 4096 multiply-adds on, loops below) and in what order other loops run, ``printer``
has one emitter per op and ``scalar`` one name table for the functions, with stable helpers
(two-branch sigmoid, softplus as max(x, 0) + log1p(exp(-|x|)), max-subtracted logsumexp) and
``vecmath``'s branch-free tanh (within 1.5 ulp; loops over it vectorize). ``module`` assembles the
file: a docstring with the calling convention, the names table (user names only as escaped string
literals), ``compute`` (``@njit``, nopython, explicit signature, ``cache=True``,
``error_model="numpy"``, no fastmath but for ``contract`` inside ``_tanh``) and ``run`` (the checked
call). ``cache`` keeps modules on disk by content hash with checksums, one directory per
``environment`` (BLAS, Numba, llvmlite, Python, CPU target: what changes the machine code);
``inventory`` lists and clears them (``symnn cache``); ``kernel`` ties it together.

Which graphs get which strategy: ``compile`` prints one fused loop (or one statement) per
elementwise group and one argument per leaf, which suits tensor graphs and small scalar graphs;
``compile_flat`` (``flat``) takes a graph whose every node is a scalar (``symnn.formula``'s,
with thousands of scalar leaves) and packs all scalars into one vector: the nodes of one level
with one body become one loop over packed index arrays, the rest straight-line code split into
functions of bounded size, and the parameters come in as one vector (``Layout``: name -> slice).

Conventions: relu'(0) = step(0) = 0, sign(0) = 0, maximum(a, b) = a when a >= b; NaN and +-inf
in inputs propagate (NaN through relu, step, sign and maximum too) and never raise.
"""

from ..files import cache_dir
from .flat import FlatKernel, Layout, compile_flat
from .kernel import Kernel, compile, warm
from .module import CODEGEN_VERSION
from .program import MODES, OLD_MODES, program

__all__ = [
    "CODEGEN_VERSION",
    "MODES",
    "OLD_MODES",
    "FlatKernel",
    "Kernel",
    "Layout",
    "cache_dir",
    "compile",
    "compile_flat",
    "program",
    "warm",
]
