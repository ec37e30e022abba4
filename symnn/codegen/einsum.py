"""Planning contractions: merged indices, BLAS-shaped einsums, and a loop order for the rest.

Arrays are flat in the generated code, so an einsum can first be simplified for free: indices
of size 1 vanish, and indices that sit next to each other in the same order in every term
merge into one (``nckhij,fckh->nfij`` is ``nki,fk->nfi`` with k = (c, k, h), i = (i, j)). It is then a (batched) matrix
product when, after leading batch indices, each operand is one block of free indices next to
one block of contracted indices (either way round: a transpose is free) and the output is the
two free blocks; an operand without the batch indices is shared by every product.

>>> merge("nckhij,fckh->nfij", [(2, 1, 3, 3, 6, 6), (8, 1, 3, 3)])
('nki,fk->nfi', [(2, 9, 36), (8, 9)], (2, 8, 36))
>>> gemm_plan("bi,oi->bo", [(64, 784), (256, 784)])
Gemm(batch=1, m=64, n=256, k=784, a_t=False, b_t=True, swap=False, a_step=False, b_step=False)
>>> loop_order("ab->b", [(3, 4)])
(True, ('a', 'b'))
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from ..ops import Shape

#: Below this many multiply-adds per product, explicit loops beat the cost of a BLAS call.
BLAS_MIN_MACS = 4096
#: BLAS takes sizes as 32-bit ints: a product with a larger size stays loops.
BLAS_INT_MAX = 2**31 - 1


@dataclass(frozen=True)
class Gemm:
    """out[t] = A[t] @ B[t] for t < batch; ``a_t``/``b_t``: the operand is stored transposed
    ((K, M) / (N, K)); ``swap``: the output is stored as (N, M), computed as B^T A^T;
    ``a_step``/``b_step``: the operand has the batch indices (else one matrix serves all t)."""

    batch: int
    m: int
    n: int
    k: int
    a_t: bool
    b_t: bool
    swap: bool
    a_step: bool = True
    b_step: bool = True

    @property
    def macs(self) -> int:
        """Multiply-adds of one product."""
        return self.m * self.n * self.k


def merge(spec: str, shapes: list[Shape]) -> tuple[str, list[Shape], Shape]:
    """The same contraction on flat data with size-1 indices dropped and neighbours merged:
    (spec, operand shapes, output shape)."""
    lhs, out = spec.split("->")
    terms = [*lhs.split(","), out]
    size = {c: n for t, s in zip(terms, shapes, strict=False) for c, n in zip(t, s, strict=True)}
    terms = ["".join(c for c in t if size[c] > 1) for t in terms]

    def follows(x: str, y: str) -> bool:  # y right after x wherever either occurs
        return all((x in t) == (y in t) and (x not in t or t.find(y) == t.find(x) + 1) for t in terms)

    merged: list[str] = []
    new_size: dict[str, int] = {}
    for t in terms:
        chunks: list[str] = []
        for c in t:
            if chunks and follows(chunks[-1][-1], c):
                chunks[-1] += c
            else:
                chunks.append(c)
        merged.append("".join(ch[0] for ch in chunks))
        new_size.update((ch[0], math.prod(size[c] for c in ch)) for ch in chunks)
    new_shapes = [tuple(new_size[c] for c in t) for t in merged]
    return ",".join(merged[:-1]) + "->" + merged[-1], new_shapes[:-1], new_shapes[-1]


def _split(term: str, first: str, second: str) -> bool | None:
    """False if term == first + second, True if second + first, None otherwise."""
    if term == first + second:
        return False
    if term == second + first:
        return True
    return None


def gemm_plan(spec: str, shapes: list[Shape]) -> Gemm | None:
    """The matrix-product form of a two-operand einsum, or None if it has none.

    The batch is the shortest leading block of output indices that makes one: each operand
    starts with the batch indices or has none of them.
    """
    lhs, out = spec.split("->")
    terms = lhs.split(",")
    if len(terms) != 2:
        return None
    a, b = terms
    size = {c: n for t, s in zip(terms, shapes, strict=True) for c, n in zip(t, s, strict=True)}
    for nb in range(len(out) + 1):
        batch = out[:nb]
        if any(c in a and c in b for c in out[nb:]):
            continue
        steps = []
        for x in (a, b):
            has = [c for c in batch if c in x]
            if has and (len(has) < nb or x[:nb] != batch):
                break
            steps.append(bool(has))
        else:
            ra, rb, ro = a[nb if steps[0] else 0 :], b[nb if steps[1] else 0 :], out[nb:]
            m = "".join(c for c in ra if c in ro)
            k = "".join(c for c in ra if c not in ro)
            n = "".join(c for c in rb if c in ro)
            if not k or "".join(c for c in rb if c not in ro) != k or set(ro) != set(m + n):
                continue
            a_t, b_t, swap = _split(ra, m, k), _split(rb, k, n), _split(ro, m, n)
            if a_t is None or b_t is None or swap is None:
                continue
            nbt, nm, nn, nk = (math.prod(size[c] for c in s) for s in (batch, m, n, k))
            return Gemm(nbt, nm, nn, nk, a_t=a_t, b_t=b_t, swap=swap, a_step=steps[0], b_step=steps[1])
    return None


#: From this many multiply-adds on, a contraction that is a matrix product only after its
#: operands are transposed is computed that way: the copies cost less than a latency-bound loop.
TRANSPOSE_MIN_MACS = 16384


@dataclass(frozen=True)
class Transposed:
    """A contraction as a matrix product of transposed copies: operands (and maybe the output)
    are permuted to the index orders ``terms``/``out`` first (``None``: used as they are)."""

    terms: tuple[str | None, str | None]
    out: str | None
    gemm: Gemm


def transposed_plan(spec: str, shapes: list[Shape]) -> Transposed | None:
    """The cheapest way (fewest elements copied) to make a two-operand einsum a matrix product."""
    lhs, out = spec.split("->")
    terms = lhs.split(",")
    if len(terms) != 2 or len(set(lhs.replace(",", ""))) > 6:
        return None
    a, b = terms
    size = {c: n for t, s in zip(terms, shapes, strict=True) for c, n in zip(t, s, strict=True)}
    batch = "".join(c for c in out if c in a and c in b)
    m = "".join(c for c in a if c in out and c not in b)
    n = "".join(c for c in b if c in out and c not in a)
    k = "".join(c for c in a if c in b and c not in out)
    if not k or set(a) != set(batch + m + k) or set(b) != set(batch + k + n) or set(out) != set(batch + m + n):
        return None  # an index summed inside one operand only: not a matrix product
    if math.prod(size[c] for c in batch + m + n + k) < TRANSPOSE_MIN_MACS or max(len(a), len(b), len(out)) > 4:
        return None
    best: tuple[int, Transposed] | None = None
    for ta, tb, to in itertools.product((a, batch + m + k), (b, batch + k + n), (out, batch + m + n)):
        gemm = gemm_plan(f"{ta},{tb}->{to}", [tuple(size[c] for c in t) for t in (ta, tb)])
        if gemm is None:
            continue
        moved = sum(math.prod(size[c] for c in t) for t, orig in ((ta, a), (tb, b), (to, out)) if t != orig)
        plan = Transposed((ta if ta != a else None, tb if tb != b else None), to if to != out else None, gemm)
        if best is None or moved < best[0]:
            best = (moved, plan)
    return best[1] if best else None


def reduction_steps(spec: str, shape: Shape) -> list[tuple[int, int, int]] | None:
    """A one-operand einsum that only sums (keeping the other indices in order) as a chain of
    sums over the middle axis of (P, n, Q) views, one per block of summed indices; else None.

    >>> reduction_steps("abc->ac", (2, 3, 4)), reduction_steps("nfi->f", (64, 8, 36))
    ([(2, 3, 4)], [(1, 64, 288), (8, 36, 1)])
    >>> reduction_steps("ab->ba", (2, 3)) is None
    True
    """
    lhs, out = spec.split("->")
    if "," in lhs or len(out) == len(lhs) or "".join(c for c in lhs if c in out) != out:
        return None
    size = dict(zip(lhs, shape, strict=True))
    steps, term = [], lhs
    while len(term) > len(out):
        j = next(k for k, c in enumerate(term) if c not in out)
        r = next((k for k in range(j, len(term)) if term[k] in out), len(term)) - j
        steps.append(tuple(math.prod(size[c] for c in part) for part in (term[:j], term[j : j + r], term[j + r :])))
        term = term[:j] + term[j + r :]
    return steps  # type: ignore[return-value]


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
    if _cost(acc_order, [*terms, out])[0] < _cost(scalar_order, terms)[0]:  # a register sum unless strided
        return True, ones + acc_order
    return False, ones + scalar_order
