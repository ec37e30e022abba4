"""Planning contractions: BLAS-shaped einsums, and a good loop order for the rest.

An einsum of two operands is a (batched) matrix product when, after leading batch indices,
each operand is one block of free indices next to one block of contracted indices (either
way round: a transpose is free for BLAS) and the output is the two free blocks.

>>> gemm_plan("bi,oi->bo", [(64, 784), (256, 784)])
Gemm(batch=1, m=64, n=256, k=784, a_t=False, b_t=True, swap=False)
>>> loop_order("ab->b", [(3, 4)])
(True, ('a', 'b'))
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from ..ops import Shape

#: Below this many multiply-adds, explicit loops beat the cost of a BLAS call.
BLAS_MIN_MACS = 4096


@dataclass(frozen=True)
class Gemm:
    """out[t] = A[t] @ B[t] for t < batch; ``a_t``/``b_t``: the operand is stored transposed
    ((K, M) / (N, K)); ``swap``: the output is stored as (N, M), computed as B^T A^T."""

    batch: int
    m: int
    n: int
    k: int
    a_t: bool
    b_t: bool
    swap: bool

    @property
    def macs(self) -> int:
        return self.batch * self.m * self.n * self.k


def _split(term: str, first: str, second: str) -> bool | None:
    """False if term == first + second, True if second + first, None otherwise."""
    if term == first + second:
        return False
    if term == second + first:
        return True
    return None


def gemm_plan(spec: str, shapes: list[Shape]) -> Gemm | None:
    """The matrix-product form of a two-operand einsum, or None if it has none."""
    lhs, out = spec.split("->")
    terms = lhs.split(",")
    if len(terms) != 2:
        return None
    a, b = terms
    size = {c: n for t, s in zip(terms, shapes, strict=True) for c, n in zip(t, s, strict=True)}
    nb = len([c for c in out if c in a and c in b])
    batch = out[:nb]
    if a[:nb] != batch or b[:nb] != batch or any(c in a and c in b for c in out[nb:]):
        return None
    ra, rb, ro = a[nb:], b[nb:], out[nb:]
    m = "".join(c for c in ra if c in ro)
    k = "".join(c for c in ra if c not in ro)
    n = "".join(c for c in rb if c in ro)
    if not k or "".join(c for c in rb if c not in ro) != k or set(ro) != set(m + n):
        return None
    a_t, b_t, swap = _split(ra, m, k), _split(rb, k, n), _split(ro, m, n)
    if a_t is None or b_t is None or swap is None:
        return None
    nb, nm, nn, nk = (math.prod(size[c] for c in s) for s in (batch, m, n, k))
    return Gemm(nb, nm, nn, nk, a_t=a_t, b_t=b_t, swap=swap)


def reduction_plan(spec: str, shape: Shape) -> tuple[int, int, int] | None:
    """(P, n, Q) when a one-operand einsum sums one contiguous block of axes of x viewed as
    (P, n, Q), keeping the others in order; None otherwise.

    >>> reduction_plan("abc->ac", (2, 3, 4)), reduction_plan("ab->ba", (2, 3))
    ((2, 3, 4), None)
    """
    lhs, out = spec.split("->")
    if "," in lhs or len(out) == len(lhs):
        return None
    j = 0
    while j < len(out) and lhs[j] == out[j]:
        j += 1
    r = len(lhs) - len(out)
    if lhs[j + r :] != out[j:]:
        return None
    return math.prod(shape[:j]), math.prod(shape[j : j + r]), math.prod(shape[j + r :])


def _cost(order: tuple[str, ...], arrays: list[str]) -> tuple[int, int]:
    """Strided accesses in the innermost and the next loop (lower is better)."""

    def strided(letter: str) -> int:
        return sum(1 for t in arrays if letter in t and t[-1] != letter)

    return strided(order[-1]) if order else 0, strided(order[-2]) if len(order) > 1 else 0


def loop_order(spec: str, shapes: list[Shape]) -> tuple[bool, tuple[str, ...]]:
    """(accumulate, order): loop nest for an einsum done by hand; indices of size 1 come first
    (they are bound to 0, not looped over).

    accumulate=False: output indices outside, contracted ones inside, a scalar accumulator;
    accumulate=True: any order, adding into a zeroed output (chosen when it avoids strided access).
    """
    lhs, out = spec.split("->")
    terms = lhs.split(",")
    size = {c: n for t, s in zip(terms, shapes, strict=True) for c, n in zip(t, s, strict=True)}
    ones = tuple(c for c in dict.fromkeys(out + "".join(terms)) if size[c] == 1)
    terms = ["".join(c for c in t if size[c] > 1) for t in terms]
    out = "".join(c for c in out if size[c] > 1)
    letters = tuple(dict.fromkeys(out + "".join(terms)))
    contracted = tuple(c for c in letters if c not in out)
    if not contracted:
        return False, ones + tuple(out)
    best_inner = min(
        itertools.permutations(contracted) if len(contracted) <= 5 else [contracted],
        key=lambda p: _cost(tuple(out) + p, terms),
    )
    scalar_order = tuple(out) + best_inner
    if not out or len(letters) > 6:
        return False, ones + scalar_order
    acc_order = min(itertools.permutations(letters), key=lambda p: _cost(p, [*terms, out]))
    if _cost(acc_order, [*terms, out]) < _cost(scalar_order, terms):
        return True, ones + acc_order
    return False, ones + scalar_order
