"""The notes' architectures: MLP, a small ResNet, Transformer blocks."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from ..errors import GraphError
from ..ir import Tensor
from .activations import Normalize, ReLU, activation
from .attention import MultiHeadAttention
from .base import Flatten, Layer, Params, Residual, Sequential, check_rank, check_size, check_tensor, shape_error
from .core import Conv2d, Linear


@dataclass(frozen=True)
class MLP:
    """Linear layers of the given sizes with ``activation`` between them (none after the last).

    ``activation`` is ``"relu" | "sigmoid" | "tanh" | "sign"``, a sympy expression in one
    symbol, or a layer. Parameters are those of the equivalent ``Sequential``: ``0.W``, ``0.b``,
    ``2.W``, ...

    >>> from symnn.trace import trace
    >>> trace(MLP((4, 8, 1), "sigmoid"), "mse", shapes={"x": (2, 4)}).output_names
    ('loss',)
    """

    sizes: tuple[int, ...]
    activation: Any = "relu"
    net: Sequential = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sizes = tuple(self.sizes) if isinstance(self.sizes, (list, tuple)) else None
        if sizes is None or len(sizes) < 2:
            raise GraphError(f"MLP: sizes must list at least an input and an output size, got {self.sizes!r}")
        check_size("MLP", **{f"sizes[{i}]": n for i, n in enumerate(sizes)})
        act = activation(self.activation)
        layers: list[Layer] = []
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            if i:
                layers.append(act)
            layers.append(Linear(a, b))
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "net", Sequential(*layers))

    def __str__(self) -> str:
        act = self.activation if isinstance(self.activation, str) else str(activation(self.activation))
        return f"MLP({'-'.join(map(str, self.sizes))}, {act})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        return self.net(x, p)


def _same_conv(channels: int, kernel_size: int) -> Conv2d:
    return Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)


@dataclass(frozen=True)
class ResNet:
    """A small ResNet: a Conv2d stem, ``blocks`` residual layers, flatten, a Linear head.

    Each residual layer is the notes' x + g(x) with g(x) = Conv(ReLU(Normalize(Conv(x)))),
    convolutions of odd ``kernel_size`` padded to keep the shape and batch normalization.
    Input (N, in_channels, *image_size); output (N, out_features).

    >>> from symnn.trace import trace
    >>> g = trace(ResNet(1, 2, 1, 3, (4, 4)), shapes={"x": (2, 1, 4, 4)})
    >>> g.shape(g.outputs[0])
    (2, 3)
    """

    in_channels: int
    channels: int
    blocks: int
    out_features: int
    image_size: tuple[int, int]
    kernel_size: int = 3
    net: Sequential = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_size(
            "ResNet",
            in_channels=self.in_channels,
            channels=self.channels,
            out_features=self.out_features,
            kernel_size=self.kernel_size,
        )
        if isinstance(self.blocks, bool) or not isinstance(self.blocks, int) or self.blocks < 0:
            raise GraphError(f"ResNet: blocks must be an int >= 0, got {self.blocks!r}")
        if self.kernel_size % 2 == 0:
            raise GraphError(f"ResNet: kernel_size must be odd to keep the shape, got {self.kernel_size}")
        size = tuple(self.image_size) if isinstance(self.image_size, (list, tuple)) else ()
        if len(size) != 2:
            raise GraphError(f"ResNet: image_size must be (height, width), got {self.image_size!r}")
        check_size("ResNet", height=size[0], width=size[1])
        c, k = self.channels, self.kernel_size
        block = Residual(Sequential(_same_conv(c, k), Normalize("batch"), ReLU(), _same_conv(c, k)))
        net = Sequential(
            Conv2d(self.in_channels, c, k, padding=k // 2),
            *([block] * self.blocks),
            Flatten(),
            Linear(c * size[0] * size[1], self.out_features),
        )
        object.__setattr__(self, "image_size", size)
        object.__setattr__(self, "net", net)

    def __str__(self) -> str:
        return f"ResNet({self.in_channels}, {self.channels}, blocks={self.blocks}, out={self.out_features})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        check_rank(self, x, 4, "(N, C, H, W)")
        if x.shape[1:] != (self.in_channels, *self.image_size):
            raise shape_error(self, x, f"(C, H, W) = {x.shape[1:]} != {(self.in_channels, *self.image_size)}")
        return self.net(x, p)


@dataclass(frozen=True)
class TransformerBlock:
    """Pre-norm Transformer block: x + MHA(Normalize(x)), then x + Linear(ReLU(Linear(Normalize(x)))).

    Input and output (B, T, d_model); parameters ``attn.1.head<i>.*``, ``attn.1.out.*`` and
    ``ff.1.*`` (d_model -> d_ff), ``ff.3.*`` (d_ff -> d_model).

    >>> from symnn.trace import trace
    >>> g = trace(TransformerBlock(4, 2, 8), shapes={"x": (1, 3, 4)})
    >>> g.shape(g.outputs[0]), g.params["ff.1.W"]
    ((1, 3, 4), (8, 4))
    """

    d_model: int
    heads: int
    d_ff: int

    def __post_init__(self) -> None:
        check_size("TransformerBlock", d_model=self.d_model, heads=self.heads, d_ff=self.d_ff)
        MultiHeadAttention(self.d_model, self.heads)  # checks that heads divides d_model

    def __str__(self) -> str:
        return f"TransformerBlock({self.d_model}, heads={self.heads}, d_ff={self.d_ff})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        check_rank(self, x, 3, "(B, T, d_model)")
        if x.shape[2] != self.d_model:
            raise shape_error(self, x, f"last axis {x.shape[2]} != d_model {self.d_model}")
        d = self.d_model
        attn = Residual(Sequential(Normalize("layer"), MultiHeadAttention(d, self.heads)))
        ff = Residual(Sequential(Normalize("layer"), Linear(d, self.d_ff), ReLU(), Linear(self.d_ff, d)))
        x = attn(x, p.child("attn"))
        return ff(x, p.child("ff"))


@dataclass(frozen=True)
class Transformer:
    """``depth`` Transformer blocks in sequence; block i's parameters are prefixed ``<i>.``.

    >>> from symnn.trace import trace
    >>> g = trace(Transformer(4, 2, 8, depth=2), shapes={"x": (1, 3, 4)})
    >>> g.shape(g.outputs[0]), "1.ff.3.W" in g.params
    ((1, 3, 4), True)
    """

    d_model: int
    heads: int
    d_ff: int
    depth: int = 2

    def __post_init__(self) -> None:
        check_size("Transformer", depth=self.depth)
        TransformerBlock(self.d_model, self.heads, self.d_ff)

    def __str__(self) -> str:
        return f"Transformer({self.d_model}, heads={self.heads}, d_ff={self.d_ff}, depth={self.depth})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        block = TransformerBlock(self.d_model, self.heads, self.d_ff)
        return Sequential(*([block] * self.depth))(x, p)
