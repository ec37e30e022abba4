"""Elementary functions of the generated kernels written so that LLVM vectorizes the loops calling them.

Numba compiles ``math.tanh`` to one libm call per element (about 15 ns, never vectorized: this
llvmlite has no SVML), which made the 64x128 tanh of W2 more than half of its gradient. ``_tanh``
here has no branch and no call, so a loop over it runs four float64 (eight float32) lanes at once
on AVX2:

    tanh(x) = x + x z R(z), z = x^2                    |x| < 0.625: Cephes' rational (float64) or polynomial (float32)
    tanh(x) = sign(x) (1 - 2 / (exp(2 |x|) + 1))       otherwise, |x| clamped where tanh rounds to 1
    exp(y) = 2^k p(r), k = round(y / ln 2), r = y - k ln 2 (ln 2 in two parts), p: Taylor polynomial

with 2^k built from the exponent bits and every branch a select; ``tanh(+-0) = +-0``,
``tanh(NaN) = NaN``, ``tanh(+-inf) = +-1``. Accuracy against tanh in extended precision: at most
``ULPS[dtype]`` units in the last place. Measured maxima: 1.39 ulp in float64 (80 million random
points of [0, 20] and [0.6, 0.7]) and 1.37 in float32 (every float32 in [2^-14, 12]), both just
above the switch at 0.625; libm's tanh measures 1.2 (float64). The function is odd to the bit, so
negative inputs are as accurate. ``tests/test_vecmath.py`` checks the bound on dense grids, a log
grid from the subnormals to 30, random points and the edges, through a compiled kernel. Multiply-adds
may fuse (LLVM's ``contract``, only inside ``_tanh``): the bound holds with and without FMA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The documented accuracy of ``_tanh`` in units in the last place of its dtype.
ULPS = {
    "float64": 1.5,  # measured 1.39
    "float32": 1.5,  # measured 1.37
}
#: Below this |x| the rational (float32: polynomial) approximation is used, above it the exponential.
SWITCH = 0.625


@dataclass(frozen=True)
class _Constants:
    """What differs between the float64 and float32 versions of the exponential."""

    clamp: float  # |x| is clamped here: tanh(x) rounds to 1 above it
    shifter: float  # 1.5 * 2^mantissa bits: adding it rounds to an integer held in the low mantissa bits
    ln2: tuple[float, float]  # ln 2 = hi + lo, k * hi exact for the k that occur
    taylor: int  # the degree of the Taylor polynomial of exp on |r| <= ln(2) / 2
    integer: str  # the integer type of the float's width, its mantissa bits and exponent bias
    mantissa: int
    bias: int


_CONSTANTS = {
    # tanh rounds to 1 from |x| > 19.06; fdlibm's ln 2; r^14 / 14! < 5e-18
    "float64": _Constants(
        20.0, 6755399441055744.0, (6.93147180369123816490e-01, 1.90821492927058770002e-10), 13, "np.int64", 52, 1023
    ),
    # tanh rounds to 1 from |x| > 9.01; Cephes expf's ln 2; r^8 / 8! < 6e-9
    "float32": _Constants(10.0, 12582912.0, (0.693359375, -2.12194440e-4), 7, "np.int32", 23, 127),
}

# Cephes tanh.c (P negated, Q monic) and tanhf.c, lowest degree first
_TANH_P = (1614.68768441708447952, 99.2877231001918586564, 0.964399179425052238628)
_TANH_Q = (4844.06305325125486048, 2235.48839060100448583, 112.811678491632931402, 1.0)
_TANHF_P = (-3.33332819422e-1, 1.33314422036e-1, -5.37397155531e-2, 2.06390887954e-2, -5.70498872745e-3)


def _horner(var: str, coefficients: list[str]) -> str:
    """c0 + var * (c1 + var * (...)) as source."""
    text = coefficients[-1]
    for c in reversed(coefficients[:-1]):
        text = f"{c} + {var} * ({text})"
    return text


def tanh_source(dtype: str) -> str:
    """The ``_tanh`` helper of a generated module computing in ``dtype`` (``_T`` is its Numba type)."""
    c = _CONSTANTS[dtype]

    def lit(v: float) -> str:
        return repr(v) if dtype == "float64" else f"np.float32({v!r})"

    if dtype == "float64":  # x + x^3 P(x^2) / Q(x^2)
        p = _horner("z", [lit(v) for v in _TANH_P])
        q = _horner("z", [lit(v) for v in _TANH_Q])
        small = f"u - u * z * (({p}) / ({q}))"
    else:  # Cephes tanhf.c: x + x^3 P(x^2)
        small = f"u + u * z * ({_horner('z', [lit(v) for v in _TANHF_P])})"
    taylor = _horner("r", [lit(1 / math.factorial(n)) for n in range(c.taylor + 1)])
    hi, lo = c.ln2
    return f'''@njit(_T(_T), cache=True, error_model="numpy", fastmath={{"contract"}})
def _tanh(u):
    """tanh(u) within {ULPS[dtype]} ulp, branch-free so that loops over it vectorize (symnn.codegen.vecmath)."""
    a = abs(u)
    z = u * u
    small = {small}
    c = a if a < {lit(c.clamp)} else {lit(c.clamp)}  # NaN -> the clamp: the integer steps see finite values
    y = c + c
    s = y * {lit(1 / math.log(2))} + {lit(c.shifter)}
    k = s - {lit(c.shifter)}
    r = (y - k * {lit(hi)}) - k * {lit(lo)}
    e = ({taylor}) * {c.integer}((np.{dtype}(s).view({c.integer}) + {c.bias}) << {c.mantissa}).view(np.{dtype})
    big = {lit(1.0)} - {lit(2.0)} / (e + {lit(1.0)})
    big = big if u > 0 else -big  # one select per statement: a nested one keeps LLVM from inlining _tanh
    t = small if a < {lit(SWITCH)} else big
    return t if a > 0 else u  # +-0 keeps its sign, NaN stays NaN
'''


__all__ = ["SWITCH", "ULPS", "tanh_source"]
