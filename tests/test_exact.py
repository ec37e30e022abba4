"""The exact cross-check: symbolic forward and reverse mode against sympy.diff of the
expanded forward expression, for every row of the op spec table (and, in
test_exact_layers.py, every layer, loss and architecture)."""

from __future__ import annotations

import pytest
import sympy as sp

from symnn import registry
from symnn.ir import Builder
from symnn.ops import Einsum, Elementwise
from verify.exact import check_exact, same, to_elementary
from verify.spec import OP_ROWS


def _bounds(row):
    return (row.low, row.high) if row.low > 0 else (-1.0, 1.0)


@pytest.mark.parametrize("row", OP_ROWS, ids=lambda r: r.name)
@pytest.mark.parametrize("seed", [0, 1])
def test_op_rules_equal_sympy_diff(row, seed):
    low, high = _bounds(row)
    report = check_exact(row.graph(), seed=seed, low=low, high=high)
    assert report.ok, report.mismatches
    assert report.compared >= 2


def test_kinks_are_compared_exactly_at_zero():
    # at x = 0 the rewritten reference (Piecewise) and the rules must agree on the conventions
    b = Builder()
    x = b.param("x", (3,))
    g = b.build((x.map(sp.Abs) + x.map(lambda a: sp.Max(0, a)) + x.map(sp.sign) * x).sum())
    for seed in range(4):  # denominators of 1 make exact zeros likely
        report = check_exact(g, seed=seed, low=-1, high=1)
        assert report.ok, report.mismatches


def test_the_check_catches_a_missing_transpose():
    def wrong(right):
        def transposed(op, primals, out, cot, needs):
            res = right(op, primals, out, cot, needs)
            return [r.T if r is not None and r.ndim == 2 and r.shape[0] == r.shape[1] else r for r in res]

        return transposed

    b = Builder()
    g = b.build((b.param("A", (2, 2)) @ b.param("B", (2, 2))).map(sp.tanh).sum())
    with registry.override(Einsum, "vjp", wrong):
        assert not check_exact(g, seed=0).ok


def test_the_check_catches_a_wrong_sign():
    def wrong(right):
        return lambda op, primals, out, cot, needs: [
            -r if r is not None else None for r in right(op, primals, out, cot, needs)
        ]

    b = Builder()
    g = b.build(b.param("x", (3,)).map(sp.sin).sum())
    with registry.override(Elementwise, "vjp", wrong):
        report = check_exact(g, seed=0)
    assert not report.ok and report.mismatches[0].path == "reverse"


def test_the_forward_check_catches_a_dropped_term():
    def wrong(right):
        return lambda op, primals, out, tangents: right(op, primals, out, [tangents[0]] + [None] * (len(tangents) - 1))

    b = Builder()
    g = b.build((b.param("A", (2, 2)) @ b.param("B", (2, 2))).sum())
    with registry.override(Einsum, "jvp", wrong):
        report = check_exact(g, seed=0)
    assert [m.path for m in report.mismatches] == ["forward"]


def test_reference_rewrites_to_elementary_functions():
    x = sp.Symbol("x", real=True)
    from symnn.functions import relu, sigmoid

    e = to_elementary(sigmoid(x) + relu(x))
    assert not e.has(sigmoid) and not e.has(relu)
    assert same(e.subs(x, sp.Rational(1, 2)), sigmoid(sp.Rational(1, 2)) + sp.Rational(1, 2), 30)[0]
    assert not same(sp.Rational(1, 3), sp.Rational(1, 3) + sp.Rational(1, 10**50), 30)[0]


def _formula_graph():
    import symnn

    w, b, x = sp.symbols("w b x")
    return symnn.formula(sp.tanh(w * x + b) ** 2 + w * b, params=["w", "b"], inputs=["x"])


def test_formula_graphs_with_scalar_parameters():
    """Every leaf of a formula graph is 0-d: the forward check sums over 0-d arrays too (it raised before)."""
    report = check_exact(_formula_graph(), seed=0)
    assert report.ok, report.mismatches
    assert report.compared == 3  # grad w, grad b, <J t, c>
    from verify import CheckOptions, gradcheck

    rows = gradcheck(_formula_graph(), None, CheckOptions(paths=("symbolic",), oracles=("exact",))).rows
    assert rows and all(r.oracle == "exact" and r.verdict == "pass" for r in rows), rows


def test_formula_graphs_with_scalar_parameters_still_catch_a_wrong_rule():
    def wrong(right):
        return lambda op, primals, out, cot, needs: [
            -r if r is not None else None for r in right(op, primals, out, cot, needs)
        ]

    with registry.override(Elementwise, "vjp", wrong):
        report = check_exact(_formula_graph(), seed=0)
        from verify import CheckOptions, gradcheck

        rows = gradcheck(_formula_graph(), None, CheckOptions(paths=("symbolic",), oracles=("exact",))).rows
    assert not report.ok and {m.path for m in report.mismatches} == {"reverse"}
    # a negated rule: each wrong value is minus the exact one, carried as numbers (no text parsed back)
    for m in report.mismatches:
        assert m.expected_value != 0 and m.got_value == pytest.approx(-m.expected_value, rel=1e-12), m
    fails = [c for r in rows for c in r.failures]
    assert fails and all(c.error == pytest.approx(2 * abs(c.expected), rel=1e-12) for c in fails), fails


@pytest.mark.parametrize(
    "make",
    [lambda b, w: w * w * 0.1, lambda b, w: w * w * b.const(0.1), lambda b, w: w * w * b.const([0.1, 0.2, 0.7])],
    ids=["number", "one-value const", "const"],
)
def test_float_constants_keep_a_rational_graph_exact(make):
    """0.1 folded into a body or held by a Const: compared in exact arithmetic, not rounded to 53 bits."""
    b = Builder()
    w = b.param("w", (3,))
    report = check_exact(b.build(make(b, w).sum()), seed=0)
    assert report.ok, report.mismatches  # a 53-bit Float made the forward check differ at the 17th digit
    assert report.exact == report.compared == 4


def test_exact_constants_are_the_floats_values():
    from verify.exact import exact_constants

    b = Builder()
    w = b.param("w", (2,))
    g = exact_constants(b.build((w * 0.1 + b.const([0.25, 1e-300])).sum()))
    consts = [v for n in g.nodes for v in getattr(n.op, "values", ())]
    bodies = [n.op.fn.expr for n in g.nodes if isinstance(n.op, Elementwise)]
    assert consts == [sp.Rational(1, 4), sp.Rational(1e-300)] and float(consts[1]) == 1e-300
    assert not any(e.has(sp.Float) for e in bodies)
    assert sp.Rational(3602879701896397, 2**55) in {c for e in bodies for c in e.atoms(sp.Rational)}
