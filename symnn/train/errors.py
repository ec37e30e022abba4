"""The training errors: each a ``SymnnError`` with the matching builtin."""

from __future__ import annotations

from ..errors import SymnnError


class TrainingConfigError(SymnnError, ValueError):
    """A training setting that cannot work (learning rate, batch size, schedule, steps)."""


class DataError(SymnnError, ValueError):
    """Training data that cannot be used: NaN or inf, labels out of range, mismatched rows, a bad file."""


class CheckpointError(SymnnError, ValueError):
    """A checkpoint that is unreadable or belongs to another model or configuration."""


class DivergenceError(SymnnError, FloatingPointError):
    """The loss became NaN or infinite during training; ``step`` is where it happened."""

    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.step = step
