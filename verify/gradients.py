"""``gradcheck``: every derivative path of a Graph against every oracle, at one point.

(The module is ``verify.gradients``; ``verify.gradcheck`` is the function.)

The *paths* under test compute the derivative of phi = <c, f(x)> (``c`` a random cotangent of
the checked output, or 1 for a scalar output), each in forward mode (``<c, J v>``) and in
reverse mode (``J^T c``):

* ``symbolic`` -- the graphs of ``symnn.diff.jvp``/``grad``/``vjp``, evaluated by the
  executor's *forward* sweep (which knows nothing of the symbolic rules);
* ``kernel`` -- the same derivative graphs through the generated Numba kernel
  (``symnn.codegen.compile``);
* ``executor`` -- the numeric executor's own forward and reverse mode (its hand-written rules).

The *oracles* (``verify.oracles``) estimate directional derivatives d/dt phi(x + t v) in a
fixed number of random directions v, whatever the number of parameters: central finite
differences (``fd``), the complex step (``complex-step``), central differences at 50 digits
(``mpmath``); ``adjoint`` is the dot-product identity between the forward and reverse mode of
the same implementation, ``executor`` the numeric executor as the reference of the symbolic
and kernel paths (it still compares on a kink, where the conventions must agree), and
``exact`` is ``verify.exact.check_exact`` (``sympy.diff`` of the expanded graph, at small
sizes) for the symbolic paths. Tolerances: ``verify.tolerance``; every option of a check:
``verify.options.CheckOptions``.
When a comparison fails, the check walks the coordinates one by one (``locate``) and reports
the parameter name and index where the path and the oracle disagree.

>>> from symnn.ir import Builder
>>> b = Builder()
>>> w = b.param("w", (3,))
>>> report = gradcheck(b.build((w * w).map(__import__("sympy").tanh).sum()), paths=("symbolic", "executor"))
>>> report.ok, sorted({r.verdict for r in report.rows})
(True, ['pass'])
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symnn import codegen
from symnn.diff import derivative_names, grad, jvp, vjp
from symnn.errors import GraphError, ShapeError
from symnn.executor import Executor
from symnn.expand import scalar_count
from symnn.ir import Builder, Graph, load

from .exact import check_exact
from .options import DEFAULT_ORACLES, IMPLEMENTATIONS, MODES, CheckOptions, GradcheckError, check_finite, make_options
from .oracles import ORACLE_FUNCTIONS, Estimate, Evaluator
from .report import Comparison, Report, Row, VerificationError
from .tolerance import Tolerance, dtype_name


class NoParametersError(GradcheckError):
    """The graph has nothing to differentiate."""


class NonFiniteError(GradcheckError):
    """The point, or the function's value there, is not finite."""


#: The name of ``VerificationError`` before there was one exception for "disagrees with its oracles".
GradcheckFailure = VerificationError


# -- the problem --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """What is differentiated, and where: every leaf's value (float64, already rounded to ``dtype``)."""

    graph: Graph
    point: dict[str, np.ndarray]
    wrt: tuple[str, ...]
    output: str
    cotangent: np.ndarray | None
    dtype: str

    def values(self) -> dict[str, np.ndarray]:
        return {k: v.astype(self.dtype) for k, v in self.point.items()}

    def contract(self, y: np.ndarray) -> float:
        """<c, y> for an array shaped like the output."""
        y = np.asarray(y, dtype=np.float64)
        return float(y[()] if self.cotangent is None else np.sum(self.cotangent * y))


def _leaves(graph: Graph) -> dict[str, tuple[int, ...]]:
    return {n.op.name: n.shape for n in graph.leaves()}  # type: ignore[attr-defined]


def _check_point(graph: Graph, point: Any) -> dict[str, np.ndarray]:
    if point is None:
        return {}
    if not isinstance(point, Mapping):
        raise GradcheckError(f"point must be a dict from leaf names to arrays, got {type(point).__name__}")
    leaves = _leaves(graph)
    unknown = [k for k in point if k not in leaves]
    if unknown:
        raise GradcheckError(f"point gives values for unknown leaves {unknown}; the graph's leaves are {list(leaves)}")
    out = {}
    for name, value in point.items():
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as e:
            raise GradcheckError(f"the value of {name!r} is not an array of numbers ({e})") from None
        if arr.dtype.kind not in "biuf":
            raise GradcheckError(f"the value of {name!r} has dtype {arr.dtype}; pass real numbers")
        if arr.shape != leaves[name]:
            raise ShapeError(f"the value of {name!r} has shape {arr.shape}, but the graph declares {leaves[name]}")
        arr = arr.astype(np.float64)
        if not np.isfinite(arr).all():
            raise NonFiniteError(
                f"the value of {name!r} is not finite{_first_bad(arr)}; gradients are checked at finite points only"
            )
        out[name] = arr
    return out


def _first_bad(arr: np.ndarray) -> str:
    """`` at index (i, j) (nan)`` for the first non-finite entry (`` (nan)`` for a scalar)."""
    if arr.ndim == 0:
        return f" ({arr[()]})"
    idx = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
    return f" at index {idx} ({arr[idx]})"


def make_problem(
    graph: Graph,
    point: Mapping[str, Any] | None = None,
    wrt: Sequence[str] | None = None,
    output: str | None = None,
    rng: np.random.Generator | None = None,
    low: float = -1.0,
    high: float = 1.0,
    dtype: Any = "float64",
) -> Problem:
    """Validate the arguments of a check and draw what is not given (leaves uniform in [low, high])."""
    if not isinstance(graph, Graph):
        raise GradcheckError(f"gradcheck needs a symnn Graph, got {type(graph).__name__}")
    rng = rng if rng is not None else np.random.default_rng(0)
    dt = dtype_name(dtype)
    low, high = check_finite(low, "low"), check_finite(high, "high")
    if not low < high:
        raise GradcheckError(f"need low < high for the generated point, got low={low}, high={high}")
    leaves = _leaves(graph)
    if wrt is None:
        wrt = list(graph.params)
        if not wrt:
            raise NoParametersError(
                f"the graph has no parameters to differentiate (its leaves are the inputs {list(graph.inputs)}); "
                "declare some with builder.param(...), or pass wrt=[names of inputs]"
            )
    else:
        wrt = [wrt] if isinstance(wrt, str) else list(wrt)
        unknown = [w for w in wrt if w not in leaves]
        if not wrt or unknown or len(set(wrt)) != len(wrt):
            raise GradcheckError(f"wrt must name distinct leaves of the graph {list(leaves)}, got {wrt}")
    if output is None:
        output = graph.output_names[0]
    elif output not in graph.output_names:
        raise GraphError(f"the graph has no output {output!r}; its outputs are {list(graph.output_names)}")
    given = _check_point(graph, point)
    values = {}
    for name, shape in leaves.items():
        v = given[name] if name in given else rng.uniform(low, high, size=shape)
        values[name] = np.asarray(v, dtype=np.float64).astype(dt).astype(np.float64)
    shape = graph.shape(graph.outputs[graph.output_names.index(output)])
    cot = None if shape == () else rng.standard_normal(shape).astype(dt).astype(np.float64)
    y = Evaluator(graph, "float")(values).outputs[output]
    if not np.isfinite(y).all():
        count = int(np.sum(~np.isfinite(y)))
        raise NonFiniteError(
            f"the output {output!r} is not finite{_first_bad(y)} at this point ({count} of {y.size} entries); "
            "check gradients inside the function's domain: pass point=..., or low/high"
        )
    return Problem(graph, values, tuple(wrt), output, cot, dt)


def random_directions(problem: Problem, count: int, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """``count`` Gaussian directions over the differentiated leaves, scaled to max |v_i| = 1."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise GradcheckError(f"directions must be a positive int, got {count!r}")
    out = []
    for _ in range(int(count)):
        v = {k: rng.standard_normal(problem.point[k].shape) for k in problem.wrt}
        top = max(float(np.abs(a).max()) for a in v.values())
        out.append({k: (a / top).astype(problem.dtype).astype(np.float64) for k, a in v.items()})
    return out


# -- the paths -----------------------------------------------------------------------------------------
class Implementation:
    """One implementation's forward-mode values and reverse-mode gradient at a problem, cached."""

    def __init__(self, name: str, problem: Problem) -> None:
        self.name, self.p = name, problem
        self._grad: dict[str, np.ndarray] | None = None

    # how each implementation runs a graph: symbolic (executor forward) and kernel
    def _runner(self, graph: Graph) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
        if self.name == "kernel":
            kernel = codegen.compile(graph, dtype=np.dtype(self.p.dtype))
            return lambda values: kernel(values)
        return Executor(graph, dtype=self.p.dtype).forward

    def _feed(self, graph: Graph, extra: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = {**self.p.values(), **{k: np.asarray(v, dtype=self.p.dtype) for k, v in extra.items()}}
        return {k: values[k] for k in _leaves(graph)}

    def gradient(self) -> dict[str, np.ndarray]:
        """J^T c for every differentiated leaf."""
        if self._grad is None:
            self._grad = self._gradient()
        return self._grad

    def _gradient(self) -> dict[str, np.ndarray]:
        p, wrt = self.p, list(self.p.wrt)
        if self.name == "executor":
            ex = Executor(p.graph, dtype=p.dtype)
            if p.cotangent is None:
                return ex.grad(p.values(), p.output, wrt)[1]
            cts = ex.vjp(p.values(), {p.output: p.cotangent.astype(p.dtype)})[1]
            return {k: cts[k] for k in wrt}
        # derivative graphs of derivative graphs name their leaves grad2:, cotangent2:, ... (derivative_names)
        if p.cotangent is None:
            g = grad(p.graph, wrt, p.output)
            extra: dict[str, np.ndarray] = {}
        else:
            g = vjp(p.graph, wrt)
            names = derivative_names(p.graph, "cotangent", p.graph.output_names)
            extra = {nm: np.zeros(p.graph.shape(o)) for nm, o in zip(names, p.graph.outputs, strict=True)}
            extra[names[p.graph.output_names.index(p.output)]] = p.cotangent
        outs = self._runner(g)(self._feed(g, extra))
        grads = derivative_names(p.graph, "grad", wrt)
        return {k: np.asarray(outs[nm], dtype=np.float64) for k, nm in zip(wrt, grads, strict=True)}

    def directional(self, directions: Sequence[Mapping[str, np.ndarray]]) -> list[float]:
        """<c, J v> for each direction v (forward mode)."""
        p = self.p
        full = [{k: np.asarray(v.get(k, np.zeros_like(p.point[k])), dtype=p.dtype) for k in p.wrt} for v in directions]
        if self.name == "executor":
            ex = Executor(p.graph, dtype=p.dtype)
            return [p.contract(ex.jvp(p.values(), v)[1][p.output]) for v in full]
        g = jvp(p.graph, list(p.wrt))
        run = self._runner(g)
        inputs = dict(zip(p.wrt, derivative_names(p.graph, "tangent", p.wrt), strict=True))
        out = derivative_names(p.graph, "tangent", [p.output])[0]
        return [p.contract(run(self._feed(g, {inputs[k]: a for k, a in v.items()}))[out]) for v in full]


def dot(grad: Mapping[str, np.ndarray], v: Mapping[str, np.ndarray]) -> float:
    """<g, v> over the leaves of ``v`` (missing leaves of ``v`` are zero)."""
    return float(sum(np.sum(np.asarray(grad[k], dtype=np.float64) * a) for k, a in v.items()))


# -- comparing ------------------------------------------------------------------------------------------
def _compare_one(where: str, oracle: str, got: float, expected: float, tol: Tolerance, magnitude: float) -> Comparison:
    if not math.isfinite(got):
        return Comparison(where, got, expected, math.inf, tol.bound(max(abs(expected), magnitude)), oracle)
    scale = max(abs(got), abs(expected), magnitude)
    return Comparison(where, got, expected, abs(got - expected), tol.bound(scale), oracle)


def _summarize(path: str, oracle: str, comps: list[Comparison], estimates: Sequence[Estimate]) -> Row:
    if not comps:
        kinks = [e for e in estimates if e.status == "kink"]
        verdict = "kink" if kinks else "skip"
        note = (kinks or [e for e in estimates if e.note] or [Estimate(None, "skip", "nothing to compare")])[0].note
        return Row(path, oracle, verdict, 0, note=note)
    worst = max(comps, key=lambda c: c.error / c.tolerance if c.tolerance > 0 else (math.inf if c.error else 0))
    failed = tuple(c for c in comps if not c.ok)
    kinked = sum(e.status == "kink" for e in estimates)
    note = f"{kinked} of {len(estimates)} directions straddle kinks" if kinked else ""
    return Row(path, oracle, "FAIL" if failed else "pass", len(comps), worst.error, worst.tolerance, note, failed)


def _coordinates(
    problem: Problem, limit: int, rng: np.random.Generator
) -> tuple[list[tuple[str, tuple[int, ...]]], int]:
    coords = [(k, idx) for k in problem.wrt for idx in np.ndindex(*problem.point[k].shape)]
    total = len(coords)
    if total > limit:
        pick = sorted(rng.choice(total, size=limit, replace=False))
        coords = [coords[i] for i in pick]
    return coords, total


def _unit(problem: Problem, name: str, idx: tuple[int, ...]) -> dict[str, np.ndarray]:
    e = np.zeros(problem.point[name].shape)
    e[idx] = 1.0
    return {name: e}


def _label(name: str, idx: tuple[int, ...]) -> str:
    return f"{name}[{','.join(map(str, idx))}]" if idx else name


@dataclass
class _Check:
    """The state of one gradcheck run: the problem, the directions, and what was computed."""

    problem: Problem
    directions: list[dict[str, np.ndarray]]
    options: CheckOptions
    rng: np.random.Generator
    impls: dict[str, Implementation] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def impl(self, name: str) -> Implementation:
        if name not in self.impls:
            self.impls[name] = Implementation(name, self.problem)
        return self.impls[name]

    def timed(self, key: str, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        try:
            return fn()
        finally:
            self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - t

    def path_values(self, impl: str, mode: str, directions: Sequence[Mapping[str, np.ndarray]]) -> list[float]:
        im = self.impl(impl)
        if mode == "reverse":
            g = self.timed(f"{impl} reverse", im.gradient)
            return [dot(g, v) for v in directions]
        return self.timed(f"{impl} forward", lambda: im.directional(directions))

    def oracle_values(
        self, oracle: str, impl: str, mode: str, directions: Sequence[Mapping[str, np.ndarray]]
    ) -> list[Estimate]:
        if oracle == "adjoint":  # the other mode of the same implementation
            other = "forward" if mode == "reverse" else "reverse"
            return [Estimate(v) for v in self.path_values(impl, other, directions)]
        if oracle == "executor":  # the same mode of the independent numeric executor
            return [Estimate(v) for v in self.path_values("executor", mode, directions)]
        p = self.problem
        fn = ORACLE_FUNCTIONS[oracle]
        return self.timed(oracle, lambda: fn(p.graph, p.point, p.output, p.cotangent, directions))


def _magnitudes(check: _Check) -> list[float]:
    """||(g_i v_i)_i||_2 per direction, g from the executor's reverse mode (0 if it fails)."""
    try:
        g = check.timed("executor reverse", check.impl("executor").gradient)
    except Exception:  # the executor's own failure is reported by its rows
        return [0.0] * len(check.directions)
    return [math.sqrt(sum(float(np.sum((g[k] * a) ** 2)) for k, a in v.items())) for v in check.directions]


def _pair(
    check: _Check,
    impl: str,
    mode: str,
    oracle: str,
    got: list[float],
    base: dict[str, list[Estimate]],
    mags: list[float],
) -> Row:
    path = f"{impl} {mode}"
    tol = check.options.tolerance(oracle)
    try:
        est = base[oracle] if oracle in base else check.oracle_values(oracle, impl, mode, check.directions)
    except Exception as e:
        return Row(path, oracle, "error", note=f"the reference failed: {_failure(e)}")
    comps = [
        _compare_one(f"direction {k}", oracle, g, e.value, tol, m)
        for k, (g, e, m) in enumerate(zip(got, est, mags, strict=True))
        if e.status == "ok" and e.value is not None
    ]
    row = _summarize(path, oracle, comps, est)
    if row.verdict == "FAIL" and check.options.locate:
        located, note = _locate(check, impl, mode, oracle, tol)
        row = Row(
            row.path,
            row.oracle,
            row.verdict,
            row.compared,
            row.max_error,
            row.tolerance,
            _join(row.note, note),
            row.failures + located,
        )
    return row


def _failure(e: Exception) -> str:
    """``Type: message (at file:line)`` of the innermost frame, to find a crashing path quickly."""
    frames = traceback.extract_tb(e.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 2)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"{type(e).__name__}: {e}{where}"


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _locate(check: _Check, impl: str, mode: str, oracle: str, tol: Tolerance) -> tuple[tuple[Comparison, ...], str]:
    """Per-coordinate comparison after a failure: the worst coordinates, by parameter name and index."""
    p = check.problem
    coords, total = _coordinates(p, check.options.max_locate, check.rng)
    units = [_unit(p, k, idx) for k, idx in coords]
    try:
        got = check.path_values(impl, mode, units)
        est = check.oracle_values(oracle, impl, mode, units)
    except Exception as e:
        return (), f"locating failed: {type(e).__name__}: {e}"
    comps = [
        _compare_one(_label(k, idx), oracle, g, e.value, tol, 0.0)
        for (k, idx), g, e in zip(coords, got, est, strict=True)
        if e.status == "ok" and e.value is not None
    ]
    bad = sorted((c for c in comps if not c.ok), key=lambda c: -c.error)
    scope = f"{len(coords)} of {total}" if len(coords) < total else f"all {total}"
    note = f"located: {len(bad)} of {scope} coordinates disagree"
    return tuple(bad[:10]), note


def exact_rows(
    graph: Graph,
    options: CheckOptions | None = None,
    wrt: Sequence[str] | None = None,
    output: str | None = None,
) -> dict[str, Row]:
    """Rows for the symbolic paths of ``options`` from ``verify.exact.check_exact``, if the graph is small enough.

    The exact reference differentiates the first output with respect to the parameters at its
    own rational point (drawn from the options' int seed in [low, high]); it compares the
    expanded symbolic derivative graphs with ``sympy.diff`` exactly, so it applies to the
    symbolic paths only, and only up to ``exact_max_scalars`` scalars.
    """
    opts = make_options(options)
    paths = [f"symbolic {m}" for m in opts.modes] if "symbolic" in opts.paths else []
    if not paths:
        return {}
    n, max_scalars = scalar_count(graph), opts.exact_max_scalars
    if n > max_scalars:
        note = f"the graph holds {n} scalars, above exact_max_scalars={max_scalars} (sympy.diff is slow)"
        return {path: Row(path, "exact", "skip", note=note) for path in paths}
    default_wrt = set(graph.params or graph.inputs)
    if (wrt is not None and set(wrt) != default_wrt) or (output is not None and output != graph.output_names[0]):
        note = "the exact reference differentiates the first output with respect to the parameters only"
        return {path: Row(path, "exact", "skip", note=note) for path in paths}
    seed = opts.int_seed
    try:
        rep = check_exact(graph, seed=seed, low=opts.low, high=opts.high)
    except Exception as e:
        return {
            path: Row(path, "exact", "error", note=f"the reference failed: {type(e).__name__}: {e}") for path in paths
        }
    tol = opts.tolerance("exact")
    rows = {}
    for mode in opts.modes:
        mism = [m for m in rep.mismatches if m.path == mode]
        count = (rep.compared - 1) if mode == "reverse" else 1
        fails = tuple(_exact_comparison(m, tol) for m in mism)
        worst = max((c.error for c in fails), default=0.0)
        note = f"sympy.diff at a rational point (seed {seed}); {rep.exact} exact, {rep.numeric} to 40 digits"
        verdict = "FAIL" if fails else "pass"
        rows[f"symbolic {mode}"] = Row(f"symbolic {mode}", "exact", verdict, count, worst, tol.atol, note, fails)
    return rows


def with_exact_rows(report: Report, rows: Mapping[str, Row], seconds: float | None = None) -> Report:
    """``report`` with the exact ``rows`` put after each symbolic path's other rows (and their ``seconds``)."""
    out = list(report.rows)
    for path, row in rows.items():
        at = max((i for i, r in enumerate(out) if r.path == path), default=len(out) - 1)
        out.insert(at + 1, row)
    info = dict(report.info)
    if seconds is not None:
        info["seconds"] = {**info.get("seconds", {}), "exact": round(seconds, 4)}
    return Report(report.name, tuple(out), info)


def _exact_comparison(m: Any, tol: Tolerance) -> Comparison:
    e, g = m.expected_value, m.got_value
    err = abs(e - g) if math.isfinite(e) and math.isfinite(g) else math.inf
    return Comparison(m.where, g, e, err, tol.bound(max(abs(e), abs(g)) if math.isfinite(err) else 0.0), "exact")


# -- second order ------------------------------------------------------------------------------------------
#: The name of the scalar output of ``second_order_graph``.
SECOND_ORDER_OUTPUT = "<u, grad>"


def second_order_graph(graph: Graph, wrt: Sequence[str] | None = None, output: str | None = None) -> Graph:
    """s(x) = <u, grad_x <c, f(x)>> as a scalar Graph: its gradient is the Hessian-vector product H u.

    ``f`` is ``output`` (default: the first), ``c`` its cotangent (the input ``cotangent:<output>``,
    or 1 for a scalar output), ``u`` the inputs ``probe:<leaf>`` for each leaf of ``wrt``
    (default: the parameters). A first-order check of ``s`` is a second-order check of ``f``:
    its forward mode <grad s, v> = <u, H v> is ``symnn.diff.hvp``'s forward over reverse, its
    reverse mode H u the VJP of a gradient graph, and finite differences of ``s`` are finite
    differences of the gradient, as in torch's ``gradgradcheck``.

    >>> from symnn.ir import Builder
    >>> b = Builder()
    >>> w = b.param("w", (2,))
    >>> s = second_order_graph(b.build((w * w * w).sum()))
    >>> sorted(s.inputs), s.output_names
    (['probe:w'], ('<u, grad>',))
    """
    if not isinstance(graph, Graph):
        raise GradcheckError(f"second-order checks need a symnn Graph, got {type(graph).__name__}")
    name = output if output is not None else graph.output_names[0]
    if name not in graph.output_names:
        raise GraphError(f"the graph has no output {name!r}; its outputs are {list(graph.output_names)}")
    leaves = list(graph.params) if wrt is None else ([wrt] if isinstance(wrt, str) else list(wrt))
    if not leaves:
        raise NoParametersError("the graph has no parameters to differentiate twice; pass wrt=[names of inputs]")
    o = graph.outputs[graph.output_names.index(name)]
    if graph.shape(o) == ():
        first = grad(graph, leaves, name)
    else:  # only the checked output's cotangent is live: the others are the constant 0
        b0 = Builder()
        vals = load(b0, graph)
        first = vjp(b0.build(vals[o], names=[name]), leaves)
    b = Builder()
    vals = load(b, first)
    probes = derivative_names(first, "probe", leaves)
    k = len(first.outputs) - len(leaves)
    terms = [(vals[gi] * b.input(pn, first.shape(gi))).sum() for gi, pn in zip(first.outputs[k:], probes, strict=True)]
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return b.build(total, names=[SECOND_ORDER_OUTPUT])


# -- the entry points ------------------------------------------------------------------------------------
def gradcheck(
    graph: Graph,
    point: Mapping[str, Any] | None = None,
    options: CheckOptions | None = None,
    *,
    wrt: Sequence[str] | None = None,
    output: str | None = None,
    name: str | None = None,
    progress: Callable[[str], None] | None = None,
    **overrides: Any,
) -> Report:
    """Check the options' paths x modes against its oracles at ``point`` (missing leaves drawn uniform in [low, high]).

    ``options`` is a ``verify.CheckOptions`` (default: the defaults); keyword ``overrides`` change
    single options (``gradcheck(g, seed=1, oracles=("fd",))``). ``wrt`` defaults to the
    parameters, ``output`` to the first output (a non-scalar output is contracted with a random
    cotangent). Returns a ``Report`` (``report.ok``, ``print(report)``, ``report.to_json()``);
    ``assert_gradients`` raises instead. ``progress(stage)`` is called before each oracle and path.
    With ``order=2`` the paths' second derivatives are checked: the first-order check of
    ``second_order_graph`` (Hessian-vector products against differences of gradients).
    """
    say = progress or (lambda stage: None)
    opts = make_options(options, overrides)
    if opts.order == 2:
        if not isinstance(graph, Graph):
            raise GradcheckError(f"gradcheck needs a symnn Graph, got {type(graph).__name__}")
        s = second_order_graph(graph, wrt, output)
        report = gradcheck(s, point, opts.replace(order=1), wrt=wrt, name=name or _graph_name(graph), progress=progress)
        info = {**report.info, "order": 2, "output": output or graph.output_names[0]}
        return Report(report.name, report.rows, info)
    rng = opts.seed if isinstance(opts.seed, np.random.Generator) else np.random.default_rng(opts.seed)
    problem = make_problem(graph, point, wrt, output, rng, opts.low, opts.high, opts.dtype)
    dirs = random_directions(problem, opts.directions, rng)
    check = _Check(problem, dirs, opts, rng)
    scalars = scalar_count(problem.graph)
    base: dict[str, list[Estimate]] = {}
    errors: dict[str, str] = {}
    for o in opts.oracles:
        if o == "mpmath" and scalars > opts.mp_max_scalars:
            note = f"the graph holds {scalars} scalars, above mp_max_scalars={opts.mp_max_scalars} (mpmath is slow)"
            base[o] = [Estimate(None, "skip", note)] * len(dirs)
        elif o in ORACLE_FUNCTIONS:
            say(o)
            try:
                base[o] = check.oracle_values(o, "", "", dirs)
            except Exception as e:
                errors[o] = f"the reference failed: {_failure(e)}"
    exact: dict[str, Row] = {}
    if "exact" in opts.oracles:
        say("exact reference")
        exact = check.timed("exact", lambda: exact_rows(graph, opts, problem.wrt, problem.output))
    mags = _magnitudes(check)
    rows: list[Row] = []
    for impl in opts.paths:
        for mode in opts.modes:
            path = f"{impl} {mode}"
            say(path)
            try:
                got = check.path_values(impl, mode, dirs)
            except Exception as e:
                rows.append(Row(path, "-", "error", note=_failure(e)))
                continue
            for o in opts.oracles:
                if o == "executor" and impl == "executor":
                    continue  # the reference itself
                if o in errors:
                    rows.append(Row(path, o, "error", note=errors[o]))
                elif o == "exact":
                    rows.append(exact.get(path) or Row(path, o, "skip", note="exact compares the symbolic graphs only"))
                else:
                    rows.append(_pair(check, impl, mode, o, got, base, mags))
    info = {
        "seed": opts.int_seed,
        "dtype": problem.dtype,
        "directions": len(dirs),
        "wrt": list(problem.wrt),
        "output": problem.output,
        "parameters": int(sum(problem.point[k].size for k in problem.wrt)),
        "seconds": {k: round(v, 4) for k, v in check.seconds.items()},
    }
    return Report(name or _graph_name(graph), tuple(rows), info)


def _graph_name(graph: Graph) -> str:
    return f"graph {graph.fingerprint()[:8]}"


def check_jvp(
    graph: Graph, point: Mapping[str, Any] | None = None, options: CheckOptions | None = None, **kwargs: Any
) -> Report:
    """``gradcheck`` of the forward mode (JVP) of every path; same arguments."""
    return gradcheck(graph, point, options, modes=("forward",), **kwargs)


def check_vjp(
    graph: Graph, point: Mapping[str, Any] | None = None, options: CheckOptions | None = None, **kwargs: Any
) -> Report:
    """``gradcheck`` of the reverse mode (VJP, gradients) of every path; same arguments."""
    return gradcheck(graph, point, options, modes=("reverse",), **kwargs)


def assert_gradients(
    graph: Graph, point: Mapping[str, Any] | None = None, options: CheckOptions | None = None, **kwargs: Any
) -> Report:
    """``gradcheck``, raising ``VerificationError`` (an AssertionError) with the table unless the report is ok."""
    report = gradcheck(graph, point, options, **kwargs)
    if not report.ok:
        raise VerificationError(report.table(), report)
    return report


__all__ = [
    "DEFAULT_ORACLES",
    "IMPLEMENTATIONS",
    "MODES",
    "CheckOptions",
    "GradcheckError",
    "GradcheckFailure",
    "Implementation",
    "NoParametersError",
    "NonFiniteError",
    "Problem",
    "VerificationError",
    "assert_gradients",
    "check_jvp",
    "check_vjp",
    "dot",
    "exact_rows",
    "gradcheck",
    "make_problem",
    "random_directions",
    "second_order_graph",
    "with_exact_rows",
]
