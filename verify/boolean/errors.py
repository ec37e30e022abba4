"""The errors of ``verify.boolean``: each a ``SymnnError`` paired with the matching builtin."""

from __future__ import annotations

from symnn.errors import SizeError, SymnnError


class TruthTableError(SymnnError, ValueError):
    """A truth table of the wrong length, or with values other than +-1 / 0 / 1 / True / False."""


class FunctionSpecError(SymnnError, ValueError):
    """A boolean function given in a form that cannot be read (spec string, expression, type)."""


class CallableError(SymnnError, ValueError):
    """A user's callable that raised, or returned something that is not a boolean value."""


class NetworkError(SymnnError, ValueError):
    """Sign-network weights of the wrong shape, non-finite, or too large to evaluate exactly."""


class TooLargeError(SizeError):
    """A request above what one machine does in reasonable time; the message gives the estimate."""


class WitnessError(SymnnError, RuntimeError):
    """A witness (a network, separator, Radon partition or count) failed its exact re-check: a bug, not the input."""


def format_seconds(s: float) -> str:
    """A duration for humans: ``0.2 s``, ``3.1 min``, ``5.0 h``, ``2.3 years``.

    >>> format_seconds(0.25), format_seconds(400), format_seconds(2e8)
    ('0.25 s', '6.7 min', '6.3 years')
    """
    if s < 120:
        return f"{s:.2g} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    if s < 365 * 86400:
        return f"{s / 86400:.1f} days"
    return f"{s / (365.25 * 86400):.2g} years"
