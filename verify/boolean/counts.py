"""The number of threshold functions of n variables, by two independent exact methods.

``method="lp"`` (linear programming): every threshold function is g(x) = f(s * x) for exactly one
*positive* threshold function f (monotone increasing) and one sign s_j per essential variable of f,
so T(n) = sum over positive threshold f of 2^(number of essential variables of f). The positive
threshold functions are found among all monotone functions (built recursively: f = (f0, f1) with
f0 <= f1 monotone in one variable fewer) by the exact LP decision of ``threshold``, once per class
under permutations of the variables; every resulting weight vector is re-checked on every input.

``method="regions"`` (hyperplane arrangements, no LP): threshold functions of n variables are the
regions of the central arrangement of the 2^n hyperplanes {(w, b): w . x + b = 0} in R^(n+1), one
per point x of the cube. By Zaslavsky's theorem and Whitney's / Rota's description of the Möbius
function, the number of regions is the number of *no-broken-circuit* sets of the vectors (x, 1): the
independent sets S = {s_1 < ... < s_k} (in a fixed order) in which every tail {s_i, ..., s_k} has
s_i as the smallest element of its linear span. A compiled depth-first search counts them with
exact integer (fraction-free) rank tests. The counts per size are the absolute coefficients of the
arrangement's characteristic polynomial.

Both agree with OEIS A000609 (number of threshold functions of n or fewer variables):
2, 4, 14, 104, 1882, 94572, 15028134, 8378070864, ...

>>> count_threshold(3).count
104
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symnn.jit import njit

from ..report import html_table
from .errors import FunctionSpecError, TooLargeError, WitnessError
from .table import BooleanFunction, cube
from .threshold import threshold

# OEIS A000609: threshold functions of n (or fewer) variables, n = 0, 1, 2, ...
A000609 = (2, 4, 14, 104, 1882, 94572, 15028134, 8378070864, 17561539552946, 144130531453121108)
MAX_COUNT_N = {"lp": 5, "regions": 6}  # n = 6: LP ~ minutes on 16,353 classes; regions ~ a minute


@dataclass(frozen=True)
class ThresholdList:
    """All threshold functions of n variables: tables (bit i set iff f(i) = +1), integer weights, biases."""

    n: int
    tables: np.ndarray  # uint64 (N,)
    weights: np.ndarray  # int64 (N, n)
    bias: np.ndarray  # int64 (N,)

    def __len__(self) -> int:
        return int(self.tables.size)

    def function(self, i: int) -> BooleanFunction:
        return table_function(int(self.tables[i]), self.n)


@dataclass(frozen=True)
class CountResult:
    """Counts of threshold functions of n variables by each method run, and the published value."""

    n: int
    counts: dict[str, int]
    seconds: dict[str, float]
    whitney: tuple[int, ...] | None = None  # NBC sets by size: |coefficients| of the characteristic polynomial
    oeis: int | None = field(default=None)

    def _repr_html_(self) -> str:
        agree = len(set(self.counts.values())) == 1 and (self.oeis is None or self.oeis in self.counts.values())
        rows = [
            ([m, str(c), f"{self.seconds.get(m, 0.0):.2f}"], self.oeis == c if self.oeis is not None else None)
            for m, c in self.counts.items()
        ]
        oeis = f", OEIS A000609: {self.oeis}" if self.oeis is not None else ""
        caption = f"threshold functions of n = {self.n} variables{oeis}"
        return html_table(["method", "count", "seconds"], rows, caption=caption, ok=agree)

    @property
    def count(self) -> int:
        vals = set(self.counts.values())
        if len(vals) != 1:
            raise WitnessError(f"the methods disagree for n = {self.n}: {self.counts}")
        return vals.pop()

    @property
    def agree(self) -> bool:
        return len(set(self.counts.values())) == 1 and (self.oeis is None or self.oeis in self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "counts": self.counts,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "oeis_A000609": self.oeis,
            "agree": self.agree,
            "characteristic_polynomial_abs_coefficients": list(self.whitney) if self.whitney else None,
        }


# -- truth tables as integers -------------------------------------------------------------------------------
def table_function(value: int, n: int) -> BooleanFunction:
    """The BooleanFunction whose truth table has bit i set iff f(i) = +1."""
    bits = np.array([(value >> i) & 1 for i in range(1 << n)], dtype=np.int8)
    return BooleanFunction(n, np.where(bits == 1, 1, -1))


def table_value(f: BooleanFunction) -> int:
    return f.value


def transform(tables: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Tables of g with g(i) = f(src[i]) for every f in ``tables`` (uint64, 2^n <= 64 entries)."""
    out = np.zeros_like(tables)
    one = np.uint64(1)
    for i, s in enumerate(src.tolist()):
        out |= ((tables >> np.uint64(s)) & one) << np.uint64(i)
    return out


def permutation_maps(n: int) -> list[tuple[tuple[int, ...], np.ndarray]]:
    """For each permutation p of the variables, src with (f o p)(i) = f(src[i]): y_j = x_p(j)."""
    idx = np.arange(1 << n)
    out = []
    for p in itertools.permutations(range(n)):
        src = np.zeros(1 << n, dtype=np.int64)
        for j in range(n):
            src |= ((idx >> p[j]) & 1) << j
        out.append((p, src))
    return out


def essential_count(tables: np.ndarray, n: int) -> np.ndarray:
    """Number of variables each table depends on."""
    idx = np.arange(1 << n)
    ess = np.zeros(tables.shape, dtype=np.int64)
    for j in range(n):
        ess += transform(tables, idx ^ (1 << j)) != tables
    return ess


def monotone_tables(n: int) -> np.ndarray:
    """All monotone increasing functions of n variables (Dedekind numbers 2, 3, 6, 20, 168, 7581, ...)."""
    if n > 6:
        raise TooLargeError(f"monotone functions of {n} variables do not fit 64-bit tables (and number > 10^12)")
    level = np.array([0, 1], dtype=np.uint64)  # n = 0: constant false, constant true
    for m in range(n):
        half = np.uint64(1 << m)
        f0 = level[:, None]
        f1 = level[None, :]
        ok = (f0 & ~f1) == 0  # f0 <= f1 pointwise: monotone in the new variable
        i0, i1 = np.nonzero(ok)
        level = level[i0] | (level[i1] << half)
    return np.sort(level)


# -- method 1: LP over positive functions ---------------------------------------------------------------
def _check_weights(tables: np.ndarray, weights: np.ndarray, bias: np.ndarray, n: int) -> None:
    """Exactly (int64): sign(w . x + b) reproduces every table, with no zero."""
    X = cube(n).astype(np.int64)
    vals = X @ weights.T + bias[None, :]  # (2^n, N)
    bits = ((tables[None, :] >> np.arange(1 << n, dtype=np.uint64)[:, None]) & np.uint64(1)).astype(np.int64)
    want = 2 * bits - 1
    bad = np.flatnonzero(np.any(want * vals <= 0, axis=0))
    if bad.size:
        i = int(bad[0])
        raise WitnessError(f"weights {weights[i].tolist()}, bias {bias[i]} do not realize table {int(tables[i]):#x}")


def positive_threshold_functions(n: int) -> ThresholdList:
    """All positive (monotone) threshold functions of n variables, with exactly checked weights."""
    if n > MAX_COUNT_N["lp"] + 1:
        raise TooLargeError(f"positive threshold functions are enumerated for n <= {MAX_COUNT_N['lp'] + 1}")
    mono = monotone_tables(n)
    perms = permutation_maps(n)
    images = np.stack([transform(mono, src) for _, src in perms])  # (perms, N)
    which = np.argmin(images, axis=0)
    canon = images[which, np.arange(mono.size)]
    reps, inverse = np.unique(canon, return_inverse=True)
    rep_w = np.zeros((reps.size, n), dtype=np.int64)
    rep_b = np.zeros(reps.size, dtype=np.int64)
    rep_ok = np.zeros(reps.size, dtype=bool)
    for r, value in enumerate(reps.tolist()):
        res = threshold(table_function(int(value), n))
        if res.is_threshold and res.weights is not None and res.bias is not None:
            rep_ok[r] = True
            rep_w[r] = res.weights
            rep_b[r] = res.bias
    keep = rep_ok[inverse]
    # member m with canon = m o p has weights w'_j = w_{p(j)} (see permutation_maps)
    W = np.zeros((mono.size, n), dtype=np.int64)
    for k, (p, _) in enumerate(perms):
        sel = which == k
        W[sel] = rep_w[inverse[sel]][:, list(p)]
    tables, W, B = mono[keep], W[keep], rep_b[inverse][keep]
    _check_weights(tables, W, B, n)
    return ThresholdList(n, tables, W, B)


def threshold_functions(n: int) -> ThresholdList:
    """All threshold functions of n variables (14, 104, 1882, 94572 for n = 2..5), weights checked."""
    pos = positive_threshold_functions(n)
    idx = np.arange(1 << n)
    ess = np.zeros((len(pos), n), dtype=bool)
    for j in range(n):
        ess[:, j] = transform(pos.tables, idx ^ (1 << j)) != pos.tables
    tabs, ws, bs = [], [], []
    for mask in range(1 << n):  # negate the variables in mask; only where all of them are essential
        neg = np.array([(mask >> j) & 1 for j in range(n)], dtype=bool)
        sel = np.all(ess[:, neg], axis=1) if neg.any() else np.ones(len(pos), dtype=bool)
        if not sel.any():
            continue
        tabs.append(transform(pos.tables[sel], idx ^ mask))
        ws.append(np.where(neg, -pos.weights[sel], pos.weights[sel]))
        bs.append(pos.bias[sel])
    tables, W, B = np.concatenate(tabs), np.concatenate(ws), np.concatenate(bs)
    order = np.argsort(tables, kind="stable")
    tables, W, B = tables[order], W[order], B[order]
    if np.any(tables[1:] == tables[:-1]):
        raise WitnessError(f"two sign patterns of positive threshold functions of {n} variables coincide")
    _check_weights(tables, W, B, n)
    return ThresholdList(n, tables, W, B)


def count_lp(n: int) -> int:
    """T(n) = sum over positive threshold functions f of 2^(essential variables of f)."""
    pos = positive_threshold_functions(n)
    return int((1 << essential_count(pos.tables, n)).sum())


# -- method 2: regions of the arrangement, by no-broken-circuit sets ------------------------------------------
@njit()
def _reduce(v, basis, piv, r, out):  # pragma: no cover - compiled
    """out = v reduced against the first r echelon rows (fraction-free, gcd-normalized); True if nonzero."""
    m = v.shape[0]
    for j in range(m):
        out[j] = v[j]
    for i in range(r):
        p = piv[i]
        c = out[p]
        if c != 0:
            a = basis[i, p]
            g = 0
            for j in range(m):
                out[j] = out[j] * a - c * basis[i, j]
                x = abs(out[j])
                while x:  # g = gcd(g, x)
                    g, x = x, g % x
            if g > 1:
                for j in range(m):
                    out[j] //= g
    for j in range(m):
        if out[j] != 0:
            return True
    return False


@njit()
def _nbc_counts(V):  # pragma: no cover - compiled
    """Number of no-broken-circuit sets of the rows of V, by size (V: N x m int64, rows pairwise independent)."""
    counts = _nbc_counts_roots(V, np.arange(V.shape[0] - 1, -1, -1))
    counts[0] = 1  # the empty set
    return counts


@njit()
def _nbc_counts_roots(V, roots):  # pragma: no cover - compiled
    """The NBC sets whose largest element is in ``roots``, by size (the subtrees of a depth-first search).

    Sets are built from their largest element down; each new element s must leave no smaller row
    in the span of the new tail. Disjoint ``roots`` give disjoint sets, so counts of a partition add up.
    """
    m = V.shape[1]
    counts = np.zeros(m + 1, dtype=np.int64)
    basis = np.zeros((m + 1, m), dtype=np.int64)
    piv = np.zeros(m + 1, dtype=np.int64)
    nxt = np.zeros(m + 2, dtype=np.int64)  # next candidate to try at each depth
    tmp = np.zeros(m, dtype=np.int64)
    tmp2 = np.zeros(m, dtype=np.int64)
    for root in roots:
        depth = 0
        nxt[0] = root
        while depth >= 0:
            s = nxt[depth]
            if s < 0 or depth == m or (depth == 0 and s != root):
                depth -= 1
                continue
            nxt[depth] = s - 1
            if not _reduce(V[s], basis, piv, depth, tmp):
                continue  # s is in the span of the current set
            p = 0
            while tmp[p] == 0:
                p += 1
            for j in range(m):
                basis[depth, j] = tmp[j]
            piv[depth] = p
            ok = True
            for e in range(s):  # the new tail's span must contain nothing smaller than s
                if not _reduce(V[e], basis, piv, depth + 1, tmp2):
                    ok = False
                    break
            if not ok:
                continue
            counts[depth + 1] += 1
            depth += 1
            nxt[depth] = s - 1
    return counts


def _arrangement(n: int) -> np.ndarray:
    """The vectors (x, 1) for x in the cube, one row each (int64, contiguous)."""
    return np.ascontiguousarray(np.hstack([cube(n).astype(np.int64), np.ones((1 << n, 1), dtype=np.int64)]))


def count_regions_part(n: int, roots: Sequence[int]) -> tuple[int, ...]:
    """NBC sets by size (size 0 left out) whose largest element is in ``roots``: ``count_regions`` in pieces.

    Over a partition of range(2^n) the parts add up to the characteristic polynomial's coefficients
    1..n+1 (``verify.campaign`` splits the roots that way).

    >>> sum(count_regions_part(2, [0, 1])) + sum(count_regions_part(2, [2, 3])) + 1
    14
    """
    if n > MAX_COUNT_N["regions"]:
        raise TooLargeError(f"the region count is run for n <= {MAX_COUNT_N['regions']} (n = 7 would take days)")
    bad = [r for r in roots if not 0 <= int(r) < 1 << n]
    if bad:
        raise FunctionSpecError(f"roots must be row indices 0 <= r < 2^{n}, got {bad[:5]}")
    counts = _nbc_counts_roots(_arrangement(n), np.array(sorted(set(roots)), dtype=np.int64))
    return tuple(int(c) for c in counts[1:])


@functools.lru_cache(maxsize=8)
def lp_classes(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Monotone functions of n variables up to permutations: representatives, class sizes, essential variables.

    Threshold and essential-variable count are invariant under permutations, so
    T(n) = sum over threshold representatives r of size(r) 2^ess(r) (``count_lp_part``).
    """
    mono = monotone_tables(n)
    images = np.stack([transform(mono, src) for _, src in permutation_maps(n)])
    reps, sizes = np.unique(images.min(axis=0), return_counts=True)
    return reps, sizes, essential_count(reps, n)


def count_lp_part(n: int, start: int, stop: int) -> int:
    """Sum of size(r) 2^ess(r) over the threshold representatives start <= r < stop of ``lp_classes(n)``.

    Each LP's weights are re-checked on every input. Over consecutive ranges the parts add up to
    ``count_lp(n)``.

    >>> count_lp_part(3, 0, 5) + count_lp_part(3, 5, 10**9)
    104
    """
    if n > MAX_COUNT_N["lp"] + 1:
        raise TooLargeError(f"positive threshold functions are enumerated for n <= {MAX_COUNT_N['lp'] + 1}")
    reps, sizes, ess = lp_classes(n)
    total = 0
    for r in range(max(start, 0), min(stop, reps.size)):
        res = threshold(table_function(int(reps[r]), n))
        if res.is_threshold and res.weights is not None and res.bias is not None:
            w = np.array([res.weights], dtype=np.int64)
            _check_weights(reps[r : r + 1], w, np.array([res.bias], dtype=np.int64), n)
            total += int(sizes[r]) << int(ess[r])
    return total


def count_regions(n: int) -> tuple[int, tuple[int, ...]]:
    """Regions of the arrangement {w . x + b = 0 : x in {-1,+1}^n} in R^(n+1), and the NBC counts by size."""
    if n > MAX_COUNT_N["regions"]:
        raise TooLargeError(f"the region count is run for n <= {MAX_COUNT_N['regions']} (n = 7 would take days)")
    counts = _nbc_counts(_arrangement(n))
    return int(counts.sum()), tuple(int(c) for c in counts)


def count_threshold(n: int, method: str = "both") -> CountResult:
    """Threshold functions of n variables by ``"lp"``, ``"regions"`` or ``"both"`` (which must agree)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise FunctionSpecError(f"n must be a non-negative integer, got {n!r}")
    methods = ("lp", "regions") if method == "both" else (method,)
    for m in methods:
        if m not in MAX_COUNT_N:
            raise FunctionSpecError(f"unknown method {m!r}; use lp, regions or both")
        if n > MAX_COUNT_N[m]:
            raise TooLargeError(
                f"method {m!r} is run for n <= {MAX_COUNT_N[m]}; n = {n} is beyond what it does in minutes"
            )
    counts: dict[str, int] = {}
    seconds: dict[str, float] = {}
    whitney = None
    for m in methods:
        t0 = time.perf_counter()
        if m == "lp":
            counts[m] = count_lp(int(n))
        else:
            counts[m], whitney = count_regions(int(n))
        seconds[m] = time.perf_counter() - t0
    res = CountResult(int(n), counts, seconds, whitney, A000609[n] if n < len(A000609) else None)
    res.count  # noqa: B018 - raises WitnessError if the methods disagree
    return res


__all__ = [
    "A000609",
    "CountResult",
    "ThresholdList",
    "count_lp",
    "count_lp_part",
    "count_regions",
    "count_regions_part",
    "count_threshold",
    "lp_classes",
    "monotone_tables",
    "positive_threshold_functions",
    "threshold_functions",
]
