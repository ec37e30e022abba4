"""Threshold functions: the exact decision whether one sign unit computes f, with a certificate either way.

f: {-1,+1}^n -> {-1,+1} is a threshold function iff f(x) = sign(w . x + b) for some w, b with
w . x + b != 0 on the cube. The decision is the exact linear program of ``lp.separate`` on the 2^n
labeled points; its certificate is

* integer weights and bias with f(x) (w . x + b) >= 1 on every input (checked exactly), or
* an integer Radon certificate y >= 0: sum_x y_x f(x) (x, 1) = 0, i.e. equally many true and false
  points (counted with weights y) with the same sum, so no hyperplane separates them (checked exactly).

>>> r = threshold("majority:3")
>>> r.is_threshold, r.weights, r.bias
(True, (1, 1, 1), 0)
>>> r = threshold("parity:2")
>>> r.is_threshold, r.radon_true, r.radon_false
(False, ((1, -1), (-1, 1)), ((-1, -1), (1, 1)))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..report import html_table
from .construct import SignNetwork
from .errors import TooLargeError, WitnessError, format_seconds
from .lp import check_radon, check_separator, separate
from .table import BooleanFunction, boolean_function, cube

MAX_THRESHOLD_D = 16  # 2^16 columns in an exact tableau of 18 rows; beyond, the tableau itself is too large
#: Seconds per 4^d of the exact simplex, the slowest measured on the project's 2-core machine:
#: and:12 (4151 pivots, 63 s); majority:12 took 8.2 s, parity:12 0.5 s (python -c "threshold('and:12')").
SECONDS_PER_4_D = 3.8e-6
#: The exact decision is refused when its estimate is above this many seconds (``max_seconds``).
MAX_THRESHOLD_SECONDS = 600.0


def estimate_seconds(d: int) -> float:
    """An estimate of the exact decision's time that no measured function exceeded: 3.8e-6 s * 4^d.

    Up to ~2^d pivots (and:12 took 4151) of a tableau with 2^d columns: time grows like 4^d. Functions
    the simplex settles quickly (parity, majority) take 8 to 130 times less.
    """
    return SECONDS_PER_4_D * 4.0**d


@dataclass(frozen=True)
class ThresholdResult:
    """The decision for f and its exactly checked certificate.

    If ``is_threshold``: ``weights``, ``bias`` (integers) with f(x) (w . x + b) >= 1 everywhere and
    ``margin`` the smallest f(x) (w . x + b). Otherwise ``radon``: input index -> positive integer
    multiplicity, over true and false points with sum_true y_x (x, 1) = sum_false y_x (x, 1).
    """

    f: BooleanFunction
    is_threshold: bool
    weights: tuple[int, ...] | None
    bias: int | None
    margin: int | None
    radon: dict[int, int] | None
    pivots: int

    def _repr_html_(self) -> str:
        if self.is_threshold:
            rows = [
                (["weights", str(self.weights)], True),
                (["bias", str(self.bias)], True),
                (["margin", str(self.margin)], True),
            ]
            caption = f"{self.f.name}: a threshold function (certificate checked exactly)"
        else:
            rows = [(["Radon multiplicities", str(self.radon)], False)]
            caption = f"{self.f.name}: not a threshold function (Radon certificate checked exactly)"
        return html_table(["certificate", "value"], rows, caption=caption, ok=self.is_threshold)

    @property
    def radon_true(self) -> tuple[tuple[int, ...], ...]:
        """The true points of the Radon certificate, repeated by multiplicity."""
        return self._side(+1)

    @property
    def radon_false(self) -> tuple[tuple[int, ...], ...]:
        return self._side(-1)

    def _side(self, label: int) -> tuple[tuple[int, ...], ...]:
        if self.radon is None:
            return ()
        pts = cube(self.f.d).tolist()
        return tuple(tuple(pts[i]) for i, m in sorted(self.radon.items()) if self.f.table[i] == label for _ in range(m))

    def network(self) -> SignNetwork:
        """The unit as a one-hidden-layer sign network: one hidden unit, output = that unit."""
        if not self.is_threshold or self.weights is None or self.bias is None:
            raise WitnessError("a function that is not a threshold function has no one-unit network")
        return SignNetwork(np.array([self.weights], dtype=np.int64), np.array([self.bias]), np.array([1]), 0)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"d": self.f.d, "function": self.f.hex if self.f.d <= 6 else self.f.name}
        out["is_threshold"] = self.is_threshold
        if self.is_threshold:
            out |= {"weights": list(self.weights or ()), "bias": self.bias, "margin": self.margin}
        else:
            out["radon"] = {
                "true_points": [list(p) for p in self.radon_true],
                "false_points": [list(p) for p in self.radon_false],
                "meaning": "the two lists have equal length and equal coordinate sums, so no hyperplane "
                "separates the true points from the false points",
            }
        out["checked"] = "exactly, on every input"
        return out


def threshold(f: Any, d: int | None = None, max_seconds: float = MAX_THRESHOLD_SECONDS) -> ThresholdResult:
    """Decide exactly whether f is a threshold function; the certificate is re-checked before returning.

    Refused with ``TooLargeError`` before any work if ``estimate_seconds(d)`` is above ``max_seconds``.
    """
    fn = f if isinstance(f, BooleanFunction) else boolean_function(f, d)
    if fn.d > MAX_THRESHOLD_D:
        raise TooLargeError(
            f"the exact threshold decision for d = {fn.d} works on a tableau with 2^{fn.d} columns; "
            f"the limit is d <= {MAX_THRESHOLD_D} (time grows like 4^d)"
        )
    if not max_seconds > 0:  # also nan, which no estimate would ever exceed
        raise TooLargeError(f"max_seconds must be a positive number of seconds, got {max_seconds}")
    estimate = estimate_seconds(fn.d)
    if estimate > max_seconds:
        raise TooLargeError(
            f"the exact threshold decision for d = {fn.d} may take up to about {format_seconds(estimate)} "
            f"(a tableau with 2^{fn.d} columns, time like 4^d: {SECONDS_PER_4_D:g} s * 4^{fn.d}), above the limit "
            f"of {format_seconds(max_seconds)}; use d <= {_largest_d(max_seconds)}, or pass max_seconds=... in Python"
        )
    pts = cube(fn.d).tolist()
    labels = fn.table.tolist()
    sep = separate(pts, labels)
    if sep.separable:
        w, b = sep.weights, sep.bias
        assert w is not None and b is not None  # internal: separate() fills them when separable
        w, b = _smaller(w, b, fn)
        if not check_separator(w, b, pts, labels):
            raise WitnessError(f"threshold certificate {w}, {b} failed its exact re-check")
        margin = min(
            lab * (sum(wi * xi for wi, xi in zip(w, p, strict=True)) + b) for p, lab in zip(pts, labels, strict=True)
        )
        return ThresholdResult(fn, True, tuple(w), b, margin, None, sep.pivots)
    y = sep.radon
    assert y is not None  # internal: separate() fills it when not separable
    if not check_radon(y, pts, labels):
        raise WitnessError(f"Radon certificate {y} failed its exact re-check")
    return ThresholdResult(fn, False, None, None, None, {i: v for i, v in enumerate(y) if v}, sep.pivots)


def _largest_d(max_seconds: float) -> int:
    return max((d for d in range(MAX_THRESHOLD_D + 1) if estimate_seconds(d) <= max_seconds), default=0)


def _smaller(w: tuple[int, ...], b: int, fn: BooleanFunction) -> tuple[tuple[int, ...], int]:
    """Smaller integer weights for the same function, if rounding a rescaled copy keeps every sign.

    The simplex vertex is correct but often not the smallest realization (majority: (2, 2, 2), -1);
    try round(s (w, b) / max|w|) for s = 1, 2, ... and keep the first that computes f with no zero.
    """
    full = np.array([*w, b], dtype=np.int64)
    top = int(np.abs(full).max())
    if top <= 1 or fn.d > 12:
        return w, b
    X = np.hstack([cube(fn.d).astype(np.int64), np.ones((1 << fn.d, 1), dtype=np.int64)])
    t = fn.table.astype(np.int64)
    for s in range(1, top):
        cand = np.rint(full * s / top).astype(np.int64)
        if np.all(t * (X @ cand) > 0):
            return tuple(int(v) for v in cand[:-1]), int(cand[-1])
    return w, b


def check_threshold_certificate(r: ThresholdResult) -> bool:
    """Re-check a ThresholdResult's certificate from scratch (exact integer arithmetic)."""
    pts = cube(r.f.d).tolist()
    labels = r.f.table.tolist()
    if r.is_threshold:
        return r.weights is not None and r.bias is not None and check_separator(r.weights, r.bias, pts, labels)
    if r.radon is None:
        return False
    y = [r.radon.get(i, 0) for i in range(len(pts))]
    return check_radon(y, pts, labels)


__all__ = ["MAX_THRESHOLD_SECONDS", "ThresholdResult", "check_threshold_certificate", "estimate_seconds", "threshold"]
