"""The generated kernels' branch-free tanh (``symnn.codegen.vecmath``): its documented accuracy in ulps
against tanh in extended precision, its edge values, that loops over it vectorize, and mutants of it
(wrong only for some inputs) that the same checks catch.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import sympy as sp
from numba import njit, types

from symnn.codegen import compile
from symnn.codegen.vecmath import SWITCH, ULPS, tanh_source
from symnn.ir import Builder

DTYPES = ["float64", "float32"]
EXTENDED = np.finfo(np.longdouble).nmant >= 63  # x86's 80-bit long double: tanhl is the reference
N = 1 << 18  # the kernel's input size: every grid goes through in batches of N


def reference(x: np.ndarray) -> np.ndarray:
    """tanh(x) to about 64 bits: long double where it is extended, else mpmath (slow: small grids only)."""
    if EXTENDED:
        return np.tanh(x.astype(np.longdouble))
    import mpmath

    with mpmath.workdps(30):
        return np.array([float(mpmath.tanh(mpmath.mpf(float(v)))) for v in x.ravel()], dtype=np.float64)


def ulp_error(got: np.ndarray, x: np.ndarray, dtype: str) -> np.ndarray:
    """|got - tanh(x)| in units in the last place of the exact tanh(x) in ``dtype`` (subnormal: their spacing)."""
    ref = reference(x)
    info = np.finfo(dtype)
    _, e = np.frexp(np.abs(ref))
    ulp = np.ldexp(np.ones_like(ref), np.maximum(e - 1, info.minexp) - info.nmant)
    return np.asarray(np.abs(got.astype(ref.dtype) - ref) / ulp, dtype=np.float64)


def grids(dtype: str) -> dict[str, np.ndarray]:
    """Dense grids of [-25, 25] and of the switch between the two formulas, a log grid, random points."""
    rng = np.random.default_rng(14)
    tiny = np.finfo(dtype).smallest_subnormal
    mags = 10.0 ** rng.uniform(math.log10(tiny) + 1, 1.5, 200_000)
    n = 200_001 if EXTENDED else 2_001
    x = {
        "dense": np.linspace(-25, 25, 1_000_001 if EXTENDED else 2_001),
        "switch": np.concatenate([s * np.linspace(SWITCH - 0.05, SWITCH + 0.05, n) for s in (1, -1)]),
        "log": np.concatenate([mags, -mags]) if EXTENDED else np.concatenate([mags[:1000], -mags[:1000]]),
        "random": rng.standard_normal(200_000 if EXTENDED else 2_000) * 4,
    }
    return {k: v.astype(dtype) for k, v in x.items()}


#: Points where tanh(x) rounds to x itself (zeros of either sign, subnormals, tiny) or to +-1 in both dtypes.
SAME = [0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1e-40, -1e-40, 1e-20, -1e-20]
ONE = [20.0, -20.0, 25.0, -25.0, 1e300, -1e300, np.inf, -np.inf]
EDGES = [*SAME, *ONE, 0.5, -0.5, 0.625, -0.625, 19.0, -19.0, 9.0, -9.0]


@pytest.fixture(scope="module", params=DTYPES)
def tanh_kernel(request):
    b = Builder()
    x = b.input("x", (N,))
    return request.param, compile(b.build(x.map(sp.tanh), names=["y"]), dtype=request.param)


def through(kernel, x: np.ndarray) -> np.ndarray:
    """The kernel's tanh of every element of ``x``, in batches of N."""
    out = np.empty_like(x)
    buf = np.zeros(N, x.dtype)
    for start in range(0, x.size, N):
        part = x[start : start + N]
        buf[: part.size] = part
        out[start : start + N] = kernel(x=buf)["y"][: part.size]
    return out


def test_the_kernel_calls_the_branch_free_tanh(tanh_kernel):
    _, kernel = tanh_kernel
    assert "_tanh(" in kernel.source and "math.tanh" not in kernel.source


@pytest.mark.parametrize("grid", ["dense", "switch", "log", "random"])
def test_kernel_tanh_within_documented_ulps(tanh_kernel, grid):
    dtype, kernel = tanh_kernel
    x = grids(dtype)[grid]
    err = ulp_error(through(kernel, x), x, dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= ULPS[dtype], f"{dtype} tanh({x[worst]!r}) is {err[worst]:.3f} ulp off (bound {ULPS[dtype]})"


def test_kernel_tanh_is_odd_to_the_bit(tanh_kernel):
    dtype, kernel = tanh_kernel
    x = grids(dtype)["random"]
    np.testing.assert_array_equal(through(kernel, -x), -through(kernel, x))


def test_kernel_tanh_edges(tanh_kernel):
    dtype, kernel = tanh_kernel
    with np.errstate(over="ignore"):
        same, one = np.array(SAME).astype(dtype), np.array(ONE).astype(dtype)
        x = np.array(EDGES).astype(dtype)
    np.testing.assert_array_equal(through(kernel, same), same)  # subnormals and the sign of zero kept
    assert np.array_equal(np.signbit(through(kernel, same)), np.signbit(same))
    np.testing.assert_array_equal(through(kernel, one), np.sign(one))
    assert np.isnan(through(kernel, np.array([np.nan], dtype=dtype))).all()
    finite = x[np.isfinite(x)]
    assert ulp_error(through(kernel, finite), finite, dtype).max() <= ULPS[dtype]


# -- the helper alone: vectorization and mutants ---------------------------------------------------------------------
def build(dtype: str, source: str):
    """``apply(x, out)``: out[i] = _tanh(x[i]) with the helper compiled from ``source`` (no disk cache)."""
    ns = {"njit": njit, "np": np, "types": types, "_T": getattr(types, dtype)}
    exec(source.replace("cache=True", "cache=False"), ns)  # our own generated source
    exec("def apply(x, out):\n    for i in range(x.size):\n        out[i] = _tanh(x[i])\n", ns)
    return njit(error_model="numpy")(ns["apply"])


def worst(apply, dtype: str) -> float:
    """The largest ulp error over the grids (a smaller sample of them) and the edges; inf if an edge is wrong."""
    xs = [g[:: max(1, g.size // 50_000)] for g in grids(dtype).values()]
    with np.errstate(over="ignore"):
        x = np.concatenate([*xs, np.array(EDGES).astype(dtype)])
    out = np.empty_like(x)
    apply(x, out)
    ok = np.isfinite(x)
    if not np.array_equal(np.signbit(out), np.signbit(x)) or np.any(np.abs(out[~ok]) != 1):
        return math.inf
    return float(ulp_error(out[ok], x[ok], dtype).max())


@pytest.mark.parametrize("dtype", DTYPES)
def test_loops_over_tanh_vectorize(dtype):
    apply = build(dtype, tanh_source(dtype))
    x = np.linspace(-3, 3, 64).astype(dtype)
    apply(x, np.empty_like(x))
    llvm = apply.inspect_llvm(apply.signatures[0])
    lanes = "double" if dtype == "float64" else "float"
    assert re.search(rf"<\d+ x {lanes}>", llvm), "the loop over _tanh did not vectorize"
    assert not re.search(r"call [^\n]*@(tanh|exp)", llvm), "a libm call is left in the loop"


#: (name, dtype, source text, its replacement): each is wrong only for some inputs.
MUTANTS = [
    ("large negative x keeps a + sign", "float64", "big = big if u > 0 else -big", "big = big"),
    ("rational used past its range", "float64", "a < 0.625", "a < 0.9"),
    ("clamp at 10 (right in float32, not float64)", "float64", "a < 20.0 else 20.0", "a < 10.0 else 10.0"),
    ("exp polynomial without its r^11 term", "float64", "2.505210838544172e-08", "0.0"),
    ("ln 2 without its low part", "float64", " - k * 1.9082149292705877e-10", ""),
    ("float32 polynomial one term short", "float32", " + z * (np.float32(-0.00570498872745))", ""),
    ("float32 clamp at 5", "float32", "a < np.float32(10.0) else", "a < np.float32(5.0) else"),
]


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_helper_itself_passes_the_mutant_check(dtype):
    assert worst(build(dtype, tanh_source(dtype)), dtype) <= ULPS[dtype]


@pytest.mark.parametrize(("name", "dtype", "old", "new"), MUTANTS, ids=[m[0] for m in MUTANTS])
def test_mutants_of_tanh_are_caught(name, dtype, old, new):
    source = tanh_source(dtype)
    assert old in source, f"mutant {name!r} no longer applies"
    assert worst(build(dtype, source.replace(old, new)), dtype) > ULPS[dtype], f"mutant {name!r} survived"
