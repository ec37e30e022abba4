"""The tolerance model of the gradient checks: one ``Tolerance`` per oracle and dtype.

Every comparison is between a directional derivative ``got`` computed by a derivative path
(symbolic, executor or generated kernel) and ``expected`` from an oracle. It passes when

    |got - expected| <= atol + rtol * scale,   scale = max(|got|, |expected|, magnitude)

where ``magnitude = ||(g_i v_i)_i||_2`` is the size of the terms of the dot product <g, v>
(g the executor's reverse-mode gradient, v the direction): cancellation in the sum must not
turn a rounding error into a large relative error. (The 2-norm, not sum_i |g_i v_i|: the
latter grows like sqrt(n) times |<g, v>| for random directions and would loosen the
tolerance of large networks; float64 rounding, about eps sqrt(n) ||.||_2, stays far below
every rtol here.) The constants, and why:

* ``fd`` -- central differences with one Richardson step (h = 2^-10, then h/2; h shrinks near
  kinks): truncation O(h^4) ~ 1e-12 and rounding O(eps/h) ~ 1e-13 relative, so rtol = 1e-6
  leaves six orders of margin against smooth but steep networks;
* ``complex-step`` -- Im f(x + i h v) / h with h = 1e-20 has no subtractive cancellation: its
  error is the forward evaluation's rounding, rtol = 1e-10;
* ``mpmath`` -- central differences at 50 digits with h = 1e-20: the reference is good to about
  30 digits, so the error is the path's own float64 rounding, rtol = 1e-10;
* ``adjoint`` -- the dot-product identity <c, J v> = <J^T c, v> between the forward and the
  reverse mode of one implementation: both are float64 sums, rtol = 1e-10;
* ``executor`` -- the numeric executor's derivative (its own hand-written rules) as the
  reference of the symbolic and kernel paths: the one oracle that still compares on a kink, so
  it checks that every path applies the same conventions there (relu'(0) = 0, ...), rtol = 1e-10;
* ``exact`` -- the symbolic paths against ``sympy.diff`` of the expanded graph at a rational
  point (``verify.exact``): exact equality, or 40 significant digits where the values are
  transcendental.

For float32 paths every oracle still runs in float64 (or better), so the error is the path's
float32 rounding, amplified by the depth of the graph: rtol = 2e-3, atol = 1e-6.

>>> TOLERANCES["fd", "float64"].bound(2.0)
2.01e-06
>>> tolerance("mpmath", "float32", rtol=1e-2).rtol
0.01
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from symnn.errors import SymnnError


class ToleranceError(SymnnError, ValueError):
    """A tolerance that is negative, not finite, or not a number."""


def check_tolerance(value: Any, what: str) -> float:
    """``value`` as a float after checking that it is a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ToleranceError(f"{what} must be a number >= 0, got {value!r} of type {type(value).__name__}")
    out = float(value)
    if not math.isfinite(out) or out < 0:
        raise ToleranceError(f"{what} must be a finite number >= 0, got {value!r}")
    return out


@dataclass(frozen=True)
class Tolerance:
    """``|got - expected| <= atol + rtol * scale``."""

    rtol: float
    atol: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "rtol", check_tolerance(self.rtol, "rtol"))
        object.__setattr__(self, "atol", check_tolerance(self.atol, "atol"))

    def bound(self, scale: float) -> float:
        """The largest allowed error for values of size ``scale``."""
        return self.atol + self.rtol * scale


#: The oracles, in the order reports list them.
ORACLES = ("fd", "complex-step", "mpmath", "adjoint", "executor", "exact")

_F64 = {
    "fd": Tolerance(1e-6, 1e-8),
    "complex-step": Tolerance(1e-10, 1e-13),
    "mpmath": Tolerance(1e-10, 1e-13),
    "adjoint": Tolerance(1e-10, 1e-13),
    "executor": Tolerance(1e-10, 1e-13),
    "exact": Tolerance(1e-40, 0.0),
}
_F32 = {name: Tolerance(2e-3, 1e-6) for name in ORACLES if name != "exact"} | {"exact": _F64["exact"]}

#: (oracle, dtype name) -> Tolerance: the documented defaults above.
TOLERANCES: dict[tuple[str, str], Tolerance] = {
    **{(k, "float64"): v for k, v in _F64.items()},
    **{(k, "float32"): v for k, v in _F32.items()},
}


def dtype_name(dtype: Any) -> str:
    """``"float64"`` or ``"float32"``; anything else is a ``ToleranceError``."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = repr(dtype)
    if name not in ("float64", "float32"):
        raise ToleranceError(f"gradient checks run in float64 or float32, got dtype {dtype!r}")
    return name


def tolerance(
    oracle: str,
    dtype: Any = "float64",
    rtol: Any = None,
    atol: Any = None,
    overrides: Mapping[str, Any] | None = None,
) -> Tolerance:
    """The tolerance for ``oracle`` at ``dtype``: the default, then ``overrides[oracle]``, then ``rtol``/``atol``.

    ``overrides`` maps oracle names to a ``Tolerance`` or an ``(rtol, atol)`` pair.
    """
    key = (oracle, dtype_name(dtype))
    if key not in TOLERANCES:
        raise ToleranceError(f"no tolerance for oracle {oracle!r}; the oracles are {', '.join(ORACLES)}")
    tol = TOLERANCES[key]
    if overrides and oracle in overrides:
        tol = as_tolerance(overrides[oracle], f"tolerances[{oracle!r}]")
    return Tolerance(
        tol.rtol if rtol is None else check_tolerance(rtol, "rtol"),
        tol.atol if atol is None else check_tolerance(atol, "atol"),
    )


def as_tolerance(value: Any, what: str) -> Tolerance:
    """A ``Tolerance`` from itself or an ``(rtol, atol)`` pair."""
    if isinstance(value, Tolerance):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return Tolerance(check_tolerance(value[0], f"{what} rtol"), check_tolerance(value[1], f"{what} atol"))
    raise ToleranceError(f"{what} must be a Tolerance or an (rtol, atol) pair of numbers >= 0, got {value!r}")


def check_overrides(overrides: Any) -> dict[str, Tolerance]:
    """Validate a ``{oracle: Tolerance | (rtol, atol)}`` mapping."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise ToleranceError(f"tolerances must be a dict from oracle names to (rtol, atol), got {overrides!r}")
    unknown = [k for k in overrides if k not in ORACLES]
    if unknown:
        raise ToleranceError(f"tolerances given for unknown oracles {unknown}; the oracles are {', '.join(ORACLES)}")
    return {k: as_tolerance(v, f"tolerances[{k!r}]") for k, v in overrides.items()}


__all__ = [
    "ORACLES",
    "TOLERANCES",
    "Tolerance",
    "ToleranceError",
    "as_tolerance",
    "check_overrides",
    "check_tolerance",
    "dtype_name",
    "tolerance",
]
