"""The executor's log-sum-exp and its cotangent (``kernels.logsumexp``, ``kernels.logsumexp_vjp``, ``rules``).

Against a long-double NumPy reference of the same formulas, over every axis position, batch 1 and 7,
lengths 1 to 9, both dtypes; NaN and +-inf propagate as ``np.max`` and ``np.exp`` make them. Faults
planted in the kernels' source, some of which fire only for some shapes or values, must be caught.
"""

from __future__ import annotations

import inspect
import itertools
import math
import textwrap

import numba
import numpy as np
import pytest

from symnn.executor import kernels as K
from symnn.executor import rules, vmath
from symnn.ops import LogSumExp
from symnn.registry import lookup

LD = np.longdouble
ULPS = {np.float64: 8.0, np.float32: 4.0}
VALUE, VJP = lookup(LogSumExp, "exec.value"), lookup(LogSumExp, "exec.vjp")


def _shapes() -> list[tuple[tuple[int, ...], int]]:
    """(shape, axis): the axis first, in the middle and last; batch 1 and 7; lengths 1, 4 and 9."""
    out = []
    for batch, n in itertools.product((1, 7), (1, 4, 9)):
        out += [((n, batch), 0), ((batch, n, 3), 1), ((batch, 5, n), 2), ((n,), 0)]
    return out


def _reference(x: np.ndarray, ct: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """lse and softmax * ct in long double, the max shift where it is finite."""
    xl = x.astype(LD)
    with np.errstate(all="ignore"):
        m = np.max(xl, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        s = np.sum(np.exp(xl - m), axis=axis, keepdims=True)
        y = np.log(s) + m
        grad = np.exp(xl - y) / np.sum(np.exp(xl - y), axis=axis, keepdims=True) * np.expand_dims(ct.astype(LD), axis)
    return np.squeeze(y, axis=axis), grad


def _close(got: np.ndarray, want: np.ndarray, dtype, scale: np.ndarray | float = 1.0) -> bool:
    """Within ``ULPS`` of ``want`` (ulps of ``scale``: the size of the terms), NaN and inf where ``want`` has them."""
    want = np.asarray(want)
    exact = ~np.isfinite(want)
    if not np.array_equal(np.isnan(got), np.isnan(want)) or not np.array_equal(
        got[exact & ~np.isnan(want)], want[exact & ~np.isnan(want)]
    ):
        return False
    fin = np.isfinite(want)
    tol = ULPS[dtype] * np.finfo(dtype).eps * np.maximum(np.abs(want[fin]), np.broadcast_to(scale, want.shape)[fin])
    return bool(np.all(np.abs(got[fin].astype(LD) - want[fin]) <= tol))


def _agree(shape, axis, dtype, seed: int, special: bool = False, scale: float = 3.0) -> bool:
    rng = np.random.default_rng(seed)
    x = (scale * rng.standard_normal(shape)).astype(dtype)
    if special and x.size > 2:
        flat = x.reshape(-1)
        flat[rng.choice(x.size, 3, replace=False)] = [np.nan, np.inf, -np.inf]
    op = LogSumExp(axis)
    out_shape = shape[:axis] + shape[axis + 1 :]
    ct = rng.standard_normal(out_shape).astype(dtype)
    with np.errstate(all="ignore"):
        y, aux = VALUE(op, [x], out_shape, np.dtype(dtype))
        (g,) = VJP(op, [x], y, aux, ct, [True])
    ry, rg = _reference(x, ct, axis)
    if y.dtype != dtype or g.dtype != dtype or y.shape != out_shape or g.shape != shape:
        return False
    # the cotangent's terms are softmax * ct: ulps of |ct| (softmax <= 1)
    return _close(y, ry, dtype, 1.0) and _close(g, rg, dtype, np.abs(np.expand_dims(ct, axis)).astype(LD))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("shape", "axis"), _shapes())
def test_value_and_cotangent_against_long_double(shape, axis, dtype):
    assert _agree(shape, axis, dtype, seed=1)
    assert _agree(shape, axis, dtype, seed=2, scale=300.0)  # exp(x) alone would overflow and underflow


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nan_and_inf_propagate(dtype):
    assert _agree((7, 9, 3), 1, dtype, seed=3, special=True)
    x = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [np.nan, 1.0], [np.inf, -np.inf]], dtype=dtype)
    y, _ = VALUE(LogSumExp(1), [x], (4,), np.dtype(dtype))
    assert np.isnan(y[2]) and y[[0, 1, 3]].tolist() == [-np.inf, np.inf, np.inf]


def test_a_strided_argument_is_read_by_position():
    x = np.arange(24.0).reshape(4, 6)[:, ::2].T  # (3, 4), neither C- nor F-contiguous
    y, _ = VALUE(LogSumExp(1), [x], (3,), np.dtype(np.float64))
    assert _close(y, _reference(x, np.ones(3), 1)[0], np.float64)


def test_an_empty_axis_raises_as_numpy():
    with pytest.raises(ValueError, match="zero-size"):
        VALUE(LogSumExp(1), [np.zeros((2, 0))], (2,), np.dtype(np.float64))


# -- planted faults in the kernels' source -------------------------------------------------------------
def _mutated(fn, old: str, new: str):
    source = textwrap.dedent(inspect.getsource(fn.py_func))
    source = "\n".join(line for line in source.splitlines() if not line.startswith("@"))
    assert old in source, old
    ns = {"np": np, "math": math, "vmath": vmath, "_exp_all": K._exp_all}
    exec(source.replace(old, new), ns)  # the test's own edit of the kernel's source
    return numba.njit(error_model="numpy")(ns[fn.__name__])


FAULTS = {
    "max misses the last element (overflows only when it is the largest)": (
        K.logsumexp,
        "for r in range(1, N):",
        "for r in range(1, N - 1):",
    ),
    "infinite max not replaced (rows of -inf only)": (K.logsumexp, "m = 0.0", "m = m"),
    "sum misses the last term (lengths > 1 only)": (
        K.logsumexp,
        "for r in range(N):\n            t +=",
        "for r in range(N - 1):\n            t +=",
    ),
    "value without the shift back": (K.logsumexp, "math.log(t) + shift[p]", "math.log(t)"),
    "cotangent not normalized": (K.logsumexp_vjp, "/ t * gv", "* gv"),
    "cotangent of the first row reused (more than one row only)": (K.logsumexp_vjp, "gv = g[p]", "gv = g[0]"),
    "cotangent's sum starts at its second term (lengths > 1 only)": (
        K.logsumexp_vjp,
        "for r in range(N):\n            t +=",
        "for r in range(1, N):\n            t +=",
    ),
}


def _unmoved(x, axis):
    """The rows with the axis left in place (a fault for every axis but the last)."""
    return np.ascontiguousarray(x).reshape(-1, x.shape[axis])


def _all_agree() -> bool:
    for dtype, (shape, axis) in itertools.product((np.float64, np.float32), _shapes()):
        if not (_agree(shape, axis, dtype, seed=1) and _agree(shape, axis, dtype, seed=2, scale=300.0)):
            return False
    return _agree((7, 9, 3), 1, np.float64, seed=3, special=True) and _agree((2, 6), 1, np.float64, 4, scale=1e3)


def test_the_fault_harness_passes_the_unmodified_kernels():
    assert _all_agree()


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_planted_faults_are_caught(fault, monkeypatch):
    fn, old, new = FAULTS[fault]
    monkeypatch.setattr(K, fn.__name__, _mutated(fn, old, new))
    assert not _all_agree(), f"the fault {fault!r} went unnoticed"


def test_the_axis_left_in_place_is_caught(monkeypatch):
    monkeypatch.setattr(rules, "_rows", _unmoved)
    assert not _all_agree()
