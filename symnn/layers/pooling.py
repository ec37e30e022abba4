"""Max and average pooling over 1, 2 or 3 spatial axes, built from one Window op and a reduction.

Max pooling takes the maximum of each window's entries in row-major kernel order through
``maximum``, which picks its first argument on ties: the gradient goes to the FIRST maximal
entry of a window, as in PyTorch's CPU kernels and every symnn path (symbolic rules, expansion,
generated code, executor, oracles), since they all share ``maximum``'s convention.

>>> from symnn.trace import trace
>>> g = trace(MaxPool2d(2), shapes={"x": (1, 1, 4, 4)})
>>> g.shape(g.outputs[0])
(1, 1, 2, 2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ..errors import GraphError
from ..functions import maximum
from ..ir import Tensor
from ..ops import Window, window_out
from .base import Params, check_rank, check_tensor, shape_error
from .core import _tuple

Size = int | tuple[int, ...]


def windows(
    owner: object, x: Tensor, kernel: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...]
) -> Tensor:
    """The sliding windows (N, C, *K, *O) of ``x`` (N, C, *S), after checking that the kernel fits."""
    d = len(kernel)
    check_rank(owner, x, d + 2, "(N, C" + ", S" * d + ")")
    for ax, (s, k, st, pd) in enumerate(zip(x.shape[2:], kernel, stride, padding, strict=True)):
        if window_out(s, k, st, pd) < 1:
            raise shape_error(owner, x, f"spatial axis {ax + 2} of size {s} (+2*{pd} padding) is smaller than {k}")
    return x.builder.add(Window(kernel, stride, padding), x)


def max_pool(x: Tensor, kernel: tuple[int, ...], stride: tuple[int, ...], owner: object = "max_pool") -> Tensor:
    """y[n, c, o] = max over the window at o of x[n, c, .], ties to the first entry in row-major kernel order."""
    d = len(kernel)
    win = windows(owner, x, kernel, stride, (0,) * d)
    n, c, outs = x.shape[0], x.shape[1], win.shape[2 + d :]
    k = math.prod(kernel)
    flat = win.reshape((n, c, k, *outs))
    parts = [flat.take(2, i, i + 1).reshape((n, c, *outs)) for i in range(k)]
    if k == 1:
        return parts[0]

    def chain(*a: object) -> object:
        out = a[0]
        for b in a[1:]:
            out = maximum(out, b)  # first argument on ties: the earlier window entry wins
        return out

    return x.builder.elementwise(chain, *parts)


def avg_pool(
    x: Tensor, kernel: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...], owner: object = "avg_pool"
) -> Tensor:
    """y[n, c, o] = mean of the window at o (zero padding counted, PyTorch's ``count_include_pad=True``)."""
    d = len(kernel)
    win = windows(owner, x, kernel, stride, padding)
    return win.mean(tuple(range(2, 2 + d)))


@dataclass(frozen=True)
class _PoolNd:
    kernel_size: Size
    stride: Size | None = None
    padding: Size = 0
    dims: ClassVar[int] = 0

    def __post_init__(self) -> None:
        name = type(self).__name__
        kernel = _tuple(name, "kernel_size", self.kernel_size, self.dims, 1)
        object.__setattr__(self, "kernel_size", kernel)
        stride = kernel if self.stride is None else self.stride
        object.__setattr__(self, "stride", _tuple(name, "stride", stride, self.dims, 1))
        padding = _tuple(name, "padding", self.padding, self.dims, 0)
        if any(2 * p > k for p, k in zip(padding, kernel, strict=True)):
            raise GraphError(f"{name}: padding {padding} must be at most half the kernel {kernel}, as in PyTorch")
        object.__setattr__(self, "padding", padding)

    def __str__(self) -> str:
        extra = f", padding={self.padding}" if any(self.padding) else ""  # type: ignore[arg-type]
        return f"{type(self).__name__}({self.kernel_size}, stride={self.stride}{extra})"


class _MaxPoolNd(_PoolNd):
    """Max pooling; windows without padding (PyTorch pads with -inf, which no symnn constant is)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if any(self.padding):  # type: ignore[arg-type]
            raise GraphError(
                f"{type(self).__name__}: padding {self.padding} is not supported for max pooling; "
                "pad the input with Pad/ConstantPad first or use padding=0"
            )

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        with x.builder.scope(str(self)):
            return max_pool(x, self.kernel_size, self.stride, self)  # type: ignore[arg-type]


class _AvgPoolNd(_PoolNd):
    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        with x.builder.scope(str(self)):
            return avg_pool(x, self.kernel_size, self.stride, self.padding, self)  # type: ignore[arg-type]


@dataclass(frozen=True)
class MaxPool1d(_MaxPoolNd):
    """(N, C, L) -> (N, C, L'): the maximum of each window (stride defaults to the kernel size)."""

    dims: ClassVar[int] = 1


@dataclass(frozen=True)
class MaxPool2d(_MaxPoolNd):
    """(N, C, H, W) -> (N, C, H', W'): the maximum of each window; ties go to the first entry in row-major order."""

    dims: ClassVar[int] = 2


@dataclass(frozen=True)
class MaxPool3d(_MaxPoolNd):
    """(N, C, D, H, W) -> (N, C, D', H', W'): the maximum of each window."""

    dims: ClassVar[int] = 3


@dataclass(frozen=True)
class AvgPool1d(_AvgPoolNd):
    """(N, C, L) -> (N, C, L'): the mean of each window (zero padding counted)."""

    dims: ClassVar[int] = 1


@dataclass(frozen=True)
class AvgPool2d(_AvgPoolNd):
    """(N, C, H, W) -> (N, C, H', W'): the mean of each window (zero padding counted).

    >>> from symnn.trace import trace
    >>> g = trace(AvgPool2d(2, padding=1), shapes={"x": (1, 1, 3, 3)})
    >>> g.shape(g.outputs[0])
    (1, 1, 2, 2)
    """

    dims: ClassVar[int] = 2


@dataclass(frozen=True)
class AvgPool3d(_AvgPoolNd):
    """(N, C, D, H, W) -> (N, C, D', H', W'): the mean of each window (zero padding counted)."""

    dims: ClassVar[int] = 3
