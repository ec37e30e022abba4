"""The generated ``_gemm_*`` helpers call SciPy's BLAS ?gemm directly: checked against Numba's np.dot.

Numba's ``np.dot`` calls the same ``scipy.linalg.cython_blas`` ?gemm with the same column-major
arguments (?gemv or ?dot for a single row or column), so the results are bit for bit those of the
np.dot helpers they replace.
NumPy's matmul in float64 (its own BLAS) is a second, independent oracle within rounding. Planted
faults (a flipped transpose flag, a wrong leading dimension, swapped operands) must fail these
checks. Inputs and outputs carry slack, so a fault that reads or writes too far stays inside its buffer.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from numba import njit

from symnn.codegen.cache import load_module
from symnn.codegen.module import CODEGEN_VERSION
from symnn.codegen.runtime import helper_module

pytest.importorskip("scipy.linalg.cython_blas")

TAGS = ("nn", "nt", "tn", "tt")
SIZES = (1, 2, 3, 5, 17, 64)
DTYPES = ("float64", "float32")
SHAPES = [(2, 3, 5), (5, 3, 2), (3, 5, 17), (17, 2, 3), (4, 4, 4)]
CALL = re.compile(r"_xgemm\((11[06], .*)\)")  # the call, not the definition


@njit(cache=False)
def _np_dot(a, b, out):
    np.dot(a, b, out)


def _load(source: str, tmp_path, name: str):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return load_module(path, source)


def _helper(tmp_path, tag: str, dtype: str, edit=lambda s: s):
    source = edit(helper_module(f"_gemm_{tag}", dtype, CODEGEN_VERSION))
    module = _load(source, tmp_path, f"blas_{tag}_{dtype}_{abs(hash(source))}")
    return module, getattr(module, f"_gemm_{tag}")


def _operands(rng, tag: str, dtype: str, nb: int, m: int, n: int, k: int):
    """Flat a, b (each product's operand at t * stride, slack between), the strides, and the views A[t], B[t]."""
    sa, sb = m * k + 3, k * n + 5
    slack = 4 * max(m, n, k) ** 2
    a = rng.standard_normal(nb * sa + slack).astype(dtype)
    b = rng.standard_normal(nb * sb + slack).astype(dtype)
    views = []
    for t in range(nb):
        at, bt = a[t * sa : t * sa + m * k], b[t * sb : t * sb + k * n]
        A = at.reshape((k, m)).T if tag[0] == "t" else at.reshape((m, k))
        B = bt.reshape((n, k)).T if tag[1] == "t" else bt.reshape((k, n))
        views.append((A, B))
    return a, b, sa, sb, views


def _run(f, a, b, sa, sb, nb, m, n, k, untouched=False):
    """The products, from an output buffer with slack (a fault writing too far stays inside it)."""
    out = np.full(nb * m * n + 4 * max(m, n, k) ** 2, np.nan, a.dtype)
    f(a, b, out, nb, m, n, k, sa, sb)
    if untouched:
        assert np.all(np.isnan(out[nb * m * n :])), "written past the products"
    return out[: nb * m * n].reshape((nb, m, n))


def _reference(views, m: int, n: int, dtype: str) -> np.ndarray:
    """Numba's np.dot on the same views (C or F layout, as the previous helpers passed them)."""
    ref = np.empty((len(views), m, n), dtype)
    for t, (A, B) in enumerate(views):
        _np_dot(A, B, ref[t])
    return ref


def _shapes():
    return list(itertools.product(SIZES, repeat=3))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tag", TAGS)
def test_gemm_is_numbas_np_dot(tmp_path, tag, dtype):
    module, f = _helper(tmp_path, tag, dtype)
    assert module.HAVE_BLAS
    rng = np.random.default_rng(7)
    tol = 1e-12 if dtype == "float64" else 2e-5
    for m, n, k in _shapes():
        nb = 1 + (m + n + k) % 3  # batches of 1, 2 and 3 products at strides past each operand
        a, b, sa, sb, views = _operands(rng, tag, dtype, nb, m, n, k)
        got = _run(f, a, b, sa, sb, nb, m, n, k, untouched=True)
        ref = _reference(views, m, n, dtype)
        assert np.array_equal(got, ref), (tag, dtype, nb, m, n, k)
        exact = np.stack([A.astype(np.float64) @ B.astype(np.float64) for A, B in views])
        scale = np.abs(np.stack([np.abs(A) @ np.abs(B) for A, B in views])).astype(np.float64)
        assert np.all(np.abs(got - exact) <= tol * k * scale + 1e-30), (tag, dtype, nb, m, n, k)


def test_gemm_reads_operands_at_their_offsets(tmp_path):
    """Products t > 0 start at t * sa, t * sb, and each writes its own (m, n) block only."""
    _, f = _helper(tmp_path, "nt", "float64")
    m, n, k, nb = 3, 4, 5, 3
    a = np.zeros(nb * 20)
    b = np.zeros(nb * 30)
    for t in range(nb):
        a[t * 20 : t * 20 + m * k] = t + 1
        b[t * 30 : t * 30 + k * n] = 1
    out = _run(f, a, b, 20, 30, nb, m, n, k)
    assert [float(out[t, 0, 0]) for t in range(nb)] == [5.0, 10.0, 15.0]
    assert np.all(out == out[:, :1, :1])


def _mutate(which: str):
    """An edit of the helper source planting one fault in its BLAS calls."""

    def edit(source: str) -> str:
        args = CALL.search(source).group(1).split(", ")
        if which == "flag":  # the first operand's transpose flag flipped
            args[0] = "116" if args[0] == "110" else "110"
        elif which == "ld":  # the first operand's leading dimension: the other of its two sizes
            args[7] = {"n": "k", "k": "n"}[args[7]]
        elif which == "order":  # operands in row-major order: (A, B) where column-major needs (B, A)
            args[5:8], args[8:11] = args[8:11], args[5:8]
            args[0], args[1] = args[1], args[0]
        elif which == "gemv":  # the transpose flag of both ?gemv calls (a single row or column) flipped
            return re.sub(r"_xgemv\((11[06])", lambda f: f"_xgemv({226 - int(f.group(1))}", source)
        return CALL.sub(f"_xgemm({', '.join(args)})", source)

    return edit


@pytest.mark.parametrize("which", ["flag", "ld", "order", "gemv"])
@pytest.mark.parametrize("tag", TAGS)
def test_planted_faults_are_caught(tmp_path, tag, which, capfd):
    _, f = _helper(tmp_path, tag, "float64", _mutate(which))
    rng = np.random.default_rng(3)
    caught = 0
    shapes = [(1, 3, 5), (5, 1, 2), (1, 5, 17), (17, 1, 3), (4, 1, 4)] if which == "gemv" else SHAPES
    for m, n, k in shapes:
        a, b, sa, sb, views = _operands(rng, tag, "float64", 2, m, n, k)
        got = _run(f, a, b, sa, sb, 2, m, n, k)
        caught += not np.array_equal(got, _reference(views, m, n, "float64"))
    capfd.readouterr()  # BLAS's own complaint about an illegal leading dimension, printed to stdout
    assert caught >= 3, (tag, which, caught)


@pytest.mark.parametrize("tag", TAGS)
def test_sizes_past_blas_ints_are_refused(tmp_path, tag):
    """A size over BLAS's 32-bit int raises OverflowError, as np.dot does: shown with the bound lowered to 4."""
    _, f = _helper(tmp_path, tag, "float64", lambda s: s.replace("_INT_MAX = 2**31 - 1", "_INT_MAX = 4"))
    rng = np.random.default_rng(5)
    for m, n, k in [(5, 3, 2), (2, 5, 3), (3, 2, 17)]:
        a, b, sa, sb, _ = _operands(rng, tag, "float64", 2, m, n, k)
        with pytest.raises(OverflowError, match="32-bit"):
            _run(f, a, b, sa, sb, 2, m, n, k)
    a, b, sa, sb, views = _operands(rng, tag, "float64", 2, 4, 3, 2)
    assert np.array_equal(_run(f, a, b, sa, sb, 2, 4, 3, 2), _reference(views, 4, 3, "float64"))


@pytest.mark.parametrize("where", ["m", "n", "k"])
def test_a_product_with_a_size_past_blas_ints_is_generated_as_loops(where):
    """Sizes are known when the kernel is generated: one past 2**31 - 1 gets the loops, one at it BLAS."""
    from symnn.codegen.module import generate
    from symnn.ir import Builder, einsum

    def source(big: int) -> str:
        size = {"m": 2, "n": 3, "k": 5} | {where: big}
        b = Builder()
        x, w = b.input("x", (size["m"], size["k"])), b.param("w", (size["n"], size["k"]))
        return generate(b.build(einsum("bi,oi->bo", x, w)), "float64", "key")[0]

    at, past = source(2**31 - 1), source(2**31)
    assert "_gemm_nt(" in at and "_mm_nt(" not in at
    assert "_mm_nt(" in past and "_gemm_" not in past


def test_without_scipy_the_helper_is_loops(tmp_path):
    """A module whose BLAS probe fails defines the loop version, and still computes the product."""
    edit = lambda s: s.replace('"scipy.linalg.cython_blas"', '"symnn_no_such_module"')  # noqa: E731
    module, f = _helper(tmp_path, "tn", "float64", edit)
    assert not module.HAVE_BLAS and "_xgemm" not in vars(module)
    rng = np.random.default_rng(9)
    a, b, sa, sb, views = _operands(rng, "tn", "float64", 2, 5, 17, 3)
    got = _run(f, a, b, sa, sb, 2, 5, 17, 3)
    np.testing.assert_allclose(got, np.stack([A @ B for A, B in views]), rtol=1e-12, atol=1e-12)
