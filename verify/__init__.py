"""verify: independent checks of symnn's derivatives, sign networks and training.

The gradient checks compare every derivative path (symbolic, generated kernel, numeric
executor; forward and reverse mode) with independent oracles (finite differences, complex
step, mpmath at 50 digits, the dot-product identity, exact sympy differentiation):

>>> from symnn.ir import Builder
>>> b = Builder()
>>> w = b.param("w", (2,))
>>> gradcheck(b.build((w * w).sum()), paths=("symbolic", "executor")).ok
True

The options of a check are one ``CheckOptions`` record (keyword arguments override single ones):

>>> fast = CheckOptions(paths=("executor",), oracles=("fd", "adjoint"))
>>> gradcheck(b.build((w * w).sum()), None, fast, seed=1).ok
True

A user's own gradient code (NumPy, PyTorch, JAX, a saved kernel) is checked against a symnn
reference by ``check_implementation`` (``verify.implementation``), at Hypothesis-drawn points:

>>> from verify import check_implementation
>>> impl = lambda values: ((values["w"] ** 3).sum(), {"w": 3 * values["w"] ** 2})
>>> check_implementation(impl, b.build((w * w * w).sum()), examples=3).ok
True

``verify.strategies`` (Hypothesis strategies for layers, networks and points) and
``check_implementation`` are imported on first use, so that ``import verify`` does not import
Hypothesis.
"""

from __future__ import annotations

import importlib
from typing import Any

from .certify import save_certified
from .gradients import (
    GradcheckFailure,
    NonFiniteError,
    NoParametersError,
    assert_gradients,
    check_jvp,
    check_vjp,
    gradcheck,
)
from .options import CheckOptions, GradcheckError
from .report import Comparison, Report, Row, VerificationError
from .tolerance import TOLERANCES, Tolerance, ToleranceError

__all__ = [
    "TOLERANCES",
    "CheckOptions",
    "Comparison",
    "GradcheckError",
    "GradcheckFailure",
    "NoParametersError",
    "NonFiniteError",
    "Report",
    "Row",
    "Tolerance",
    "ToleranceError",
    "VerificationError",
    "assert_gradients",
    "assert_implementation",
    "check_implementation",
    "check_jvp",
    "check_vjp",
    "gradcheck",
    "save_certified",
    "strategies",
]


#: Public names whose modules import Hypothesis: loaded on first use.
_LAZY = {
    "strategies": ("strategies", None),
    "check_implementation": ("implementation", "check_implementation"),
    "assert_implementation": ("implementation", "assert_implementation"),
}


def __getattr__(name: str) -> Any:
    """``verify.strategies`` and ``check_implementation`` load Hypothesis only when first used."""
    if name in _LAZY:
        module, attr = _LAZY[name]
        loaded = importlib.import_module(f".{module}", __name__)
        return loaded if attr is None else getattr(loaded, attr)
    raise AttributeError(f"module 'verify' has no attribute {name!r}")
