"""The numeric executor: values against plain NumPy, derivatives against finite differences."""

from __future__ import annotations

import ast
import math
import pathlib
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symnn.errors import GraphError, ShapeError, UnsupportedFunctionError
from symnn.executor import KERNELS, Executor, compile_lambda, contract
from symnn.executor import kernels as K
from symnn.functions import SUPPORTED, maximum, relu, sgn, sigmoid, softplus, step
from symnn.ir import Builder, Graph, Node, concat, einsum
from symnn.ops import ALL_OPS, Elementwise, Fold, Window
from symnn.registry import has

A0, A1 = sp.symbols("_a0 _a1", real=True)


# -- helpers ------------------------------------------------------------------------------------------
def _random_values(graph, rng, scale=1.0):
    leaves = {**graph.inputs, **graph.params}
    return {nm: scale * rng.standard_normal(shape) for nm, shape in leaves.items()}


def _fd_jvp(ex, values, tangents, h=1e-6):
    """Central difference of every output along ``tangents``."""
    plus = {k: v + h * tangents.get(k, 0.0) for k, v in values.items()}
    minus = {k: v - h * tangents.get(k, 0.0) for k, v in values.items()}
    fp, fm = ex.forward(plus), ex.forward(minus)
    return {k: (fp[k] - fm[k]) / (2 * h) for k in fp}


def _check_derivatives(graph, values, rng, rtol=1e-6, atol=1e-8):
    """JVP against central differences, and <J t, c> == <t, J^T c> in random directions."""
    ex = Executor(graph)
    tangents = {k: rng.standard_normal(np.shape(v)) for k, v in values.items()}
    outs, touts = ex.jvp(values, tangents)
    fd = _fd_jvp(ex, values, tangents)
    for k in outs:
        np.testing.assert_allclose(touts[k], fd[k], rtol=rtol, atol=atol * max(1.0, np.abs(fd[k]).max()))
    cotangents = {k: rng.standard_normal(np.shape(v)) for k, v in outs.items()}
    outs2, grads = ex.vjp(values, cotangents)
    lhs = sum(float(np.sum(touts[k] * cotangents[k])) for k in outs)
    rhs = sum(float(np.sum(tangents[k] * grads[k])) for k in values)
    assert math.isclose(lhs, rhs, rel_tol=1e-10, abs_tol=1e-10)
    for k in outs:
        np.testing.assert_array_equal(outs[k], outs2[k])
    return ex


def _np_sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


# -- graphs of the kinds the layers build -------------------------------------------------------------
def _mlp():
    b = Builder()
    x = b.input("x", (4, 3))
    w1, b1 = b.param("W1", (5, 3)), b.param("b1", (5,))
    w2, b2 = b.param("W2", (2, 5)), b.param("b2", (2,))
    h = (x @ w1.T + b1).map(sp.tanh)
    z = h @ w2.T + b2
    return b.build((z.map(sigmoid) + z.map(relu) * 0.5).mean())


def _mlp_numpy(v):
    h = np.tanh(v["x"] @ v["W1"].T + v["b1"])
    z = h @ v["W2"].T + v["b2"]
    return np.mean(_np_sigmoid(z) + 0.5 * np.maximum(z, 0.0))


def _conv(stride=1, padding=0):
    b = Builder()
    x = b.input("x", (2, 2, 6, 5))
    k, bias = b.param("K", (3, 2, 3, 2)), b.param("bias", (3,))
    win = b.add(Window((3, 2), (stride, stride), (padding, padding)), x)
    y = einsum("nckluv,fckl->nfuv", win, k) + bias.reshape((3, 1, 1))
    return b.build((y.map(relu) * y).mean())


def _conv_numpy(v, stride=1, padding=0):
    x = np.pad(v["x"], ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    k = v["K"]
    f, _, kh, kw = k.shape
    n, _, h, w = x.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    y = np.zeros((n, f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            y[:, :, i, j] = np.tensordot(patch, k, axes=([1, 2, 3], [1, 2, 3]))
    y += v["bias"][:, None, None]
    return np.mean(np.maximum(y, 0.0) * y)


def _attention():
    b = Builder()
    x = b.input("X", (2, 4, 3))
    wq, wk, wv = b.param("Wq", (3, 3)), b.param("Wk", (3, 3)), b.param("Wv", (3, 3))
    q, k, v = (einsum("bsd,ed->bse", x, w) for w in (wq, wk, wv))
    s = einsum("bse,bte->bst", q, k) * (1 / math.sqrt(3))
    p = b.elementwise(lambda a, m: sp.exp(a - m), s, s.logsumexp(-1).reshape((2, 4, 1)))
    o = einsum("bst,btd->bsd", p, v)
    return b.build((o * o).mean())


def _attention_numpy(v):
    q, k, w = (v["X"] @ v[n].T for n in ("Wq", "Wk", "Wv"))
    s = q @ k.transpose(0, 2, 1) / math.sqrt(3)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.mean((p @ w) ** 2)


def _structural():
    b = Builder()
    x = b.param("x", (3, 4))
    bias = b.param("bias", (7,))
    a = x.take(1, 1, 3)  # (3, 2)
    p = a.pad((1, 0), (0, 2))  # (4, 4)
    c = concat([p, x], axis=0)  # (7, 4)
    r = c.reshape((4, 7))
    br = bias.reshape((1, 7)).broadcast_to((4, 7))
    return b.build(einsum("ij,ij->i", r.map(sp.sin), br), r)


def _structural_numpy(v):
    x = v["x"]
    p = np.zeros((4, 4))
    p[1:, :2] = x[:, 1:3]
    r = np.concatenate([p, x], axis=0).reshape(4, 7)
    return np.einsum("ij,j->i", np.sin(r), v["bias"]), r


def _cross_entropy(batch=3, classes=4):
    b = Builder()
    logits = b.param("L", (batch, classes))
    onehot = b.input("y", (batch, classes))
    return b.build((logits.logsumexp(-1) - (logits * onehot).sum(1)).mean())


def _onehot(batch=3, classes=4):
    return np.eye(classes)[np.arange(batch) % classes]


GRAPHS = {
    "mlp": (_mlp, _mlp_numpy),
    "conv": (_conv, _conv_numpy),
    "conv-stride2-pad1": (lambda: _conv(2, 1), lambda v: _conv_numpy(v, 2, 1)),
    "attention": (_attention, _attention_numpy),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_forward_matches_numpy(name):
    build, reference = GRAPHS[name]
    g = build()
    v = _random_values(g, np.random.default_rng(1))
    np.testing.assert_allclose(Executor(g).forward(v)["out"], reference(v), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_jvp_and_vjp_against_finite_differences(name):
    g = GRAPHS[name][0]()
    rng = np.random.default_rng(2)
    _check_derivatives(g, _random_values(g, rng), rng)


def test_grad_matches_vjp_and_finite_differences():
    g = _mlp()
    rng = np.random.default_rng(3)
    v = _random_values(g, rng)
    ex = Executor(g)
    value, grads = ex.grad(v)
    assert set(grads) == {"W1", "b1", "W2", "b2"}
    assert value == pytest.approx(_mlp_numpy(v), rel=1e-12)
    h = 1e-6
    for name in grads:  # coordinate-wise central differences of the NumPy reference
        for idx in np.ndindex(v[name].shape):
            plus, minus = dict(v), dict(v)
            plus[name], minus[name] = v[name].copy(), v[name].copy()
            plus[name][idx] += h
            minus[name][idx] -= h
            fd = (_mlp_numpy(plus) - _mlp_numpy(minus)) / (2 * h)
            assert grads[name][idx] == pytest.approx(fd, rel=1e-5, abs=1e-9)
    _, all_grads = ex.vjp(v, {"out": 1.0})
    assert set(all_grads) == {"x", "W1", "b1", "W2", "b2"}
    for name in grads:
        np.testing.assert_allclose(all_grads[name], grads[name], rtol=1e-14)
    _, wrt_x = ex.grad(v, wrt="x")
    np.testing.assert_allclose(wrt_x["x"], all_grads["x"], rtol=1e-14)


def test_structural_ops():
    g = _structural()
    rng = np.random.default_rng(4)
    v = _random_values(g, rng)
    out = Executor(g).forward(v)
    ref_out, ref_r = _structural_numpy(v)
    np.testing.assert_allclose(out["out0"], ref_out, rtol=1e-14)
    np.testing.assert_array_equal(out["out1"], ref_r)
    _check_derivatives(g, v, rng)


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    g = _cross_entropy()
    rng = np.random.default_rng(5)
    logits, y = rng.standard_normal((3, 4)), _onehot()
    value, grads = Executor(g).grad({"L": logits, "y": y})
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert value == pytest.approx(np.mean(-np.log((p * y).sum(1))), rel=1e-12)
    np.testing.assert_allclose(grads["L"], (p - y) / 3, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "spatial"),
    [((2,), (2,), (1,), (7,)), ((2, 2, 2), (1, 2, 1), (0, 1, 1), (3, 4, 3))],
)
def test_window_and_fold_1d_3d(kernel, stride, padding, spatial):
    b = Builder()
    x = b.param("x", (2, 2, *spatial))
    win = b.add(Window(kernel, stride, padding), x)
    w = b.param("w", win.shape)
    folded = b.add(Fold(spatial, kernel, stride, padding), w)
    g = b.build(win, folded)
    rng = np.random.default_rng(6)
    v = _random_values(g, rng)
    out = Executor(g).forward(v)
    # reference: out[n, c, k, o] = xpad[n, c, o * stride + k]
    d = len(spatial)
    xp = np.pad(v["x"], [(0, 0), (0, 0)] + [(p, p) for p in padding])
    ref = np.zeros(win.shape)
    for idx in np.ndindex(win.shape):
        ks, os = idx[2 : 2 + d], idx[2 + d :]
        ref[idx] = xp[(idx[0], idx[1], *(o * s + k for o, s, k in zip(os, stride, ks, strict=True)))]
    np.testing.assert_array_equal(out["out0"], ref)
    # Fold is the adjoint of Window: <W x, w> == <x, F w>
    assert np.sum(out["out0"] * v["w"]) == pytest.approx(np.sum(v["x"] * out["out1"]), rel=1e-12)
    _check_derivatives(g, v, rng)


def _u(f):
    return lambda x, y: f(x)


# -- scalar primitives, one row each: (body over _a0, _a1; NumPy reference; domain of both arguments) ---
PRIMITIVES = [
    ("add", A0 + A1, lambda x, y: x + y, (-2, 2)),
    ("sub", A0 - 2 * A1, lambda x, y: x - 2 * y, (-2, 2)),
    ("mul", A0 * A1 * 3, lambda x, y: 3 * x * y, (-2, 2)),
    ("div", A0 / A1, lambda x, y: x / y, (0.5, 2)),
    ("recip", 1 / (A0 * A1), lambda x, y: 1 / (x * y), (0.5, 2)),
    ("neg", -A0 + 1, lambda x, y: 1 - x, (-2, 2)),
    ("powi", A0**3 - A1**-2, lambda x, y: x**3 - y**-2.0, (0.5, 2)),
    ("sqrt", sp.sqrt(A0), _u(np.sqrt), (0.5, 2)),
    ("pow", A0**A1, lambda x, y: x**y, (0.5, 2)),
    ("exp2", 2**A0, lambda x, y: 2.0**x, (-2, 2)),
    ("exp", sp.exp(A0), _u(np.exp), (-2, 2)),
    ("log", sp.log(A0), _u(np.log), (0.5, 2)),
    ("tanh", sp.tanh(A0), _u(np.tanh), (-2, 2)),
    ("sinh", sp.sinh(A0), _u(np.sinh), (-2, 2)),
    ("cosh", sp.cosh(A0), _u(np.cosh), (-2, 2)),
    ("sin", sp.sin(A0), _u(np.sin), (-2, 2)),
    ("cos", sp.cos(A0), _u(np.cos), (-2, 2)),
    ("tan", sp.tan(A0), _u(np.tan), (-1, 1)),
    ("atan", sp.atan(A0), _u(np.arctan), (-2, 2)),
    ("erf", sp.erf(A0), _u(np.vectorize(math.erf)), (-2, 2)),
    ("abs", sp.Abs(A0), _u(np.abs), (0.1, 2)),
    ("sigmoid", sigmoid(A0), _u(_np_sigmoid), (-2, 2)),
    ("softplus", softplus(A0), _u(lambda x: np.log1p(np.exp(x))), (-2, 2)),
    ("relu", relu(A0), _u(lambda x: np.maximum(x, 0)), (0.1, 2)),
    ("step", step(A0) * A1, lambda x, y: (x > 0) * y, (0.1, 2)),
    ("sgn", sgn(A0) * A1, lambda x, y: np.sign(x) * y, (0.1, 2)),
    ("maximum", maximum(A0, A1), np.maximum, (-2, 2)),
    ("mixed", sp.log(sigmoid(A0 * A1) + sp.Rational(1, 3)) * sp.cos(A1) ** 2, None, (-2, 2)),
]


@pytest.mark.parametrize(("name", "body", "reference", "domain"), PRIMITIVES, ids=[p[0] for p in PRIMITIVES])
def test_primitive(name, body, reference, domain):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    b = Builder()
    x, y = b.param("x", (5, 1)), b.param("y", (3,))  # broadcast to (5, 3)
    g = b.build(b.elementwise(sp.Lambda((A0, A1), body), x, y))
    v = {"x": rng.uniform(*domain, size=(5, 1)), "y": rng.uniform(*domain, size=(3,))}
    if name == "maximum":
        v["y"] = v["x"][:3, 0] + 0.5  # keep the arguments apart
    if reference is not None:
        xs, ys = np.broadcast_arrays(v["x"], v["y"])
        np.testing.assert_allclose(Executor(g).forward(v)["out"], reference(xs, ys), rtol=1e-13)
    _check_derivatives(g, v, rng)


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_random_expressions_against_sympy_values(data):
    """Programs of random bodies evaluate like sympy's own numeric evaluation."""
    leaves = [A0, A1, sp.Rational(1, 2), sp.Integer(3)]
    unary = [sp.tanh, sp.sin, sigmoid, softplus, sp.atan, lambda e: sp.exp(-(e**2)), lambda e: e**2]
    binary = [sp.Add, sp.Mul, lambda a, c: a - c, lambda a, c: a / (1 + c**2), maximum]

    def expr(depth):
        if depth == 0 or data.draw(st.booleans()):
            return data.draw(st.sampled_from(leaves))
        if data.draw(st.booleans()):
            return data.draw(st.sampled_from(unary))(expr(depth - 1))
        return data.draw(st.sampled_from(binary))(expr(depth - 1), expr(depth - 1))

    body = expr(4)
    prog = compile_lambda(sp.Lambda((A0, A1), body))
    pts = np.array(data.draw(st.lists(st.floats(-3, 3), min_size=2, max_size=2)))
    V = np.empty((prog.nslots, 1))
    V[:2, 0] = pts
    K.program_forward(prog.code, prog.ia, prog.ib, prog.constants(np.float64), prog.nargs, V)
    expected = float(body.evalf(30, subs={A0: pts[0], A1: pts[1]}))
    assert V[prog.root, 0] == pytest.approx(expected, rel=1e-12, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_planned_einsum_matches_numpy(data):
    letters = "abcde"
    sizes = {c: data.draw(st.integers(1, 3)) for c in letters}
    terms = [
        "".join(data.draw(st.permutations(letters))[: data.draw(st.integers(0, 4))])
        for _ in range(data.draw(st.integers(1, 3)))
    ]
    used = sorted(set("".join(terms)))
    out = "".join(data.draw(st.permutations(used))[: data.draw(st.integers(0, len(used)))])
    spec = ",".join(terms) + "->" + out
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal([sizes[c] for c in t]) for t in terms]
    np.testing.assert_allclose(contract.einsum(spec, *xs), np.einsum(spec, *xs), rtol=1e-12, atol=1e-12)


def test_program_shares_common_subexpressions():
    prog = compile_lambda(sp.Lambda((A0,), sp.tanh(A0) ** 2 + sp.tanh(A0)))
    assert sum(line.split(" = ")[1].startswith("tanh") for line in prog.listing()) == 1


def test_every_supported_function_has_a_primitive():
    for fn in SUPPORTED:
        body = fn(A0, A1) if fn is maximum else fn(A0)
        prog = compile_lambda(sp.Lambda((A0, A1), body))
        assert len(prog.code) == 1, (fn, prog.listing())


def test_unsupported_function_is_rejected():
    with pytest.raises(UnsupportedFunctionError, match="gamma"):
        compile_lambda(sp.Lambda((A0,), sp.gamma(A0)))


# -- conventions at kinks, stability, NaN --------------------------------------------------------------
def _grad1(fn, at, arity=1):
    b = Builder()
    ps = [b.param(f"p{k}", ()) for k in range(arity)]
    g = b.build(b.elementwise(fn, *ps))
    value, grads = Executor(g).grad({f"p{k}": a for k, a in enumerate(at)})
    return value, [float(grads[f"p{k}"]) for k in range(arity)]


@pytest.mark.parametrize(
    ("fn", "at", "value", "derivative"),
    [
        (relu, (0.0,), 0.0, [0.0]),
        (step, (0.0,), 0.0, [0.0]),
        (sgn, (0.0,), 0.0, [0.0]),
        (sgn, (2.0,), 1.0, [0.0]),
        (sp.Abs, (0.0,), 0.0, [0.0]),
        (lambda a: sp.Max(0, a), (0.0,), 0.0, [0.0]),
        (lambda a: sp.sign(a), (0.0,), 0.0, [0.0]),
        (lambda a: sp.Heaviside(a), (0.0,), 0.0, [0.0]),
        (maximum, (1.5, 1.5), 1.5, [1.0, 0.0]),
        (lambda a, c: maximum(c, a), (1.5, 1.5), 1.5, [0.0, 1.0]),
        (lambda a: maximum(a, 0), (0.0,), 0.0, [1.0]),
    ],
)
def test_kink_conventions(fn, at, value, derivative):
    v, d = _grad1(fn, at, len(at))
    assert v == value
    assert d == derivative


def test_kink_conventions_in_forward_mode():
    b = Builder()
    x, y = b.param("x", (3,)), b.param("y", (3,))
    g = b.build(x.map(relu), x.map(sgn), b.elementwise(maximum, x, y))
    zero = np.zeros(3)
    _, t = Executor(g).jvp({"x": zero, "y": zero}, {"x": np.ones(3), "y": 2 * np.ones(3)})
    assert t["out0"].tolist() == [0.0] * 3
    assert t["out1"].tolist() == [0.0] * 3
    assert t["out2"].tolist() == [1.0] * 3  # the first argument's tangent on ties


@pytest.mark.parametrize("x", [-1000.0, 1000.0])
def test_stable_at_large_inputs(x):
    cases = [
        (sigmoid, 1.0 if x > 0 else 0.0, 0.0),
        (softplus, max(x, 0.0), 1.0 if x > 0 else 0.0),
        (lambda a: -softplus(-a), min(x, 0.0), 0.0 if x > 0 else 1.0),  # log sigmoid
        (lambda a: sp.log(1 + sp.exp(a)), max(x, 0.0), 1.0 if x > 0 else 0.0),  # canonicalized to softplus
        (sp.tanh, math.copysign(1.0, x), 0.0),
    ]
    for fn, value, derivative in cases:
        v, (d,) = _grad1(fn, (x,))
        assert v == pytest.approx(value, abs=1e-300)
        assert d == pytest.approx(derivative, abs=1e-300)


def test_cross_entropy_stable_at_large_logits():
    g = _cross_entropy()
    logits = np.array([[1000.0, -1000.0, 0.0, 999.0]] * 3)
    y = _onehot()
    value, grads = Executor(g).grad({"L": logits, "y": y})
    # lse = 1000 + log(1 + e^-1); loss_i = lse - logits[i, i]
    lse = 1000.0 + math.log1p(math.exp(-1.0))
    assert value == pytest.approx(np.mean(lse - logits[np.arange(3), np.arange(3)]), rel=1e-14)
    p = np.array([1.0, 0.0, 0.0, math.exp(-1.0)]) / (1.0 + math.exp(-1.0))
    np.testing.assert_allclose(grads["L"], (p - y) / 3, rtol=1e-12, atol=1e-300)


def test_nan_and_inf_propagate_without_exception():
    g = _mlp()
    v = _random_values(g, np.random.default_rng(7))
    v["x"][1, 2] = np.nan
    assert np.isnan(Executor(g).forward(v)["out"])
    value, grads = Executor(g).grad(v)
    assert np.isnan(value) and np.isnan(grads["W1"]).any()
    b = Builder()
    x = b.input("x", (6,))
    fns = [sp.log, relu, sgn, step, sigmoid, softplus, sp.Abs, sp.exp, lambda a: 1 / a, lambda a: maximum(a, 1)]
    g2 = b.build(*(x.map(f) for f in fns))
    vals = np.array([np.nan, np.inf, -np.inf, 0.0, -1.0, 2.0])
    out = Executor(g2).forward({"x": vals})
    for k in range(len(fns)):
        assert np.isnan(out[f"out{k}"][0]), fns[k]
    assert out["out0"][1] == np.inf and out["out0"][3] == -np.inf and np.isnan(out["out0"][4])  # log
    assert out["out4"][1:3].tolist() == [1.0, 0.0]  # sigmoid(+-inf)
    assert out["out5"][1:3].tolist() == [np.inf, 0.0]  # softplus(+-inf)
    assert out["out8"][3] == np.inf  # 1 / 0
    _, tans = Executor(g2).jvp({"x": vals}, {"x": np.ones(6)})
    assert np.isnan(tans["out0"][0])


def test_float32():
    g = _mlp()
    v = _random_values(g, np.random.default_rng(8))
    v32 = {k: a.astype(np.float32) for k, a in v.items()}
    ex32, ex64 = Executor(g, dtype=np.float32), Executor(g)
    out32 = ex32.forward(v32)["out"]
    assert out32.dtype == np.float32
    assert float(out32) == pytest.approx(_mlp_numpy(v), rel=1e-5)
    _, g32 = ex32.grad(v32)
    _, g64 = ex64.grad(v)
    for k in g64:
        assert g32[k].dtype == np.float32
        np.testing.assert_allclose(g32[k], g64[k], rtol=1e-4, atol=1e-6)


# -- input validation ---------------------------------------------------------------------------------
def test_input_validation():
    g = _mlp()
    ex = Executor(g)
    v = _random_values(g, np.random.default_rng(9))
    with pytest.raises(GraphError, match="'b2'"):
        ex.forward({k: a for k, a in v.items() if k != "b2"})
    with pytest.raises(GraphError, match="'typo'"):
        ex.forward({**v, "typo": 1.0})
    with pytest.raises(ShapeError, match=r"'W1' has shape \(3, 5\).*\(5, 3\)"):
        ex.forward({**v, "W1": v["W1"].T})
    with pytest.raises(GraphError, match="complex"):
        ex.forward({**v, "x": v["x"].astype(complex)})
    with pytest.raises(GraphError, match="dtype"):
        ex.forward({**v, "x": np.full((4, 3), "a")})
    with pytest.raises(ShapeError, match="'x'"):
        ex.forward({**v, "x": [[1.0, 2.0], [3.0]]})
    with pytest.raises(GraphError, match="'W9'"):
        ex.jvp(v, {"W9": np.ones((5, 3))})
    with pytest.raises(ShapeError, match="tangent for 'b1'"):
        ex.jvp(v, {"b1": np.ones(4)})
    with pytest.raises(GraphError, match="'loss'"):
        ex.vjp(v, {"loss": 1.0})
    with pytest.raises(ShapeError, match="cotangent for 'out'"):
        ex.vjp(v, {"out": np.ones(2)})
    with pytest.raises(GraphError, match="'nope'"):
        ex.grad(v, output="nope")
    with pytest.raises(GraphError, match="'q'"):
        ex.grad(v, wrt=["W1", "q"])
    with pytest.raises(GraphError, match="dtype"):
        Executor(g, dtype=np.int32)
    with pytest.raises(GraphError, match="Graph"):
        Executor("not a graph")
    odd = Graph((Node(Elementwise(sp.Lambda((), sp.Integer(1))), (), ()),), (0,), ("out",))
    with pytest.raises(GraphError, match="cannot run"):
        Executor(odd)
    b = Builder()
    x = b.input("x", (2,))
    with pytest.raises(ShapeError, match="scalar"):
        Executor(b.build(x * 2)).grad({"x": np.ones(2)}, wrt="x")
    with pytest.raises(GraphError, match="no parameters"):
        Executor(b.build((x * 2).sum())).grad({"x": np.ones(2)})


def test_inputs_are_not_modified_and_outputs_are_fresh():
    g = _structural()
    v = _random_values(g, np.random.default_rng(10))
    before = {k: a.copy() for k, a in v.items()}
    ex = Executor(g)
    out = ex.forward(v)
    out["out1"][...] = 0.0
    _, grads = ex.vjp(v, {"out0": np.ones(4), "out1": np.ones((4, 7))})
    for k in v:
        np.testing.assert_array_equal(v[k], before[k])
    assert ex.forward(v)["out1"].any()
    b = Builder()
    x = b.param("x", (2, 3))
    ex = Executor(b.build(x, x.reshape((3, 2)), names=["same", "reshaped"]))
    x0, ct = np.ones((2, 3)), np.ones((2, 3))
    outs, grads = ex.vjp({"x": x0}, {"same": ct})
    arrays = [x0, ct, *outs.values(), *grads.values()]
    assert not any(np.shares_memory(p, q) for k, p in enumerate(arrays) for q in arrays[k + 1 :])
    np.testing.assert_array_equal(grads["x"], ct)


# -- registry, compilation reuse, independence ----------------------------------------------------------
def test_every_op_has_an_executor_rule():
    parts = ("exec.value", "exec.jvp", "exec.vjp")
    assert not [(op.__name__, part) for op in ALL_OPS for part in parts if not has(op, part)]


def test_a_new_graph_compiles_nothing():
    rng = np.random.default_rng(11)
    for build in (_mlp, _conv):  # warm every kernel: programs in all modes, windows and folds
        g = build()
        _check_derivatives(g, _random_values(g, rng), rng)
    before = {k.py_func.__name__: len(k.signatures) for k in KERNELS}
    assert all(before.values())
    b = Builder()  # new functions, shapes, window geometry and spec
    x = b.param("x", (3, 2, 9))
    win = b.add(Window((4,), (3,), (2,)), x)
    h = win.map(lambda a: sp.atan(a) * sp.erf(a) + sp.cosh(a) ** sp.Rational(3, 2))
    y = einsum("ncko->ok", h).map(lambda a: maximum(sp.sin(a), softplus(a) / 3))
    g = b.build(y.logsumexp(0).sum())
    _check_derivatives(g, _random_values(g, rng), rng)
    after = {k.py_func.__name__: len(k.signatures) for k in KERNELS}
    assert after == before


_EXECUTOR_DIR = pathlib.Path(__file__).resolve().parents[1] / "symnn" / "executor"


def test_executor_source_never_touches_symbolic_derivatives():
    files = sorted(_EXECUTOR_DIR.glob("*.py"))
    assert len(files) >= 4
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module not in ("diff", "symnn.diff"), path
                assert node.module != "symnn" and not (node.level == 2 and node.module is None), path
                assert "diff" not in {a.name for a in node.names}, path
            elif isinstance(node, ast.Import):
                assert all("diff" not in a.name for a in node.names), path
            elif isinstance(node, ast.Attribute):
                assert node.attr not in ("diff", "fdiff", "Derivative", "derivative_rule"), (path, node.attr)
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("lookup", "rule"):
                # the registry is shared, the rules are not: only the executor's own parts are looked up
                part = node.args[1]
                assert isinstance(part, ast.Constant) and part.value.startswith("exec."), (path, ast.unparse(node))
            elif isinstance(node, ast.Name):
                assert node.id not in ("diff", "fdiff"), (path, node.id)


def test_executor_runs_with_symbolic_differentiation_disabled():
    """In a fresh process, poison sympy.diff, every fdiff and symnn.diff's rules; the executor still works."""
    script = textwrap.dedent(
        """
        import contextlib
        import numpy as np, sympy as sp
        import symnn.diff, symnn.functions
        from symnn import registry
        from symnn.executor import Executor
        from symnn.ir import Builder

        b = Builder()
        x = b.param("x", (4,))
        fns = [fn for fn in symnn.functions.SUPPORTED if fn is not symnn.functions.maximum]
        g = b.build(sum((x.map(fn) for fn in fns), b.elementwise(symnn.functions.maximum, x, x * 2)).sum())

        def poisoned(*args, **kwargs):
            raise RuntimeError("symbolic differentiation was used")

        sp.diff = sp.Expr.diff = sp.Function.fdiff = poisoned
        for fn in symnn.functions.SUPPORTED:
            fn.fdiff = poisoned
        poison = contextlib.ExitStack()
        for entry in registry.entries():
            if entry.part in ("jvp", "vjp", "transpose"):
                poison.enter_context(registry.override(entry.op, entry.part, lambda rule: poisoned))
        symnn.diff.derivative_rule = symnn.diff.partials = poisoned
        v = {"x": np.array([0.3, 0.5, 0.7, 0.9])}
        value, grads = Executor(g).grad(v)
        _, t = Executor(g).jvp(v, {"x": np.ones(4)})
        assert np.isfinite(value) and np.isfinite(grads["x"]).all()
        assert abs(t["out"] - grads["x"].sum()) < 1e-9 * abs(t["out"])
        print("ok")
        """
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"


def test_affine_bodies_take_the_constant_partials_path():
    """Linear bodies skip the per-element sweep; their tangents and adjoints are checked by hand."""
    from symnn.executor.scalar import affine_coefficients

    a0, a1, a2 = sp.symbols("_a0 _a1 _a2", real=True)
    assert affine_coefficients(sp.Lambda((a0, a1, a2), 2 * a0 - a1 / 4 + 3 - (a2 - a0))) == (3.0, -0.25, -1.0)
    assert affine_coefficients(sp.Lambda((a0, a1), a0 * a1)) is None
    assert affine_coefficients(sp.Lambda((a0,), sp.tanh(a0))) is None
    b = Builder()
    x, bias, w = b.input("x", (5, 3)), b.param("bias", (3,)), b.param("w", (5, 3))
    h = b.apply(2 * a0 - a1 / 4 - a2, [x, bias, w])  # bias broadcast over the batch
    g = b.build((h * h).sum())
    rng = np.random.default_rng(1)
    vals = {"x": rng.standard_normal((5, 3)), "bias": rng.standard_normal(3), "w": rng.standard_normal((5, 3))}
    _, grads = Executor(g).grad(vals)
    hv = 2 * vals["x"] - vals["bias"] / 4 - vals["w"]
    np.testing.assert_allclose(grads["bias"], (2 * hv * -0.25).sum(axis=0), rtol=1e-14)
    np.testing.assert_allclose(grads["w"], -2 * hv, rtol=1e-14)
    t = {"bias": rng.standard_normal(3), "w": rng.standard_normal((5, 3))}
    _, tans = Executor(g).jvp(vals, t)
    np.testing.assert_allclose(tans["out"], (2 * hv * (-t["bias"] / 4 - t["w"])).sum(), rtol=1e-13)
