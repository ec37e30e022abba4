"""Einsum with its plan made once per (spec, shapes): pairs become one batched matmul (BLAS).

A two-operand contraction ``A[ta] B[tb] -> C[to]`` sorts its indices into batch (in A, B and
C), contracted (in A and B only), left (A and C) and right (B and C) groups, after summing out
indices that only one operand carries; then ``C = (A as (batch, left, contracted)) @
(B as (batch, contracted, right))``, reshaped and transposed to ``to``. Other operand counts go
to ``np.einsum`` with a precomputed contraction order.

>>> import numpy as np
>>> a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(4, 3)
>>> bool(np.allclose(einsum("bi,oi->ob", a, b), np.einsum("bi,oi->ob", a, b)))
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache, partial

import numpy as np


@dataclass(frozen=True)
class _Pair:
    """The reshapes and transposes that turn one pairwise contraction into a matmul."""

    reduce_a: str | None  # einsum spec that sums A's private indices (None: nothing to sum)
    reduce_b: str | None
    perm_a: tuple[int, ...] | None  # None: the identity
    perm_b: tuple[int, ...] | None
    shape_a: tuple[int, int, int]  # (batch, left, contracted)
    shape_b: tuple[int, int, int]  # (batch, contracted, right)
    kept_a: tuple[int, ...]  # A's shape after the summation and the transpose, before the reshape to shape_a
    kept_b: tuple[int, ...]
    shape_c: tuple[int, ...]
    perm_c: tuple[int, ...] | None


def _pair_plan(spec: str, sa: tuple[int, ...], sb: tuple[int, ...]) -> _Pair:
    (ta, tb), to = spec.split("->")[0].split(","), spec.split("->")[1]
    size = dict(zip(ta, sa, strict=True)) | dict(zip(tb, sb, strict=True))
    keep_a = "".join(c for c in ta if c in tb or c in to)
    keep_b = "".join(c for c in tb if c in ta or c in to)
    batch = [c for c in to if c in keep_a and c in keep_b]
    contracted = [c for c in keep_a if c in keep_b and c not in to]
    left = [c for c in keep_a if c not in keep_b]
    right = [c for c in keep_b if c not in keep_a]
    n = [math.prod(size[c] for c in group) for group in (batch, left, contracted, right)]
    order_c = batch + left + right
    return _Pair(
        reduce_a=f"{ta}->{keep_a}" if keep_a != ta else None,
        reduce_b=f"{tb}->{keep_b}" if keep_b != tb else None,
        perm_a=_perm(keep_a.index(c) for c in batch + left + contracted),
        perm_b=_perm(keep_b.index(c) for c in batch + contracted + right),
        shape_a=(n[0], n[1], n[2]),
        shape_b=(n[0], n[2], n[3]),
        kept_a=tuple(size[c] for c in batch + left + contracted),
        kept_b=tuple(size[c] for c in batch + contracted + right),
        shape_c=tuple(size[c] for c in order_c),
        perm_c=_perm(order_c.index(c) for c in to),
    )


def _perm(axes: Iterable[int]) -> tuple[int, ...] | None:
    """The permutation ``axes``, or None for the identity."""
    p = tuple(axes)
    return None if p == tuple(range(len(p))) else p


Contraction = Callable[..., np.ndarray]


@lru_cache(maxsize=4096)
def staged(spec: str, shapes: tuple[tuple[int, ...], ...]) -> Contraction:
    """``einsum(spec, *xs)`` for operands of ``shapes``, its plan made once: call it with the operands."""
    if len(shapes) == 1:
        if spec.split("->")[0] == spec.split("->")[1]:  # the identity (a sum's cotangent, "->")
            return _same
        return partial(np.einsum, spec)
    if len(shapes) > 2:
        order = np.einsum_path(spec, *(np.empty(s) for s in shapes), optimize="greedy")[0]
        return partial(np.einsum, spec, optimize=order)
    p = _pair_plan(spec, *shapes)
    # one matrix product when there is no batch (matmul's inner loop is the same, without the stacking)
    shape_a, shape_b = (p.shape_a[1:], p.shape_b[1:]) if p.shape_a[0] == 1 else (p.shape_a, p.shape_b)
    prepare_a = _prepare(p.reduce_a, p.perm_a, p.kept_a, shape_a)
    prepare_b = _prepare(p.reduce_b, p.perm_b, p.kept_b, shape_b)
    shape_c = None if shape_a[:-1] + shape_b[-1:] == p.shape_c else p.shape_c
    perm_c, matmul = p.perm_c, np.matmul

    def contract(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if prepare_a is not None:
            a = prepare_a(a)
        if prepare_b is not None:
            b = prepare_b(b)
        c = matmul(a, b)
        if shape_c is not None:
            c = c.reshape(shape_c)
        return c if perm_c is None else c.transpose(perm_c)

    return contract


def _same(x: np.ndarray) -> np.ndarray:
    return x


def _prepare(
    reduce: str | None, perm: tuple[int, ...] | None, kept: tuple[int, ...], shape: tuple[int, ...]
) -> Callable[[np.ndarray], np.ndarray] | None:
    """The summation, transpose and reshape taking one operand to its matmul ``shape`` (``kept`` before the
    reshape), or None when it needs none: an identity transpose or reshape would only cost a call."""
    steps: list[Callable[[np.ndarray], np.ndarray]] = []
    if reduce is not None:
        steps.append(partial(np.einsum, reduce))
    if perm is not None:
        steps.append(lambda x: x.transpose(perm))
    if kept != shape:
        steps.append(lambda x: x.reshape(shape))
    if len(steps) <= 1:
        return steps[0] if steps else None

    def prepare(x: np.ndarray) -> np.ndarray:
        for step in steps:
            x = step(x)
        return x

    return prepare


def einsum(spec: str, *xs: np.ndarray) -> np.ndarray:
    """``np.einsum(spec, *xs)``, with pairwise contractions handed to matmul."""
    return staged(spec, tuple(x.shape for x in xs))(*xs)
