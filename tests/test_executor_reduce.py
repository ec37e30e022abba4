"""The executor's staged cotangent reductions (``rules._reducer``) against ``np.sum`` over the broadcast axes.

A cotangent of a broadcast argument is summed back to the argument's shape; the staged reducer sums
the leading axes first when others follow (``rules._outer_first``). Each case must agree with a
long-double sum to rounding, keep the dtype, and a planted fault must be caught.
"""

from __future__ import annotations

import numpy as np
import pytest

from symnn.executor import rules

CASES = [  # (cotangent shape, argument shape)
    ((64, 8, 6, 6), (8, 1, 1)),
    ((7, 3, 4), (3, 1)),
    ((2, 3, 4, 5), (1, 4, 1)),
    ((2, 3, 4, 5), (3, 1, 1)),
    ((5, 1, 4), (1, 1)),
    ((1, 3, 4), (3, 1)),
    ((64, 128), (128,)),
    ((3, 4, 5), (1,)),
    ((7, 1, 4, 3), (1, 4, 1)),
    ((7, 3, 4), (1, 3, 1)),
    ((7, 3, 4), (7, 1, 4)),
    ((4, 5), (4, 5)),
]


def _reference(t: np.ndarray, to: tuple[int, ...]) -> np.ndarray:
    lead = t.ndim - len(to)
    axes = tuple(range(lead)) + tuple(lead + k for k, n in enumerate(to) if n == 1 and t.shape[lead + k] != 1)
    return t.astype(np.longdouble).sum(axis=axes).reshape(to)


def _agrees(dtype) -> bool:
    rng = np.random.default_rng(5)
    for shape, to in CASES:
        t = rng.standard_normal(shape).astype(dtype)
        got = rules._reducer(shape, to)(t)
        want = _reference(t, to)
        n = max(1, t.size // max(1, int(np.prod(to))))
        tol = 4 * n * np.finfo(dtype).eps * np.abs(t).max()
        if got.shape != to or got.dtype != dtype or not np.all(np.abs(got - want) <= tol):
            return False
    return True


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reducer_against_a_long_double_sum(dtype):
    assert _agrees(dtype)


def test_a_planted_fault_is_caught(monkeypatch):
    """The leading axes summed, the others forgotten: wrong for the cases with both kinds only."""

    def planted(shape, axes, to):
        lead = next(k for k in range(len(shape)) if k not in axes)
        return lambda t: np.add.reduce(t.reshape((int(np.prod(shape[:lead])), *shape[lead:])), axis=0)

    monkeypatch.setattr(rules, "_outer_first", planted)
    assert not _agrees(np.float64)
