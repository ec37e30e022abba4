"""Scalar expansion: every op against hand-written sympy expressions, exact values, the size bound."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symnn.diff import grad
from symnn.errors import GraphError, ShapeError, SizeError
from symnn.expand import DEFAULT_MAX, expand, leaf_symbols, scalar_count
from symnn.functions import relu, sigmoid
from symnn.ir import Builder, concat, einsum
from symnn.ops import ALL_OPS, LEAVES, Fold, Window
from symnn.registry import has


def S(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


def one(graph, **kw):
    """The single output of ``graph``, expanded."""
    (out,) = expand(graph, **kw).values()
    return out


def test_every_op_and_leaf_has_an_expansion_rule():
    missing = [op.__name__ for op in (*ALL_OPS, *LEAVES) if not has(op, "expand")]
    assert not missing


def test_leaf_symbols_are_real_and_named_by_position():
    b = Builder()
    b.input("x", (2,))
    w = b.param("W", (2, 3))
    b.param("t", ())
    syms = leaf_symbols(b.build(w))
    assert syms["W"][1, 2] == S("W[1,2]") and syms["W"].shape == (2, 3)
    assert syms["x"].tolist() == [S("x[0]"), S("x[1]")]
    assert syms["t"].shape == () and syms["t"][()] == S("t")
    assert all(s.is_real for s in syms["W"].ravel())


def test_matmul_2x2():
    b = Builder()
    x, w = b.input("x", (2, 2)), b.param("W", (2, 2))
    out = one(b.build(x @ w))
    x00, x01, x10, x11 = S("x[0,0]"), S("x[0,1]"), S("x[1,0]"), S("x[1,1]")
    w00, w01, w10, w11 = S("W[0,0]"), S("W[0,1]"), S("W[1,0]"), S("W[1,1]")
    expected = [[x00 * w00 + x01 * w10, x00 * w01 + x01 * w11], [x10 * w00 + x11 * w10, x10 * w01 + x11 * w11]]
    assert out.tolist() == expected


def test_einsum_to_a_scalar_is_a_0d_array():
    b = Builder()
    x = b.input("x", (3,))
    out = one(b.build(einsum("i,i->", x, x)))
    assert out.shape == ()
    assert sp.expand(out[()] - sum(S(f"x[{i}]") ** 2 for i in range(3))) == 0


def test_elementwise_broadcasts_like_numpy():
    b = Builder()
    x, bias, col = b.input("x", (2, 3)), b.param("b", (3,)), b.param("c", (2, 1))
    out = one(b.build((x + bias) * col))
    assert out.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert out[i, j] == (S(f"x[{i},{j}]") + S(f"b[{j}]")) * S(f"c[{i},0]")


def test_elementwise_keeps_symnn_functions():
    b = Builder()
    x = b.input("x", (2,))
    out = one(b.build(x.map(sigmoid) + x.map(relu)))
    assert out[1] == sigmoid(S("x[1]")) + relu(S("x[1]"))


def test_window_1d_by_hand():
    # x = [x0 x1 x2 x3], kernel 2, stride 2, padding 1: padded [0 x0 x1 x2 x3 0], 3 positions
    b = Builder()
    x = b.input("x", (1, 1, 4))
    out = one(b.build(b.add(Window((2,), (2,), (1,)), x)))
    x0, x1, x2, x3 = (S(f"x[0,0,{i}]") for i in range(4))
    assert out.shape == (1, 1, 2, 3)
    assert out[0, 0].tolist() == [[0, x1, x3], [x0, x2, 0]]


def test_conv2d_through_window_matches_a_direct_loop():
    rng = np.random.default_rng(0)
    xs = rng.integers(-3, 4, size=(1, 2, 4, 5))
    ks = rng.integers(-3, 4, size=(3, 2, 3, 2))
    b = Builder()
    x, k = b.input("x", xs.shape), b.param("K", ks.shape)
    win = b.add(Window((3, 2), (2, 1), (1, 0)), x)
    y = einsum("ocij,ncijhw->nohw", k, win)
    got = one(b.build(y), values={"x": xs, "K": ks})
    # the textbook definition: y[n,o,h,w] = sum_{c,i,j} K[o,c,i,j] x[n,c,2h+i-1,w+j] (zero outside)
    padded = np.pad(xs, [(0, 0), (0, 0), (1, 1), (0, 0)])
    hs, ws = (4 + 2 - 3) // 2 + 1, 5 - 2 + 1
    expected = np.zeros((1, 3, hs, ws), dtype=int)
    for o in range(3):
        for h in range(hs):
            for w in range(ws):
                expected[0, o, h, w] = np.sum(ks[o] * padded[0, :, 2 * h : 2 * h + 3, w : w + 2])
    assert got.shape == expected.shape
    assert [int(v) for v in got.ravel()] == expected.ravel().tolist()


def test_fold_1d_by_hand():
    # windows w[k, o] of kernel 2, stride 1, padding 1 on 3 positions: s = o + k - 1
    b = Builder()
    w = b.input("w", (1, 1, 2, 4))
    out = one(b.build(b.add(Fold((3,), (2,), (1,), (1,)), w)))
    sym = {(k, o): S(f"w[0,0,{k},{o}]") for k in range(2) for o in range(4)}
    assert out.shape == (1, 1, 3)
    assert out[0, 0].tolist() == [
        sym[1, 0] + sym[0, 1],
        sym[1, 1] + sym[0, 2],
        sym[1, 2] + sym[0, 3],
    ]


@pytest.mark.parametrize(
    ("spatial", "kernel", "stride", "padding"),
    [((5,), (3,), (2,), (1,)), ((3, 4), (2, 2), (1, 2), (1, 0)), ((4,), (3,), (3,), (0,))],
)
def test_fold_is_the_adjoint_of_window(spatial, kernel, stride, padding):
    # <Window(x), w> = <x, Fold(w)> as polynomials in x and w
    b = Builder()
    x = b.input("x", (1, 2, *spatial))
    win = b.add(Window(kernel, stride, padding), x)
    w = b.input("w", win.shape)
    fold = b.add(Fold(spatial, kernel, stride, padding), w)
    outs = expand(b.build(win, fold, names=["win", "fold"]))
    syms = leaf_symbols(b.build(win))
    lhs = sum(outs["win"].ravel() * leaf_symbols(b.build(w))["w"].ravel())
    rhs = sum(syms["x"].ravel() * outs["fold"].ravel())
    assert sp.expand(lhs - rhs) == 0


def test_logsumexp_of_two_values():
    b = Builder()
    x = b.input("x", (2,))
    out = one(b.build(x.logsumexp(0)))
    assert out[()] == sp.log(sp.exp(S("x[0]")) + sp.exp(S("x[1]")))


def test_logsumexp_removes_its_axis():
    b = Builder()
    x = b.input("x", (2, 3))
    out = one(b.build(x.logsumexp(0)))
    assert out.shape == (3,)
    assert out[2] == sp.log(sp.exp(S("x[0,2]")) + sp.exp(S("x[1,2]")))


def test_reshape_is_c_order():
    b = Builder()
    x = b.input("x", (2, 3))
    out = one(b.build(x.reshape((3, 2))))
    assert out.tolist() == [[S("x[0,0]"), S("x[0,1]")], [S("x[0,2]"), S("x[1,0]")], [S("x[1,1]"), S("x[1,2]")]]


def test_slice_pad_concat_broadcast():
    b = Builder()
    x = b.input("x", (3,))
    y = b.input("y", (1,))
    x0, x1, x2, y0 = S("x[0]"), S("x[1]"), S("x[2]"), S("y[0]")
    outs = expand(
        b.build(
            x.slice((1,), (3,)),
            x.pad((2,), (1,)),
            concat([x, y], 0),
            y.broadcast_to((2, 3)),
            names=["slice", "pad", "concat", "broadcast"],
        )
    )
    assert outs["slice"].tolist() == [x1, x2]
    assert outs["pad"].tolist() == [0, 0, x0, x1, x2, 0]
    assert outs["concat"].tolist() == [x0, x1, x2, y0]
    assert outs["broadcast"].tolist() == [[y0] * 3] * 2


def test_consts_filled_in_order_and_rational():
    b = Builder()
    table = b.const([[1, 2], [3, 4]])
    half = b.const(sp.Rational(1, 2), (3,))
    outs = expand(b.build(table, half, names=["table", "half"]))
    assert outs["table"].tolist() == [[1, 2], [3, 4]]
    assert outs["half"].tolist() == [sp.Rational(1, 2)] * 3
    assert all(isinstance(v, sp.Basic) for v in outs["table"].ravel())


def test_a_const_inside_a_computation():
    b = Builder()
    x = b.input("x", (2,))
    out = one(b.build(x * b.const([3, 5])))
    assert out.tolist() == [3 * S("x[0]"), 5 * S("x[1]")]


def test_values_give_exact_rational_results():
    b = Builder()
    x, w = b.input("x", (2,)), b.param("w", (2,))
    y = ((x * w).sum() + sp.Rational(1, 3)).map(sp.tanh)
    half, third = sp.Rational(1, 2), sp.Rational(1, 3)
    out = one(b.build(y), values={"x": [half, 2], "w": [third, -1]})
    assert out[()] == sp.tanh(half * third - 2 + third)


def test_values_leave_other_leaves_symbolic():
    b = Builder()
    x, w = b.input("x", (2,)), b.param("w", (2,))
    out = one(b.build((x * w).sum()), values={"x": np.array([1, 2])})
    assert sp.expand(out[()] - (S("w[0]") + 2 * S("w[1]"))) == 0


def test_bad_values_are_rejected_with_the_fix():
    b = Builder()
    g = b.build(b.input("x", (2,)).sum())
    with pytest.raises(ShapeError, match=r"shape \(3,\).*shape \(2,\)"):
        expand(g, values={"x": [1, 2, 3]})
    with pytest.raises(GraphError, match=r"no such leaf.*'x'"):
        expand(g, values={"z": [1, 2]})
    with pytest.raises(GraphError, match="expected a number"):
        expand(g, values={"x": ["a", "b"]})


def test_size_bound_names_the_bound_the_count_and_the_fix():
    b = Builder()
    x = b.input("x", (30, 30))
    g = b.build(x.map(sp.tanh).sum())  # 900 + 900 + 1 scalars
    assert scalar_count(g) == 1801
    with pytest.raises(SizeError) as info:
        expand(g, max_scalars=1000)
    msg = str(info.value)
    assert "1801" in msg and "1000" in msg and "smaller shapes" in msg and "max_scalars" in msg
    assert one(g, max_scalars=2000).shape == ()
    assert DEFAULT_MAX >= 10_000


def test_expanded_gradient_matches_sympy_diff():
    # the use the verifier makes of expand: sympy.diff of the expanded forward program
    b = Builder()
    x, w, c = b.input("x", (2, 2)), b.param("W", (3, 2)), b.param("c", (3,))
    g = b.build(((x @ w.T + c).map(sigmoid).logsumexp(1)).sum())
    outs = expand(grad(g))
    forward = outs["out"][()]
    syms = leaf_symbols(g)
    point = {s: v for s, v in zip(syms["x"].ravel(), [1, -2, sp.Rational(1, 2), 3], strict=True)}
    point |= {s: sp.Rational(k - 2, 3) for k, s in enumerate(syms["W"].ravel())}
    point |= {s: sp.Rational(k, 5) for k, s in enumerate(syms["c"].ravel())}
    for name in ("W", "c"):
        for idx in np.ndindex(*syms[name].shape):
            exact = sp.diff(forward, syms[name][idx]).xreplace(point)
            got = outs[f"grad:{name}"][idx].xreplace(point)
            assert abs(sp.N(exact - got, 30)) < 1e-25


@pytest.mark.parametrize(
    ("spec", "shapes"),
    [
        ("ij,jk->ik", [(2, 3), (3, 2)]),
        ("ij->ji", [(2, 3)]),
        ("ijk->", [(2, 2, 3)]),
        (",ij->ij", [(), (2, 2)]),
        ("bi,oi,o->b", [(2, 3), (4, 3), (4,)]),
        ("i,j->ij", [(2,), (3,)]),
        ("bhqd,bhkd->bhqk", [(1, 2, 2, 3), (1, 2, 3, 3)]),
    ],
)
def test_einsum_matches_numpy_on_integers(spec, shapes):
    rng = np.random.default_rng(1)
    arrays = [rng.integers(-5, 6, size=s) for s in shapes]
    b = Builder()
    leaves = [b.input(f"a{k}", s) for k, s in enumerate(shapes)]
    out = one(b.build(einsum(spec, *leaves)), values={f"a{k}": a for k, a in enumerate(arrays)})
    expected = np.einsum(spec, *arrays)
    assert out.shape == expected.shape
    assert [int(v) for v in out.ravel()] == np.ravel(expected).tolist()
