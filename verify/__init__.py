"""verify: independent checks of symnn's derivatives, sign networks and training.

The gradient checks compare every derivative path (symbolic, generated kernel, numeric
executor; forward and reverse mode) with independent oracles (finite differences, complex
step, mpmath at 50 digits, the dot-product identity, exact sympy differentiation):

>>> from verify import CheckOptions, gradcheck
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

Every public name, and every submodule, is imported on first use (PEP 562), as in ``import symnn``:
``import verify`` imports nothing but this file. pytest imports this package at every start of any
project where symnn is installed (``verify.plugin`` is its plugin), so SymPy, NumPy, Numba and
Hypothesis load only when a test uses the fixtures.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import strategies
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
    from .implementation import assert_implementation, check_implementation
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

#: The public names, by the module that defines them.
_EXPORTS = {
    "certify": "save_certified",
    "gradients": "GradcheckFailure NonFiniteError NoParametersError assert_gradients check_jvp check_vjp gradcheck",
    "implementation": "assert_implementation check_implementation",
    "options": "CheckOptions GradcheckError",
    "report": "Comparison Report Row VerificationError",
    "tolerance": "TOLERANCES Tolerance ToleranceError",
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names.split()}
#: Submodules reachable as attributes (``verify.oracles``) without importing them first.
_SUBMODULES = frozenset(
    {"boolean", "campaign", "certify", "check", "convergence", "exact", "gradients", "implementation", "mutation"}
    | {"options", "oracles", "plugin", "report", "spec", "strategies", "tolerance"}
)


def __getattr__(name: str) -> Any:
    """Import the module behind a public name (or a submodule) when it is first read."""
    if name in _HOME:
        value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
        globals()[name] = value  # read once: later lookups do not come here
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'verify' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBMODULES})
