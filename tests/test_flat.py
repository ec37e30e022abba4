"""Flat-vector kernels of scalar formulas: values against NumPy by hand and the plain interpreter,
layouts, errors, and the structure that keeps grad and compile linear in the size of the model."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symnn import GraphError, ShapeError
from symnn.codegen.flat import Layout, _schedule, compile_flat, generate_flat
from symnn.diff import grad, hvp, jvp
from symnn.formula import formula
from symnn.ir import Builder

try:
    from tests._numpy_eval import run
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from _numpy_eval import run


def mlp(d: int, h: int):
    """Sigmoid MLP d-h-1 with squared error as one scalar sympy expression (the S2 model)."""
    x = sp.symbols(f"x0:{d}", real=True)
    w = [[sp.Symbol(f"W_{i}_{j}", real=True) for j in range(d)] for i in range(h)]
    b = sp.symbols(f"b0:{h}", real=True)
    v = sp.symbols(f"v0:{h}", real=True)
    c, t = sp.symbols("c t", real=True)
    hidden = [1 / (1 + sp.exp(-(sp.Add(*(w[i][j] * x[j] for j in range(d))) + b[i]))) for i in range(h)]
    loss = (sp.Add(*(v[i] * hidden[i] for i in range(h))) + c - t) ** 2
    return loss, [p for row in w for p in row] + list(b) + list(v) + [c], list(x) + [t]


def mlp_by_hand(d, h, theta, data):
    """The loss and its gradient written out in NumPy (independent of symnn)."""
    w, b = theta[: h * d].reshape(h, d), theta[h * d : h * d + h]
    v, c = theta[h * d + h : h * d + 2 * h], theta[-1]
    x, t = data[:d], data[d]
    s = 1 / (1 + np.exp(-(w @ x + b)))
    r = v @ s + c - t
    dz = 2 * r * v * s * (1 - s)
    return r * r, np.concatenate([np.outer(dz, x).ravel(), dz, 2 * r * s, [2 * r]])


@pytest.fixture(scope="module")
def small():
    d, h = 5, 4
    loss, params, inputs = mlp(d, h)
    g = formula(loss, params, inputs)
    rng = np.random.default_rng(3)
    return d, h, g, rng.normal(size=len(params)), rng.normal(size=len(inputs))


def test_value_and_grad_match_numpy_by_hand(small):
    d, h, g, theta, data = small
    k = compile_flat(grad(g))
    value, gradient = k.value_and_grad(theta, data)
    ref_value, ref = mlp_by_hand(d, h, theta, data)
    assert value == pytest.approx(ref_value, rel=1e-13)
    np.testing.assert_allclose(gradient, ref, rtol=1e-12, atol=1e-14)
    assert k.params.names[0] == "W_0_0" and k.params.slice("c") == slice(len(theta) - 1, len(theta))


@pytest.mark.parametrize("mode", [jvp, hvp])
def test_jvp_and_hvp_kernels_match_the_plain_interpreter(small, mode):
    _, _, g, theta, data = small
    dg = mode(g)
    k = compile_flat(dg)
    tangent = np.random.default_rng(4).normal(size=len(theta))
    names = k.inputs.names
    values = {**k.params.unravel(theta), **dict(zip(names[: len(data)], data, strict=True))}
    values |= {n: tangent[i] for i, n in enumerate(names[len(data) :])}
    got = k(theta, k.inputs.ravel({n: values[n] for n in names}))
    ref = run(dg, {n: float(v) for n, v in values.items()})
    np.testing.assert_allclose(got, [float(ref[n]) for n in k.outputs.names], rtol=1e-11, atol=1e-13)


def test_float32_and_out_buffer(small):
    d, h, g, theta, data = small
    k = compile_flat(grad(g), dtype=np.float32)
    out = np.empty(k.outputs.size, np.float32)
    res = k(theta.astype(np.float32), data.astype(np.float32), out=out)
    assert res is out and res.dtype == np.float32
    np.testing.assert_allclose(res[1:], mlp_by_hand(d, h, theta, data)[1], rtol=2e-4, atol=2e-5)


def test_wrong_lengths_and_non_scalar_graphs_are_refused(small):
    _, _, g, theta, data = small
    k = compile_flat(grad(g))
    with pytest.raises(ShapeError, match="theta has shape"):
        k(theta[:-1], data)
    with pytest.raises(GraphError, match="value_and_grad needs the kernel of grad"):
        compile_flat(g).value_and_grad(theta, data)
    b = Builder()
    x = b.param("x", (3,))
    with pytest.raises(GraphError, match=r"use symnn\.compile for tensor graphs"):
        compile_flat(b.build((x * x).sum()))


def test_layout_ravel_and_unravel():
    lay = Layout(("a", "M", "z"), ((), (2, 2), (3,)))
    v = lay.ravel({"a": 1.0, "M": [[2.0, 3.0], [4.0, 5.0]], "z": [6.0, 7.0, 8.0]})
    assert v.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    parts = lay.unravel(v)
    assert parts["M"].tolist() == [[2.0, 3.0], [4.0, 5.0]] and parts["M"].base is v  # views, no copies
    with pytest.raises(GraphError, match=r"missing \['z'\]"):
        lay.ravel({"a": 1.0, "M": np.zeros((2, 2))})
    with pytest.raises(ShapeError, match="expected"):
        lay.ravel({"a": 1.0, "M": np.zeros(4), "z": np.zeros(3)})


def test_graph_sizes_and_kernel_structure_grow_linearly():
    # grad of the formula graph stays within a constant factor of it (no per-node blow-up), and the
    # packed kernel has as many loops at width 40 as at width 72 (3.2x the parameters): its source
    # does not grow with the model, only the index data does (the tails of the sums differ in arity)
    sizes = {}
    for d in (40, 72):
        loss, params, inputs = mlp(d, d)
        g = formula(loss, params, inputs)
        gg = grad(g)
        source, idx = generate_flat(gg)
        sizes[d] = (len(params), len(g), len(gg), len(_schedule(gg)), source.count("\n"), len(idx))
        assert len(gg) <= 2 * len(g) + 10
        assert len(hvp(g)) <= 5 * len(g)
    (p1, _, n1, loops1, lines1, idx1), (p2, _, n2, loops2, lines2, idx2) = sizes[40], sizes[72]
    assert loops1 == loops2 and abs(lines2 - lines1) < 0.1 * lines1
    assert 0.8 < (n2 / n1) / (p2 / p1) < 1.2 and 0.8 < (idx2 / idx1) / (p2 / p1) < 1.2
