"""LayerNorm, BatchNorm and InstanceNorm as PyTorch defines them, with affine weight and bias.

Both normalize (x - mu) / sqrt(var + eps) with the biased variance (divide by n) and then scale
by ``weight`` and shift by ``bias``, parameters named as in PyTorch. ``Normalize`` (the notes'
form, no affine parameters) stays in ``activations``.

>>> from symnn.trace import trace
>>> trace(LayerNorm(3), shapes={"x": (2, 3)}).params
{'weight': (3,), 'bias': (3,)}
>>> trace(BatchNorm(2), shapes={"x": (4, 2, 3, 3)}).params
{'weight': (2,), 'bias': (2,)}
>>> trace(InstanceNorm(2, affine=True), shapes={"x": (4, 2, 3, 3)}).params
{'weight': (2,), 'bias': (2,)}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from ..errors import GraphError
from ..ir import Tensor
from .activations import EPS, exact_number
from .base import Params, check_rank, check_size, check_tensor, shape_error


def normalize(
    x: Tensor, axes: tuple[int, ...], eps: sp.Expr, mean: Tensor | None = None, var: Tensor | None = None
) -> Tensor:
    """(x - mu) / sqrt(var + eps) with mu, var over ``axes`` (biased), or the given ``mean`` and ``var``."""
    if mean is None or var is None:
        mean = x.mean(axes, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axes, keepdims=True)
    else:
        centered = x - mean
    return x.builder.elementwise(lambda c, v: c / sp.sqrt(v + eps), centered, var)


def affine(y: Tensor, weight: Tensor | None, bias: Tensor | None, shape: tuple[int, ...]) -> Tensor:
    """y * weight + bias with both reshaped to ``shape`` (broadcast against y)."""
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


@dataclass(frozen=True)
class LayerNorm:
    """PyTorch's LayerNorm: statistics over the last ``len(normalized_shape)`` axes, then weight * . + bias.

    ``normalized_shape`` is an int or a tuple (the trailing axes); ``weight`` and ``bias`` have
    that shape (``elementwise_affine=False`` drops both, ``bias=False`` the bias).
    """

    normalized_shape: int | tuple[int, ...]
    eps: Any = EPS
    elementwise_affine: bool = True
    bias: bool = True

    def __post_init__(self) -> None:
        shape = (self.normalized_shape,) if isinstance(self.normalized_shape, int) else tuple(self.normalized_shape)
        for i, n in enumerate(shape):
            check_size("LayerNorm", **{f"normalized_shape[{i}]": n})
        if not shape:
            raise GraphError("LayerNorm: normalized_shape must name at least one axis")
        object.__setattr__(self, "normalized_shape", shape)
        object.__setattr__(self, "eps", exact_number("LayerNorm", "eps", self.eps, positive=True))

    def __str__(self) -> str:
        return f"LayerNorm({self.normalized_shape})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        shape: tuple[int, ...] = self.normalized_shape  # type: ignore[assignment]
        k = len(shape)
        check_rank(self, x, k, f"(..., {', '.join(map(str, shape))})", at_least=True)
        if x.shape[x.ndim - k :] != shape:
            raise shape_error(self, x, f"its last {k} axes {x.shape[x.ndim - k :]} != normalized_shape {shape}")
        if math.prod(shape) < 2:
            raise shape_error(self, x, "normalizing a single value gives 0; normalize over at least 2 values")
        with x.builder.scope(str(self)):
            y = normalize(x, tuple(range(x.ndim - k, x.ndim)), self.eps)
            weight = p.param("weight", shape) if self.elementwise_affine else None
            bias = p.param("bias", shape) if self.elementwise_affine and self.bias else None
            return affine(y, weight, bias, shape)


@dataclass(frozen=True)
class BatchNorm:
    """PyTorch's BatchNorm1d/2d/3d: per channel (axis 1), statistics over every other axis, then weight * . + bias.

    Training mode (``running_mean is None``) uses the minibatch's statistics, as ``model.train()``
    does; eval mode takes ``running_mean`` and ``running_var`` (one number per channel) as
    constants, as ``model.eval()`` does. The running averages are not updated (a graph is a pure
    function).
    """

    num_features: int
    eps: Any = EPS
    affine: bool = True
    running_mean: Sequence[float] | None = None
    running_var: Sequence[float] | None = None

    def __post_init__(self) -> None:
        check_size("BatchNorm", num_features=self.num_features)
        object.__setattr__(self, "eps", exact_number("BatchNorm", "eps", self.eps, positive=True))
        _running("BatchNorm", self, self.num_features)

    def __str__(self) -> str:
        mode = "" if self.running_mean is None else ", eval"
        return f"BatchNorm({self.num_features}{mode})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        check_rank(self, x, 2, "(N, C, ...)", at_least=True)
        c = self.num_features
        if x.shape[1] != c:
            raise shape_error(self, x, f"channel axis 1 is {x.shape[1]} != num_features {c}")
        shape = (1, c) + (1,) * (x.ndim - 2)
        axes = (0, *range(2, x.ndim))
        with x.builder.scope(str(self)):
            if self.running_mean is None:
                if math.prod(x.shape[a] for a in axes) < 2:
                    raise shape_error(self, x, "one value per channel: training statistics need at least 2")
                y = normalize(x, axes, self.eps)
            else:
                b = x.builder
                mean = b.const(list(self.running_mean), (c,)).reshape(shape)
                var = b.const(list(self.running_var), (c,)).reshape(shape)  # type: ignore[arg-type]
                y = normalize(x, axes, self.eps, mean, var)
            weight = p.param("weight", (c,)) if self.affine else None
            bias = p.param("bias", (c,)) if self.affine else None
            return affine(y, weight, bias, shape)


def _running(owner: str, layer: Any, n: int) -> None:
    """Check and normalize ``running_mean``/``running_var`` (both or neither, ``n`` numbers each) to tuples."""
    if (layer.running_mean is None) != (layer.running_var is None):
        raise GraphError(f"{owner}: give both running_mean and running_var (eval mode) or neither (training)")
    for name in ("running_mean", "running_var"):
        v = getattr(layer, name)
        if v is not None:
            v = tuple(float(a) for a in v)
            if len(v) != n:
                raise GraphError(f"{owner}: {name} needs {n} numbers, got {len(v)}")
            object.__setattr__(layer, name, v)


@dataclass(frozen=True)
class InstanceNorm:
    """PyTorch's InstanceNorm1d/2d/3d: per example and channel, statistics over the spatial axes 2, 3, ...

    (x - mu) / sqrt(var + eps) with mu, var over (L), (H, W) or (D, H, W) of each (n, c), then
    ``weight * . + bias`` per channel when ``affine`` (PyTorch's default is no affine parameters).
    ``running_mean``/``running_var`` (one number per channel) are eval mode with
    ``track_running_stats=True``: the statistics are those constants.
    """

    num_features: int
    eps: Any = EPS
    affine: bool = False
    running_mean: Sequence[float] | None = None
    running_var: Sequence[float] | None = None

    def __post_init__(self) -> None:
        check_size("InstanceNorm", num_features=self.num_features)
        object.__setattr__(self, "eps", exact_number("InstanceNorm", "eps", self.eps, positive=True))
        _running("InstanceNorm", self, self.num_features)

    def __str__(self) -> str:
        mode = "" if self.running_mean is None else ", eval"
        return f"InstanceNorm({self.num_features}{', affine' if self.affine else ''}{mode})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        check_rank(self, x, 3, "(N, C, L), (N, C, H, W) or (N, C, D, H, W)", at_least=True)
        c = self.num_features
        if x.shape[1] != c:
            raise shape_error(self, x, f"channel axis 1 is {x.shape[1]} != num_features {c}")
        shape = (1, c) + (1,) * (x.ndim - 2)
        with x.builder.scope(str(self)):
            if self.running_mean is None:
                if math.prod(x.shape[2:]) < 2:
                    raise shape_error(self, x, "one spatial position: instance statistics need at least 2")
                y = normalize(x, tuple(range(2, x.ndim)), self.eps)
            else:
                b = x.builder
                mean = b.const(list(self.running_mean), (c,)).reshape(shape)
                var = b.const(list(self.running_var), (c,)).reshape(shape)  # type: ignore[arg-type]
                y = normalize(x, tuple(range(2, x.ndim)), self.eps, mean, var)
            weight = p.param("weight", (c,)) if self.affine else None
            bias = p.param("bias", (c,)) if self.affine else None
            return affine(y, weight, bias, shape)
