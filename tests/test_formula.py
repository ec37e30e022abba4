"""``formula``: a user's scalar sympy formula as a Graph; values checked against sympy itself."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symnn import GraphError, UnsupportedFunctionError
from symnn.formula import MAX_ARITY, formula
from symnn.functions import sigmoid
from symnn.ops import Const, Elementwise, Input

try:
    from tests._numpy_eval import run
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from _numpy_eval import run

w, v, x, y = sp.symbols("w v x y", real=True)


def value_of(expr, point):
    """The expression's value by sympy's own evaluation (the independent reference)."""
    return float(sp.N(expr.subs(point), 30))


def graph_value(g, point, output="out"):
    return float(run(g, {str(s): val for s, val in point.items()})[output])


@pytest.mark.parametrize(
    "expr",
    [
        w * x + v,
        sp.tanh(w * x) + w**2,
        (w * x - y) ** 2 / 2,
        sp.exp(-(w**2)) * sp.log(1 + v**2) - sp.sqrt(x**2 + 1),
        1 / (1 + sp.exp(-w * x)) + sp.Max(0, v - x) + sp.Abs(w - v),
        sp.pi * w / (v**2 + 3) + w**v**2,
        sp.sin(w) * sp.cos(x) + sp.atan(v) + sp.Min(w, x) + sp.sign(v - 1),
        sp.log(1 + sp.exp(w * x)) + sp.Heaviside(v),
    ],
)
def test_formula_evaluates_like_the_expression(expr):
    g = formula(expr, params=[w, v], inputs=[x, y])
    assert g.params == {"w": (), "v": ()} and g.inputs == {"x": (), "y": ()}
    rng = np.random.default_rng(0)
    for _ in range(3):
        point = {s: float(val) for s, val in zip((w, v, x, y), rng.uniform(0.2, 1.5, 4), strict=True)}
        assert graph_value(g, point) == pytest.approx(value_of(expr, point), rel=1e-12)


def test_sigmoid_pattern_is_canonicalized_and_stable():
    g = formula(1 / (1 + sp.exp(-w * x)), params=[w], inputs=[x])
    bodies = [n.op.fn.expr for n in g.nodes if isinstance(n.op, Elementwise)]
    assert any(b.has(sigmoid) for b in bodies) and not any(b.has(sp.exp) for b in bodies)
    assert graph_value(g, {w: 800.0, x: -1.0}) == 0.0


def test_several_outputs_and_names():
    g = formula([w * x, w + x], params=[w], inputs=[x])
    assert g.output_names == ("out0", "out1")
    g = formula([w * x, w + x], params=["w"], inputs=["x"], name=["prod", "sum"])
    out = run(g, {"w": 3.0, "x": 4.0})
    assert (float(out["prod"]), float(out["sum"])) == (12.0, 7.0)
    with pytest.raises(GraphError, match="2 expressions but 1 output names"):
        formula([w, x], params=[w, x], name=["a"])


def test_shared_subexpressions_become_one_node():
    s = sp.tanh(w * x)
    g = formula(s + s**2, params=[w], inputs=[x])
    assert sum(isinstance(n.op, Elementwise) and n.op.fn.expr.has(sp.tanh) for n in g.nodes) == 1


def test_wide_sums_and_products_respect_the_arity_bound():
    ws = sp.symbols(f"w0:{3 * MAX_ARITY + 5}", real=True)
    expr = sp.Add(*(wi * (i + 1) for i, wi in enumerate(ws))) + sp.Mul(*ws)
    g = formula(expr, params=ws)
    assert all(len(n.args) <= MAX_ARITY for n in g.nodes)
    point = {wi: 1 + ((-1) ** i) * (i % 7) / 50 for i, wi in enumerate(ws)}
    assert graph_value(g, point) == pytest.approx(value_of(expr, point), rel=1e-12)


def test_constant_output_and_unused_symbols():
    g = formula(sp.Integer(3) / 4, params=[w])
    assert isinstance(g.nodes[g.outputs[0]].op, Const) and g.params == {"w": ()}
    assert float(run(g, {"w": 1.0})["out"]) == 0.75
    g = formula(w, params=[w])
    assert isinstance(g.nodes[g.outputs[0]].op, Input)


def test_a_scalar_mlp_with_10000_weights_is_a_small_graph():
    d = h = 100
    xs = sp.symbols(f"x0:{d}")
    W = [sp.symbols(f"W{i}_0:{d}") for i in range(h)]
    b = sp.symbols(f"b0:{h}")
    c = sp.symbols(f"c0:{h}")
    hidden = [sigmoid(sp.Add(*(W[i][j] * xs[j] for j in range(d)), b[i]), evaluate=False) for i in range(h)]
    loss = (sp.Add(*(c[i] * hidden[i] for i in range(h))) - y) ** 2
    g = formula(loss, params=[W, b, c], inputs=[xs, y])
    assert len(g.params) == d * h + 2 * h
    computed = [n for n in g.nodes if not isinstance(n.op, (Input, Const))]
    assert len(computed) < 1000  # sums of products, not one node per product
    rng = np.random.default_rng(1)
    vals = {s.name: rng.standard_normal() for s in [*xs, *b, *c, *(wij for row in W for wij in row), y]}
    Wn = np.array([[vals[f"W{i}_{j}"] for j in range(d)] for i in range(h)])
    xn = np.array([vals[f"x{j}"] for j in range(d)])
    hn = 1 / (1 + np.exp(-(Wn @ xn + np.array([vals[f"b{i}"] for i in range(h)]))))
    expected = (np.array([vals[f"c{i}"] for i in range(h)]) @ hn - vals["y"]) ** 2
    assert float(run(g, vals)["out"]) == pytest.approx(expected, rel=1e-10)


def test_symbol_names_must_be_identifiers():
    bad = sp.Symbol("w 1")
    with pytest.raises(GraphError, match=r"'w 1' is not a Python identifier.*Symbol\('w_1'\)"):
        formula(bad * x, params=[bad], inputs=[x])
    kw = sp.Symbol("lambda")
    with pytest.raises(GraphError, match="'lambda' is not a Python identifier"):
        formula(kw + 1, params=[kw])


def test_unlisted_and_doubly_listed_symbols():
    with pytest.raises(GraphError, match=r"free symbols y are neither params nor inputs"):
        formula(w * y, params=[w])
    with pytest.raises(GraphError, match="both as a param and as an input"):
        formula(w * x, params=[w, x], inputs=[x])
    with pytest.raises(GraphError, match="two different symbols are both named 'w'"):
        formula(w + sp.Symbol("w"), params=[w])
    with pytest.raises(GraphError, match="must be sympy Symbols"):
        formula(w, params=[3])


def test_unsupported_functions_are_named():
    with pytest.raises(UnsupportedFunctionError, match="gamma"):
        formula(sp.gamma(w), params=[w])
    with pytest.raises(UnsupportedFunctionError, match="mystery"):
        formula(sp.Function("mystery")(w) + 1, params=[w])
    with pytest.raises(UnsupportedFunctionError, match="not a scalar expression"):
        formula(sp.Gt(w, 0), params=[w])
    with pytest.raises(UnsupportedFunctionError, match="Piecewise"):
        formula(sp.Piecewise((w, w > 0), (0, True)), params=[w])
    with pytest.raises(UnsupportedFunctionError, match="real and finite"):
        formula(sp.I * w, params=[w])
    with pytest.raises(UnsupportedFunctionError, match="real and finite"):
        formula(w + sp.oo, params=[w])


@pytest.mark.parametrize(
    "expr",
    [
        (w * x - y) ** 2 / 2 + sp.tanh(v * w),
        sp.log(1 + sp.exp(w * x)) * v / (1 + w**2) + sp.sqrt(v**2 + 1),
        sp.Add(*(w**k * v / k for k in range(1, 40))),
    ],
)
def test_formula_graphs_differentiate_like_the_expression(expr):
    from symnn.diff import grad

    g = grad(formula(expr, params=[w, v], inputs=[x, y]))
    point = {w: 0.7, v: -0.4, x: 1.3, y: 0.2}
    for p in (w, v):
        assert graph_value(g, point, f"grad:{p}") == pytest.approx(value_of(sp.diff(expr, p), point), rel=1e-10)


def test_matrix_symbols_and_matrix_expressions_of_a_two_layer_network():
    # what a sympy user writes for a 2-layer network: MatrixSymbols, a matrix product, applyfunc
    W, b = sp.MatrixSymbol("W", 3, 2), sp.MatrixSymbol("b", 3, 1)
    V, xs = sp.MatrixSymbol("V", 2, 3), sp.MatrixSymbol("x", 2, 1)
    out = V * (W * xs + b).applyfunc(sp.tanh)  # a 2x1 matrix expression: two outputs
    g = formula(out, params=[W, b, V], inputs=[xs])
    assert list(g.params)[:3] == ["W_0_0", "W_0_1", "W_1_0"] and "b_2" in g.params and "V_1_2" in g.params
    assert list(g.inputs) == ["x_0", "x_1"] and g.output_names == ("out0", "out1")
    rng = np.random.default_rng(1)
    values = {name: float(rng.normal()) for name in [*g.params, *g.inputs]}
    point = {
        sym[i, j]: values[f"{sym.name}_{i}_{j}" if sym.shape[1] > 1 else f"{sym.name}_{i}"]
        for sym in (W, b, V, xs)
        for i in range(sym.shape[0])
        for j in range(sym.shape[1])
    }
    explicit = out.as_explicit()
    got = run(g, values)
    for k in range(2):
        assert float(got[f"out{k}"]) == pytest.approx(float(explicit[k, 0].xreplace(point)), rel=1e-12)
    # a 1x1 matrix is a scalar; an explicit Matrix of Symbols works the same way
    scalar = formula((sp.Matrix([[w, v]]) * sp.Matrix([x, y]))[0, 0] ** 2, params=sp.Matrix([w, v]), inputs=[x, y])
    assert scalar.output_names == ("out",)
    assert formula(sp.Matrix([[w * x]]), params=[w], inputs=[x]).output_names == ("out",)


def test_matrix_symbol_not_listed_and_strings_are_refused():
    W, xs = sp.MatrixSymbol("W", 2, 2), sp.MatrixSymbol("x", 2, 1)
    with pytest.raises(GraphError, match="MatrixSymbol 'x' is neither in params nor in inputs"):
        formula((W * xs)[0, 0], params=[W])
    with pytest.raises(GraphError, match="never parses strings"):
        formula("w * x", params=["w"], inputs=["x"])


def test_errors_name_the_offending_subexpression_briefly():
    ws = sp.symbols("w0:300", real=True)
    big = sp.Add(*(wi * sp.tanh(wi) for wi in ws))
    with pytest.raises(UnsupportedFunctionError, match=r"in besselj\(0, w3\)") as err:
        formula(big + sp.besselj(0, ws[3]), params=ws)
    assert len(str(err.value)) < 400
    with pytest.raises(UnsupportedFunctionError, match=r"sub-expression oo\*w contains oo"):
        formula(w * sp.oo + v, params=[w, v])


def test_one_over_one_plus_exp_inside_a_sum_is_the_stable_sigmoid():
    g = formula(v / (1 + sp.exp(-w * x)) + y, params=[w, v], inputs=[x, y])
    bodies = [n.op.fn.expr for n in g.nodes if isinstance(n.op, Elementwise)]
    assert any(b.has(sigmoid) for b in bodies) and not any(b.has(sp.exp) for b in bodies)
