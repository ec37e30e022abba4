"""The oracles: references for directional derivatives that share no code with what they check.

``Evaluator`` runs the *forward* graph only, in one of three arithmetics, with its own NumPy
rule per op written from the op's documented meaning, registered as the op's ``"oracle"`` part
in ``symnn.registry`` (it never imports ``symnn.diff``, the executor or the code generator;
only the registration is shared):

* ``"float"`` -- float64, for central finite differences;
* ``"complex"`` -- complex128, for the complex-step derivative. relu, step, sign, abs and
  maximum are continued piecewise, choosing their branch by the real part, so the evaluation
  is analytic in a neighbourhood of every point that is not on a kink;
* ``"mpmath"`` -- object arrays of ``mpmath.mpf`` at ``dps`` digits, for a high-precision
  central difference.

Each evaluation also returns the *kink arguments* (the argument of every relu, step, sign and
abs, and ``a - b`` for every maximum, as signs), so an oracle can tell that its step
straddles a kink and report ``"kink"`` instead of a number.

The oracles compute d/dt phi(x + t v) at t = 0 for ``phi = <c, f>`` (``c`` a cotangent of the
checked output, or 1 for a scalar output):

>>> import numpy as np
>>> from symnn.ir import Builder
>>> b = Builder()
>>> w = b.param("w", (2,))
>>> g = b.build((w * w).map(__import__("sympy").exp).sum())
>>> x, v = {"w": np.array([0.5, -0.25])}, {"w": np.array([1.0, 2.0])}
>>> truth = 2 * 0.5 * np.exp(0.25) + 2 * 2 * -0.25 * np.exp(0.0625)
>>> oracles = (finite_differences, complex_step, mp_reference)
>>> [bool(abs(o(g, x, "out", None, [v])[0].value - truth) < 1e-9) for o in oracles]
[True, True, True]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from symnn.functions import FUNCTIONS, maximum, named_heads
from symnn.ir import Graph
from symnn.ops import (
    BroadcastTo,
    Concat,
    Const,
    Einsum,
    Elementwise,
    Fold,
    Input,
    LogSumExp,
    Pad,
    Reshape,
    Slice,
    Window,
)
from symnn.registry import lookup, rule

Array = np.ndarray
KINKS = tuple(f.head for f in FUNCTIONS.values() if f.kink)  # relu, step, sgn, Abs, maximum


# -- scalar functions per arithmetic ------------------------------------------------------------------
def _f_sigmoid(x: Array) -> Array:
    return np.exp(-np.logaddexp(0.0, -x))


def _c_sigmoid(z: Array) -> Array:
    # 1/(1+e^-z) and e^z/(1+e^z) are the same analytic function; pick the one that cannot overflow
    with np.errstate(all="ignore"):
        return np.where(np.real(z) >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))


def _c_softplus(z: Array) -> Array:
    with np.errstate(all="ignore"):
        return np.where(np.real(z) > 0, z + np.log1p(np.exp(-z)), np.log1p(np.exp(z)))


def _c_erf(z: Array) -> Array:
    return np.asarray(np.frompyfunc(lambda u: complex(mpmath.erf(complex(u))), 1, 1)(z), dtype=np.complex128)


def _mp_relu(x: Any) -> Any:
    return x if x > 0 else 0 * x


def _mp_maximum(a: Any, b: Any) -> Any:
    return a if a >= b else b


def _mp_sgn(x: Any) -> Any:
    return (x > 0) - (x < 0)


#: Each kind's own implementation of every supported function, keyed by canonical name.
_FUNCS: dict[str, dict[str, Callable[..., Any]]] = {
    "float": {
        "exp": np.exp,
        "log": np.log,
        "tanh": np.tanh,
        "sinh": np.sinh,
        "cosh": np.cosh,
        "sin": np.sin,
        "cos": np.cos,
        "tan": np.tan,
        "atan": np.arctan,
        "erf": np.vectorize(math.erf, otypes=[np.float64]),
        "abs": np.abs,
        "sigmoid": _f_sigmoid,
        "softplus": lambda x: np.logaddexp(0.0, x),
        "relu": lambda x: np.where(x > 0, x, 0.0),
        "step": lambda x: np.where(x > 0, 1.0, 0.0),
        "sgn": np.sign,
        "maximum": lambda a, b: np.where(a >= b, a, b),
    },
    "complex": {
        "exp": np.exp,
        "log": np.log,
        "tanh": np.tanh,
        "sinh": np.sinh,
        "cosh": np.cosh,
        "sin": np.sin,
        "cos": np.cos,
        "tan": np.tan,
        "atan": np.arctan,
        "erf": _c_erf,
        "abs": lambda z: np.where(np.real(z) > 0, z, np.where(np.real(z) < 0, -z, 0.0)),
        "sigmoid": _c_sigmoid,
        "softplus": _c_softplus,
        "relu": lambda z: np.where(np.real(z) > 0, z, 0.0),
        "step": lambda z: np.where(np.real(z) > 0, 1.0, 0.0),
        "sgn": lambda z: np.sign(np.real(z)),
        "maximum": lambda a, b: np.where(np.real(a) >= np.real(b), a, b),
    },
    "mpmath": {
        "exp": mpmath.exp,
        "log": mpmath.log,
        "tanh": mpmath.tanh,
        "sinh": mpmath.sinh,
        "cosh": mpmath.cosh,
        "sin": mpmath.sin,
        "cos": mpmath.cos,
        "tan": mpmath.tan,
        "atan": mpmath.atan,
        "erf": mpmath.erf,
        "abs": mpmath.fabs,
        "sigmoid": lambda x: 1 / (1 + mpmath.exp(-x)),
        "softplus": lambda x: mpmath.log1p(mpmath.exp(x)),
        "relu": _mp_relu,
        "step": lambda x: mpmath.mpf(1) if x > 0 else mpmath.mpf(0),
        "sgn": _mp_sgn,
        "maximum": _mp_maximum,
    },
}


def _kink_arguments(expr: sp.Expr) -> list[sp.Expr]:
    """The argument of each kink function in ``expr`` (``a - b`` for ``maximum(a, b)``)."""
    out = []
    for f in sorted(expr.atoms(*KINKS), key=sp.default_sort_key):
        out.append(f.args[0] - f.args[1] if isinstance(f, maximum) else f.args[0])
    return out


@lru_cache(maxsize=2048)
def _compiled(fn: sp.Lambda, kind: str) -> tuple[Callable[..., Any], list[Callable[..., Any]]]:
    """The body and the kink arguments of ``fn`` as functions of ``kind``'s arithmetic."""
    # every function call goes to this module's table: named_heads prints relu(x) as _relu(x)
    module = "mpmath" if kind == "mpmath" else "numpy"
    mods = [{f"_{name}": f for name, f in _FUNCS[kind].items()}, module]
    variables = list(fn.variables)
    body = sp.lambdify(variables, named_heads(fn.expr), modules=mods)
    kinks = [sp.lambdify(variables, named_heads(k), modules=mods) for k in _kink_arguments(fn.expr)]
    if kind == "mpmath":
        n = len(variables)
        body = np.frompyfunc(body, n, 1) if n else body
        kinks = [np.frompyfunc(k, n, 1) for k in kinks]
    return body, kinks


# -- the evaluator ------------------------------------------------------------------------------------
_DTYPES = {"float": np.float64, "complex": np.complex128, "mpmath": object}


def _mp(v: Any) -> Any:
    if isinstance(v, sp.Rational):
        return mpmath.mpf(int(v.p)) / int(v.q)
    if isinstance(v, sp.Basic):
        return mpmath.mpf(sp.Float(v, mpmath.mp.dps + 5))
    return mpmath.mpf(v)


def _sign(x: Array, kind: str) -> Array:
    if kind == "mpmath":
        return np.asarray(np.frompyfunc(_mp_sgn, 1, 1)(x), dtype=np.int8)
    return np.sign(np.real(x)).astype(np.int8)


@dataclass(frozen=True)
class Evaluation:
    """The outputs of one forward evaluation, and the sign of every kink argument."""

    outputs: dict[str, Array]
    kinks: tuple[Array, ...]


class Evaluator:
    """The forward graph in ``"float"``, ``"complex"`` or ``"mpmath"`` arithmetic (``dps`` digits)."""

    def __init__(self, graph: Graph, kind: str = "float", dps: int = 50) -> None:
        if kind not in _DTYPES:
            raise ValueError(f"kind must be one of {list(_DTYPES)}, got {kind!r}")
        self.graph, self.kind, self.dps = graph, kind, dps

    def convert(self, value: Any) -> Array:
        """An array of this arithmetic (mpmath: exact conversion of each float)."""
        if self.kind == "mpmath":
            arr = np.asarray(value)
            return np.asarray(np.frompyfunc(_mp, 1, 1)(arr), dtype=object).reshape(arr.shape)
        return np.array(value, dtype=_DTYPES[self.kind])

    def __call__(self, values: Mapping[str, Array]) -> Evaluation:
        """Evaluate at ``values`` (already converted with ``convert``)."""
        if self.kind == "mpmath":
            with mpmath.workdps(self.dps):
                return self._run(values)
        with np.errstate(all="ignore"):
            return self._run(values)

    def _run(self, values: Mapping[str, Array]) -> Evaluation:
        vals: list[Array] = []
        kinks: list[Array] = []
        for node in self.graph.nodes:
            args = [vals[a] for a in node.args]
            op = node.op
            if isinstance(op, Input):
                out = values[op.name]
            elif isinstance(op, Const):
                out = self._const(op, node.shape)
            else:
                found: list[Array] = []
                out = lookup(type(op), "oracle")(op, args, node.shape, self.kind, found)
                kinks.extend(_sign(k, self.kind) for k in found)
            vals.append(out)
        outputs = {nm: vals[o] for nm, o in zip(self.graph.output_names, self.graph.outputs, strict=True)}
        return Evaluation(outputs, tuple(kinks))

    def _const(self, op: Const, shape: tuple[int, ...]) -> Array:
        if self.kind == "mpmath":
            vals = [_mp(v) for v in op.values]
        else:
            vals = [float(v) for v in op.values]
        if len(vals) == 1:
            filled: Array = np.empty(shape, dtype=_DTYPES[self.kind])
            filled[...] = vals[0]
            return filled
        return np.array(vals, dtype=_DTYPES[self.kind]).reshape(shape)


# -- one rule per op (any dtype, object arrays included) -----------------------------------------------
# rule(op, args, shape, kind, kinks) -> value; an op with kinks appends each kink argument (an array of
# the value's shape) to ``kinks``, which the Evaluator turns into signs and kink_distance into distances
@rule(Elementwise, "oracle")
def _elementwise(op: Elementwise, args: list[Array], shape: tuple[int, ...], kind: str, kinks: list[Array]) -> Array:
    # y[idx] = fn(a_1[idx], ..., a_n[idx]) after broadcasting; kinks: relu/step/sign/abs arguments, a - b for maximum
    body, kink_fns = _compiled(op.fn, kind)
    dtype = _DTYPES[kind]
    out: Array = np.empty(shape, dtype=dtype)
    out[...] = body(*args)
    for k in kink_fns:
        arg: Array = np.empty(shape, dtype=dtype)
        arg[...] = k(*args)
        kinks.append(arg)
    return out


@rule(Window, "oracle")
def _window(op: Window, args: list[Array], shape: tuple[int, ...], kind: str, kinks: list[Array]) -> Array:
    # y[n, c, *k, *o] = x_padded[n, c, *(o * stride + k)]
    (x,) = args
    d = len(op.kernel)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in op.padding], constant_values=0)
    outs = shape[2 + d :]
    out = np.empty(shape, dtype=x.dtype)
    for k in np.ndindex(*op.kernel):
        idx = tuple(slice(kk, kk + st * (o - 1) + 1, st) for kk, st, o in zip(k, op.stride, outs, strict=True))
        out[(slice(None), slice(None), *k)] = xp[(slice(None), slice(None), *idx)]
    return out


@rule(Fold, "oracle")
def _fold(op: Fold, args: list[Array], shape: tuple[int, ...], kind: str, kinks: list[Array]) -> Array:
    # x[n, c, *s] = sum of w[n, c, *k, *o] over o * stride + k - padding = s
    (w,) = args
    d = len(op.kernel)
    outs = w.shape[2 + d :]
    buf = np.zeros((*shape[:2], *(s + 2 * p for s, p in zip(op.spatial, op.padding, strict=True))), dtype=w.dtype)
    for k in np.ndindex(*op.kernel):
        idx = tuple(slice(kk, kk + st * (o - 1) + 1, st) for kk, st, o in zip(k, op.stride, outs, strict=True))
        buf[(slice(None), slice(None), *idx)] += w[(slice(None), slice(None), *k)]
    crop = tuple(slice(p, p + s) for s, p in zip(op.spatial, op.padding, strict=True))
    return buf[(slice(None), slice(None), *crop)].copy()


@rule(Einsum, "oracle")
def _einsum(op: Einsum, args: list[Array], shape: tuple[int, ...], kind: str, kinks: list[Array]) -> Array:
    # np.einsum's meaning, in the arithmetic of the arguments
    out = np.einsum(op.spec, *args)
    return np.asarray(out, dtype=args[0].dtype).reshape(shape)


@rule(Reshape, "oracle")
def _reshape(op: Reshape, args: list[Array], shape: tuple[int, ...], kind: str, kinks: list[Array]) -> Array:
    return args[0].reshape(op.shape)  # C order


@rule(Slice, "oracle")
def _slice(op: Slice, args: list[Array], shape: tuple[int, ...], kind: str, kinks: list[Array]) -> Array:
    return args[0][tuple(slice(i, j) for i, j in zip(op.start, op.stop, strict=True))].copy()


@rule(Pad, "oracle")
def _pad(op: Pad, args: list[Array], shape: tuple[int, ...], kind: str, kinks: list[Array]) -> Array:
    return np.pad(args[0], list(zip(op.before, op.after, strict=True)), constant_values=0)


@rule(Concat, "oracle")
def _concat(op: Concat, args: list[Array], shape: tuple[int, ...], kind: str, kinks: list[Array]) -> Array:
    return np.concatenate(args, axis=op.axis)


@rule(BroadcastTo, "oracle")
def _broadcast_to(op: BroadcastTo, args: list[Array], shape: tuple[int, ...], kind: str, kinks: list[Array]) -> Array:
    return np.broadcast_to(args[0], op.shape).copy()


@rule(LogSumExp, "oracle")
def _logsumexp(op: LogSumExp, args: list[Array], shape: tuple[int, ...], kind: str, kinks: list[Array]) -> Array:
    # log sum exp(x) = m + log sum exp(x - m) for any constant m (here the largest real part)
    (x,) = args
    if kind == "mpmath":
        rows = np.moveaxis(x, op.axis, -1)
        out = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            out[idx] = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in rows[idx]))
        return out
    m = np.max(np.real(x), axis=op.axis, keepdims=True)
    return (np.squeeze(m, op.axis) + np.log(np.sum(np.exp(x - m), axis=op.axis))).reshape(shape)


# -- the oracles ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """One oracle value: ``status`` is ``"ok"`` (``value`` set), ``"kink"`` or ``"skip"`` (``note`` says why)."""

    value: float | None
    status: str = "ok"
    note: str = ""


Direction = Mapping[str, Array]


def _objective(ev: Evaluation, output: str, cot: Array | None, kind: str) -> Any:
    y = ev.outputs[output]
    if cot is None:
        return y[()]
    if kind == "mpmath":
        return mpmath.fsum((c * v for c, v in zip(cot.ravel(), y.ravel(), strict=True)))
    return np.sum(cot * y)


def _shifted(ev: Evaluator, point: Mapping[str, Array], v: Direction, t: Any) -> dict[str, Array]:
    return {k: (x + t * v[k] if k in v else x) for k, x in point.items()}


def _crossed(base: tuple[Array, ...], others: Sequence[tuple[Array, ...]]) -> bool:
    """A kink argument is 0 at the base point or changes sign at one of the other points."""
    for i, b in enumerate(base):
        if not b.all():
            return True
        if any(not np.array_equal(b, o[i]) for o in others):
            return True
    return False


def _at_kink(base: tuple[Array, ...]) -> bool:
    return any(not b.all() for b in base)


def finite_differences(
    graph: Graph,
    point: Mapping[str, Array],
    output: str,
    cotangent: Array | None,
    directions: Sequence[Direction],
    h: float = 2.0**-10,
    h_min: float = 1e-6,
) -> list[Estimate]:
    """Central differences with one Richardson step, in float64.

    D(h) = (phi(x + h v) - phi(x - h v)) / 2h and R = (4 D(h/2) - D(h)) / 3 (error O(h^4)).
    When a kink argument changes sign among the five points, h shrinks 16-fold down to
    ``h_min``; a kink still straddled, or a kink argument exactly 0 at x, gives ``"kink"``.
    """
    ev = Evaluator(graph, "float")
    x = {k: ev.convert(v) for k, v in point.items()}
    cot = None if cotangent is None else ev.convert(cotangent)
    base = ev(x).kinks
    out = []
    for v in directions:
        if _at_kink(base):
            out.append(Estimate(None, "kink", "a kink argument is exactly 0 at the point"))
            continue
        step, est = h, None
        while step >= h_min:
            evs = [ev(_shifted(ev, x, v, s * step)) for s in (1.0, -1.0, 0.5, -0.5)]
            if not _crossed(base, [e.kinks for e in evs]):
                p1, m1, p2, m2 = (float(_objective(e, output, cot, "float")) for e in evs)
                d1, d2 = (p1 - m1) / (2 * step), (p2 - m2) / step
                est = Estimate((4 * d2 - d1) / 3)
                break
            step /= 16
        out.append(est or Estimate(None, "kink", f"every step down to {h_min:g} straddles a kink"))
    return out


def complex_step(
    graph: Graph,
    point: Mapping[str, Array],
    output: str,
    cotangent: Array | None,
    directions: Sequence[Direction],
    h: float = 1e-20,
) -> list[Estimate]:
    """Im phi(x + i h v) / h: no subtraction, so exact to rounding (kinks: continued by the real part)."""
    ev = Evaluator(graph, "complex")
    x = {k: ev.convert(v) for k, v in point.items()}
    cot = None if cotangent is None else ev.convert(cotangent)
    base = ev(x).kinks
    out = []
    for v in directions:
        if _at_kink(base):
            out.append(Estimate(None, "kink", "a kink argument is exactly 0 at the point"))
            continue
        value = complex(_objective(ev(_shifted(ev, x, v, 1j * h)), output, cot, "complex"))
        if not (math.isfinite(value.real) and math.isfinite(value.imag)):
            out.append(Estimate(None, "skip", "the function is not finite in complex arithmetic here"))
        else:
            out.append(Estimate(value.imag / h))
    return out


def mp_reference(
    graph: Graph,
    point: Mapping[str, Array],
    output: str,
    cotangent: Array | None,
    directions: Sequence[Direction],
    dps: int = 50,
    h: str = "1e-20",
) -> list[Estimate]:
    """(phi(x + h v) - phi(x - h v)) / 2h at ``dps`` digits: error O(h^2) + O(10^-dps / h), about 1e-30."""
    ev = Evaluator(graph, "mpmath", dps)
    with mpmath.workdps(dps):
        x = {k: ev.convert(v) for k, v in point.items()}
        cot = None if cotangent is None else ev.convert(cotangent)
        hh = mpmath.mpf(h)
        base = ev(x).kinks
        out = []
        for v in directions:
            vv = {k: ev.convert(a) for k, a in v.items()}
            plus, minus = ev(_shifted(ev, x, vv, hh)), ev(_shifted(ev, x, vv, -hh))
            if _crossed(base, [plus.kinks, minus.kinks]):
                out.append(Estimate(None, "kink", f"the step {h} straddles a kink (or a kink argument is 0)"))
                continue
            d = (_objective(plus, output, cot, "mpmath") - _objective(minus, output, cot, "mpmath")) / (2 * hh)
            out.append(Estimate(float(d)))
    return out


def kink_distance(graph: Graph, point: Mapping[str, Array]) -> float:
    """The smallest |kink argument| over the graph at ``point`` (inf without kinks), in float64."""
    best = math.inf
    with np.errstate(all="ignore"):
        vals: list[Array] = []
        for node in graph.nodes:
            op = node.op
            args = [vals[a] for a in node.args]
            if isinstance(op, Input):
                out = np.asarray(point[op.name], dtype=np.float64)
            elif isinstance(op, Const):
                out = Evaluator(graph)._const(op, node.shape)
            else:
                found: list[Array] = []
                out = lookup(type(op), "oracle")(op, args, node.shape, "float", found)
                for arg in found:
                    if arg.size:
                        best = min(best, float(np.nanmin(np.abs(arg))))
            vals.append(out)
    return best


#: Oracle name -> function(graph, point, output, cotangent, directions) -> [Estimate per direction].
ORACLE_FUNCTIONS: dict[str, Callable[..., list[Estimate]]] = {
    "fd": finite_differences,
    "complex-step": complex_step,
    "mpmath": mp_reference,
}

__all__ = [
    "KINKS",
    "ORACLE_FUNCTIONS",
    "Estimate",
    "Evaluation",
    "Evaluator",
    "complex_step",
    "finite_differences",
    "kink_distance",
    "mp_reference",
]
