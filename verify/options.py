"""The options of a gradient check: one frozen record shared by ``gradcheck``, ``check_models`` and campaigns.

What a check needs beyond the graph and the point: which derivative paths and modes, which
oracles, how many random directions, the seed, how a missing point is drawn (uniform in
[low, high], rounded to ``dtype``), the tolerances (``verify.tolerance``), how far a failure is
located, and the size limits of the slow references. Every field is checked when the record
is made; ``replace`` derives a variant, ``to_mapping``/``from_mapping`` go through JSON.

>>> opts = CheckOptions(paths=("symbolic", "executor"), oracles=("fd", "adjoint"))
>>> opts.replace(seed=3).seed, opts.paths
(3, ('symbolic', 'executor'))
>>> CheckOptions.from_mapping(opts.to_mapping()) == opts
True
>>> opts.tolerance("fd")
Tolerance(rtol=1e-06, atol=1e-08)
>>> CheckOptions(directions=0)
Traceback (most recent call last):
...
verify.options.GradcheckError: directions must be a positive int, got 0
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symnn.errors import SymnnError

from .tolerance import ORACLES, Tolerance, check_overrides, check_tolerance, dtype_name, tolerance

#: The derivative implementations, each checked in forward and reverse mode.
IMPLEMENTATIONS = ("symbolic", "kernel", "executor")
MODES = ("forward", "reverse")
#: The oracles ``gradcheck`` runs unless told otherwise (``exact`` is slow: opt in).
DEFAULT_ORACLES = ("fd", "complex-step", "mpmath", "adjoint", "executor")
#: ``symnn check`` runs the exact reference on graphs up to this many scalars (the zoo's mlp and signnet).
EXACT_MAX_SCALARS = 120


class GradcheckError(SymnnError, ValueError):
    """Bad input to a gradient check."""


def _names(given: Any, known: Sequence[str], what: str) -> tuple[str, ...]:
    names = (given,) if isinstance(given, str) else tuple(given)
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise GradcheckError(f"{what} must be a non-empty selection of {list(known)}, got {list(names)}")
    return names


def _count(value: Any, what: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        kind = "a positive int" if low == 1 else f"an int >= {low}"
        raise GradcheckError(f"{what} must be {kind}, got {value!r}")
    return int(value)


def check_finite(x: Any, what: str) -> float:
    """``x`` as a float after checking that it is a finite real number."""
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)) or not math.isfinite(x):
        raise GradcheckError(f"{what} must be a finite number, got {x!r}")
    return float(x)


@dataclass(frozen=True)
class CheckOptions:
    """How a gradient check runs: ``paths`` x ``modes`` against ``oracles`` in ``directions`` random directions.

    ``seed`` (an int, or a numpy Generator that the check advances) draws the missing point
    (uniform in [``low``, ``high``]), the directions and the cotangent. ``rtol``/``atol``
    override every oracle's tolerance, ``tolerances={"fd": (rtol, atol)}`` one oracle's. A
    failure is located coordinate by coordinate (``locate``, at most ``max_locate`` of them).
    The mpmath reference is skipped above ``mp_max_scalars`` scalars, the exact one above
    ``exact_max_scalars``. ``order=2`` checks second derivatives (Hessian-vector products).
    ``examples`` is how many Hypothesis-drawn points (and shapes) ``check_implementation`` tries.
    """

    paths: tuple[str, ...] = IMPLEMENTATIONS
    modes: tuple[str, ...] = MODES
    oracles: tuple[str, ...] = DEFAULT_ORACLES
    directions: int = 3
    seed: int | np.random.Generator = 0
    low: float = -1.0
    high: float = 1.0
    dtype: str = "float64"
    rtol: float | None = None
    atol: float | None = None
    tolerances: Mapping[str, Tolerance] = field(default_factory=dict)
    locate: bool = True
    max_locate: int = 256
    exact_max_scalars: int = 400
    mp_max_scalars: int = 50_000
    order: int = 1
    examples: int = 20

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put("paths", _names(self.paths, IMPLEMENTATIONS, "paths"))
        put("modes", _names(self.modes, MODES, "modes"))
        put("oracles", _names(self.oracles, ORACLES, "oracles"))
        put("directions", _count(self.directions, "directions", 1))
        if not isinstance(self.seed, np.random.Generator):
            if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
                raise GradcheckError(f"seed must be an int or a numpy Generator, got {self.seed!r}")
            put("seed", int(self.seed))
        put("low", check_finite(self.low, "low"))
        put("high", check_finite(self.high, "high"))
        if not self.low < self.high:
            raise GradcheckError(f"need low < high for the generated point, got low={self.low}, high={self.high}")
        put("dtype", dtype_name(self.dtype))
        for name in ("rtol", "atol"):
            if getattr(self, name) is not None:
                put(name, check_tolerance(getattr(self, name), name))
        put("tolerances", check_overrides(self.tolerances))
        if not isinstance(self.locate, bool):
            raise GradcheckError(f"locate must be True or False, got {self.locate!r}")
        put("max_locate", _count(self.max_locate, "max_locate", 1))
        put("exact_max_scalars", _count(self.exact_max_scalars, "exact_max_scalars", 0))
        put("mp_max_scalars", _count(self.mp_max_scalars, "mp_max_scalars", 0))
        if self.order not in (1, 2) or isinstance(self.order, bool):
            raise GradcheckError(f"order must be 1 (gradients) or 2 (Hessian-vector products), got {self.order!r}")
        put("examples", _count(self.examples, "examples", 1))

    def __hash__(self) -> int:  # the tolerances are a dict: hash its items
        return hash(
            tuple(tuple(sorted(self.tolerances.items())) if f == "tolerances" else getattr(self, f) for f in FIELDS)
        )

    @property
    def int_seed(self) -> int:
        """The seed that reports record (and the exact reference uses): the int, or 0 for a Generator."""
        return self.seed if isinstance(self.seed, int) else 0

    def replace(self, **changes: Any) -> CheckOptions:
        """These options with ``changes`` (checked like the constructor's arguments)."""
        unknown = sorted(set(changes) - set(FIELDS))
        if unknown:
            raise GradcheckError(
                f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                f"the options are {', '.join(FIELDS)}"
            )
        return dataclasses.replace(self, **changes) if changes else self

    def tolerance(self, oracle: str) -> Tolerance:
        """``oracle``'s tolerance: the default at ``dtype``, then ``tolerances[oracle]``, then ``rtol``/``atol``."""
        return tolerance(oracle, self.dtype, self.rtol, self.atol, self.tolerances)

    def to_mapping(self) -> dict[str, Any]:
        """The options as JSON values (lists, numbers, ``[rtol, atol]`` pairs); the seed must be an int."""
        if isinstance(self.seed, np.random.Generator):
            raise GradcheckError("options with a numpy Generator as seed have no JSON form; pass an int seed")
        out = {f: getattr(self, f) for f in FIELDS}
        for f in ("paths", "modes", "oracles"):
            out[f] = list(out[f])
        out["tolerances"] = {k: [t.rtol, t.atol] for k, t in self.tolerances.items()}
        return out

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], base: CheckOptions | None = None) -> CheckOptions:
        """``base`` (default: the defaults) with the options named in ``values`` (e.g. from ``to_mapping``)."""
        if not isinstance(values, Mapping):
            raise GradcheckError(f"options must be a mapping from option names to values, got {values!r}")
        return (base or cls()).replace(**values)


FIELDS = tuple(f.name for f in dataclasses.fields(CheckOptions))
#: The options of ``symnn check`` (``check_models``) and its campaigns: every oracle, the exact one on small graphs.
MODEL_CHECK = CheckOptions(oracles=ORACLES, exact_max_scalars=EXACT_MAX_SCALARS)


def make_options(
    options: CheckOptions | None = None, overrides: Mapping[str, Any] | None = None, default: CheckOptions | None = None
) -> CheckOptions:
    """``options`` (or ``default``, or the defaults) with ``overrides``: what every entry point takes."""
    if options is not None and not isinstance(options, CheckOptions):
        raise GradcheckError(
            f"options must be a verify.CheckOptions, got {type(options).__name__}; "
            "pass CheckOptions(...) or single options as keyword arguments"
        )
    base = options if options is not None else default if default is not None else CheckOptions()
    return base.replace(**(overrides or {}))


__all__ = [
    "DEFAULT_ORACLES",
    "EXACT_MAX_SCALARS",
    "FIELDS",
    "IMPLEMENTATIONS",
    "MODEL_CHECK",
    "MODES",
    "CheckOptions",
    "GradcheckError",
    "check_finite",
    "make_options",
]
