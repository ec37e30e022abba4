"""The lecture's building blocks as layers: ``layer(x, p) -> Tensor`` (batch first).

``base`` holds the convention (``Params``) and the wiring layers, ``core`` Linear and
convolutions, ``activations`` the elementwise layers and normalization, ``attention`` self- and
multi-head attention, ``architectures`` MLP, ResNet and Transformer.
"""

from .activations import ACTIVATIONS, Activation, Normalize, ReLU, Sigmoid, Sign, Tanh, activation
from .architectures import MLP, ResNet, Transformer, TransformerBlock
from .attention import MultiHeadAttention, SelfAttention
from .base import Flatten, Layer, MeanPool, Params, Residual, Sequential
from .core import Conv1d, Conv2d, Conv3d, Linear

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "Activation",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "Flatten",
    "Layer",
    "Linear",
    "MeanPool",
    "MultiHeadAttention",
    "Normalize",
    "Params",
    "ReLU",
    "ResNet",
    "Residual",
    "SelfAttention",
    "Sequential",
    "Sigmoid",
    "Sign",
    "Tanh",
    "Transformer",
    "TransformerBlock",
    "activation",
]
