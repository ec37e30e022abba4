"""Exact linear separability of labeled points: a rational simplex in integer (fraction-free) pivoting.

For points p_1..p_N in Q^n with labels l_i in {-1, +1}, exactly one of two systems has a solution
(Gordan's theorem, a form of Farkas' lemma):

    (S) w in Q^n, b in Q with  l_i (w . p_i + b) > 0 for every i            (a separating hyperplane);
    (R) y >= 0, y != 0 with    sum_i y_i l_i (p_i, 1) = 0                   (a Radon certificate).

(R) says that a convex combination of the positive points equals one of the negative points, so
no hyperplane separates them: if (S) held too, 0 = sum_i y_i l_i (w . p_i + b) > 0.

``separate`` solves the phase-1 problem of (R) normalized by sum_i y_i = 1, i.e. A y = e with the
N columns A_i = (l_i p_i, l_i, 1), by the simplex method with Bland's rule (no cycling) in exact
integer arithmetic: the tableau is kept as integers over one common denominator, and each pivot
divides exactly by the previous pivot (Edmonds' integer-preserving pivoting, as in Bareiss
elimination), so no fractions and no rounding ever occur. If phase 1 reaches 0, the basic solution
is a certificate (R); otherwise the phase-1 duals z = (u, u_b, t) satisfy A^T z <= 0 and t > 0, and
w = -u, b = -u_b is a separator with l_i (w . p_i + b) >= t. Either certificate is re-checked
exactly by ``check_separator`` / ``check_radon`` before it is returned.

>>> s = separate([(0, 0), (1, 0), (0, 1), (1, 1)], [-1, -1, -1, 1])   # AND
>>> s.separable, check_separator(s.weights, s.bias, [(0, 0), (1, 0), (0, 1), (1, 1)], [-1, -1, -1, 1])
(True, True)
>>> separate([(0, 0), (1, 0), (0, 1), (1, 1)], [-1, 1, 1, -1]).radon   # XOR: (1,0)+(0,1) = (0,0)+(1,1)
(1, 1, 1, 1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from .errors import FunctionSpecError, WitnessError

Number = int | Fraction


@dataclass(frozen=True)
class Separation:
    """The decision and its certificate: integer (weights, bias) if separable, else integer Radon weights.

    ``radon[i] >= 0`` with sum_i radon[i] * label_i * (p_i, 1) = 0; ``pivots`` is the simplex work done.
    """

    separable: bool
    weights: tuple[int, ...] | None
    bias: int | None
    radon: tuple[int, ...] | None
    pivots: int


def _as_rational(v: Any) -> Fraction:
    if isinstance(v, bool):
        raise FunctionSpecError(f"point coordinates must be numbers, got the bool {v!r}")
    if isinstance(v, (int, Fraction)):
        return Fraction(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise FunctionSpecError(f"point coordinates must be finite, got {v!r}")
        return Fraction(v)
    if isinstance(v, np.integer):
        return Fraction(int(v))
    if isinstance(v, np.floating) and np.isfinite(v):
        return Fraction(float(v))
    raise FunctionSpecError(f"point coordinates must be rational numbers, got {v!r}")


def _columns(points: Sequence[Sequence[Any]], labels: Sequence[int]) -> tuple[list[list[int]], list[int], int]:
    """Integer columns s_i (l_i p_i, l_i, 1) with s_i > 0 clearing the denominators of point i."""
    if len(points) != len(labels):
        raise FunctionSpecError(f"{len(points)} points but {len(labels)} labels")
    n = len(points[0]) if points else 0
    cols, scales = [], []
    for i, (p, lab) in enumerate(zip(points, labels, strict=True)):
        if len(p) != n:
            raise FunctionSpecError(f"point {i} has {len(p)} coordinates, point 0 has {n}")
        if lab not in (1, -1):
            raise FunctionSpecError(f"label {i} is {lab!r}; labels are +1 or -1")
        q = [_as_rational(v) for v in p]
        s = math.lcm(*(v.denominator for v in q)) if q else 1
        cols.append([int(lab * v * s) for v in q] + [lab * s, s])
        scales.append(s)
    return cols, scales, n


def _simplex_phase1(cols: list[list[int]], rhs: list[int]) -> tuple[bool, list[Fraction], list[Fraction], int]:
    """Phase 1 of min 1.a s.t. A y + a = rhs, y, a >= 0 (rhs >= 0), in integer pivoting with Bland's rule.

    Returns (feasible, y, z, pivots): y the basic solution (when feasible), z the duals of the final
    basis (A^T z <= 0 and rhs . z = phase-1 optimum > 0 when infeasible).
    """
    m = len(rhs)
    N = len(cols)
    # rows 1..m: [A | I | rhs]; row 0: reduced costs of the phase-1 objective, -objective in the last column
    T = [[cols[j][i] for j in range(N)] + [int(i == r) for r in range(m)] + [rhs[i]] for i in range(m)]
    obj = [-sum(T[i][j] for i in range(m)) for j in range(N)] + [0] * m + [-sum(rhs)]
    T.insert(0, obj)
    basis = [N + i for i in range(m)]
    D = 1  # common denominator of the tableau
    pivots = 0
    while True:
        enter = next((j for j in range(N + m) if T[0][j] < 0), -1)  # Bland: lowest index with negative cost
        if enter < 0:
            break
        best = -1
        for i in range(1, m + 1):
            a = T[i][enter]
            if a > 0:
                if best < 0:
                    best = i
                    continue
                # ratio T[i][rhs]/a vs T[best][rhs]/T[best][enter]; ties: lowest basic variable (Bland)
                lhs = T[i][-1] * T[best][enter]
                rhs_ = T[best][-1] * a
                if lhs < rhs_ or (lhs == rhs_ and basis[i - 1] < basis[best - 1]):
                    best = i
        if best < 0:  # unbounded: impossible in phase 1 (objective >= 0)
            raise WitnessError("phase 1 reported an unbounded direction; the exact simplex has a bug")
        p = T[best][enter]
        prow = T[best]
        for i in range(m + 1):
            if i == best:
                continue
            row = T[i]
            f = row[enter]
            if f == 0:
                T[i] = [(v * p) // D for v in row]
            else:
                T[i] = [(v * p - f * pv) // D for v, pv in zip(row, prow, strict=True)]
        D = p
        basis[best - 1] = enter
        pivots += 1
    value = Fraction(-T[0][-1], D)
    y = [Fraction(0)] * N
    for i, b in enumerate(basis):
        if b < N:
            y[b] = Fraction(T[i + 1][-1], D)
    # reduced cost of artificial r is 1 - z_r
    z = [1 - Fraction(T[0][N + r], D) for r in range(m)]
    return value == 0, y, z, pivots


def separate(points: Sequence[Sequence[Any]], labels: Sequence[int]) -> Separation:
    """Decide exactly whether a hyperplane strictly separates the +1 points from the -1 points."""
    cols, scales, n = _columns(points, labels)
    if not cols:
        return Separation(True, (0,) * n, 1, None, 0)
    rhs = [0] * (n + 1) + [1]
    feasible, y, z, pivots = _simplex_phase1(cols, rhs)
    if feasible:
        # y' solves the scaled system; the certificate for the original points is y_i = s_i y'_i
        ys = [yi * s for yi, s in zip(y, scales, strict=True)]
        den = math.lcm(*(v.denominator for v in ys))
        radon = [int(v * den) for v in ys]
        g = math.gcd(*radon)
        radon = [v // g for v in radon]
        if not check_radon(radon, points, labels):
            raise WitnessError(f"the Radon certificate {radon} failed its exact check")
        return Separation(False, None, None, tuple(radon), pivots)
    u, t = z[: n + 1], z[n + 1]
    den = math.lcm(*(v.denominator for v in u))
    w = [-int(v * den) for v in u]
    g = math.gcd(*w) or 1
    w = [v // g for v in w]
    weights, bias = w[:n], w[n]
    if t <= 0 or not check_separator(weights, bias, points, labels):
        raise WitnessError(f"the separator {weights}, {bias} failed its exact check")
    return Separation(True, tuple(weights), bias, None, pivots)


def check_separator(weights: Sequence[int], bias: int, points: Sequence[Sequence[Any]], labels: Sequence[int]) -> bool:
    """Exactly: label_i * (w . p_i + b) > 0 for every i."""
    for p, lab in zip(points, labels, strict=True):
        s = sum(Fraction(w) * _as_rational(v) for w, v in zip(weights, p, strict=True)) + bias
        if lab * s <= 0:
            return False
    return True


def check_radon(y: Sequence[int], points: Sequence[Sequence[Any]], labels: Sequence[int]) -> bool:
    """Exactly: y >= 0, y != 0 and sum_i y_i label_i (p_i, 1) = 0 (so no separator exists)."""
    if len(y) != len(points) or any(v < 0 for v in y) or not any(y):
        return False
    n = len(points[0])
    total = [Fraction(0)] * (n + 1)
    for yi, p, lab in zip(y, points, labels, strict=True):
        if yi:
            for j in range(n):
                total[j] += yi * lab * _as_rational(p[j])
            total[n] += yi * lab
    return all(v == 0 for v in total)


__all__ = ["Separation", "check_radon", "check_separator", "separate"]
