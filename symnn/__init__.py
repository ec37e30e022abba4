"""symnn: networks as SymPy expression graphs, differentiated symbolically, checked independently.

The public surface. ``import symnn`` loads the core only (SymPy, no NumPy or Numba), so the
command line starts fast; ``compile``, ``Kernel`` and ``Executor`` load Numba on first use.
"""

import importlib

from .diff import grad, hvp, jvp, vjp
from .errors import GraphError, ModelError, ShapeError, SizeError, SymnnError, UnsupportedFunctionError
from .formula import formula
from .functions import maximum, relu, sgn, sigmoid, softplus, step
from .ir import Builder, Graph, Node, Tensor, concat, einsum
from .layers import (
    MLP,
    Activation,
    Conv1d,
    Conv2d,
    Conv3d,
    Flatten,
    Linear,
    MeanPool,
    MultiHeadAttention,
    Normalize,
    Params,
    ReLU,
    Residual,
    ResNet,
    SelfAttention,
    Sequential,
    Sigmoid,
    Sign,
    Tanh,
    Transformer,
    TransformerBlock,
)
from .losses import hinge, logistic, mse, softmax, softmax_cross_entropy
from .trace import trace
from .zoo import Model, list_models, resolve

__version__ = "0.1.0"

__all__ = [
    "MLP",
    "Activation",
    "Builder",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "Executor",
    "Flatten",
    "Graph",
    "GraphError",
    "Kernel",
    "Linear",
    "MeanPool",
    "Model",
    "ModelError",
    "MultiHeadAttention",
    "Node",
    "Normalize",
    "Params",
    "ReLU",
    "ResNet",
    "Residual",
    "SelfAttention",
    "Sequential",
    "ShapeError",
    "Sigmoid",
    "Sign",
    "SizeError",
    "SymnnError",
    "Tanh",
    "Tensor",
    "Transformer",
    "TransformerBlock",
    "UnsupportedFunctionError",
    "__version__",
    "compile",
    "concat",
    "einsum",
    "formula",
    "grad",
    "hinge",
    "hvp",
    "jvp",
    "list_models",
    "logistic",
    "maximum",
    "mse",
    "relu",
    "resolve",
    "sgn",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "softplus",
    "step",
    "trace",
    "vjp",
]


def __getattr__(name: str) -> object:
    """``compile``, ``Kernel`` and ``Executor`` load Numba only when first used."""
    if name == "Executor":
        return importlib.import_module("symnn.executor").Executor
    if name in ("compile", "Kernel"):
        return getattr(importlib.import_module("symnn.codegen"), name)
    raise AttributeError(f"module 'symnn' has no attribute {name!r}")
