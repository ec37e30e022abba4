"""The lecture's building blocks as layers: ``layer(x, p) -> Tensor`` (batch first).

``base`` holds the convention (``Params``) and the wiring layers, ``core`` Linear and
convolutions, ``activations`` the elementwise layers and normalization, ``norm`` PyTorch's
LayerNorm, BatchNorm and InstanceNorm, ``pooling`` max and average pooling, ``attention`` self- and
multi-head attention, ``architectures`` MLP, ResNet and Transformer.
"""

from .activations import (
    ACTIVATIONS,
    ELU,
    GELU,
    Activation,
    LeakyReLU,
    Normalize,
    ReLU,
    Sigmoid,
    Sign,
    Softplus,
    Tanh,
    activation,
)
from .architectures import MLP, ResNet, Transformer, TransformerBlock
from .attention import MultiHeadAttention, SelfAttention
from .base import Flatten, Layer, MeanPool, Params, Residual, Sequential
from .core import Conv1d, Conv2d, Conv3d, Embedding, Linear
from .norm import BatchNorm, InstanceNorm, LayerNorm
from .pooling import AvgPool1d, AvgPool2d, AvgPool3d, MaxPool1d, MaxPool2d, MaxPool3d

__all__ = [
    "ACTIVATIONS",
    "ELU",
    "GELU",
    "MLP",
    "Activation",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "BatchNorm",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "Embedding",
    "Flatten",
    "InstanceNorm",
    "Layer",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
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
    "Softplus",
    "Tanh",
    "Transformer",
    "TransformerBlock",
    "activation",
]
