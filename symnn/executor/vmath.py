"""The executor's own exp, expm1 and tanh: branch-free, so the element loops that call them vectorize.

libm's ``exp`` and ``tanh`` are one call per element, which keeps LLVM from vectorizing a loop over
them (W2's 64x128 tanh took ~110 us of the executor's ~450). These are written from the math, in
float64 whatever the dtype of the array (a float32 result then rounds once), with selects instead
of branches:

* ``y = k ln 2 + r`` with ``k = round(y / ln 2)`` and ``|r| <= ln 2 / 2``; ``ln 2`` in two parts (its
  high part has 32 significant bits, so ``k ln2_hi`` is exact for ``|k| < 2^21``);
* ``expm1(r) = sum_{n=1..13} r^n / n!`` by Estrin's scheme (the first omitted term is < 5e-18 ``|r|``);
* ``exp(y) = (1 + expm1(r)) 2^k1 2^k2`` with ``k1 + k2 = k``: two powers of two built from exponent
  bits keep every intermediate normal, so a subnormal result rounds once, and an overflow gives inf;
* ``expm1(y) = 2^k expm1(r) + (2^k - 1)``, ``y`` clamped to [-40, 40] (``expm1`` is -1 to rounding
  below -38; only ``tanh`` calls it, with ``y = 2 |x| <= 40``);
* ``tanh(x) = sign(x) E / (E + 2)`` with ``E = expm1(2 |x|)``, ``|x|`` clamped to 20 (``tanh(20)``
  is 1 in float64 and float32).

NaN in gives NaN out; +-inf and +-0 give the limits and keep their sign. Accuracy, measured against
long-double references over dense sweeps (tests/test_executor_vmath.py): within 2 ulps of the
correctly rounded value in float64, and within 1 ulp in float32.

Numba compiles these into the callers' cached code (``kernels``, and ``tape`` through it), and its
cache looks only at the caller's own source file: with an edit here, bump ``kernels.VMATH_REVISION``
and ``tape.KERNELS_REVISION``, or a warm cache keeps running the old code.

>>> import math
>>> [tanh(x) == math.tanh(x) for x in (0.0, -0.0, math.inf, -math.inf)]
[True, True, True, True]
>>> abs(exp(1.0) - math.e) <= 4.5e-16 and exp(-800.0) == 0.0 and exp(800.0) == math.inf
True
"""

from __future__ import annotations

import numpy as np

from ..jit import njit

_JIT = {"nogil": True, "error_model": "numpy", "inline": "always"}

_INV_LN2 = 1.4426950408889634  # 1 / ln 2
_LN2_HI = 0.6931471803691238  # ln 2 rounded to 32 significant bits: k * _LN2_HI is exact for |k| < 2^21
_LN2_LO = 1.9082149292705877e-10  # ln 2 - _LN2_HI
# 1 / n! for n = 2 .. 13: the Taylor coefficients of expm1(r) after r
_C2, _C3, _C4, _C5 = 1.0 / 2.0, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0
_C6, _C7, _C8, _C9 = 1.0 / 720.0, 1.0 / 5040.0, 1.0 / 40320.0, 1.0 / 362880.0
_C10, _C11, _C12, _C13 = 1.0 / 3628800.0, 1.0 / 39916800.0, 1.0 / 479001600.0, 1.0 / 6227020800.0
# tanh's Taylor coefficients of x^3 .. x^25: 2^2n (2^2n - 1) B_2n / (2n)! (B: the Bernoulli numbers), rounded
_T3, _T5, _T7, _T9 = -1.0 / 3.0, 2.0 / 15.0, -17.0 / 315.0, 62.0 / 2835.0
_T11, _T13, _T15 = -1382.0 / 155925.0, 21844.0 / 6081075.0, -929569.0 / 638512875.0
_T17, _T19, _T21 = 0.000590027440945586, -0.00023912911424355248, 9.691537956929451e-05
_T23, _T25 = -3.927832388331683e-05, 1.5918905069328964e-05
#: Below this |x| tanh takes its Taylor series (the next term is < 5e-19 |x|); E / (E + 2) loses up to
#: 2.5 ulps there (three roundings of similar weight), and at most 1.5 above it.
TAYLOR_BELOW = 0.3125


@njit(**_JIT)  # type: ignore[call-overload]
def _expm1_reduced(r):
    """expm1(r) for |r| <= ln 2 / 2: r + r^2 q(r), q(r) = sum_{n=2..13} r^(n-2) / n!."""
    # Estrin's scheme: pairs, then pairs of pairs, so the products do not wait on each other (Horner's
    # chain of 12 dependent multiply-adds made the vectorized loop ~30 % slower, for the same accuracy)
    r2 = r * r
    r4 = r2 * r2
    q0 = (_C2 + r * _C3) + r2 * (_C4 + r * _C5)
    q1 = (_C6 + r * _C7) + r2 * (_C8 + r * _C9)
    q2 = (_C10 + r * _C11) + r2 * (_C12 + r * _C13)
    q = q0 + r4 * (q1 + r4 * q2)
    return r + (r * r) * q


@njit(**_JIT)  # type: ignore[call-overload]
def _pow2(k):
    """2^k for an integer-valued float k in [-1022, 1023], from the exponent bits."""
    # through int32: AVX2 converts 4 doubles to int32 in one instruction, but has none for int64
    return np.int64((np.int64(np.int32(k)) + 1023) << 52).view(np.float64)


@njit(**_JIT)  # type: ignore[call-overload]
def _reduce(y):
    """(k, r) with y = k ln 2 + r, k integer-valued, |r| <= ln 2 / 2 (up to rounding)."""
    k = np.floor(y * _INV_LN2 + 0.5)
    return k, (y - k * _LN2_HI) - k * _LN2_LO


@njit(**_JIT)  # type: ignore[call-overload]
def exp(x):
    """e^x in float64 (a float32 ``x`` is widened), vectorizable: no branch, no libm call."""
    x = np.float64(x)
    y = max(min(x, 710.0), -750.0)  # past these exp is inf or 0: keeps k in the range _pow2 builds
    y = y if x == x else 0.0  # NaN: compute something harmless, select NaN at the end
    k, r = _reduce(y)
    k1 = np.floor(k * 0.5)
    v = (1.0 + _expm1_reduced(r)) * _pow2(k1) * _pow2(k - k1)
    return v if x == x else x


@njit(**_JIT)  # type: ignore[call-overload]
def expm1(x):
    """e^x - 1 for x in float64, exact to about an ulp near 0 (no cancellation); x clamped to [-40, 40]."""
    x = np.float64(x)
    y = max(min(x, 40.0), -40.0)
    y = y if x == x else 0.0
    k, r = _reduce(y)
    s = _pow2(k)
    v = s * _expm1_reduced(r) + (s - 1.0)
    return v if x == x else x


@njit(**_JIT)  # type: ignore[call-overload]
def _tanh_taylor(a):
    """tanh(a) = a + a z q(z), q(z) = T3 + T5 z + ... + T25 z^11, z = a^2, for |a| < TAYLOR_BELOW (Estrin)."""
    z = a * a
    z2 = z * z
    z4 = z2 * z2
    q0 = (_T3 + z * _T5) + z2 * (_T7 + z * _T9)
    q1 = (_T11 + z * _T13) + z2 * (_T15 + z * _T17)
    q2 = (_T19 + z * _T21) + z2 * (_T23 + z * _T25)
    q = q0 + z4 * (q1 + z4 * q2)
    return a + (a * z) * q


@njit(**_JIT)  # type: ignore[call-overload]
def tanh(x):
    """tanh(x): Taylor below ``TAYLOR_BELOW``, else sign(x) E / (E + 2) with E = expm1(2 |x|); odd to the bit."""
    x = np.float64(x)
    a = min(abs(x), 20.0)  # tanh(20) rounds to 1; also maps inf to 1
    e = expm1(a + a)
    t = e / (e + 2.0)
    t = _tanh_taylor(a) if a < TAYLOR_BELOW else t  # both computed, one selected: no branch in the loop
    t = np.copysign(t, x)
    return t if x == x else x
