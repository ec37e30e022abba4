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
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class _Pair:
    """The reshapes and transposes that turn one pairwise contraction into a matmul."""

    reduce_a: str | None  # einsum spec that sums A's private indices (None: nothing to sum)
    reduce_b: str | None
    perm_a: tuple[int, ...] | None  # None: the identity
    perm_b: tuple[int, ...] | None
    shape_a: tuple[int, int, int]
    shape_b: tuple[int, int, int]
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
        shape_c=tuple(size[c] for c in order_c),
        perm_c=_perm(order_c.index(c) for c in to),
    )


def _perm(axes: Iterable[int]) -> tuple[int, ...] | None:
    """The permutation ``axes``, or None for the identity."""
    p = tuple(axes)
    return None if p == tuple(range(len(p))) else p


@lru_cache(maxsize=4096)
def _plan(spec: str, shapes: tuple[tuple[int, ...], ...]) -> _Pair | list | None:
    if len(shapes) == 1:
        return None
    if len(shapes) == 2:
        return _pair_plan(spec, *shapes)
    return np.einsum_path(spec, *(np.empty(s) for s in shapes), optimize="greedy")[0]


def einsum(spec: str, *xs: np.ndarray) -> np.ndarray:
    """``np.einsum(spec, *xs)``, with pairwise contractions handed to matmul."""
    plan = _plan(spec, tuple(x.shape for x in xs))
    if plan is None:
        return np.einsum(spec, xs[0])
    if not isinstance(plan, _Pair):
        return np.einsum(spec, *xs, optimize=plan)
    a, b = xs
    if plan.reduce_a is not None:
        a = np.einsum(plan.reduce_a, a)
    if plan.reduce_b is not None:
        b = np.einsum(plan.reduce_b, b)
    if plan.perm_a is not None:  # None: the identity, which would only cost a call
        a = a.transpose(plan.perm_a)
    if plan.perm_b is not None:
        b = b.transpose(plan.perm_b)
    c = np.matmul(a.reshape(plan.shape_a), b.reshape(plan.shape_b)).reshape(plan.shape_c)
    return c if plan.perm_c is None else c.transpose(plan.perm_c)
