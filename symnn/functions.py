"""Scalar functions with symnn's conventions, and the canonical form of elementwise bodies.

SymPy's defaults differ from the frameworks' at kinks (``Heaviside(0) == 1/2``, and
``diff(sign(x), x)`` stays unevaluated), and its literal derivative of ``1/(1 + exp(-x))``
overflows to NaN at ``x = -800``. The functions here fix one convention for every path:

* ``relu(x) = max(0, x)``, ``relu'(0) = 0``;
* ``step(x) = 1 if x > 0 else 0`` (so ``step(0) = 0``), ``step' = 0``;
* ``sgn(x)`` with ``sgn(0) = 0`` and ``sgn' = 0``;
* ``maximum(a, b)`` picks its first argument on ties;
* ``sigmoid`` and ``softplus`` differentiate to themselves (``sigmoid'(x) = s(x) s(-x)``,
  ``softplus' = sigmoid``), never to a quotient of exponentials. ``s(x) s(-x)`` rather than
  ``s(x) (1 - s(x))``: for x > 37, 1 - s(x) rounds to 0 in float64 (PyTorch's backward does
  that), while s(-x) keeps the true value, about exp(-x), down to 1e-308.

``FUNCTIONS`` is the one table of supported scalar functions. Each has ONE canonical name, used
by every backend (code generator, executor, oracles, spec rows, tests): the name of its SymPy
head in lower case -- ``atan`` (``sympy.atan``, not numpy's ``arctan``), ``sgn`` (this module's
class, not ``sign``), ``abs`` (``sympy.Abs``, which Python's ``abs`` builds), ``maximum``.

>>> import sympy
>>> x = sympy.Symbol("x", real=True)
>>> sympy.diff(sigmoid(x), x)
sigmoid(-x)*sigmoid(x)
>>> canonicalize(1 / (1 + sympy.exp(-x)))
sigmoid(x)
>>> canonical_name(sympy.atan), FUNCTIONS["sgn"].kink, FUNCTIONS["maximum"].arity
('atan', True, 2)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sympy as sp
from sympy.core.logic import fuzzy_and

from .errors import SymnnError, UnsupportedFunctionError


def _number(x: sp.Expr) -> bool:
    return bool(x.is_Number) and x.is_finite is not False


class _Scalar(sp.Function):
    """A scalar function evaluated through an elementary rewrite where sympy needs a value."""

    nargs = 1

    def _elementary(self) -> sp.Expr:  # pragma: no cover - overridden
        raise NotImplementedError

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return self._elementary()._eval_evalf(prec)

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real


class sigmoid(_Scalar):
    """The logistic function 1 / (1 + exp(-x))."""

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if x.is_zero:
            return sp.S.Half
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        # d sigmoid(x) = sigmoid(x) sigmoid(-x): equal to s (1 - s), but 1 - s(x) is 0 in floating point for large x
        return self * sigmoid(-self.args[0])

    def _elementary(self) -> sp.Expr:
        return 1 / (1 + sp.exp(-self.args[0]))

    def _eval_rewrite_as_exp(self, x: sp.Expr, **kwargs: Any) -> sp.Expr:
        return 1 / (1 + sp.exp(-x))

    def _latex(self, printer: Any) -> str:
        return r"\sigma\left(%s\right)" % printer._print(self.args[0])


class softplus(_Scalar):
    """log(1 + exp(x)), evaluated stably."""

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if x.is_zero:
            return sp.log(2)
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        # d softplus(x) = sigmoid(x)
        return sigmoid(self.args[0])

    def _elementary(self) -> sp.Expr:
        return sp.log(1 + sp.exp(self.args[0]))

    def _eval_rewrite_as_exp(self, x: sp.Expr, **kwargs: Any) -> sp.Expr:
        return sp.log(1 + sp.exp(x))

    def _latex(self, printer: Any) -> str:
        return r"\operatorname{softplus}\left(%s\right)" % printer._print(self.args[0])


class step(_Scalar):
    """The unit step with step(0) = 0 (the derivative of relu); its derivative is 0."""

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if _number(x):
            return sp.S.One if x > 0 else sp.S.Zero
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        # d step(x) = 0 (kink at 0 reported, never differentiated across)
        return sp.S.Zero

    def _elementary(self) -> sp.Expr:
        x = self.args[0]
        return sp.Piecewise((1, x > 0), (0, True))

    def _eval_rewrite_as_Piecewise(self, x: sp.Expr, **kwargs: Any) -> sp.Expr:
        return sp.Piecewise((1, x > 0), (0, True))


class relu(_Scalar):
    """max(0, x) with relu'(0) = 0."""

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if _number(x):
            return x if x > 0 else sp.S.Zero
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        # d relu(x) = step(x)
        return step(self.args[0])

    def _elementary(self) -> sp.Expr:
        x = self.args[0]
        return sp.Piecewise((x, x > 0), (0, True))

    def _eval_rewrite_as_Piecewise(self, x: sp.Expr, **kwargs: Any) -> sp.Expr:
        return sp.Piecewise((x, x > 0), (0, True))

    def _latex(self, printer: Any) -> str:
        return r"\operatorname{ReLU}\left(%s\right)" % printer._print(self.args[0])


class sgn(_Scalar):
    """sign(x) with sgn(0) = 0; its derivative is 0."""

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if _number(x):
            return sp.sign(x)
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        # d sgn(x) = 0
        return sp.S.Zero

    def _elementary(self) -> sp.Expr:
        x = self.args[0]
        return sp.Piecewise((1, x > 0), (-1, x < 0), (0, True))

    def _eval_rewrite_as_Piecewise(self, x: sp.Expr, **kwargs: Any) -> sp.Expr:
        return sp.Piecewise((1, x > 0), (-1, x < 0), (0, True))

    def _latex(self, printer: Any) -> str:
        return r"\operatorname{sign}\left(%s\right)" % printer._print(self.args[0])


class maximum(sp.Function):
    """max(a, b) that picks its first argument on ties (so d/da = 1 at a == b)."""

    nargs = 2

    @classmethod
    def eval(cls, a: sp.Expr, b: sp.Expr) -> sp.Expr | None:
        if _number(a) and _number(b):
            return a if a >= b else b
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        a, b = self.args
        # d max(a, b) = [a >= b] da + [b > a] db
        return 1 - step(b - a) if argindex == 1 else step(b - a)

    def _eval_evalf(self, prec: int) -> sp.Expr:
        a, b = self.args
        return sp.Piecewise((a, a >= b), (b, True))._eval_evalf(prec)

    def _eval_rewrite_as_Piecewise(self, a: sp.Expr, b: sp.Expr, **kwargs: Any) -> sp.Expr:
        return sp.Piecewise((a, a >= b), (b, True))

    def _eval_is_real(self) -> bool | None:
        return fuzzy_and(arg.is_real for arg in self.args)


@dataclass(frozen=True)
class ScalarFunction:
    """A supported scalar function: its canonical name, SymPy head, arity, and whether it has a kink."""

    name: str
    head: type
    arity: int = 1
    kink: bool = False  # not differentiable somewhere: oracles report steps that straddle the kink


#: The supported scalar functions by canonical name (the order is the paper's table order).
FUNCTIONS: dict[str, ScalarFunction] = {
    f.name: f
    for f in (
        ScalarFunction("exp", sp.exp),
        ScalarFunction("log", sp.log),
        ScalarFunction("tanh", sp.tanh),
        ScalarFunction("sinh", sp.sinh),
        ScalarFunction("cosh", sp.cosh),
        ScalarFunction("sin", sp.sin),
        ScalarFunction("cos", sp.cos),
        ScalarFunction("tan", sp.tan),
        ScalarFunction("atan", sp.atan),
        ScalarFunction("erf", sp.erf),
        ScalarFunction("abs", sp.Abs, kink=True),
        ScalarFunction("sigmoid", sigmoid),
        ScalarFunction("softplus", softplus),
        ScalarFunction("relu", relu, kink=True),
        ScalarFunction("step", step, kink=True),
        ScalarFunction("sgn", sgn, kink=True),
        ScalarFunction("maximum", maximum, arity=2, kink=True),
    )
}

#: Each supported head and its canonical name.
SUPPORTED: dict[type, str] = {f.head: f.name for f in FUNCTIONS.values()}


def _unsupported(head: type, where: str = "") -> UnsupportedFunctionError:
    names = ", ".join(sorted(FUNCTIONS))
    return UnsupportedFunctionError(
        f"the function {head.__name__}{where} has no code generator; "
        f"write it with the supported functions ({names}), with +, -, *, / and powers"
    )


def canonical_name(head: type | sp.Basic) -> str:
    """The canonical name of a supported function head (or of an application of one): ``sympy.atan`` -> ``"atan"``."""
    cls = head if isinstance(head, type) else type(head)
    if cls not in SUPPORTED:
        raise _unsupported(cls)
    return SUPPORTED[cls]


def named_heads(expr: sp.Expr, prefix: str = "_") -> sp.Expr:
    """``expr`` with each supported function replaced by an undefined one named ``prefix + name``.

    For ``sympy.lambdify`` with a namespace keyed by canonical names: the prefixed names are in no
    printer's table, so every call goes to the namespace (``relu(x)`` prints as ``_relu(x)``).
    """
    return expr.replace(
        lambda e: type(e) in SUPPORTED,
        lambda e: sp.Function(prefix + SUPPORTED[type(e)])(*e.args),
    )


def _max_to_maximum(*args: sp.Expr) -> sp.Expr:
    if len(args) == 2 and sp.S.Zero in args:
        other = args[1] if args[0] == 0 else args[0]
        return relu(other)
    out = args[0]
    for a in args[1:]:
        out = maximum(out, a)
    return out


def _min_to_maximum(*args: sp.Expr) -> sp.Expr:
    out = -args[0]
    for a in args[1:]:
        out = maximum(out, -a)
    return -out


def _is_one_plus_exp(e: sp.Expr) -> bool:
    return (
        isinstance(e, sp.Add) and len(e.args) == 2 and sp.S.One in e.args and any(isinstance(t, sp.exp) for t in e.args)
    )


def _exp_arg(e: sp.Expr) -> sp.Expr:
    return next(t for t in e.args if isinstance(t, sp.exp)).args[0]


def _logistic_quotient(e: sp.Mul) -> sp.Expr | None:
    """``c exp(a) / (1 + exp(a))`` as ``c sigmoid(a)``, else None.

    Rewriting only the denominator would give ``exp(a) sigmoid(-a)``: inf * 0 = NaN for a > 709.
    """
    factors = list(e.args)
    for i, f in enumerate(factors):
        if isinstance(f, sp.Pow) and f.exp == -1 and _is_one_plus_exp(f.base):
            a = _exp_arg(f.base)
            for j, g in enumerate(factors):
                if isinstance(g, sp.exp) and g.args[0] == a:
                    rest = [h for k, h in enumerate(factors) if k not in (i, j)]
                    return sp.Mul(*rest, sigmoid(a))
    return None


def sympify_data(
    value: Any, owner: str, error: type[SymnnError] = UnsupportedFunctionError, strict: bool = False
) -> Any:
    """``sympy.sympify(value)`` of a value from the user, refusing a ``str`` (or bytes) anywhere in it.

    SymPy parses a string as Python, so ``sympify("__import__('os').system(...)")`` runs the
    command, and it does so inside lists, tuples, sets, dicts and arrays too, even with
    ``strict=True``. Every sympify of user data in symnn goes through here: strings are data,
    never code. ``error`` is the exception raised (a SymnnError subclass), ``owner`` starts its message.

    >>> sympify_data([1, (2, 3)], "demo")
    [1, (2, 3)]
    >>> sympify_data({"eps": [1, "__import__('os')"]}, "demo")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symnn.errors.UnsupportedFunctionError: demo: got the string "__import__('os')" at ['eps'][1]; symnn never ...
    """
    found = _string_inside(value)
    if found is not None:
        where, text = found
        at = f" at {where}" if where else ""
        if text is None:  # sympify would consume it item by item, strings included, before refusing it
            raise error(f"{owner}: got a one-shot iterator{at}; give a list, a tuple or a sympy expression")
        shown = text if len(text) <= 80 else text[:60] + f"... ({len(text)} characters)"
        raise error(
            f"{owner}: got the string {shown!r}{at}; symnn never parses strings "
            "(sympify would run them as Python): build expressions with sympy.Symbol(...) and numbers"
        )
    return sp.sympify(value, strict=strict)


def _string_inside(value: Any) -> tuple[str, str | None] | None:
    """(where, text) of the first str or bytes in ``value`` or in the containers it nests (sympify's reach).

    (where, None) for a one-shot iterator, which cannot be looked into without using it up; None if
    there is neither. Walked with a stack, not recursion: a deeply nested list is no RecursionError here.
    """
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        where, v = stack.pop()
        if isinstance(v, (str, bytes, bytearray)):
            return where, v if isinstance(v, str) else repr(bytes(v))
        if isinstance(v, (sp.Basic, sp.MatrixBase, int, float, complex)) or v is None:
            continue  # sympy objects were built from sympy objects; numbers hold no text
        kind = getattr(getattr(v, "dtype", None), "kind", None)
        if kind is not None and kind in "biufcmM":
            continue  # a numeric NumPy array or scalar
        if callable(getattr(v, "tolist", None)):
            v = v.tolist()  # a NumPy array of str or objects, without importing NumPy here
        if isinstance(v, Mapping):
            key = f"a key of {where}" if where else "a key of the dict"
            items = [(f"{where}[{k!r}]", x) for k, x in v.items()] + [(key, k) for k in v]
        elif isinstance(v, Iterable):
            if iter(v) is v:
                return where, None
            items = [(f"{where}[{i}]", x) for i, x in enumerate(v)]
        else:
            continue
        stack.extend(reversed(items))
    return None


def canonicalize(expr: sp.Expr) -> sp.Expr:
    """Rewrite ``expr`` to symnn's conventions and stable forms; reject unknown functions.

    ``Heaviside`` becomes ``step`` (value 0 at 0), ``sign`` becomes ``sgn``, ``Max(0, x)``
    becomes ``relu(x)``, other ``Max``/``Min`` become ``maximum``. The usual spellings of the
    logistic functions become the stable ones, whose value and derivatives never compute
    ``inf * 0``: ``exp(a)/(1+exp(a))`` (or ``exp(a)/(exp(a)+1)``) becomes ``sigmoid(a)``,
    ``1/(1+exp(a))`` becomes ``sigmoid(-a)``, ``log(1+exp(a))`` becomes ``softplus(a)`` and
    ``log(sigmoid(a))`` (log-sigmoid, however spelled) becomes ``-softplus(-a)``.

    >>> x = sp.Symbol("x", real=True)
    >>> [canonicalize(e) for e in (sp.exp(x) / (1 + sp.exp(x)), 2 * x * sp.exp(x) / (sp.exp(x) + 1))]
    [sigmoid(x), 2*x*sigmoid(x)]
    >>> canonicalize(sp.log(sp.exp(x) / (1 + sp.exp(x)))), canonicalize(-sp.log(1 + sp.exp(-x)))
    (-softplus(-x), -softplus(-x))
    """
    expr = sympify_data(expr, "canonicalize")
    if not isinstance(expr, sp.Basic):
        raise UnsupportedFunctionError(f"canonicalize: expected a sympy expression, got {type(expr).__name__}")
    expr = expr.replace(sp.Heaviside, lambda x, *h: step(x))
    expr = expr.replace(sp.sign, lambda x: sgn(x))
    expr = expr.replace(sp.Max, _max_to_maximum)
    expr = expr.replace(sp.Min, _min_to_maximum)
    expr = expr.replace(lambda e: isinstance(e, sp.Mul) and _logistic_quotient(e) is not None, _logistic_quotient)
    expr = expr.replace(
        lambda e: isinstance(e, sp.Pow) and e.exp == -1 and _is_one_plus_exp(e.base),
        lambda e: sigmoid(-_exp_arg(e.base)),
    )
    expr = expr.replace(
        lambda e: isinstance(e, sp.log) and _is_one_plus_exp(e.args[0]),
        lambda e: softplus(_exp_arg(e.args[0])),
    )
    # log(sigmoid(a)) = -softplus(-a): the literal log underflows to -inf for a < -745
    expr = expr.replace(
        lambda e: isinstance(e, sp.log) and isinstance(e.args[0], sigmoid),
        lambda e: -softplus(-e.args[0].args[0]),
    )
    check_supported(expr)
    return expr


def _indicator(cond: Any) -> sp.Expr:
    """1 where ``cond`` holds, else 0, through ``step`` (step(0) = 0 keeps strict and non-strict apart)."""
    if cond is sp.true:
        return sp.S.One
    if isinstance(cond, sp.StrictGreaterThan):
        return step(cond.lhs - cond.rhs)
    if isinstance(cond, sp.StrictLessThan):
        return step(cond.rhs - cond.lhs)
    if isinstance(cond, sp.GreaterThan):
        return 1 - step(cond.rhs - cond.lhs)
    if isinstance(cond, sp.LessThan):
        return 1 - step(cond.lhs - cond.rhs)
    if isinstance(cond, sp.And):
        out = sp.S.One
        for c in cond.args:
            out *= _indicator(c)
        return out
    raise UnsupportedFunctionError(
        f"the Piecewise condition {cond} is not a comparison (<, <=, >, >=) or an And of them; rewrite it so"
    )


def piecewise_to_step(expr: sp.Expr) -> sp.Expr:
    """``Piecewise((f, c), (g, True))`` as ``g + [c] (f - g)`` with ``[c]`` built from ``step``, recursively.

    The value is the branch the conditions select (ties follow the comparison: ``x > 0`` is false at
    0, ``x >= 0`` true), and since ``step' = 0`` the derivative at a boundary is the selected branch's
    derivative: ``Piecewise((x, x > 0), (a*x, True))`` has derivative a at 0, as PyTorch's LeakyReLU.
    Every branch is evaluated, so each must be finite everywhere (0 * inf is NaN).
    """

    def rewrite(*pairs: Any) -> sp.Expr:
        (first, cond), rest = pairs[0], pairs[1:]
        if cond is sp.true or not rest:
            if cond is not sp.true:
                raise UnsupportedFunctionError(
                    f"Piecewise without a final (expr, True) branch is undefined where {cond} fails; add one"
                )
            return first
        other = rewrite(*rest)
        return other + _indicator(cond) * (first - other)

    return expr.replace(sp.Piecewise, lambda *pairs: rewrite(*pairs))


def check_supported(expr: sp.Expr) -> None:
    """Raise ``UnsupportedFunctionError`` if ``expr`` holds a function without a code generator."""
    if expr.has(sp.Derivative, sp.Integral, sp.Piecewise, sp.Subs):
        raise UnsupportedFunctionError(
            f"the expression {expr} is not a closed-form scalar function; "
            "use relu, step, maximum or sgn instead of Piecewise, and no unevaluated derivatives"
        )
    for f in expr.atoms(sp.Function):
        if type(f) not in SUPPORTED:
            raise _unsupported(type(f), f" in {f}")
    for bad in (sp.zoo, sp.nan, sp.oo, -sp.oo, sp.I):
        if expr.has(bad):
            raise UnsupportedFunctionError(
                f"the expression {expr} contains {bad}; elementwise bodies must be real and finite"
            )
