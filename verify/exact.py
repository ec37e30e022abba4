"""The exact reference: ``sympy.diff`` of the expanded forward expressions, against the
expanded symbolic derivative graphs, at rational points.

The reference never sees symnn's derivative rules: before differentiating, every symnn
function is rewritten to elementary sympy (``sigmoid -> 1/(1+exp(-x))``, ``relu``, ``step``,
``sgn`` and ``maximum`` to ``Piecewise`` with the same tie conventions), so sympy derives the
derivative from scratch. Values are compared exactly when both sides are rational, and to
``digits`` significant digits otherwise (exponentials of rationals are transcendental).

>>> from symnn.ir import Builder
>>> b = Builder()
>>> w = b.param("w", (2,))
>>> report = check_exact(b.build((w * w).map(__import__("sympy").tanh).sum()), seed=0)
>>> report.ok, report.compared > 0
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from symnn.diff import grad, jvp, vjp
from symnn.errors import SymnnError
from symnn.expand import expand, leaf_symbols
from symnn.functions import maximum, relu, sgn, sigmoid, softplus, step
from symnn.ir import Graph


def to_elementary(expr: sp.Expr) -> sp.Expr:
    """Rewrite symnn's functions into plain sympy (exp, log, Piecewise) with the same values."""
    expr = expr.replace(sigmoid, lambda x: 1 / (1 + sp.exp(-x)))
    expr = expr.replace(softplus, lambda x: sp.log(1 + sp.exp(x)))
    expr = expr.replace(relu, lambda x: sp.Piecewise((x, x > 0), (0, True)))
    expr = expr.replace(step, lambda x: sp.Piecewise((1, x > 0), (0, True)))
    expr = expr.replace(sgn, lambda x: sp.Piecewise((1, x > 0), (-1, x < 0), (0, True)))
    return expr.replace(maximum, lambda a, b: sp.Piecewise((a, a >= b), (b, True)))


@dataclass(frozen=True)
class Mismatch:
    """One disagreement: which path, which scalar, both values."""

    path: str
    where: str
    expected: str
    got: str


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
    if sp.expand(a - b) == 0:
        return True, True
    va, vb = sp.N(a, digits + 10), sp.N(b, digits + 10)
    if not (va.is_Number and vb.is_Number):
        return False, False
    scale = max(1, abs(va), abs(vb))
    return abs(va - vb) <= scale * sp.Float(10) ** (-digits), False


def check_exact(
    graph: Graph,
    seed: int = 0,
    digits: int = 40,
    max_scalars: int = 20_000,
    low: float = -1.0,
    high: float = 1.0,
) -> ExactReport:
    """Reverse mode (grad or vjp) and forward mode (jvp) against sympy.diff, at a rational point.

    Parameters are the differentiated leaves (all leaves if the graph has none); the other
    leaves get rational values. For a non-scalar output the reference differentiates
    <c, f> for a random rational cotangent c.
    """
    wrt = list(graph.params) or list(graph.inputs)
    if not wrt:
        raise SymnnError("the graph has no leaves to differentiate")
    point = random_point(graph, seed, low, high)
    syms = leaf_symbols(graph)
    data = {k: v for k, v in point.items() if k not in wrt}
    fwd = expand(graph, values=data, max_scalars=max_scalars)
    out_name = graph.output_names[0]
    f = fwd[out_name]
    scalar = f.shape == ()
    rng = np.random.default_rng(seed + 1)
    report = ExactReport()

    if scalar:
        objective = f[()]
        rev = expand(grad(graph, wrt, out_name), values=point, max_scalars=max_scalars)
    else:
        cot = np.vectorize(lambda k: sp.Rational(int(k), 5), otypes=[object])(rng.integers(-5, 6, size=f.shape))
        objective = sp.Add(*(cot * f).ravel())
        extra = {
            f"cotangent:{nm}": np.zeros(graph.shape(o), dtype=int)
            for nm, o in zip(graph.output_names, graph.outputs, strict=True)
        }
        extra[f"cotangent:{out_name}"] = cot
        rev = expand(vjp(graph, wrt), values={**point, **extra}, max_scalars=max_scalars)
    objective = to_elementary(objective)
    subs = {s: v for name in wrt for s, v in zip(syms[name].ravel(), point[name].ravel(), strict=True)}

    ref_grad: dict[str, np.ndarray] = {}
    for name in wrt:
        ref = np.empty(syms[name].shape, dtype=object)
        for idx in np.ndindex(ref.shape):
            ref[idx] = sp.diff(objective, syms[name][idx]).xreplace(subs)
        ref_grad[name] = ref
        _compare(report, "reverse", name, ref, rev[f"grad:{name}"], digits)

    # forward mode: <grad, t> must equal the JVP's tangent output contracted with c
    tangents = {
        f"tangent:{name}": np.vectorize(lambda k: sp.Rational(int(k), 3), otypes=[object])(
            rng.integers(-3, 4, size=point[name].shape)
        )
        for name in wrt
    }
    fw = expand(jvp(graph, wrt), values={**point, **tangents}, max_scalars=max_scalars)
    t_out = fw[f"tangent:{out_name}"]
    got = t_out[()] if scalar else sp.Add(*(cot * t_out).ravel())
    expected = sp.Add(*(sp.Add(*(ref_grad[n] * tangents[f"tangent:{n}"]).ravel()) for n in wrt))
    _compare(report, "forward", "<J t, c>", np.array(expected, dtype=object), np.array(got, dtype=object), digits)
    return report


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
            report.mismatches.append(Mismatch(path, where, str(ref[idx]), str(got[idx])))


__all__ = ["ExactReport", "Mismatch", "check_exact", "random_point", "same", "to_elementary"]
