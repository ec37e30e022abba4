"""symnn: networks as SymPy expression graphs, differentiated symbolically, checked independently."""

from .diff import grad, hvp, jvp, vjp
from .errors import GraphError, ModelError, ShapeError, SizeError, SymnnError, UnsupportedFunctionError
from .functions import maximum, relu, sgn, sigmoid, softplus, step
from .ir import Builder, Graph, Node, Tensor, concat, einsum

__version__ = "0.1.0"

__all__ = [
    "Builder",
    "Graph",
    "GraphError",
    "ModelError",
    "Node",
    "ShapeError",
    "SizeError",
    "SymnnError",
    "Tensor",
    "UnsupportedFunctionError",
    "__version__",
    "concat",
    "einsum",
    "grad",
    "hvp",
    "jvp",
    "maximum",
    "relu",
    "sgn",
    "sigmoid",
    "softplus",
    "step",
    "vjp",
]
