"""The exact reference: ``sympy.diff`` of the expanded forward expressions, against the
expanded symbolic derivative graphs, at rational points.

The reference never sees symnn's derivative rules: before differentiating, every symnn
function is rewritten to elementary sympy (``sigmoid -> 1/(1+exp(-x))``, ``relu``, ``step``,
``sgn`` and ``maximum`` to ``Piecewise`` with the same tie conventions), so sympy derives the
derivative from scratch. Values are compared exactly when both sides are rational, and to
``digits`` significant digits otherwise (exponentials of rationals are transcendental).
Float constants (``0.1 * w``) enter as the exact rationals of their binary values, so they
neither round a rational graph to 53 bits nor change the function (``exact_constants``).

>>> from symnn.ir import Builder
>>> b = Builder()
>>> w = b.param("w", (2,))
>>> report = check_exact(b.build((w * w).map(__import__("sympy").tanh).sum()), seed=0)
>>> report.ok, report.compared > 0
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from symnn.diff import grad, jvp, vjp
from symnn.errors import SymnnError
from symnn.expand import expand, leaf_symbols, scalar_count
from symnn.functions import maximum, relu, sgn, sigmoid, softplus, step
from symnn.ir import Graph
from symnn.ops import Const, Elementwise, LogSumExp


def to_elementary(expr: sp.Expr) -> sp.Expr:
    """Rewrite symnn's functions into plain sympy (exp, log, Piecewise) with the same values."""
    expr = expr.replace(sigmoid, lambda x: 1 / (1 + sp.exp(-x)))
    expr = expr.replace(softplus, lambda x: sp.log(1 + sp.exp(x)))
    expr = expr.replace(relu, lambda x: sp.Piecewise((x, x > 0), (0, True)))
    expr = expr.replace(step, lambda x: sp.Piecewise((1, x > 0), (0, True)))
    expr = expr.replace(sgn, lambda x: sp.Piecewise((1, x > 0), (-1, x < 0), (0, True)))
    return expr.replace(maximum, lambda a, b: sp.Piecewise((a, a >= b), (b, True)))


def exact_constants(graph: Graph) -> Graph:
    """``graph`` with each float constant c (a Python or sympy float) replaced by ``Rational(c)``, its exact value.

    SymPy rounds every result a 53-bit Float touches to 53 bits (``Float(0.1) * Rational(1, 3)`` is a
    Float), which would turn the exact comparison of a rational graph into a double-precision one and
    fail it at the 17th digit. ``Rational(0.1)`` is 3602879701896397/2**55, the value the float holds:
    the function is the same.

    >>> from symnn.ir import Builder
    >>> b = Builder()
    >>> w = b.param("w", ())
    >>> exact_constants(b.build(w * 0.1)).nodes[-1].op.fn.expr
    3602879701896397*_a0/36028797018963968
    """
    nodes = []
    for node in graph.nodes:
        op = node.op
        if isinstance(op, Elementwise) and op.fn.has(sp.Float):
            op = Elementwise(op.fn.xreplace({f: sp.Rational(f) for f in op.fn.atoms(sp.Float)}))
        elif isinstance(op, Const) and any(isinstance(v, (float, sp.Float)) for v in op.values):
            op = Const(tuple(sp.Rational(v) if isinstance(v, (float, sp.Float)) else v for v in op.values))
        nodes.append(node if op is node.op else replace(node, op=op))
    return replace(graph, nodes=tuple(nodes))


def _total(values: object) -> sp.Expr:
    """The sum of the entries of an array of sympy values, a 0-d one (a scalar leaf's) included."""
    return sp.Add(*np.asarray(values, dtype=object).ravel())


@dataclass(frozen=True)
class Mismatch:
    """One disagreement: which path, which scalar, both values (as text, and as floats: NaN if none)."""

    path: str
    where: str
    expected: str
    got: str
    expected_value: float = math.nan
    got_value: float = math.nan


@dataclass
class ExactReport:
    """The outcome of ``check_exact``: how many scalars were compared, and how."""

    compared: int = 0
    exact: int = 0
    numeric: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.compared > 0 and not self.mismatches


def random_point(
    graph: Graph, seed: int, low: float = -1.0, high: float = 1.0, denominator: int = 7
) -> dict[str, np.ndarray]:
    """Random rationals k/denominator in [low, high] for every leaf of ``graph``."""
    rng = np.random.default_rng(seed)
    lo, hi = int(np.ceil(low * denominator)), int(np.floor(high * denominator))
    point = {}
    for n in graph.leaves():
        ints = rng.integers(lo, hi + 1, size=n.shape)
        point[n.op.name] = np.vectorize(lambda k: sp.Rational(int(k), denominator), otypes=[object])(ints)  # type: ignore[attr-defined]
    return point


def same(a: sp.Expr, b: sp.Expr, digits: int) -> tuple[bool, bool]:
    """(equal, exactly): rational values compare exactly, others to ``digits`` digits."""
    a, b = sp.sympify(a), sp.sympify(b)
    if a.is_Rational and b.is_Rational:
        return a == b, True
    if a == b:
        return True, True
    va, vb = sp.N(a, digits + 10), sp.N(b, digits + 10)
    if not (va.is_Number and vb.is_Number):
        return False, False
    scale = max(1, abs(va), abs(vb))
    return abs(va - vb) <= scale * sp.Float(10) ** (-digits), False


def is_rational(graph: Graph) -> bool:
    """True if every value of ``graph`` is a rational function of rational inputs (no exp, log, ...)."""
    for n in graph.nodes:
        if isinstance(n.op, LogSumExp):
            return False
        if isinstance(n.op, Elementwise):
            body = n.op.fn.expr
            funcs = [f for f in body.atoms(sp.Function) if not isinstance(f, (relu, step, sgn, maximum, sp.Abs))]
            powers = [p for p in body.atoms(sp.Pow) if not p.exp.is_Integer]
            if funcs or powers:
                return False
    return True


def check_exact(
    graph: Graph,
    seed: int = 0,
    digits: int = 40,
    max_scalars: int = 20_000,
    low: float = -1.0,
    high: float = 1.0,
    method: str = "auto",
) -> ExactReport:
    """Reverse mode (grad or vjp) and forward mode (jvp) against sympy.diff, at a rational point.

    Parameters are the differentiated leaves (all leaves if the graph has none); the other
    leaves get rational values. For a non-scalar output the reference differentiates
    <c, f> for a random rational cotangent c. Each partial derivative of the reference is
    ``sympy.diff`` of the univariate restriction: the forward graph expanded with one scalar
    left symbolic and every other leaf at its value, so expressions stay the size of the graph.
    A graph of rational functions is compared exactly in rational arithmetic; any other at
    ``digits + 20``-digit Floats, to ``digits`` digits.

    ``method`` says how the reference differentiates the univariate restriction f(s):
    ``"diff"`` is ``sympy.diff(f, s)``; ``"mpmath"`` is ``mpmath.diff`` (high-order finite
    differences at ``digits + 20`` digits) of f compiled by ``lambdify``, for graphs where
    sympy's differentiation of nested exponentials is too slow; ``"auto"`` takes ``"diff"``
    for rational graphs and graphs of at most ``DIFF_SCALARS`` scalars, ``"mpmath"`` beyond.
    """
    wrt = list(graph.params) or list(graph.inputs)
    if not wrt:
        raise SymnnError("the graph has no leaves to differentiate")
    graph = exact_constants(graph)
    rational = is_rational(graph)
    prec = None if rational else digits + 20
    if method == "auto":
        method = "diff" if rational or scalar_count(graph) <= DIFF_SCALARS else "mpmath"
    if method not in ("diff", "mpmath"):
        raise SymnnError(f"method must be 'auto', 'diff' or 'mpmath', got {method!r}")
    point = random_point(graph, seed, low, high)
    if not rational:
        point = {k: np.vectorize(lambda v: sp.Float(v, digits + 20), otypes=[object])(v) for k, v in point.items()}
    out_name = graph.output_names[0]
    out_shape = graph.shape(graph.outputs[0])
    scalar = out_shape == ()
    rng = np.random.default_rng(seed + 1)
    report = ExactReport()

    def sym_rational(k: int, q: int) -> sp.Expr:
        return sp.Rational(k, q) if rational else sp.Float(sp.Rational(k, q), digits + 20)

    cot = np.vectorize(lambda k: sym_rational(int(k), 5), otypes=[object])(rng.integers(-5, 6, size=out_shape))
    if scalar:
        rev = expand(grad(graph, wrt, out_name), values=point, max_scalars=max_scalars, digits=prec)
    else:
        extra = {
            f"cotangent:{nm}": np.zeros(graph.shape(o), dtype=int)
            for nm, o in zip(graph.output_names, graph.outputs, strict=True)
        }
        extra[f"cotangent:{out_name}"] = cot
        rev = expand(vjp(graph, wrt), values={**point, **extra}, max_scalars=max_scalars, digits=prec)

    ref_grad = _reference_gradient(graph, wrt, point, cot, method, digits, max_scalars, prec)
    for name in wrt:
        _compare(report, "reverse", name, ref_grad[name], rev[f"grad:{name}"], digits)

    # forward mode: <J t, c> from the JVP graph against <grad, t> of the reference
    tangents = {
        f"tangent:{name}": np.vectorize(lambda k: sym_rational(int(k), 3), otypes=[object])(
            rng.integers(-3, 4, size=point[name].shape)
        )
        for name in wrt
    }
    fw = expand(jvp(graph, wrt), values={**point, **tangents}, max_scalars=max_scalars, digits=prec)
    t_out = fw[f"tangent:{out_name}"]
    got = t_out[()] if scalar else _total(cot * t_out)
    expected = sp.Add(*(_total(ref_grad[n] * tangents[f"tangent:{n}"]) for n in wrt))
    _compare(report, "forward", "<J t, c>", np.array(expected, dtype=object), np.array(got, dtype=object), digits)
    return report


DIFF_SCALARS = 100


def _reference_gradient(
    graph: Graph,
    wrt: list[str],
    point: dict[str, np.ndarray],
    cot: np.ndarray,
    method: str,
    digits: int,
    max_scalars: int,
    prec: int | None,
) -> dict[str, np.ndarray]:
    """The gradient of <c, f> at ``point`` from the expanded forward expression alone."""
    out_name = graph.output_names[0]

    def objective(values: dict[str, np.ndarray], n: int | None) -> sp.Expr:
        f = expand(graph, values=values, max_scalars=max_scalars, digits=n)[out_name]
        return to_elementary(f[()] if f.shape == () else _total(cot * f))

    ref_grad = {name: np.empty(point[name].shape, dtype=object) for name in wrt}
    if method == "mpmath":
        # one symbolic expansion in every parameter, compiled once; mpmath differentiates it
        syms = leaf_symbols(graph)
        flat = [(name, idx) for name in wrt for idx in np.ndindex(point[name].shape)]
        fn = sp.lambdify(
            [syms[name][idx] for name, idx in flat],
            objective({k: v for k, v in point.items() if k not in wrt}, None),
            modules="mpmath",
            cse=True,
        )
        with mpmath.workdps(digits + 20):
            x0 = [mpmath.mpf(str(sp.Float(point[name][idx], digits + 20))) for name, idx in flat]
            for k, (name, idx) in enumerate(flat):
                partial = mpmath.diff(lambda t, k=k: fn(*x0[:k], t, *x0[k + 1 :]), x0[k])
                ref_grad[name][idx] = sp.Float(partial, digits + 20)
        return ref_grad
    s = sp.Symbol("s", real=True)
    for name in wrt:
        for idx in np.ndindex(point[name].shape):
            # sympy.diff of the univariate restriction: one scalar symbolic, the rest at the point
            arr = point[name].copy()
            arr[idx] = s
            ref_grad[name][idx] = sp.diff(objective({**point, name: arr}, prec), s).xreplace({s: point[name][idx]})
    return ref_grad


def _compare(report: ExactReport, path: str, name: str, ref: np.ndarray, got: np.ndarray, digits: int) -> None:
    if ref.shape != got.shape:
        report.mismatches.append(Mismatch(path, name, f"shape {ref.shape}", f"shape {got.shape}"))
        return
    for idx in np.ndindex(ref.shape):
        ok, exactly = same(ref[idx], got[idx], digits)
        report.compared += 1
        if exactly:
            report.exact += 1
        else:
            report.numeric += 1
        if not ok:
            where = f"{name}[{','.join(map(str, idx))}]" if idx else name
            e, g = ref[idx], got[idx]
            report.mismatches.append(Mismatch(path, where, str(e), str(g), _as_float(e), _as_float(g)))


def _as_float(x: Any) -> float:
    """``x`` as a float, NaN if it has no numeric value (a leftover symbol)."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


__all__ = ["ExactReport", "Mismatch", "check_exact", "exact_constants", "random_point", "same", "to_elementary"]
