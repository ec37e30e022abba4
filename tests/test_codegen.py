"""Generated Numba kernels: values against NumPy written here, derivatives against central
finite differences of compiled forward values, plus the cache, save(), errors and safety.

Kernels are compiled once per module (compilation dominates the run time) into a private
cache directory, with tiny shapes.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import textwrap
import time
import tokenize
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from symnn.codegen import Kernel, compile
from symnn.codegen.cache import cache_key, kernels_dir, lookup, secret
from symnn.codegen.einsum import gemm_plan, loop_order, merge, reduction_steps, transposed_plan
from symnn.codegen.environment import environment_id
from symnn.codegen.fuse import Group, plan
from symnn.codegen.module import generate
from symnn.codegen.scalar import FUNCTIONS
from symnn.diff import grad, hvp, jvp
from symnn.errors import GraphError, ShapeError
from symnn.functions import SUPPORTED, maximum, relu, sgn, sigmoid, softplus, step
from symnn.ir import Builder, concat, einsum
from symnn.ops import ALL_OPS, LEAVES, Fold, Window
from symnn.registry import has

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
    """Every kernel of this module goes to a fresh cache directory."""
    path = tmp_path_factory.mktemp("symnn-cache")
    old = os.environ.get("SYMNN_CACHE_DIR")
    os.environ["SYMNN_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        del os.environ["SYMNN_CACHE_DIR"]
    else:
        os.environ["SYMNN_CACHE_DIR"] = old


def _subprocess_env(cache: Path) -> dict[str, str]:
    env = dict(os.environ, SYMNN_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    env.pop("NUMBA_DISABLE_JIT", None)
    return env


def _fd_grad(f, values: dict[str, np.ndarray], name: str) -> np.ndarray:
    """Central differences of the scalar f(values) in every coordinate of values[name]."""
    x = values[name]
    out = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        h = 1e-6 * max(1.0, abs(x[idx]))
        plus, minus = x.copy(), x.copy()
        plus[idx] += h
        minus[idx] -= h
        out[idx] = (f({**values, name: plus}) - f({**values, name: minus})) / (2 * h)
    return out


def _random(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal(s) for n, s in shapes.items()}


# -- graphs ---------------------------------------------------------------------------------------------
def mlp_graph(names=("x", "y", "W1", "b1", "W2", "b2")):
    """tanh MLP 4-5-2 with MSE loss on a batch of 3; also returns the hidden layer."""
    b = Builder()
    x, y = b.input(names[0], (3, 4)), b.input(names[1], (3, 2))
    w1, b1 = b.param(names[2], (5, 4)), b.param(names[3], (5,))
    w2, b2 = b.param(names[4], (2, 5)), b.param(names[5], (2,))
    h = (einsum("bi,oi->bo", x, w1) + b1).map(sp.tanh)
    o = einsum("bi,oi->bo", h, w2) + b2
    return b.build(((o - y) ** 2).mean(), h, names=["loss", "hidden"])


def mlp_numpy(v):
    h = np.tanh(v["x"] @ v["W1"].T + v["b1"])
    o = h @ v["W2"].T + v["b2"]
    return np.mean((o - v["y"]) ** 2), h


CONV = Window((3, 3), (2, 1), (1, 0))


def conv_graph():
    """2-d convolution (stride (2, 1), padding (1, 0)) + bias + relu, loss = sum(z^2) / 2."""
    b = Builder()
    x = b.input("x", (2, 2, 5, 5))
    w, bias = b.param("w", (3, 2, 3, 3)), b.param("bias", (3,))
    z = (einsum("nckhij,fckh->nfij", b.add(CONV, x), w) + bias.reshape((1, 3, 1, 1))).map(relu)
    return b.build((z * z).sum() * 0.5)


def conv_numpy(v):
    x = np.pad(v["x"], ((0, 0), (0, 0), (1, 1), (0, 0)))
    out = np.zeros((2, 3, 3, 3))
    for i in range(3):
        for j in range(3):
            patch = x[:, :, 2 * i : 2 * i + 3, j : j + 3]
            out[:, :, i, j] = np.einsum("nckh,fckh->nf", patch, v["w"])
    pre = out + v["bias"][None, :, None, None]
    return 0.5 * np.sum(np.maximum(pre, 0) ** 2), pre


def attention_graph():
    """Single-head self-attention, mean-pooled, linear to 3 classes, softmax cross-entropy."""
    b = Builder()
    x, labels = b.input("x", (2, 3, 4)), b.input("labels", (2, 3))
    wq, wk, wv, wo = (b.param(n, s) for n, s in [("Wq", (4, 4)), ("Wk", (4, 4)), ("Wv", (4, 4)), ("Wo", (3, 4))])
    q, k, v = (einsum("bsd,ed->bse", x, w) for w in (wq, wk, wv))
    s = einsum("bqd,bkd->bqk", q, k) * 0.5
    p = b.elementwise(lambda a, m: sp.exp(a - m), s, s.logsumexp(-1).reshape((2, 3, 1)))
    pooled = einsum("bqk,bkd->bqd", p, v).mean(1)
    logits = einsum("bd,cd->bc", pooled, wo)
    loss = (logits.logsumexp(-1) - (labels * logits).sum(1)).mean()
    return b.build(loss)


def attention_numpy(v):
    q, k, val = (v["x"] @ v[n].T for n in ("Wq", "Wk", "Wv"))
    s = np.einsum("bqd,bkd->bqk", q, k) * 0.5
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    logits = (p @ val).mean(1) @ v["Wo"].T
    m = logits.max(-1)
    lse = m + np.log(np.exp(logits - m[:, None]).sum(-1))
    return np.mean(lse - (v["labels"] * logits).sum(1))


# -- shared kernels -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mlp():
    return compile(mlp_graph())


@pytest.fixture(scope="module")
def mlp_grad():
    return compile(grad(mlp_graph(), output="loss"))


@pytest.fixture(scope="module")
def mlp_values():
    v = _random({"x": (3, 4), "y": (3, 2), "W1": (5, 4), "b1": (5,), "W2": (2, 5), "b2": (2,)}, 0)
    return v


# -- the MLP: forward, grad, jvp, hvp, float32 -----------------------------------------------------------
def test_mlp_forward_matches_numpy(mlp, mlp_values):
    out = mlp(mlp_values)
    loss, hidden = mlp_numpy(mlp_values)
    assert out["loss"].shape == () and out["loss"].dtype == np.float64
    np.testing.assert_allclose(out["loss"], loss, rtol=1e-13)
    np.testing.assert_allclose(out["hidden"], hidden, rtol=1e-13, atol=1e-15)


def test_mlp_gradient_matches_finite_differences(mlp, mlp_grad, mlp_values):
    out = mlp_grad(mlp_values)
    assert list(out) == ["loss", "grad:W1", "grad:b1", "grad:W2", "grad:b2"]

    def f(v):
        return float(mlp(v)["loss"])

    for name in ("W1", "b1", "W2", "b2"):
        np.testing.assert_allclose(out[f"grad:{name}"], _fd_grad(f, mlp_values, name), rtol=1e-6, atol=1e-9)


def test_mlp_jvp_matches_finite_differences(mlp, mlp_values):
    k = compile(jvp(mlp_graph()))
    tangents = _random({f"tangent:{n}": s.shape for n, s in mlp_values.items() if n[0] in "Wb"}, 1)
    out = k({**mlp_values, **tangents})
    h = 1e-6
    step_ = {n: v + h * tangents.get(f"tangent:{n}", 0.0) for n, v in mlp_values.items()}
    back = {n: v - h * tangents.get(f"tangent:{n}", 0.0) for n, v in mlp_values.items()}
    for name in ("loss", "hidden"):
        fd = (mlp(step_)[name] - mlp(back)[name]) / (2 * h)
        np.testing.assert_allclose(out[f"tangent:{name}"], fd, rtol=1e-6, atol=1e-9)


def test_mlp_hvp_matches_finite_differences_of_the_gradient(mlp_grad, mlp_values):
    k = compile(hvp(mlp_graph(), output="loss"))
    params = ("W1", "b1", "W2", "b2")
    direction = _random({n: mlp_values[n].shape for n in params}, 2)
    out = k({**mlp_values, **{f"tangent:{n}": d for n, d in direction.items()}})
    h = 1e-5
    plus = mlp_grad({n: v + h * direction.get(n, 0.0) for n, v in mlp_values.items()})
    minus = mlp_grad({n: v - h * direction.get(n, 0.0) for n, v in mlp_values.items()})
    for n in params:
        fd = (plus[f"grad:{n}"] - minus[f"grad:{n}"]) / (2 * h)
        np.testing.assert_allclose(out[f"hvp:{n}"], fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(out["grad:W1"], mlp_grad(mlp_values)["grad:W1"], rtol=1e-14)


# -- convolution, attention -------------------------------------------------------------------------------
def test_conv_value_and_gradients_including_the_fold():
    g = grad(conv_graph(), wrt=["x", "w", "bias"])  # d/dx is a Fold
    assert any(isinstance(n.op, Fold) for n in g.nodes)
    k = compile(g)
    v = _random({"x": (2, 2, 5, 5), "w": (3, 2, 3, 3), "bias": (3,)}, 3)
    loss, pre = conv_numpy(v)
    assert np.abs(pre).min() > 1e-4  # finite differences stay off relu's kink
    out = k(v)
    np.testing.assert_allclose(out["out"], loss, rtol=1e-13)

    def f(values):
        return float(k(values)["out"])

    for name in ("x", "w", "bias"):
        np.testing.assert_allclose(out[f"grad:{name}"], _fd_grad(f, v, name), rtol=1e-6, atol=1e-8)


def test_attention_value_and_gradients():
    k = compile(grad(attention_graph()))
    v = _random({"x": (2, 3, 4), "Wq": (4, 4), "Wk": (4, 4), "Wv": (4, 4), "Wo": (3, 4)}, 4)
    v["labels"] = np.eye(3)[[2, 0]]
    out = k(v)
    np.testing.assert_allclose(out["out"], attention_numpy(v), rtol=1e-13)

    def f(values):
        return float(k(values)["out"])

    for name in ("Wq", "Wk", "Wv", "Wo"):
        np.testing.assert_allclose(out[f"grad:{name}"], _fd_grad(f, v, name), rtol=1e-6, atol=1e-9)


# -- every contraction form and structural op, against NumPy ---------------------------------------------
EINSUMS = {  # output name: (spec, operand names)
    "nn": ("ik,kj->ij", "A B"),
    "nt": ("ik,jk->ij", "A C"),
    "tn": ("ki,kj->ij", "A F"),
    "tt": ("ki,jk->ij", "A J"),
    "swapped": ("ik,kj->ji", "A B"),
    "batched": ("bij,bjk->bik", "D E"),
    "blas_nt": ("ik,jk->ij", "G H"),
    "blas_swapped": ("ki,kj->ji", "H2 G2"),
    "blas_batched_swapped": ("bik,bjk->bji", "P Q"),
    "sum_middle": ("abc->ac", "D"),
    "sum_last": ("abc->ab", "D"),
    "sum_all": ("abc->", "D"),
    "sum_apart": ("abc->b", "D"),
    "transpose": ("ab->ba", "A"),
    "outer": ("i,j->ij", "u w"),
    "three": ("ij,jk,kl->il", "A B C"),
    "dot": ("i,i->", "u u"),
    "transposed": ("nfi,nki->fk", "T1 T2"),
    "transposed_out": ("abc,bd->cda", "T3 T4"),
}
OPERANDS = {
    "A": (3, 4),
    "B": (4, 5),
    "C": (5, 4),
    "F": (3, 2),
    "J": (2, 3),
    "D": (2, 3, 4),
    "E": (2, 4, 3),
    "G": (16, 40),
    "H": (24, 40),
    "G2": (40, 16),
    "H2": (40, 24),
    "P": (2, 16, 40),
    "Q": (2, 16, 40),
    "u": (3,),
    "w": (4,),
    "Wn": (2, 3, 2, 3),
    "T1": (16, 8, 16),
    "T2": (16, 9, 16),
    "T3": (8, 16, 8),
    "T4": (16, 16),
}


def structure_graph():
    b = Builder()
    t = {n: b.input(n, s) for n, s in OPERANDS.items()}
    outs = {name: einsum(spec, *(t[o] for o in ops.split())) for name, (spec, ops) in EINSUMS.items()}
    d = t["D"]
    outs["slice_axis"] = d.take(2, 1, 3)
    outs["slice_box"] = d.slice((1, 0, 1), (2, 2, 4))
    outs["pad_axis"] = d.pad((0, 2, 0), (0, 1, 0))
    outs["pad_box"] = d.pad((1, 0, 1), (0, 2, 2))
    outs["concat"] = concat([d, d * 2.0, d.take(1, 0, 1)], axis=1)
    outs["reshape"] = (d + 1.0).reshape((6, 4)) * b.const([1.0, 2.0, 3.0, 4.0])
    outs["broadcast"] = t["u"].reshape((1, 3, 1)).broadcast_to((2, 3, 4))
    outs["window"] = b.add(Window((2,), (2,), (1,)), d)
    outs["fold"] = b.add(Fold((4,), (2,), (1,), (0,)), t["Wn"])
    outs["fold_padded"] = b.add(Fold((4,), (2,), (2,), (1,)), t["Wn"])
    outs["reshaped"] = d.reshape((4, 6))
    outs["logsumexp"] = d.logsumexp(1)
    outs["leaf"] = t["A"]
    outs["again"] = outs["nn"]
    return b.build(*outs.values(), names=list(outs))


def structure_numpy(v):
    ref = {name: np.einsum(spec, *(v[o] for o in ops.split())) for name, (spec, ops) in EINSUMS.items()}
    d = v["D"]
    ref["slice_axis"] = d[:, :, 1:3]
    ref["slice_box"] = d[1:2, 0:2, 1:4]
    ref["pad_axis"] = np.pad(d, ((0, 0), (2, 1), (0, 0)))
    ref["pad_box"] = np.pad(d, ((1, 0), (0, 2), (1, 2)))
    ref["concat"] = np.concatenate([d, 2 * d, d[:, :1]], axis=1)
    ref["reshape"] = (d + 1).reshape(6, 4) * np.array([1.0, 2.0, 3.0, 4.0])
    ref["broadcast"] = np.broadcast_to(v["u"][None, :, None], (2, 3, 4))
    padded = np.pad(d, ((0, 0), (0, 0), (1, 1)))  # windows of 2, stride 2: positions 0, 2, 4
    ref["window"] = np.stack([padded[:, :, 2 * o : 2 * o + 2] for o in range(3)], axis=-1)
    wn = v["Wn"]
    ref["fold"], ref["fold_padded"] = np.zeros((2, 3, 4)), np.zeros((2, 3, 4))
    for k in range(2):
        for o in range(3):
            ref["fold"][:, :, o + k] += wn[:, :, k, o]
            if 0 <= 2 * o + k - 1 < 4:  # stride 2, padding 1
                ref["fold_padded"][:, :, 2 * o + k - 1] += wn[:, :, k, o]
    ref["reshaped"] = d.reshape(4, 6)
    ref["logsumexp"] = np.log(np.exp(d).sum(1))
    ref["leaf"] = v["A"]
    ref["again"] = ref["nn"]
    return ref


def test_contractions_and_structure_match_numpy():
    k = compile(structure_graph())
    for name in ("blas_nt", "blas_swapped", "blas_batched_swapped"):
        spec, ops = EINSUMS[name]
        assert gemm_plan(spec, [OPERANDS[o] for o in ops.split()]).macs >= 4096
    assert "_gemm_" in k.source and "_mm_" in k.source and "_permute(" in k.source
    assert k.path == "blas"  # SciPy is a dependency: the helpers call its BLAS ?gemm
    v = _random(OPERANDS, 5)
    out, ref = k(v), structure_numpy(v)
    assert list(out) == list(ref)
    for name in ref:
        assert out[name].shape == ref[name].shape, name
        np.testing.assert_allclose(out[name], ref[name], rtol=1e-12, atol=1e-12, err_msg=name)


# -- elementwise functions, conventions, stability, NaN ------------------------------------------------------
POINTS = np.array([-1000.0, -3.5, -1.0, -0.0, 0.0, 0.25, 2.0, 1000.0, np.nan, np.inf, -np.inf])
OTHER = np.array([2.0, -3.5, 0.5, 0.0, -0.0, 0.25, np.nan, 999.0, 1.0, 1.0, 0.0])


def _sigmoid_ref(x):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


REFERENCES = {
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "atan": np.arctan,
    "erf": np.vectorize(math.erf),
    "abs": np.abs,
    "sigmoid": _sigmoid_ref,
    "softplus": lambda x: np.logaddexp(0.0, x),
    "relu": lambda x: np.where(np.isnan(x), np.nan, np.where(x > 0, x, 0.0)),
    "step": lambda x: np.where(np.isnan(x), np.nan, (x > 0).astype(float)),
    "sgn": np.sign,
}


@pytest.fixture(scope="module")
def functions():
    b = Builder()
    x, y = b.input("x", POINTS.shape), b.input("y", OTHER.shape)
    outs = [x.map(fn) for fn, name in SUPPORTED.items() if name != "maximum"]
    outs += [
        b.elementwise(maximum, x, y),
        x.map(lambda t: t**2 / 3 - t**-2 + sp.sqrt(t + 2000) * t ** sp.Rational(3, 2)),
    ]
    names = [name for name in SUPPORTED.values() if name != "maximum"] + ["maximum", "powers"]
    return compile(b.build(*outs, names=names))


def test_every_function_matches_numpy_nan_and_inf_included(functions):
    with np.errstate(all="ignore"):
        out = functions(x=POINTS, y=OTHER)
        for name, ref in REFERENCES.items():
            np.testing.assert_allclose(out[name], ref(POINTS), rtol=1e-14, atol=0, err_msg=name)
        expected_max = np.array([2.0, -3.5, 0.5, -0.0, 0.0, 0.25, np.nan, 1000.0, np.nan, np.inf, 0.0])
        np.testing.assert_array_equal(out["maximum"], expected_max)
        x = POINTS
        np.testing.assert_allclose(out["powers"], x**2 / 3 - x**-2.0 + np.sqrt(x + 2000) * x**1.5, rtol=1e-14)


def test_kink_conventions(functions, stability):
    zero = np.zeros_like(POINTS)
    out = functions(x=zero, y=zero)
    assert (out["relu"] == 0).all() and (out["step"] == 0).all() and (out["sgn"] == 0).all()
    # maximum(a, b) = a on ties: -0.0 vs 0.0 tells which one was picked
    out = functions(x=-zero, y=zero)
    assert np.signbit(out["maximum"]).all()
    out = stability(p=np.ones(4), q=np.zeros(2), r=np.zeros(2), M=STABILITY_M)
    np.testing.assert_array_equal(out["grad:q"], [1.0, 1.0])  # relu'(0) = 0, sgn' = step' = 0, max picks q
    np.testing.assert_array_equal(out["grad:r"], [0.0, 0.0])


def stability_graph():
    """sigmoid, softplus, log-sigmoid, a softmax and a cross-entropy of p (4 logits); kinks of q, r."""
    b = Builder()
    p, q, r = b.param("p", (4,)), b.param("q", (2,)), b.param("r", (2,))
    m = b.input("M", (3, 4))
    lse = p.logsumexp(0)
    soft = b.elementwise(lambda a, m: sp.exp(a - m), p, lse.reshape((1,)))
    terms = [p.map(sigmoid).sum(), p.map(softplus).sum(), p.map(lambda t: sp.log(sigmoid(t))).sum()]
    ce = lse - p.take(0, 0, 1).sum()
    kinks = (q.map(relu) + q.map(sgn) + q.map(step) + b.elementwise(maximum, q, r)).sum()
    hidden = einsum("ij,j->i", m, p).map(sp.tanh).sum()
    return b.build(terms[0] + terms[1] + terms[2] + ce + (soft * soft).sum() + kinks + hidden)


STABILITY_M = np.arange(12.0).reshape(3, 4) / 10 - 0.5


def stability_grad(p: np.ndarray) -> np.ndarray:
    """d/dp of stability_graph's loss, written out."""
    s = _sigmoid_ref(p)
    soft = np.exp(p - p.max()) / np.exp(p - p.max()).sum()
    # sum sigmoid + sum softplus + sum log sigmoid + lse - p0 + sum softmax^2 + sum tanh(M p)
    return (
        s * (1 - s)
        + s
        + (1 - s)
        + soft
        - np.eye(4)[0]
        + 2 * soft * (soft - soft @ soft)
        + STABILITY_M.T @ (1 - np.tanh(STABILITY_M @ p) ** 2)
    )


@pytest.fixture(scope="module")
def stability():
    return compile(grad(stability_graph()))


@pytest.fixture(scope="module")
def stability32():
    return compile(grad(stability_graph()), dtype=np.float32)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stable_at_plus_minus_1000(dtype, stability, stability32):
    k = stability if dtype == np.float64 else stability32
    q = np.ones(2, dtype)
    for p in ([1000.0, -1000.0, 0.0, 3.0], [-1000.0, 1000.0, -1000.0, 1000.0], [-1000.0] * 4):
        p = np.array(p)
        out = k(p=p.astype(dtype), q=q, r=q, M=STABILITY_M.astype(dtype))
        assert np.isfinite(out["out"]) and np.isfinite(out["grad:p"]).all(), (p, out)
        tol = 1e-12 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(out["grad:p"], stability_grad(p), rtol=tol, atol=tol)


def test_float32_kernel_computes_in_float32(stability, stability32):
    assert stability32.dtype == np.float32 and "float64" not in stability32.source
    assert stability32.fingerprint != stability.fingerprint
    values = _random({"p": (4,), "q": (2,), "r": (2,)}, 8)
    values["M"] = STABILITY_M
    out32 = stability32({n: v.astype(np.float32) for n, v in values.items()})
    for name, ref in stability(values).items():
        assert out32[name].dtype == np.float32
        np.testing.assert_allclose(out32[name], ref, rtol=2e-5, atol=2e-6)  # float32: about 7 digits
    with pytest.raises(GraphError, match="'p' has dtype float64"):
        stability32(values)


def test_nan_and_inf_inputs_propagate_without_crashing(mlp, mlp_values, stability):
    v = dict(mlp_values, x=mlp_values["x"].copy())
    v["x"][1, 2] = np.nan
    out = mlp(v)
    assert np.isnan(out["loss"])
    assert np.isnan(out["hidden"][1]).all() and np.isfinite(out["hidden"][[0, 2]]).all()
    v["x"][1, 2] = np.inf
    assert np.isfinite(mlp(v)["hidden"]).all()  # tanh(inf) = 1
    q = np.array([np.nan, 1.0])
    out = stability(p=np.array([np.nan, 0.0, 1.0, 2.0]), q=q, r=q, M=STABILITY_M)
    assert np.isnan(out["out"]) and np.isnan(out["grad:p"]).all() and np.isnan(out["grad:q"][0])
    out = stability(p=np.array([np.inf, 0.0, 1.0, 2.0]), q=q, r=q, M=STABILITY_M)
    assert not np.isfinite(out["out"])


# -- kernels: out=, errors, layouts -------------------------------------------------------------------------
def test_out_buffers_are_written_in_place(mlp_grad, mlp_values):
    buffers = {name: np.full(shape, 7.0) for name, shape in mlp_grad.outputs.items()}
    out = mlp_grad(mlp_values, out=buffers)
    fresh = mlp_grad(mlp_values)
    for name, buf in buffers.items():
        assert out[name] is buf
        np.testing.assert_array_equal(buf, fresh[name])
    partial = {"grad:W1": np.empty((5, 4))}
    out = mlp_grad(mlp_values, out=partial)
    assert out["grad:W1"] is partial["grad:W1"] and out["grad:b1"].shape == (5,)


def test_names_in_any_order_and_an_ordered_out_dict_give_a_new_dict_of_the_buffers(mlp_grad, mlp_values):
    ordered = {name: mlp_values[name] for name in mlp_grad.inputs}
    reverse = {name: mlp_values[name] for name in reversed(mlp_grad.inputs)}
    buffers = {name: np.empty(shape) for name, shape in mlp_grad.outputs.items()}
    out = mlp_grad(ordered, out=buffers)
    assert out is not buffers and list(out) == list(buffers) and all(out[n] is buffers[n] for n in buffers)
    expected = {n: b.copy() for n, b in buffers.items()}
    backwards = {name: buffers[name] for name in reversed(mlp_grad.outputs)}
    out = mlp_grad(reverse, out=backwards)
    assert all(out[n] is buffers[n] for n in buffers)
    for name, value in expected.items():
        np.testing.assert_array_equal(buffers[name], value)
    loss, _ = mlp_numpy(mlp_values)
    assert math.isclose(float(out["loss"]), loss, rel_tol=1e-12)


def test_prepared_kernel_runs_on_the_current_contents_of_the_bound_arrays(mlp_grad, mlp_values):
    values = {k: v.copy() for k, v in mlp_values.items()}
    step = mlp_grad.prepare(values)
    first = {n: a.copy() for n, a in step().items()}
    values["x"][...] = values["x"][::-1]  # refilled in place, as a training loop does
    result = step()
    assert result is step() and math.isclose(float(result["loss"]), mlp_numpy(values)[0], rel_tol=1e-12)
    for name, array in mlp_grad(values).items():
        np.testing.assert_array_equal(result[name], array)
    assert not np.array_equal(result["grad:W1"], first["grad:W1"])
    values["x"].shape = (12,)  # reshaping the caller's array cannot reach the prepared call's own views
    assert math.isclose(float(step()["loss"]), float(result["loss"]), rel_tol=0, abs_tol=0)
    with pytest.raises(GraphError, match="input 'W1' must be a C-contiguous"):
        mlp_grad.prepare(dict(mlp_values, W1=np.asfortranarray(mlp_values["W1"])))
    with pytest.raises(ShapeError, match="input 'b1' has shape"):
        mlp_grad.prepare(dict(mlp_values, b1=np.ones(4)))


def test_keyword_call_and_layouts(mlp, mlp_values):
    expected = mlp(mlp_values)["loss"]
    assert mlp(**mlp_values)["loss"] == expected
    transposed = dict(mlp_values, W1=np.asfortranarray(mlp_values["W1"]))
    readonly = dict(mlp_values, x=mlp_values["x"].copy())
    readonly["x"].flags.writeable = False
    assert mlp(transposed)["loss"] == expected and mlp(readonly)["loss"] == expected


def test_wrong_inputs_get_named_errors_before_anything_runs(mlp_grad, mlp_values):
    buffers = {name: np.full(shape, 7.0) for name, shape in mlp_grad.outputs.items()}
    bad_calls = [
        (ShapeError, r"input 'W1' has shape \(4, 5\), expected \(5, 4\)", dict(mlp_values, W1=np.ones((4, 5)))),
        (ShapeError, r"input 'b2' has shape \(2, 1\), expected \(2,\)", dict(mlp_values, b2=np.ones((2, 1)))),
        (GraphError, r"input 'x' has dtype float32", dict(mlp_values, x=mlp_values["x"].astype(np.float32))),
        (GraphError, r"input 'y' must be a numpy array", dict(mlp_values, y=[[1.0, 2.0]] * 3)),
        (GraphError, r"missing inputs \['b1'\]", {k: v for k, v in mlp_values.items() if k != "b1"}),
        (GraphError, r"unknown inputs \['W3'\]", dict(mlp_values, W3=np.ones(2))),
    ]
    for error, message, values in bad_calls:
        with pytest.raises(error, match=message):
            mlp_grad(values, out=buffers)
        assert all((b == 7.0).all() for b in buffers.values()), message
    with pytest.raises(ShapeError, match=r"output buffer 'grad:b1' has shape \(4,\), expected \(5,\)"):
        mlp_grad(mlp_values, out={"grad:b1": np.empty(4)})
    with pytest.raises(GraphError, match=r"unknown outputs \['grad:x'\]"):
        mlp_grad(mlp_values, out={"grad:x": np.empty(4)})
    with pytest.raises(GraphError, match="float64 or float32"):
        compile(mlp_graph(), dtype=np.int64)


# -- generated code: fusion, CSE, registries, hostile names ---------------------------------------------------
def test_every_op_and_function_has_a_code_generator():
    assert not [op.__name__ for op in (*ALL_OPS, *LEAVES) if not has(op, "emit")]
    assert not [name for name in SUPPORTED.values() if name not in FUNCTIONS]


def test_elementwise_chains_fuse_into_one_loop_with_shared_subexpressions():
    b = Builder()
    x = b.input("x", (3, 4))
    bias = b.param("bias", (4,))
    z = (x + bias).map(sigmoid)
    y = b.elementwise(lambda s, t: s * (1 - s) + t, z, x)  # z read twice, computed once
    g = b.build(y.sum(), z, names=["out", "z"])
    groups = [s for s in plan(g) if isinstance(s, Group)]
    assert len(groups) == 1 and len(groups[0].members) == 3  # x + bias, sigmoid, y: one loop
    assert [g.output_names[g.outputs.index(m)] for m in groups[0].stored if m in g.outputs] == ["z"]
    source, _ = generate(g, "float64", "key")
    body = source.split("def compute(")[1].split("return 0")[0]
    assert body.count("_sigmoid(") == 1 and body.count("for i0 in range(3):") == 1


def test_planning_helpers():
    assert reduction_steps("abcd->ad", (2, 3, 4, 5)) == [(2, 12, 5)]
    assert reduction_steps("abc->b", (2, 3, 4)) == [(1, 2, 12), (3, 4, 1)]
    assert merge("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)])[0] == "bqd,bkd->bqk"
    plan = transposed_plan("nfi,nki->fk", [(64, 8, 36), (64, 9, 36)])  # the weight gradient of a convolution
    assert plan is not None and plan.terms == ("fni", "nik") and plan.gemm.k == 64 * 36
    assert gemm_plan("bqd,bkd->bqk", [(8, 16, 32), (8, 16, 32)]).batch == 8
    assert gemm_plan("ij,jk,kl->il", [(2, 2), (2, 2), (2, 2)]) is None
    assert loop_order("ik,kj->ij", [(3, 4), (4, 5)]) == (True, ("i", "k", "j"))  # rows of B stay contiguous
    assert loop_order("ij,kj->ik", [(3, 4), (5, 4)]) == (False, ("i", "k", "j"))  # dot products


HOSTILE = ("x; import os", "__import__('os').system('true')", "W1\n'''\nimport os #", 'b1"""\\', "W2 # é\u2028", "b2")


def _code_tokens(source: str) -> list[tuple[int, str]]:
    """The token stream with every string literal blanked out."""
    toks = tokenize.generate_tokens(io.StringIO(source).readline)
    return [(t.type, "" if t.type == tokenize.STRING else t.string) for t in toks]


def test_hostile_names_are_data_never_code(tmp_path, mlp, mlp_values):
    marker = tmp_path / "executed"
    names = (*HOSTILE[:5], f"__import__('pathlib').Path({str(marker)!r}).touch()")
    k = compile(mlp_graph(names))
    values = {new: mlp_values[old] for new, old in zip(names, ("x", "y", "W1", "b1", "W2", "b2"), strict=True)}
    assert float(k(values)["loss"]) == float(mlp(mlp_values)["loss"])
    assert list(k.inputs) == list(names)
    # the names change string literals only: same code token for token as with plain names
    assert _code_tokens(k.source) == _code_tokens(mlp.source)
    for line in k.source.splitlines():
        assert "import os" not in line or line.lstrip().startswith(("'", '"')), line
    saved = k.save(tmp_path / "hostile_kernel.py")
    compile_check = subprocess.run([sys.executable, "-m", "py_compile", str(saved)], capture_output=True)
    assert compile_check.returncode == 0
    assert not marker.exists()


# -- cache and save() --------------------------------------------------------------------------------------
_CHILD = """
import json
import time
import numpy as np
from symnn.codegen import compile
from symnn.functions import sigmoid
from symnn.ir import Builder, einsum
b = Builder()
x, w = b.input("x", (2, 3)), b.param("w", (2, 3))
start = time.perf_counter()
k = compile(b.build((x * w).map(sigmoid).sum()))
seconds = time.perf_counter() - start
out = float(k(x=np.full((2, 3), 0.5), w=np.arange(6.0).reshape(2, 3) / 10)["out"])
print(json.dumps({"hit": k.cache_hit, "machine_code": k.machine_code_cached, "out": out, "key": k.fingerprint,
                  "seconds": seconds}))
"""


def _child(cache: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD], env=_subprocess_env(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    return json.loads(out.decode().strip().splitlines()[-1])


def test_concurrent_processes_share_the_cache_and_a_later_process_compiles_nothing(
    tmp_path, monkeypatch, record_property
):
    cache = tmp_path / "shared-cache"
    racers = [_child(cache), _child(cache)]  # the same graph, at the same time, into an empty cache
    results = [_result(p) for p in racers]
    expected = np.sum(_sigmoid_ref(0.5 * np.arange(6.0).reshape(2, 3) / 10))
    assert results[0]["out"] == results[1]["out"] == pytest.approx(expected, rel=1e-13)
    assert results[0]["key"] == results[1]["key"]
    entries = kernels_dir(cache, environment_id())
    assert lookup(entries, results[0]["key"], secret(cache)) is not None  # a complete, verified entry
    assert not list(entries.glob(".*.tmp"))
    # this process comes later: it finds the module and Numba's machine code, and compiles nothing
    monkeypatch.setenv("SYMNN_CACHE_DIR", str(cache))
    b = Builder()
    x, w = b.input("x", (2, 3)), b.param("w", (2, 3))
    start = time.perf_counter()
    k = compile(b.build((x * w).map(sigmoid).sum()))
    record_property("compile seconds: cold, two racing processes", [r["seconds"] for r in results])
    record_property("compile seconds: from the cache", time.perf_counter() - start)  # reported, never asserted
    assert k.cache_hit and k.machine_code_cached and k.fingerprint == results[0]["key"]
    assert float(k(x=np.full((2, 3), 0.5), w=np.arange(6.0).reshape(2, 3) / 10)["out"]) == results[0]["out"]


def test_corrupted_or_truncated_entries_are_rebuilt_and_never_executed(tmp_path, cache_dir, mlp_grad, mlp_values):
    key = mlp_grad.fingerprint
    entries = kernels_dir(cache_dir, environment_id())
    meta = json.loads((entries / f"{key}.json").read_text())
    module = entries / meta["module"]
    marker = tmp_path / "executed"
    expected = mlp_grad(mlp_values)["grad:W1"]
    damages = {
        "tampered": lambda: module.write_text(mlp_grad.cached_source + f"\nopen({str(marker)!r}, 'w')\n"),
        "truncated": lambda: module.write_bytes(mlp_grad.cached_source.encode()[:1000]),
        "bad metadata": lambda: (entries / f"{key}.json").write_text("{not json"),
        "missing module": lambda: module.unlink(),
    }
    for what, damage in damages.items():
        damage()
        k = compile(grad(mlp_graph(), output="loss"))
        assert not k.cache_hit, what
        assert not marker.exists(), what
        assert module.read_text() == mlp_grad.cached_source, what
        np.testing.assert_array_equal(k(mlp_values)["grad:W1"], expected, err_msg=what)
    assert compile(grad(mlp_graph(), output="loss")).cache_hit
    assert cache_key(mlp_graph().fingerprint(), "float64") != key  # keyed by graph content


def test_a_module_numba_rejects_leaves_the_cache(monkeypatch, cache_dir):
    import symnn.codegen.kernel as kernel_module

    def broken(graph, dtype, key):
        source, helpers = generate(graph, dtype, key)
        return source.replace("    return 0\n", "    return no_such_name\n"), helpers

    monkeypatch.setattr(kernel_module, "generate", broken)
    b = Builder()
    g = b.build(b.input("x", (2,)) * 3.0)
    with pytest.raises(GraphError, match="bug in symnn's code generator") as info:
        compile(g)
    key = cache_key(g.fingerprint(), "float64")
    entries = kernels_dir(cache_dir, environment_id())
    assert lookup(entries, key, secret(cache_dir)) is None and not (entries / f"{key}.json").exists()
    kept = Path(str(info.value).rsplit(" ", 1)[-1])
    assert kept.exists() and "no_such_name" in kept.read_text()


def test_saved_module_runs_alone_with_only_numpy_and_numba(tmp_path):
    b = Builder()
    x, w = b.input("x", (2, 3)), b.param("w", (4, 3))
    k = compile(b.build(einsum("bi,oi->bo", x, w).map(sigmoid).sum(), names=["loss"]))
    path = k.save(tmp_path / "tiny_kernel.py")
    head = path.read_text().split('"""')[1]
    for word in ("run(inputs, out=None)", "compute(", "INPUT_NAMES", "arg1: param, (4, 3), w", "out0: (), loss"):
        assert word in head
    values = _random({"x": (2, 3), "w": (4, 3)}, 7)
    np.savez(tmp_path / "inputs.npz", **values)
    script = textwrap.dedent(
        f"""
        import importlib.util, sys
        import numpy as np
        spec = importlib.util.spec_from_file_location("tiny_kernel", {str(path)!r})
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        assert not [m for m in sys.modules if m.split(".")[0] in ("symnn", "sympy")]
        out = mod.run(dict(np.load({str(tmp_path / "inputs.npz")!r})))
        np.savez({str(tmp_path / "outputs.npz")!r}, **{{k.replace(":", "_"): v for k, v in out.items()}})
        """
    )
    env = _subprocess_env(tmp_path)
    env["PYTHONPATH"] = ""
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    got = np.load(tmp_path / "outputs.npz")
    for name, value in k(values).items():
        np.testing.assert_array_equal(got[name.replace(":", "_")], value)


def test_kernel_describes_itself(mlp_grad):
    assert isinstance(mlp_grad, Kernel)
    assert mlp_grad.params == {"W1": (5, 4), "b1": (5,), "W2": (2, 5), "b2": (2,)}
    assert mlp_grad.inputs["x"] == (3, 4) and mlp_grad.outputs["grad:W1"] == (5, 4)
    assert "def compute(" in mlp_grad.source and "grad:W1" in repr(mlp_grad)


def test_saved_module_loads_its_cached_code_under_any_import_name(tmp_path):
    """Numba's cache records a module name; a saved kernel imported under two names must still load it."""
    b = Builder()
    w = b.param("w", (3,))
    path = compile(b.build((w * w).sum())).save(tmp_path / "kern.py")
    child = (
        "import importlib.util, sys, numpy as np\n"
        "spec = importlib.util.spec_from_file_location(sys.argv[2], sys.argv[1])\n"
        "m = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(m)\n"
        "print(float(m.run({'w': np.array([1.0, 2.0, 3.0])})['out']), sum(m.compute.stats.cache_hits.values()))\n"
    )
    runs = [
        subprocess.run([sys.executable, "-c", child, str(path), name], capture_output=True, text=True)
        for name in ("first_name", "another.name")
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[-1].stderr[-2000:]
    (v1, hits1), (v2, hits2) = (r.stdout.split() for r in runs)
    assert float(v1) == float(v2) == 14.0
    assert (int(hits1), int(hits2)) == (0, 1)  # the second process loaded the code the first one cached
