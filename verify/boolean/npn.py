"""NPN symmetry: negating inputs, permuting inputs, negating the output, on truth tables and networks.

A group element e = (p, s, o) maps f to (e f)(x) = o f(y) with y_j = s_j x_p(j). The minimum width
of a sign network is invariant: if net computes f, then ``transform_network(e, net)`` computes e f
(columns of W1 permuted and negated, output layer times o). The canonical form of f is the smallest
truth-table value in its orbit; functions of 3 variables fall into 14 classes, of 4 into 222.

>>> len(canonical_classes(2))
4
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from symnn.jit import njit

from .construct import SignNetwork
from .errors import TooLargeError


@dataclass(frozen=True)
class NPN:
    """One group element: permutation p, input signs s (+-1), output sign o."""

    p: tuple[int, ...]
    s: tuple[int, ...]
    o: int

    def source(self) -> np.ndarray:
        """src with (e f)(i) = o f(src[i])."""
        d = len(self.p)
        idx = np.arange(1 << d)
        src = np.zeros(1 << d, dtype=np.int64)
        for j in range(d):
            bit = (idx >> self.p[j]) & 1
            if self.s[j] < 0:
                bit = 1 - bit
            src |= bit << j
        return src


def group(d: int, negate_output: bool = True) -> list[NPN]:
    """All 2^d d! 2 elements (768 for d = 4); without output negation, the symmetries of the cube."""
    return [
        NPN(p, s, o)
        for p in itertools.permutations(range(d))
        for s in itertools.product((1, -1), repeat=d)
        for o in ((1, -1) if negate_output else (1,))
    ]


def apply_table(e: NPN, table: np.ndarray) -> np.ndarray:
    """The +-1 truth table of e f."""
    return (e.o * table[e.source()]).astype(np.int8)


def transform_network(e: NPN, net: SignNetwork) -> SignNetwork:
    """A network for e f from one for f: W1 x at y = S P x is W1' x with W1'[:, p(j)] = s_j W1[:, j]."""
    W1 = np.zeros_like(net.W1)
    for j, (pj, sj) in enumerate(zip(e.p, e.s, strict=True)):
        W1[:, pj] = sj * net.W1[:, j]
    return SignNetwork(W1, net.b1, e.o * net.W2, e.o * net.b2)


@njit()
def _canon(values, srcs, outs, nbits):  # pragma: no cover - compiled
    """Smallest image value of each table under the group, and the index of one element reaching it."""
    full = (np.uint64(1) << np.uint64(nbits)) - np.uint64(1) if nbits < 64 else ~np.uint64(0)
    n = values.shape[0]
    best = np.empty(n, dtype=np.uint64)
    arg = np.empty(n, dtype=np.int64)
    for t in range(n):
        v = values[t]
        b = ~np.uint64(0)
        a = -1
        for g in range(srcs.shape[0]):
            img = np.uint64(0)
            for i in range(nbits):
                img |= ((v >> np.uint64(srcs[g, i])) & np.uint64(1)) << np.uint64(i)
            if outs[g] < 0:
                img = ~img & full
            if img < b:
                b = img
                a = g
        best[t] = b
        arg[t] = a
    return best, arg


def canonical(values: np.ndarray, d: int, negate_output: bool = True) -> tuple[np.ndarray, np.ndarray, list[NPN]]:
    """Canonical values of the tables ``values`` (bit i = f(i) is +1), the element index reaching each, the group.

    With ``negate_output=False`` the tables are point sets of the cube, under the cube's symmetries.
    """
    if d > 5:
        raise TooLargeError(f"NPN canonical forms are computed for d <= 5 (the group has {2**d * 2:,} x {d}! elements)")
    G = group(d, negate_output)
    srcs = np.stack([e.source() for e in G]).astype(np.int64)
    outs = np.array([e.o for e in G], dtype=np.int64)
    best, arg = _canon(np.asarray(values, dtype=np.uint64), srcs, outs, 1 << d)
    return best, arg, G


def canonical_classes(d: int) -> list[np.ndarray]:
    """The NPN classes of all functions of d <= 4 variables, each an array of table values (smallest first)."""
    if d > 4:
        raise TooLargeError(f"all 2^(2^{d}) functions of {d} variables are too many to classify here; d <= 4")
    values = np.arange(1 << (1 << d), dtype=np.uint64)
    best, _, _ = canonical(values, d)
    reps, inverse = np.unique(best, return_inverse=True)
    return [values[inverse == r] for r in range(reps.size)]


__all__ = ["NPN", "apply_table", "canonical", "canonical_classes", "group", "transform_network"]
