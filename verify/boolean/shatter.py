"""VC dimension, checked: shattering by one sign unit in R^d and on the cube, and by small networks on the cube.

* One unit sign(w . x + b) in R^d shatters the d + 1 points 0, e_1, ..., e_d: each of the 2^(d+1)
  dichotomies is decided by the exact LP of ``lp.separate`` and comes with checked integer weights.
* It shatters no d + 2 points: d + 2 points of R^d are affinely dependent, sum_i lambda_i (p_i, 1) = 0
  with lambda != 0, and the dichotomy "lambda_i > 0 versus lambda_i < 0" is not realizable (Radon).
  ``radon_dichotomy`` computes lambda exactly for any given points and returns that dichotomy with
  its checked certificate. On the cube {-1,+1}^d this is checked for *every* subset of d + 2 points
  for d <= 4, so there the VC dimension d + 1 is established by exhaustion.
* Networks of width k on {-1,+1}^d (d <= 4): the class {f : min width(f) <= k} is known exactly from
  ``minwidth.width_distribution``; the largest shattered subset of the cube is found by checking one
  subset per orbit of the cube's symmetry group, largest first. Next to it: the number of weights
  W = k(d + 2) + 1 and the explicit form of the O(kd log kd) bound for threshold networks with N
  computation units, VC <= 2 W log2(e N) (Baum and Haussler, 1989).

>>> shatter_simplex(2).shattered
True
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from symnn.jit import njit

from .errors import FunctionSpecError, TooLargeError, WitnessError
from .lp import check_radon, check_separator, separate
from .minwidth import width_distribution
from .npn import canonical
from .table import cube


@dataclass(frozen=True)
class SimplexShattering:
    """All 2^(d+1) dichotomies of 0, e_1..e_d, each realized by checked integer weights."""

    d: int
    points: list[tuple[int, ...]]
    dichotomies: int
    realized: int

    @property
    def shattered(self) -> bool:
        return self.realized == self.dichotomies


def shatter_simplex(d: int) -> SimplexShattering:
    """Check exactly that one sign unit in R^d shatters the d + 1 points 0, e_1, ..., e_d."""
    if d > 12:
        raise TooLargeError(f"2^{d + 1} dichotomies are checked one by one; d <= 12")
    pts = [tuple(0 for _ in range(d))] + [tuple(int(i == j) for j in range(d)) for i in range(d)]
    realized = 0
    for labels in itertools.product((-1, 1), repeat=d + 1):
        s = separate(pts, list(labels))
        if s.separable:
            if s.weights is None or s.bias is None or not check_separator(s.weights, s.bias, pts, list(labels)):
                raise WitnessError(f"separator for {labels} failed its check")
            realized += 1
    return SimplexShattering(d, pts, 2 ** (d + 1), realized)


@dataclass(frozen=True)
class RadonDichotomy:
    """A dichotomy of the given points that no sign unit realizes, with its checked certificate y."""

    labels: tuple[int, ...]
    y: tuple[int, ...]


def radon_dichotomy(points: list[tuple[Any, ...]]) -> RadonDichotomy:
    """For d + 2 (or more) points of R^d: an unrealizable dichotomy from an exact affine dependence."""
    if not points:
        raise FunctionSpecError("radon_dichotomy needs points")
    d = len(points[0])
    rows = [[Fraction(v) for v in p] + [Fraction(1)] for p in points]
    if len(rows) < d + 2 and _rank(rows) == len(rows):
        raise FunctionSpecError(f"{len(rows)} affinely independent points of R^{d} are shattered: no Radon dichotomy")
    lam = _dependence(rows)
    den = math.lcm(*(v.denominator for v in lam))
    ints = [int(v * den) for v in lam]
    labels = tuple(1 if v > 0 else -1 for v in ints)
    y = tuple(abs(v) for v in ints)
    if not check_radon(list(y), points, list(labels)):
        raise WitnessError(f"Radon certificate {y} for labels {labels} failed its check")
    return RadonDichotomy(labels, y)


def _rank(rows: list[list[Fraction]]) -> int:
    m = [r[:] for r in rows]
    rank, col = 0, 0
    ncols = len(m[0]) if m else 0
    while rank < len(m) and col < ncols:
        piv = next((i for i in range(rank, len(m)) if m[i][col] != 0), None)
        if piv is None:
            col += 1
            continue
        m[rank], m[piv] = m[piv], m[rank]
        for i in range(len(m)):
            if i != rank and m[i][col] != 0:
                f = m[i][col] / m[rank][col]
                m[i] = [a - f * b for a, b in zip(m[i], m[rank], strict=True)]
        rank += 1
        col += 1
    return rank


def _dependence(rows: list[list[Fraction]]) -> list[Fraction]:
    """A nonzero lambda with sum_i lambda_i rows[i] = 0 (rows linearly dependent), exactly."""
    n = len(rows)
    # columns of the system: unknowns lambda_i; equations: one per coordinate
    A = [[rows[i][j] for i in range(n)] for j in range(len(rows[0]))]
    pivots: list[int] = []
    r = 0
    for c in range(n):
        piv = next((i for i in range(r, len(A)) if A[i][c] != 0), None)
        if piv is None:
            continue
        A[r], A[piv] = A[piv], A[r]
        A[r] = [v / A[r][c] for v in A[r]]
        for i in range(len(A)):
            if i != r and A[i][c] != 0:
                f = A[i][c]
                A[i] = [a - f * b for a, b in zip(A[i], A[r], strict=True)]
        pivots.append(c)
        r += 1
    free = next(c for c in range(n) if c not in pivots)
    lam = [Fraction(0)] * n
    lam[free] = Fraction(1)
    for i, c in enumerate(pivots):
        lam[c] = -A[i][free]
    return lam


@dataclass(frozen=True)
class CubeUnitVC:
    """One sign unit on {-1,+1}^d: a shattered (d+1)-subset and, for d <= 4, every (d+2)-subset refuted."""

    d: int
    shattered_example: list[tuple[int, ...]]
    subsets_refuted: int  # subsets covered by a checked certificate (per orbit for d <= 4, times its size)
    subsets_total: int
    exhaustive: bool

    @property
    def vc(self) -> int:
        return self.d + 1


def cube_unit_vc(d: int) -> CubeUnitVC:
    """VC dimension d + 1 of one unit on the cube: shattered example, and Radon refutations of (d+2)-subsets."""
    if d < 1:
        raise FunctionSpecError("d >= 1")
    pts = cube(d).tolist() if d <= 20 else None
    if pts is None:
        raise TooLargeError("d <= 20")
    # (-1,...,-1) and its d neighbours are affinely independent: shattered
    example = [tuple(pts[0])] + [tuple(pts[1 << j]) for j in range(d)]
    for labels in itertools.product((-1, 1), repeat=d + 1):
        s = separate(example, list(labels))
        if not s.separable:
            raise WitnessError(f"the simplex corner of the cube is not shattered at {labels}")
    exhaustive = d <= 4
    total = math.comb(1 << d, d + 2)
    if exhaustive:  # one subset per orbit of the cube's symmetries, which carry certificates to certificates
        subsets = _orbit_representatives(d, d + 2)
    else:
        subsets = [(s, 1) for s in _sample_subsets(d, 200)]
    refuted = 0
    for sub, size in subsets:
        radon_dichotomy([tuple(pts[i]) for i in sub])  # raises if the certificate fails
        refuted += size
    if exhaustive and refuted != total:
        raise WitnessError(f"orbits of {d + 2}-subsets of the {d}-cube add up to {refuted}, not {total}")
    return CubeUnitVC(d, example, refuted, total, exhaustive)


def _orbit_representatives(d: int, size: int) -> list[tuple[tuple[int, ...], int]]:
    """Subsets of the cube of the given size, one per orbit under the cube's symmetries, with orbit sizes."""
    masks = np.array([sum(1 << i for i in c) for c in itertools.combinations(range(1 << d), size)], dtype=np.uint64)
    canon, _, _ = canonical(masks, d, negate_output=False)
    reps, counts = np.unique(canon, return_counts=True)
    return [(tuple(i for i in range(1 << d) if (int(r) >> i) & 1), int(n)) for r, n in zip(reps, counts, strict=True)]


def _sample_subsets(d: int, n: int) -> list[tuple[int, ...]]:
    rng = np.random.default_rng(0)
    return [tuple(sorted(rng.choice(1 << d, size=d + 2, replace=False).tolist())) for _ in range(n)]


# -- networks on the cube ------------------------------------------------------------------------------------------
@njit()
def _shattered(mask, tables):  # pragma: no cover - compiled
    """Do the functions in ``tables`` realize every labeling of the point set ``mask``?"""
    pts = np.empty(64, dtype=np.int64)
    m = 0
    for i in range(64):
        if (mask >> np.uint64(i)) & np.uint64(1):
            pts[m] = i
            m += 1
    seen = np.zeros(1 << m, dtype=np.bool_)
    hit = 0
    for t in tables:
        idx = 0
        for j in range(m):
            idx |= ((t >> np.uint64(pts[j])) & np.uint64(1)) << np.uint64(j)
        if not seen[idx]:
            seen[idx] = True
            hit += 1
            if hit == (1 << m):
                return True
    return False


@dataclass(frozen=True)
class NetworkVC:
    """Largest subset of {-1,+1}^d shattered by width-<=k sign networks, next to the bound."""

    d: int
    k: int
    vc: int
    example: list[tuple[int, ...]]
    weights: int  # W = k (d + 2) + 1
    bound: float  # 2 W log2(e (k + 1))
    functions: int  # |{f : min width(f) <= k}|

    def as_dict(self) -> dict[str, Any]:
        return {
            "d": self.d,
            "k": self.k,
            "vc_on_cube": self.vc,
            "cube_points": 2**self.d,
            "shattered_example": [list(p) for p in self.example],
            "parameters": self.weights,
            "bound_2W_log2_eN": round(self.bound, 1),
            "functions_of_width_at_most_k": self.functions,
        }


def network_vc(d: int, ks: list[int] | None = None) -> list[NetworkVC]:
    """Exact VC dimension on the cube of width-k networks for d <= 4 (from the exact width table)."""
    if d > 4:
        raise TooLargeError(
            f"the class of width-k networks on {{-1,+1}}^{d} is known exactly only for d <= 4 "
            "(where every function is classified)"
        )
    dist = width_distribution(d)
    values = np.arange(1 << (1 << d), dtype=np.uint64)
    best, _, _ = canonical(values, d)
    width_of = {rep: w for rep, _, w, _ in dist.classes}
    widths = np.array([width_of[int(b)] for b in best.tolist()])
    subsets = np.arange(1, 1 << (1 << d), dtype=np.uint64)
    canon, _, _ = canonical(subsets, d, negate_output=False)
    reps = np.unique(canon)
    sizes = np.array([bin(int(r)).count("1") for r in reps])
    order = np.argsort(-sizes, kind="stable")
    pts = cube(d).tolist()
    out = []
    for k in ks if ks is not None else list(range(1, max(widths) + 1)):
        tables = values[widths <= k]
        vc, example = 0, []
        for i in order:
            if sizes[i] <= vc:
                break
            if _shattered(np.uint64(reps[i]), tables):
                vc = int(sizes[i])
                example = [tuple(pts[j]) for j in range(1 << d) if (int(reps[i]) >> j) & 1]
        W = k * (d + 2) + 1
        out.append(NetworkVC(d, k, vc, example, W, 2 * W * math.log2(math.e * (k + 1)), int(tables.size)))
    return out


__all__ = [
    "CubeUnitVC",
    "NetworkVC",
    "RadonDichotomy",
    "SimplexShattering",
    "cube_unit_vc",
    "network_vc",
    "radon_dichotomy",
    "shatter_simplex",
]
