"""The scalar conventions: kinks, stable rewrites, and canonicalization of user bodies."""

from __future__ import annotations

import pytest
import sympy as sp

from symnn.errors import UnsupportedFunctionError
from symnn.functions import canonicalize, maximum, relu, sgn, sigmoid, softplus, step

x = sp.Symbol("x", real=True)
y = sp.Symbol("y", real=True)


def test_sigmoid_derivative_matches_the_elementary_formula():
    # the rule s(1 - s) must equal sympy's own derivative of 1/(1+exp(-x))
    elementary = sp.diff(1 / (1 + sp.exp(-x)), x)
    ours = sp.diff(sigmoid(x), x).rewrite(sp.exp)
    assert sp.simplify(elementary - ours) == 0


def test_softplus_derivative_is_sigmoid():
    assert sp.diff(softplus(x), x) == sigmoid(x)
    assert sp.simplify(sp.diff(sp.log(1 + sp.exp(x)), x) - sigmoid(x).rewrite(sp.exp)) == 0


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        (relu(sp.S(0)), 0),
        (step(sp.S(0)), 0),
        (sgn(sp.S(0)), 0),
        (relu(sp.Rational(-1, 3)), 0),
        (relu(sp.Rational(2, 3)), sp.Rational(2, 3)),
        (sgn(sp.Rational(-2, 3)), -1),
        (maximum(sp.S(1), sp.S(1)), 1),
    ],
)
def test_values_at_kinks(expr, value):
    assert expr == value


def test_kink_derivatives_follow_the_frameworks():
    assert sp.diff(relu(x), x).subs(x, 0) == 0  # relu'(0) = 0
    assert sp.diff(sgn(x), x) == 0  # sign' = 0
    assert sp.diff(step(x), x) == 0
    # maximum picks its first argument on ties: the derivative flows to a
    d_a = sp.diff(maximum(x, y), x).subs({x: 1, y: 1})
    d_b = sp.diff(maximum(x, y), y).subs({x: 1, y: 1})
    assert (d_a, d_b) == (1, 0)


def test_sympy_defaults_are_rewritten():
    assert canonicalize(sp.Heaviside(x)) == step(x)  # Heaviside(0) = 1/2 in sympy
    assert canonicalize(sp.sign(x)) == sgn(x)
    assert canonicalize(sp.Max(0, x)) == relu(x)
    assert canonicalize(sp.Max(x, 0)) == relu(x)
    assert canonicalize(1 / (1 + sp.exp(-x))) == sigmoid(x)
    assert canonicalize(sp.log(1 + sp.exp(2 * x))) == softplus(2 * x)
    assert canonicalize(sp.Min(x, y)).subs({x: 2, y: 3}) == 2


def test_stable_forms_evaluate_finitely_far_out():
    # the literal derivative of 1/(1+exp(-x)) is NaN-prone at x = -800 in floating point;
    # the canonical form keeps s(1-s) which evaluates through sympy to a tiny finite number
    d = sp.diff(canonicalize(1 / (1 + sp.exp(-x))), x)
    value = sp.N(d.subs(x, -800), 30)
    assert value.is_finite and 0 < value < sp.Float("1e-340")


@pytest.mark.parametrize("bad", [sp.gamma(x), sp.besselj(1, x), sp.Function("f")(x)])
def test_unsupported_functions_are_named(bad):
    with pytest.raises(UnsupportedFunctionError, match="no code generator"):
        canonicalize(bad)


def test_piecewise_is_rejected_with_a_fix():
    with pytest.raises(UnsupportedFunctionError, match="relu, step, maximum"):
        canonicalize(sp.Piecewise((x, x > 0), (0, True)))
