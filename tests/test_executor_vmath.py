"""The executor's own exp and tanh (``symnn.executor.vmath``): accuracy, special values, vectorized loops.

The reference is NumPy's long-double exp and tanh (x87 80-bit on x86-64: 11 more bits than float64),
rounded to the tested dtype; the error is in ulps of that dtype. The sweeps are dense random draws
plus every branch point: the Taylor/expm1 switch of tanh, each reduction boundary ``(k + 1/2) ln 2``,
the clamps, the overflow and underflow thresholds, subnormals. Faults planted in a copy of the
module's source (a constant, a missing term, a dropped select) must break the bounds.
"""

from __future__ import annotations

import inspect
import math
import re

import numba
import numpy as np
import pytest
import sympy as sp

from symnn.executor import Executor, vmath
from symnn.executor import kernels as K
from symnn.ir import Builder

LD = np.longdouble
#: The bounds the module's docstring states, in ulps of the dtype, against the correctly rounded value.
BOUND = {np.float64: 2.0, np.float32: 1.0}
#: And against the platform's libm (``np.tanh`` and ``np.exp``, what ``math.tanh`` and ``math.exp`` call).
BOUND_LIBM = 2.0

pytestmark = pytest.mark.skipif(np.finfo(LD).nmant < 63, reason="needs an 80-bit long double reference")


def _runners(ns: dict) -> dict[str, object]:
    """Element loops over ``ns``'s exp and tanh, compiled without cache (the namespace may be a mutant)."""
    exp, tanh = ns["exp"], ns["tanh"]

    @numba.njit(error_model="numpy")
    def run_exp(x, out):
        for i in range(x.shape[0]):
            out[i] = exp(x[i])

    @numba.njit(error_model="numpy")
    def run_tanh(x, out):
        for i in range(x.shape[0]):
            out[i] = tanh(x[i])

    return {"exp": run_exp, "tanh": run_tanh}


REAL = _runners(vars(vmath))


def _mutant(old: str, new: str) -> dict[str, object]:
    """The module's source with ``old`` replaced by ``new`` (the test's own edit), run with plain Numba."""
    source = inspect.getsource(vmath)
    assert old in source, old
    source = source.replace("from ..jit import njit", "from numba import njit").replace(old, new, 1)
    ns: dict = {"__name__": "vmath_mutant"}
    exec(compile(source, "<vmath mutant>", "exec"), ns)  # the test's own edit of the module's source
    return _runners(ns)


def _around(points, dtype, n: int) -> np.ndarray:
    """Each point rounded to ``dtype`` and its ``n`` neighbours on either side."""
    p = np.asarray(points, dtype=dtype)
    out = [p]
    up, down = p.copy(), p.copy()
    for _ in range(n):
        up, down = np.nextafter(up, dtype(np.inf)), np.nextafter(down, dtype(-np.inf))
        out += [up, down]
    return np.concatenate(out)


def _sweep(fn: str, dtype) -> np.ndarray:
    """Dense random points and the branch points of ``fn`` in ``dtype``."""
    rng = np.random.default_rng(20261206)
    tiny = np.finfo(dtype).smallest_subnormal
    ln2 = math.log(2.0)
    if fn == "tanh":
        mags = np.concatenate(
            [
                rng.uniform(0, 25, 400_000),
                rng.uniform(0, 1, 400_000),
                np.geomspace(tiny, 25, 100_000),
                _around([vmath.TAYLOR_BELOW, 20.0, 19.0, 9.0], dtype, 64),
                _around([(k + 0.5) * ln2 / 2 for k in range(60)], dtype, 8),  # expm1's reduction boundaries
            ]
        )
        return np.concatenate([mags, -mags]).astype(dtype)
    hi = 88.8 if dtype == np.float32 else 709.9
    lo = -104.0 if dtype == np.float32 else -745.2
    sub = -87.3 if dtype == np.float32 else -708.4  # below: subnormal results
    return np.concatenate(
        [
            rng.uniform(lo, hi, 400_000),
            rng.uniform(-2, 2, 200_000),
            rng.uniform(lo, sub, 200_000),
            _around([(k + 0.5) * ln2 for k in range(int(lo / ln2) - 1, int(hi / ln2) + 1)], dtype, 4),
            _around([hi, lo, sub, 709.782712893384, -745.1332191019412, 710.0, -750.0, 0.0], dtype, 16),
        ]
    ).astype(dtype)


def _ulps(got: np.ndarray, ref: np.ndarray, dtype) -> np.ndarray:
    """|got - ref| in ulps of ``dtype`` at ``ref`` (a long double); where ``ref`` rounds to inf or NaN, 0 if
    ``got`` is that same value and inf otherwise."""
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = ref.astype(dtype)
    finite = np.isfinite(rounded)
    err = np.zeros(got.shape, dtype=LD)
    spacing = np.spacing(np.abs(rounded[finite])).astype(LD)
    err[finite] = np.abs(got[finite].astype(LD) - ref[finite]) / spacing
    same = (got[~finite] == rounded[~finite]) | (np.isnan(got[~finite]) & np.isnan(rounded[~finite]))
    err[~finite] = np.where(same, 0.0, np.inf)
    return err


def _worst(runners: dict, fn: str, dtype, x: np.ndarray | None = None) -> float:
    """The largest error of ``fn`` (from ``runners``) over ``x`` (default: the sweep), in ulps."""
    x = _sweep(fn, dtype) if x is None else x
    out = np.empty_like(x)
    runners[fn](x, out)
    ref = (np.tanh if fn == "tanh" else np.exp)(x.astype(LD))
    return float(_ulps(out, ref, dtype).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fn", ["exp", "tanh"])
def test_within_the_stated_ulps_of_the_correctly_rounded_value(fn, dtype):
    assert _worst(REAL, fn, dtype) <= BOUND[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fn", ["exp", "tanh"])
def test_within_two_ulps_of_libm(fn, dtype):
    x = _sweep(fn, dtype)
    out = np.empty_like(x)
    REAL[fn](x, out)
    with np.errstate(over="ignore", under="ignore"):
        libm = (np.tanh if fn == "tanh" else np.exp)(x)
    assert float(_ulps(out, libm.astype(LD), dtype).max()) <= BOUND_LIBM


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_special_values(dtype):
    tiny = np.finfo(dtype).smallest_subnormal
    x = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, tiny, -tiny, 3 * tiny, -1e3, 1e3], dtype=dtype)
    t, e = np.empty_like(x), np.empty_like(x)
    REAL["tanh"](x, t)
    REAL["exp"](x, e)
    assert np.isnan(t[:2]).all() and np.isnan(e[:2]).all()
    assert t[2:].tolist() == [1.0, -1.0, 0.0, -0.0, tiny, -tiny, 3 * tiny, -1.0, 1.0]
    assert np.signbit(t[5]) and not np.signbit(t[4])
    assert e[2:].tolist() == [np.inf, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, np.inf]


def test_tanh_is_odd_to_the_bit():
    for dtype in (np.float64, np.float32):
        x = _sweep("tanh", dtype)
        x = x[x > 0]
        pos, neg = np.empty_like(x), np.empty_like(x)
        REAL["tanh"](x, pos)
        REAL["tanh"](-x, neg)
        assert np.array_equal(pos, -neg)


@pytest.mark.parametrize("op", ["TANH", "EXP"])
def test_the_interpreters_loops_vectorize(op):
    """The executor's element loops for tanh and exp (``kernels._tanh_loop``, ``_exp_loop``, which ``forward_row``
    runs for those opcodes) hold vector arithmetic and no libm call: ~4x faster than libm's call per element."""
    inner = K._tanh_loop if op == "TANH" else K._exp_loop

    @numba.njit(error_model="numpy")
    def loop(x, out):
        inner(x, out)

    x = np.linspace(-3, 3, 64)
    out, want, row = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    loop(x, out)
    REAL["tanh" if op == "TANH" else "exp"](x, want)
    K.forward_row(getattr(K, op), x, x, 0.0, row)
    assert np.array_equal(out, want) and np.array_equal(row, want)
    ir = next(iter(loop.inspect_llvm().values()))
    assert re.search(r"<\d+ x double>", ir), "the loop is not vectorized"
    assert not re.search(r"call[^\n]*@(tanh|exp)\b", ir), "the loop calls libm"


# -- planted faults: each must push some dtype's error past its bound, or break a special value ---------
FAULTS = {
    "Taylor past its range (0.3125 <= |x| < 0.9 only)": ("TAYLOR_BELOW = 0.3125", "TAYLOR_BELOW = 0.9"),
    "ln 2 without its low part (large |k| only)": ("- k * _LN2_LO", ""),
    "one power of two (subnormal and near-overflow results only)": ("_pow2(k1) * _pow2(k - k1)", "_pow2(k)"),
    "tanh loses its sign (x < 0 only)": ("np.copysign(t, x)", "t"),
    "tanh clamped at 2 instead of 20 (|x| > 2 only)": ("min(abs(x), 20.0)", "min(abs(x), 2.0)"),
    "expm1 clamped at 4 (tanh for |x| > 2 only)": ("max(min(x, 40.0), -40.0)", "max(min(x, 4.0), -4.0)"),
    "exp's NaN not selected": ("return v if x == x else x", "return v"),
    "tanh's Taylor series without its x^5 term (|x| < 0.3125 only)": ("(_T3 + z * _T5)", "(_T3 + z * 0.0)"),
    "expm1's high terms at the wrong power": ("q0 + r4 * (q1 + r4 * q2)", "q0 + r4 * (q1 + r2 * q2)"),
    "wrong rounding of k (floor without the half)": ("np.floor(y * _INV_LN2 + 0.5)", "np.floor(y * _INV_LN2)"),
}


def _caught(runners: dict) -> bool:
    for dtype in (np.float64, np.float32):
        for fn in ("exp", "tanh"):
            if _worst(runners, fn, dtype) > BOUND[dtype]:
                return True
    try:
        for dtype in (np.float64, np.float32):
            x = np.array([np.nan], dtype=dtype)
            for fn in ("exp", "tanh"):
                out = np.empty_like(x)
                runners[fn](x, out)
                assert np.isnan(out[0])
    except AssertionError:
        return True
    return False


def test_the_fault_harness_passes_the_unmodified_source():
    assert not _caught(_mutant("TAYLOR_BELOW = 0.3125", "TAYLOR_BELOW = 0.3125"))


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_planted_faults_are_caught(fault):
    assert _caught(_mutant(*FAULTS[fault])), f"the fault {fault!r} went unnoticed"


def test_the_cached_kernels_run_the_current_source():
    """Numba's disk cache keys on the caller's file only: an edit of vmath.py without a bump of
    ``kernels.VMATH_REVISION`` and ``tape.KERNELS_REVISION`` leaves the old code running, and fails here."""
    x = np.random.default_rng(3).uniform(-4, 4, 257)
    fresh_t, fresh_e, row = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    REAL["tanh"](x, fresh_t)
    REAL["exp"](x, fresh_e)
    K.forward_row(K.TANH, x, x, 0.0, row)
    assert np.array_equal(row, fresh_t)
    K.forward_row(K.EXP, x, x, 0.0, row)
    assert np.array_equal(row, fresh_e)
    b = Builder()
    w = b.param("w", x.shape)
    _, grads = Executor(b.build(w.map(sp.tanh).sum())).grad({"w": x})  # the compiled tape
    assert np.array_equal(grads["w"], 1.0 - fresh_t * fresh_t)
