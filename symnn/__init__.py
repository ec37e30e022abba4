"""symnn: networks as SymPy expression graphs, differentiated symbolically, checked independently.

The public surface, loaded on first use (PEP 562): ``import symnn`` imports nothing but this
file, so the command line (``symnn --help``) starts without SymPy, NumPy or Numba; ``symnn.grad``
imports ``symnn.diff`` when first read, ``symnn.compile`` the code generator (and Numba).

>>> import symnn
>>> symnn.MLP is symnn.layers.MLP
True
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .codegen import Kernel, compile
    from .diff import grad, hvp, jvp, vjp
    from .errors import GraphError, ModelError, ShapeError, SizeError, SymnnError, UnsupportedFunctionError
    from .executor import Executor
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
    from .torch_import import TorchModel, from_torch
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
    "TorchModel",
    "Transformer",
    "TransformerBlock",
    "UnsupportedFunctionError",
    "__version__",
    "compile",
    "concat",
    "einsum",
    "formula",
    "from_torch",
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


#: The public names, by the module that defines them.
_EXPORTS = {
    "diff": "grad hvp jvp vjp",
    "errors": "GraphError ModelError ShapeError SizeError SymnnError UnsupportedFunctionError",
    "formula": "formula",
    "functions": "maximum relu sgn sigmoid softplus step",
    "ir": "Builder Graph Node Tensor concat einsum",
    "layers": "MLP Activation Conv1d Conv2d Conv3d Flatten Linear MeanPool MultiHeadAttention Normalize Params ReLU "
    "Residual ResNet SelfAttention Sequential Sigmoid Sign Tanh Transformer TransformerBlock",
    "losses": "hinge logistic mse softmax softmax_cross_entropy",
    "trace": "trace",
    "torch_import": "TorchModel from_torch",
    "zoo": "Model list_models resolve",
    "codegen": "Kernel compile",
    "executor": "Executor",
}
_HOME = {name: f"{__name__}.{module}" for module, names in _EXPORTS.items() for name in names.split()}
#: Modules reachable as attributes (``symnn.layers.MLP``) without importing them first.
_SUBMODULES = frozenset(
    {"codegen", "cost", "diff", "errors", "executor", "expand", "formula", "functions", "ir", "layers"}
    | {"losses", "ops", "printing", "registry", "torch_import", "trace", "train", "zoo"}
)


def __getattr__(name: str) -> Any:
    """Import the module behind a public name (or a submodule) when it is first read."""
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        if "IPython" in sys.modules:  # in Jupyter: load the renderer of Graph._repr_latex_ (symnn.ir.RENDERERS)
            importlib.import_module(f"{__name__}.printing")
        globals()[name] = value  # read once: later lookups do not come here
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'symnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBMODULES})


class _Surface(types.ModuleType):
    """This package's module object: the import system binds each imported submodule on its package,
    which would make ``symnn.trace`` and ``symnn.formula`` the modules; the public functions keep the names."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOME and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Surface
