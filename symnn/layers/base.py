"""The module convention, and the layers that only wire others together.

A layer is a frozen dataclass called as ``layer(x, p)``: ``x`` is a ``Tensor`` (batch first)
and ``p`` a ``Params`` that creates the layer's parameters under hierarchical names. A layer
checks its input shape itself and raises ``ShapeError`` naming itself and both sizes; the ops
it adds run inside ``builder.scope(str(layer))``, so deeper errors name the layer too.

>>> from symnn.ir import Builder
>>> b = Builder()
>>> p = Params(b)
>>> w = p.child("0").param("W", (2, 3))
>>> b.build(w.sum()).params
{'0.W': (2, 3)}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import GraphError, ShapeError
from ..ir import Builder, Tensor

Shape = tuple[int, ...]


class Layer(Protocol):
    """Anything called as ``layer(x, p) -> Tensor``."""

    def __call__(self, x: Tensor, p: Params) -> Tensor: ...


@dataclass(frozen=True)
class Params:
    """Creates parameters named ``<prefix><name>``; ``child(name)`` opens a sub-namespace."""

    builder: Builder
    prefix: str = ""

    def param(self, name: str, shape: Sequence[int]) -> Tensor:
        """The parameter ``prefix + name`` (created once; a second call with the same shape shares it)."""
        if not isinstance(name, str) or not name:
            raise GraphError(f"parameter names must be non-empty strings, got {name!r}")
        return self.builder.param(self.prefix + name, shape)

    def child(self, name: str | int) -> Params:
        """The namespace ``<prefix><name>.`` of a sub-layer."""
        name = str(name)
        if not name:
            raise GraphError("a child namespace needs a non-empty name")
        return Params(self.builder, f"{self.prefix}{name}.")


# -- shared checks ------------------------------------------------------------------------------
def check_tensor(layer: object, x: object) -> Tensor:
    """``x`` itself, after making sure it is a Tensor."""
    if not isinstance(x, Tensor):
        raise GraphError(f"{layer} needs a symnn Tensor as input, got {type(x).__name__}")
    return x


def shape_error(layer: object, x: Tensor, reason: str) -> ShapeError:
    """``"<layer> got input of shape <shape>: <reason>"``."""
    return ShapeError(f"{layer} got input of shape {x.shape}: {reason}")


def check_rank(layer: object, x: Tensor, rank: int, layout: str, at_least: bool = False) -> None:
    """Require ``x.ndim == rank`` (or ``>=`` with ``at_least``); ``layout`` names the axes, e.g. ``(N, C, H, W)``."""
    ok = x.ndim >= rank if at_least else x.ndim == rank
    if not ok:
        need = f"at least {rank}" if at_least else f"{rank}"
        raise shape_error(layer, x, f"rank {x.ndim} != {need}; expected {layout}")


def check_size(owner: str, **sizes: Any) -> None:
    """Constructor check: every named size is a positive int."""
    for name, n in sizes.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise GraphError(f"{owner}: {name} must be a positive int, got {n!r}")


def check_layer(owner: str, layer: object) -> None:
    if not callable(layer):
        raise GraphError(f"{owner}: {layer!r} is not a layer (a callable layer(x, p) -> Tensor)")


# -- wiring layers ------------------------------------------------------------------------------
@dataclass(frozen=True, init=False)
class Sequential:
    """The composition f_k ∘ … ∘ f_1 of the notes; child i's parameters are named ``"<i>.<name>"``.

    >>> from symnn.layers import Linear, ReLU
    >>> from symnn.trace import trace
    >>> sorted(trace(Sequential(Linear(3, 4), ReLU(), Linear(4, 1)), shapes={"x": (2, 3)}).params)
    ['0.W', '0.b', '2.W', '2.b']
    """

    layers: tuple[Layer, ...]

    def __init__(self, *layers: Layer) -> None:
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for layer in layers:
            check_layer("Sequential", layer)
        object.__setattr__(self, "layers", tuple(layers))

    def __str__(self) -> str:
        return f"Sequential({', '.join(map(str, self.layers))})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x, p.child(i))
        return x


@dataclass(frozen=True)
class Residual:
    """The residual layer x + g(x); ``g`` must keep the shape. ``g``'s parameters keep their own names."""

    g: Layer

    def __post_init__(self) -> None:
        check_layer("Residual", self.g)

    def __str__(self) -> str:
        return f"Residual({self.g})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        y = self.g(x, p)
        if not isinstance(y, Tensor):
            raise GraphError(f"{self}: g returned {type(y).__name__}, not a Tensor")
        if y.shape != x.shape:
            raise shape_error(self, x, f"g maps it to shape {y.shape}; x + g(x) needs g to keep the shape")
        with x.builder.scope(str(self)):
            return x + y


@dataclass(frozen=True)
class Flatten:
    """(N, *rest) -> (N, prod(rest)): keeps axis 0."""

    def __str__(self) -> str:
        return "Flatten()"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        check_rank(self, x, 1, "(N, ...)", at_least=True)
        with x.builder.scope(str(self)):
            return x.reshape((x.shape[0], math.prod(x.shape[1:])))


@dataclass(frozen=True)
class MeanPool:
    """Mean over one axis or a tuple of axes (default 1, the sequence or position axis): (B, T, d) -> (B, d).

    >>> from symnn.trace import trace
    >>> g = trace(MeanPool(axis=(2, 3)), shapes={"x": (2, 3, 4, 4)})
    >>> g.shape(g.outputs[0])
    (2, 3)
    """

    axis: int | tuple[int, ...] = 1

    def __post_init__(self) -> None:
        axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
        if not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
            raise GraphError(f"MeanPool: axis must be an int or a non-empty tuple of ints, got {self.axis!r}")

    def __str__(self) -> str:
        return f"MeanPool(axis={self.axis})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
        for a in axes:
            if not -x.ndim <= a < x.ndim:
                raise shape_error(self, x, f"axis {a} is outside rank {x.ndim}")
        with x.builder.scope(str(self)):
            return x.mean(axes)
