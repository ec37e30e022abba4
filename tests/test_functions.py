"""The scalar conventions: kinks, stable rewrites, canonicalization of user bodies, and one name
per function that every backend is keyed by."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pytest
import sympy as sp

import symnn.codegen.scalar
import verify.oracles
from symnn.errors import UnsupportedFunctionError
from symnn.executor.scalar import PRIMITIVES, compile_lambda
from symnn.functions import (
    FUNCTIONS,
    SUPPORTED,
    canonical_name,
    canonicalize,
    maximum,
    named_heads,
    relu,
    sgn,
    sigmoid,
    softplus,
    step,
)
from verify.spec import OP_SPECS

try:
    from tests import _numpy_eval
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    import _numpy_eval

x = sp.Symbol("x", real=True)
y = sp.Symbol("y", real=True)


def test_sigmoid_derivative_matches_the_elementary_formula():
    # the rule s(x) s(-x) must equal sympy's own derivative of 1/(1+exp(-x))
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
    # the canonical form keeps s(x) s(-x), which evaluates through sympy to a tiny finite number
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


# -- one canonical name per function, every backend keyed by it ----------------------------------------
def _spec_rows() -> Iterable[str]:
    # sqrt and pow are rows of the power x ** c, not functions
    return {name.split(":")[1] for name in OP_SPECS if name.startswith("Elementwise:")} - {"sqrt", "pow"}


#: Each backend's table of scalar functions, read when called (so a test can plant a gap).
BACKENDS: dict[str, Callable[[], Iterable[str]]] = {
    "code generator (symnn.codegen.scalar.FUNCTIONS)": lambda: symnn.codegen.scalar.FUNCTIONS,
    "executor primitives (symnn.executor.kernels.NAMES)": lambda: PRIMITIVES,
    "float oracle (verify.oracles._FUNCS['float'])": lambda: verify.oracles._FUNCS["float"],
    "complex oracle (verify.oracles._FUNCS['complex'])": lambda: verify.oracles._FUNCS["complex"],
    "mpmath oracle (verify.oracles._FUNCS['mpmath'])": lambda: verify.oracles._FUNCS["mpmath"],
    "numpy test evaluator (tests/_numpy_eval.py _FUNCS)": lambda: _numpy_eval._FUNCS,
    "spec rows (verify.spec, Elementwise:<name>)": _spec_rows,
}


def coverage_problems(backend: str) -> list[str]:
    """What ``backend`` lacks or has beyond the canonical names of ``symnn.functions.FUNCTIONS``."""
    names = set(BACKENDS[backend]())
    missing = [f"{backend} has no {name}" for name in FUNCTIONS if name not in names]
    extra = [f"{backend} has {name}, which is no canonical name" for name in sorted(names - set(FUNCTIONS))]
    return missing + extra


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_every_backend_covers_exactly_the_canonical_names(backend):
    problems = coverage_problems(backend)
    assert not problems, f"{problems}; canonical names: {sorted(FUNCTIONS)}"


def test_a_missing_or_misspelled_function_is_named_with_its_backend(monkeypatch):
    monkeypatch.delitem(symnn.codegen.scalar.FUNCTIONS, "sgn")
    assert coverage_problems("code generator (symnn.codegen.scalar.FUNCTIONS)") == [
        "code generator (symnn.codegen.scalar.FUNCTIONS) has no sgn"
    ]
    monkeypatch.setitem(verify.oracles._FUNCS["mpmath"], "arctan", np.arctan)
    assert coverage_problems("mpmath oracle (verify.oracles._FUNCS['mpmath'])") == [
        "mpmath oracle (verify.oracles._FUNCS['mpmath']) has arctan, which is no canonical name"
    ]


def test_the_table_follows_its_conventions():
    for name, f in FUNCTIONS.items():
        assert name == f.name == f.head.__name__.lower() == canonical_name(f.head)  # atan, sgn, abs
        assert f.arity in f.head.nargs
    assert {f.head for f in FUNCTIONS.values() if f.kink} == {relu, step, sgn, sp.Abs, maximum}
    assert set(verify.oracles.KINKS) == {relu, step, sgn, sp.Abs, maximum}
    assert SUPPORTED == {f.head: name for name, f in FUNCTIONS.items()}


def test_the_executor_lists_functions_by_their_canonical_names():
    a, b = sp.symbols("_a0 _a1", real=True)
    for name, f in FUNCTIONS.items():
        args = (a, b)[: f.arity]
        listing = compile_lambda(sp.Lambda(args, f.head(*args))).listing()
        assert listing == [f"%{f.arity} = {name}({', '.join(f'%{k}' for k in range(f.arity))})"]


def test_named_heads_renames_every_supported_function():
    e = named_heads(sp.atan(x) + sgn(x) * maximum(x, relu(y)) + abs(x))
    assert {type(f).__name__ for f in e.atoms(sp.Function)} == {"_atan", "_sgn", "_maximum", "_relu", "_abs"}
    assert named_heads(sp.atan(x), prefix="f_") == sp.Function("f_atan")(x)


@pytest.mark.parametrize("head", [sp.gamma, sp.Function("f"), sp.sign])
def test_canonical_name_names_the_function_and_the_supported_ones(head):
    with pytest.raises(UnsupportedFunctionError, match=rf"the function {head.__name__} has no code generator") as e:
        canonical_name(head)
    assert (
        "abs, atan, cos, cosh, erf, exp, log, maximum, relu, sgn, sigmoid, sin, sinh, softplus, step, tan, tanh"
        in str(e.value)
    )
    assert canonical_name(sp.atan(x)) == "atan"  # an application names its head
