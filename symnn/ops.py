"""The closed op set of the IR, each with its shape rule.

Every op is a frozen dataclass; ``op.infer(*shapes)`` checks the argument shapes and returns
the result shape, raising ``ShapeError`` with both shapes in the message. Every other part of an
op (derivative rules, expansion, printing, code emission, executor rules, oracle, spec rows) is
registered in ``symnn.registry``; ``ALL_OPS`` lists the classes that must have every part, and
``Op.linear`` marks the ops whose two modes derive from their transpose.

>>> Einsum("bi,oi->bo").infer((2, 3), (4, 3))
(2, 4)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import ClassVar

import sympy as sp

from .errors import GraphError, ShapeError

Shape = tuple[int, ...]


def _fmt(shapes: tuple[Shape, ...]) -> str:
    return ", ".join(str(tuple(s)) for s in shapes)


@dataclass(frozen=True)
class Op:
    """Base of all ops; ``linear`` marks ops linear in every argument jointly."""

    linear: ClassVar[bool] = False

    def infer(self, *shapes: Shape) -> Shape:  # pragma: no cover - every op overrides
        raise NotImplementedError


@dataclass(frozen=True)
class Input(Op):
    """A named leaf: ``kind`` is ``"input"`` (data) or ``"param"`` (trainable)."""

    name: str
    kind: str = "input"

    def infer(self, *shapes: Shape) -> Shape:
        raise GraphError("Input nodes take their shape from the builder")


@dataclass(frozen=True)
class Const(Op):
    """A constant tensor: ``values`` holds one number (filled) or all numbers in C order."""

    values: tuple[float | int, ...]

    def infer(self, *shapes: Shape) -> Shape:
        raise GraphError("Const nodes take their shape from the builder")


@dataclass(frozen=True)
class Elementwise(Op):
    """``fn`` applied elementwise to n arguments broadcast together (numpy rules)."""

    fn: sp.Lambda

    @property
    def arity(self) -> int:
        return len(self.fn.variables)

    def infer(self, *shapes: Shape) -> Shape:
        if len(shapes) != self.arity:
            raise GraphError(f"Elementwise {self.fn} takes {self.arity} arguments, got {len(shapes)}")
        return broadcast_shapes(*shapes)


@dataclass(frozen=True)
class Einsum(Op):
    """A tensor contraction in einsum notation, e.g. ``"bi,oi->bo"`` for ``x W^T``."""

    spec: str
    linear: ClassVar[bool] = False  # multilinear: linear in each argument separately

    @property
    def terms(self) -> tuple[tuple[str, ...], str]:
        lhs, out = self.spec.split("->")
        return tuple(lhs.split(",")), out

    def sizes(self, *shapes: Shape) -> dict[str, int]:
        ins, _ = self.terms
        size: dict[str, int] = {}
        for term, shape in zip(ins, shapes, strict=True):
            for letter, n in zip(term, shape, strict=True):
                if size.setdefault(letter, n) != n:
                    raise ShapeError(
                        f"einsum {self.spec!r} got shapes {_fmt(shapes)}: "
                        f"index {letter!r} is {size[letter]} in one operand and {n} in another"
                    )
        return size

    def infer(self, *shapes: Shape) -> Shape:
        if not re.fullmatch(r"[a-zA-Z]*(,[a-zA-Z]*)*->[a-zA-Z]*", self.spec):
            raise GraphError(f"einsum spec {self.spec!r} must read like 'ab,bc->ac' (letters only)")
        ins, out = self.terms
        if len(ins) != len(shapes):
            raise GraphError(f"einsum {self.spec!r} has {len(ins)} operands, got {len(shapes)}")
        for term, shape in zip(ins, shapes, strict=True):
            if len(term) != len(shape):
                raise ShapeError(
                    f"einsum {self.spec!r} got shapes {_fmt(shapes)}: "
                    f"operand {term!r} needs rank {len(term)}, got rank {len(shape)}"
                )
            if len(set(term)) != len(term):
                raise GraphError(f"einsum {self.spec!r}: repeated index within {term!r} (diagonals) is not supported")
        if len(set(out)) != len(out) or not set(out) <= set("".join(ins)):
            raise GraphError(f"einsum {self.spec!r}: output indices must be distinct and appear in an operand")
        size = self.sizes(*shapes)
        return tuple(size[c] for c in out)


def window_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Number of window positions along one axis."""
    return (size + 2 * padding - kernel) // stride + 1


def _check_conv_geometry(kernel: Shape, stride: Shape, padding: Shape) -> None:
    d = len(kernel)
    if len(stride) != d or len(padding) != d or d == 0:
        raise GraphError(f"kernel {kernel}, stride {stride} and padding {padding} need one entry per spatial axis")
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise GraphError(f"kernel {kernel} and stride {stride} must be >= 1, padding {padding} >= 0")


@dataclass(frozen=True)
class Window(Op):
    """Sliding windows: (N, C, *S) -> (N, C, *K, *O) with zero padding; the adjoint of Fold."""

    kernel: Shape
    stride: Shape
    padding: Shape
    linear: ClassVar[bool] = True

    def infer(self, *shapes: Shape) -> Shape:
        _check_conv_geometry(self.kernel, self.stride, self.padding)
        (shape,) = shapes
        d = len(self.kernel)
        if len(shape) != d + 2:
            raise ShapeError(f"{d}-d windows need input (N, C, {d} spatial axes), got shape {shape}")
        outs = tuple(
            window_out(s, k, st, p)
            for s, k, st, p in zip(shape[2:], self.kernel, self.stride, self.padding, strict=True)
        )
        if min(outs) < 1:
            raise ShapeError(
                f"kernel {self.kernel} with padding {self.padding} does not fit input of shape {shape}; "
                "use a smaller kernel or more padding"
            )
        return (shape[0], shape[1], *self.kernel, *outs)


@dataclass(frozen=True)
class Fold(Op):
    """Scatter-add of windows back to (N, C, *S): the adjoint of Window."""

    spatial: Shape
    kernel: Shape
    stride: Shape
    padding: Shape
    linear: ClassVar[bool] = True

    def infer(self, *shapes: Shape) -> Shape:
        (shape,) = shapes
        expected = Window(self.kernel, self.stride, self.padding).infer((shape[0], shape[1], *self.spatial))
        if tuple(shape) != expected:
            raise ShapeError(f"Fold to spatial {self.spatial} needs windows of shape {expected}, got {shape}")
        return (shape[0], shape[1], *self.spatial)


@dataclass(frozen=True)
class Reshape(Op):
    """Reinterpret in C order with the same number of elements."""

    shape: Shape
    linear: ClassVar[bool] = True

    def infer(self, *shapes: Shape) -> Shape:
        (shape,) = shapes
        if math.prod(shape) != math.prod(self.shape):
            raise ShapeError(f"cannot reshape {shape} ({math.prod(shape)} elements) to {self.shape}")
        return self.shape


@dataclass(frozen=True)
class Slice(Op):
    """``x[start_0:stop_0, start_1:stop_1, ...]`` with unit steps."""

    start: Shape
    stop: Shape
    linear: ClassVar[bool] = True

    def infer(self, *shapes: Shape) -> Shape:
        (shape,) = shapes
        if not (len(self.start) == len(self.stop) == len(shape)):
            raise ShapeError(f"slice {self.start}:{self.stop} needs one bound per axis of shape {shape}")
        for a, b, n in zip(self.start, self.stop, shape, strict=True):
            if not 0 <= a < b <= n:
                raise ShapeError(f"slice {self.start}:{self.stop} is empty or outside shape {shape}")
        return tuple(b - a for a, b in zip(self.start, self.stop, strict=True))


@dataclass(frozen=True)
class Pad(Op):
    """Zero padding: ``before[i]`` and ``after[i]`` zeros along axis i; the adjoint of Slice."""

    before: Shape
    after: Shape
    linear: ClassVar[bool] = True

    def infer(self, *shapes: Shape) -> Shape:
        (shape,) = shapes
        if not (len(self.before) == len(self.after) == len(shape)) or min(self.before + self.after, default=0) < 0:
            raise ShapeError(f"pad {self.before}/{self.after} needs one non-negative width per axis of {shape}")
        return tuple(n + a + b for n, a, b in zip(shape, self.before, self.after, strict=True))


@dataclass(frozen=True)
class Concat(Op):
    """Join arguments along ``axis``."""

    axis: int
    linear: ClassVar[bool] = True

    def infer(self, *shapes: Shape) -> Shape:
        first = shapes[0]
        if not 0 <= self.axis < len(first):
            raise ShapeError(f"concat axis {self.axis} is outside shape {first}")
        for s in shapes[1:]:
            if len(s) != len(first) or any(
                a != b for i, (a, b) in enumerate(zip(s, first, strict=True)) if i != self.axis
            ):
                raise ShapeError(f"concat along axis {self.axis} got shapes {_fmt(shapes)}: other axes differ")
        return tuple(sum(s[self.axis] for s in shapes) if i == self.axis else n for i, n in enumerate(first))


@dataclass(frozen=True)
class BroadcastTo(Op):
    """numpy ``broadcast_to``: leading axes added, axes of size 1 repeated."""

    shape: Shape
    linear: ClassVar[bool] = True

    def infer(self, *shapes: Shape) -> Shape:
        (shape,) = shapes
        if broadcast_shapes(shape, self.shape) != self.shape:
            raise ShapeError(f"cannot broadcast shape {shape} to {self.shape}")
        return self.shape


@dataclass(frozen=True)
class LogSumExp(Op):
    """log(sum(exp(x), axis)), computed stably (max subtracted); removes ``axis``."""

    axis: int

    def infer(self, *shapes: Shape) -> Shape:
        (shape,) = shapes
        if not 0 <= self.axis < len(shape):
            raise ShapeError(f"logsumexp axis {self.axis} is outside shape {shape}")
        return shape[: self.axis] + shape[self.axis + 1 :]


#: The op classes computed by nodes (leaves excluded); each must have every part in ``symnn.registry``.
ALL_OPS: tuple[type[Op], ...] = (
    Elementwise,
    Einsum,
    Window,
    Fold,
    Reshape,
    Slice,
    Pad,
    Concat,
    BroadcastTo,
    LogSumExp,
)
LEAVES: tuple[type[Op], ...] = (Input, Const)


def broadcast_shapes(*shapes: Shape) -> Shape:
    """numpy's broadcasting rule, with a ShapeError that shows every shape."""
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        dims = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise ShapeError(f"shapes {_fmt(shapes)} do not broadcast together (axis {i - rank})")
        out.append(dims.pop() if dims else 1)
    return tuple(out)
