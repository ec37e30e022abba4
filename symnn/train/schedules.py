"""Step-size schedules alpha_t of SGD, t = 1, 2, ...: constant, c/sqrt(t), c/(lambda t).

>>> [round(schedule("sqrt", 0.5)(t), 4) for t in (1, 4)]
[0.5, 0.25]
>>> schedule("inverse", 1.0, lam=2.0)(5)
0.1
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import TrainingConfigError

KINDS = ("constant", "sqrt", "inverse")


@dataclass(frozen=True)
class Schedule:
    """alpha_t = c (constant), c / sqrt(t) ("sqrt"), or c / (lam t) ("inverse", for lam-strongly convex risks)."""

    kind: str
    c: float
    lam: float = 1.0

    def __call__(self, t: int) -> float:
        if self.kind == "constant":
            return self.c
        if self.kind == "sqrt":
            return self.c / math.sqrt(t)
        return self.c / (self.lam * t)


def schedule(kind: str, c: float, lam: float | None = None) -> Schedule:
    """The schedule ``kind`` (one of KINDS) with constant ``c``; checks c > 0 and lam > 0 for "inverse"."""
    if kind not in KINDS:
        raise TrainingConfigError(f"unknown schedule {kind!r}; choose one of {', '.join(KINDS)}")
    if not isinstance(c, (int, float)) or not math.isfinite(c) or c <= 0:
        raise TrainingConfigError(f"the learning rate must be a positive finite number, got {c!r}; e.g. --lr 0.1")
    if kind == "inverse":
        if lam is None or not math.isfinite(lam) or lam <= 0:
            raise TrainingConfigError(
                f"schedule 'inverse' (c/(lambda t)) needs a positive lambda (strong convexity), got {lam!r}"
            )
        return Schedule(kind, float(c), float(lam))
    return Schedule(kind, float(c))
