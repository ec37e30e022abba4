"""The project's exceptions: each pairs ``SymnnError`` with the matching builtin."""

from __future__ import annotations


class SymnnError(Exception):
    """Base class of every error symnn raises on purpose."""


class ShapeError(SymnnError, ValueError):
    """Tensor shapes that do not fit together."""


class GraphError(SymnnError, ValueError):
    """A malformed graph, op or argument."""


class UnsupportedFunctionError(SymnnError, ValueError):
    """A sympy function that the code generators cannot handle."""


class SizeError(SymnnError, ValueError):
    """A request too large for the chosen method (e.g. scalar expansion)."""


class ModelError(SymnnError, LookupError):
    """An unknown zoo model or a model path that cannot be loaded."""


class SymnnWarning(UserWarning):
    """Base class of every warning symnn issues: something works, but not as well as it could."""


class CacheError(SymnnError, PermissionError):
    """A kernel cache directory or key that others could have written: symnn will not execute from it."""
