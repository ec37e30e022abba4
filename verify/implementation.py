"""``check_implementation``: a user's own gradient code checked against symnn's oracles.

The code under test (``impl``) is any Python callable -- NumPy, PyTorch, JAX, a saved kernel --
that takes a dict of float64 arrays (every leaf: parameters and data) and returns the loss and
its gradients. The protocol, one of:

* ``impl(values) -> (loss, grads)`` -- ``grads`` a dict ``{parameter: array}`` (or a sequence in
  the order of ``wrt``, or one array for one parameter);
* ``impl(params, inputs) -> (loss, grads)`` -- the same with the parameters and the data apart
  (chosen when ``impl`` takes two positional arguments);
* ``check_implementation(loss_fn, grad=grad_fn)`` -- ``loss_fn(values) -> loss`` and
  ``grad_fn(values) -> grads`` apart;
* ``jvp=f(values, tangents) -> <dloss>``, ``vjp=f(values, cotangent) -> grads`` and
  ``hvp=f(values, v) -> H v`` (all optional, same calling convention) for forward mode, reverse
  mode with a cotangent and second order.

A dict result ``{"loss": ..., "grad:<p>": ...}`` is read as a symnn kernel's (a compiled or saved
``grad`` graph: ``check_implementation(kernel, graph)``). Results may be NumPy arrays, Python
numbers, torch tensors (``.detach().cpu().numpy()`` is
called; torch is not needed otherwise) or JAX arrays. ``convert`` (e.g. ``torch.from_numpy``)
is applied to every array passed in.

With a ``reference`` (a symnn Graph, a zoo spec ``"mlp:4-8-1"``, ``"file.py:attr"``, a Model, a
sympy formula, or a function of ``sizes`` returning one), ``impl`` is compared coordinate by
coordinate with the reference's symbolic gradient (``symnn.diff``, run by the executor), with the
executor's own reverse mode, and (if ``"exact"`` is among the oracles) the reference's derivative
is first confirmed against ``sympy.diff`` at small shapes. Points are drawn by Hypothesis
(``options.examples`` of them; sizes too when ``sizes`` maps names to ranges), and a failure is
shrunk to the smallest shape and point; the report names the first disagreeing coordinate
(``grad W1[2, 0]: got ..., expected ...``). Without a reference, ``impl``'s gradient is checked
against its own values: central differences, the complex step when ``impl`` accepts complex
input, and the dot-product identity <c, J v> = <J^T c, v> between ``jvp`` and ``vjp``.

>>> import numpy as np
>>> def impl(values):  # loss = sum(tanh(w * x)), by hand
...     w, x = values["w"], values["x"]
...     t = np.tanh(w * x)
...     return t.sum(), {"w": (1 - t**2) * x}
>>> import sympy as sp
>>> w, x = sp.symbols("w x")
>>> from symnn.formula import formula
>>> check_implementation(impl, formula(sp.tanh(w * x), params=[w], inputs=[x]), examples=5).ok
True
>>> def wrong(values):
...     w, x = values["w"], values["x"]
...     return np.tanh(w * x).sum(), {"w": (1 - np.tanh(w * x)) * x}  # forgot the square
>>> report = check_implementation(wrong, formula(sp.tanh(w * x), params=[w], inputs=[x]), examples=5)
>>> report.ok, report.info["first"].split(":")[0]
(False, 'grad w')
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp
from hypothesis import HealthCheck, Phase, currently_in_test_context, given, seed, settings
from hypothesis import strategies as st

from symnn import zoo
from symnn.diff import derivative_names, grad, hvp
from symnn.errors import GraphError, ModelError, ShapeError
from symnn.executor import Executor
from symnn.expand import scalar_count
from symnn.formula import formula
from symnn.ir import Graph

from .exact import check_exact
from .options import CheckOptions, GradcheckError, make_options
from .oracles import kink_distance
from .report import Comparison, Report, Row, VerificationError
from .strategies import leaf_points
from .tolerance import Tolerance

Arrays = dict[str, np.ndarray]
#: Leaves of at most this many scalars get Hypothesis-drawn entries (shrinkable); larger ones a seeded NumPy draw.
HYPOTHESIS_SCALARS = 400
#: The central-difference step (with one Richardson extrapolation, as ``verify.oracles``).
STEP = 2.0**-10
#: The complex step.
COMPLEX_STEP = 1e-20


class ImplementationError(GradcheckError):
    """The code under test does not follow the protocol (wrong return shape, missing gradients, ...)."""


# -- the code under test -------------------------------------------------------------------------------
def to_numpy(x: Any) -> np.ndarray:
    """A result of user code as a NumPy array: NumPy, numbers, torch tensors (detached), JAX arrays."""
    if hasattr(x, "detach") and callable(x.detach):  # torch, without importing it
        x = x.detach()
        x = x.cpu() if hasattr(x, "cpu") else x
        x = x.numpy()
    return np.asarray(x)


def _arity(fn: Callable[..., Any]) -> int:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in kinds and p.default is inspect.Parameter.empty for p in sig.parameters.values())


@dataclass(frozen=True)
class UserCode:
    """The user's functions behind one calling convention: ``values`` in (params and inputs), NumPy out."""

    fn: Callable[..., Any]
    grad: Callable[..., Any] | None = None
    jvp: Callable[..., Any] | None = None
    vjp: Callable[..., Any] | None = None
    hvp: Callable[..., Any] | None = None
    convert: Callable[[np.ndarray], Any] | None = None
    params: tuple[str, ...] = ()

    def _args(self, fn: Callable[..., Any], values: Mapping[str, np.ndarray], extra: tuple[Any, ...]) -> list[Any]:
        conv = self.convert or (lambda a: a)
        vals = {k: conv(v) for k, v in values.items()}
        extra = tuple({k: conv(v) for k, v in e.items()} if isinstance(e, Mapping) else conv(e) for e in extra)
        if _arity(fn) - len(extra) >= 2:  # f(params, inputs, ...)
            params = {k: v for k, v in vals.items() if k in self.params}
            return [params, {k: v for k, v in vals.items() if k not in self.params}, *extra]
        return [vals, *extra]

    def call(self, fn: Callable[..., Any], values: Mapping[str, np.ndarray], *extra: Any) -> Any:
        return fn(*self._args(fn, values, extra))

    def value_and_grad(self, values: Mapping[str, np.ndarray]) -> tuple[Any, Any]:
        """(loss, grads) from ``fn`` alone, or ``fn`` and ``grad``."""
        out = self.call(self.fn, values)
        if self.grad is not None:
            return out, self.call(self.grad, values)
        if isinstance(out, Mapping):  # a symnn kernel of a grad graph: {"loss": ..., "grad:<p>": ...}
            return _kernel_outputs(out, self.params)
        if not (isinstance(out, tuple | list) and len(out) == 2):
            raise ImplementationError(
                f"the implementation returned a {type(out).__name__}; return (loss, grads) with grads a dict "
                "{parameter: array}, or pass grad=your_gradient_function"
            )
        return out[0], out[1]

    def value(self, values: Mapping[str, np.ndarray]) -> Any:
        out = self.call(self.fn, values)
        if isinstance(out, Mapping):
            return _kernel_outputs(out, self.params)[0]
        return out[0] if self.grad is None and isinstance(out, tuple | list) else out


def _kernel_outputs(out: Mapping[str, Any], params: Sequence[str]) -> tuple[Any, Any]:
    """(loss, grads) from the outputs of a symnn kernel of ``grad(graph)``: the first output and ``grad:<p>``."""
    grads = {p: out[f"grad:{p}"] for p in params if f"grad:{p}" in out}
    values = [k for k in out if not k.startswith("grad:")]
    if not values:
        raise ImplementationError(f"the implementation returned a dict without a loss: its keys are {list(out)}")
    return out[values[0]], grads


def as_grads(raw: Any, wrt: Sequence[str], what: str = "grads") -> Arrays:
    """The gradient dict of a user result (a dict, a sequence in ``wrt`` order, or one array)."""
    if isinstance(raw, Mapping):
        missing = [k for k in wrt if k not in raw]
        if missing:
            raise ImplementationError(
                f"{what} has no entries for {missing}; it has {list(raw)}: return one array per parameter "
                "(map your names to the reference's with rename={'yours': 'reference'})"
            )
        return {k: to_numpy(raw[k]).astype(np.float64) for k in wrt}
    if isinstance(raw, tuple | list):
        if len(raw) != len(wrt):
            raise ImplementationError(f"{what} is a sequence of {len(raw)} arrays; expected one per parameter {wrt}")
        return {k: to_numpy(a).astype(np.float64) for k, a in zip(wrt, raw, strict=True)}
    if len(wrt) == 1:
        return {wrt[0]: to_numpy(raw).astype(np.float64)}
    raise ImplementationError(f"{what} is a {type(raw).__name__}; return a dict {{parameter: array}} for {list(wrt)}")


def _scalar(x: Any, what: str) -> complex:
    arr = to_numpy(x)
    if arr.size != 1:
        raise ImplementationError(f"{what} must be a scalar, got an array of shape {arr.shape}")
    return complex(arr.reshape(()))


# -- the reference -----------------------------------------------------------------------------------------
def reference_graph(reference: Any, sizes: Mapping[str, int] | None = None, inputs: Sequence[str] = ()) -> Graph:
    """The Graph of a reference: a Graph, a spec, a Model, a sympy formula, or a function of ``sizes``."""
    if isinstance(reference, Graph):
        return reference
    if isinstance(reference, str):
        return zoo.resolve(reference).graph()
    if isinstance(reference, sp.Expr):
        free = sorted(reference.free_symbols, key=lambda s: s.name)  # type: ignore[attr-defined]
        names = set(inputs)
        return formula(
            reference, params=[s for s in free if s.name not in names], inputs=[s for s in free if s.name in names]
        )
    if callable(getattr(reference, "graph", None)):
        return reference_graph(reference.graph())
    if callable(reference):
        return reference_graph(reference(**(sizes or {})))
    raise ModelError(
        f"reference is a {type(reference).__name__}; pass a symnn Graph, a model spec ('mlp:4-8-1', 'file.py:attr'), "
        "a Model, a sympy expression, or a function of the sizes returning one"
    )


@dataclass
class _Expected:
    """What the reference says at one graph: its derivative graphs, each with an executor, built once."""

    graph: Graph
    wrt: tuple[str, ...]
    output: str
    _cache: dict[str, Any] = field(default_factory=dict)

    def _get(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def symbolic(self, values: Arrays) -> tuple[float, Arrays]:
        g = self._get("grad", lambda: grad(self.graph, self.wrt, self.output))
        outs = self._get("grad executor", lambda: Executor(g)).forward(values)
        grads = {k: np.asarray(outs[nm]) for k, nm in zip(self.wrt, g.output_names[1:], strict=True)}
        return float(outs[self.output]), grads

    def numeric(self, values: Arrays) -> tuple[float, Arrays]:
        value, grads = self._get("executor", lambda: Executor(self.graph)).grad(values, self.output, list(self.wrt))
        return float(np.asarray(value)), {k: np.asarray(grads[k]) for k in self.wrt}

    def hvp(self, values: Arrays, v: Arrays) -> Arrays:
        h = self._get("hvp", lambda: hvp(self.graph, self.wrt, self.output))
        g = self._get("grad", lambda: grad(self.graph, self.wrt, self.output))
        tangents = derivative_names(g, "tangent", self.wrt)
        feed = {**values, **{t: v[leaf] for t, leaf in zip(tangents, self.wrt, strict=True)}}
        outs = self._get("hvp executor", lambda: Executor(h)).forward(feed)
        k = len(self.wrt) + 1
        return {leaf: np.asarray(outs[nm]) for leaf, nm in zip(self.wrt, h.output_names[k:], strict=True)}


class _Renamed:
    """A reference whose answers use the implementation's names (``rename`` applied both ways)."""

    def __init__(self, exp: _Expected, to_ref: Mapping[str, str], to_user: Mapping[str, str]) -> None:
        self.exp, self.to_ref, self.to_user = exp, to_ref, to_user

    def _in(self, values: Mapping[str, np.ndarray]) -> Arrays:
        return {self.to_ref.get(k, k): v for k, v in values.items()}

    def _out(self, arrays: Mapping[str, np.ndarray]) -> Arrays:
        return {self.to_user.get(k, k): v for k, v in arrays.items()}

    def symbolic(self, values: Arrays) -> tuple[float, Arrays]:
        v, g = self.exp.symbolic(self._in(values))
        return v, self._out(g)

    def numeric(self, values: Arrays) -> tuple[float, Arrays]:
        v, g = self.exp.numeric(self._in(values))
        return v, self._out(g)

    def hvp(self, values: Arrays, v: Arrays) -> Arrays:
        return self._out(self.exp.hvp(self._in(values), self._in(v)))


# -- comparing ---------------------------------------------------------------------------------------------
def _where(kind: str, name: str, idx: tuple[int, ...]) -> str:
    return f"{kind} {name}[{', '.join(map(str, idx))}]" if idx else f"{kind} {name}"


def compare_arrays(
    kind: str, got: Arrays, expected: Arrays, tol: Tolerance, oracle: str, names: Mapping[str, str]
) -> list[Comparison]:
    """Coordinate-by-coordinate comparisons, in parameter then index order; a wrong shape is one failure.

    The scale of coordinate i is max(|got_i|, |expected_i|, rms of the parameter's expected
    gradient): a coordinate that is small by cancellation must not turn rounding into a fault.
    """
    out = []
    for k, e in expected.items():
        g, label = got[k], names.get(k, k)
        if g.shape != e.shape:
            where = f"{kind} {label}: shape {g.shape}, expected {e.shape}"
            out.append(Comparison(where, math.nan, math.nan, math.inf, 0.0, oracle))
            continue
        rms = float(np.sqrt(np.mean(e**2))) if e.size else 0.0
        for idx in np.ndindex(*e.shape):
            gi, ei = float(g[idx]), float(e[idx])
            err = abs(gi - ei) if math.isfinite(gi) else math.inf
            out.append(Comparison(_where(kind, label, idx), gi, ei, err, tol.bound(max(abs(gi), abs(ei), rms)), oracle))
    return out


def _row(path: str, oracle: str, comps: Sequence[Comparison], note: str = "") -> Row:
    """A row over ``comps``: the worst error relative to its tolerance, the failures in order."""
    if not comps:
        return Row(path, oracle, "skip", note=note or "nothing to compare")
    worst = max(comps, key=lambda c: c.error / c.tolerance if c.tolerance > 0 else (math.inf if c.error else 0.0))
    bad = [c for c in comps if not c.ok]
    note = _join(f"{len(bad)} of {len(comps)} disagree" if bad else "", note)
    return Row(path, oracle, "FAIL" if bad else "pass", len(comps), worst.error, worst.tolerance, note, tuple(bad[:10]))


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _directions(shapes: Mapping[str, tuple[int, ...]], count: int, rng: np.random.Generator) -> list[Arrays]:
    out = []
    for _ in range(count):
        v = {k: rng.standard_normal(s) for k, s in shapes.items()}
        top = max((float(np.abs(a).max()) for a in v.values() if a.size), default=1.0) or 1.0
        out.append({k: a / top for k, a in v.items()})
    return out


def _dot(g: Arrays, v: Arrays) -> float:
    return float(sum(np.sum(g[k] * v[k]) for k in v))


def _central(f: Callable[[float], float], h: float = STEP) -> float:
    """d/dt f(t) at 0: central differences at h and h/2 with one Richardson step (error O(h^4))."""
    d1 = (f(h) - f(-h)) / (2 * h)
    d2 = (f(h / 2) - f(-h / 2)) / h
    return (4 * d2 - d1) / 3


def _shift(values: Arrays, v: Arrays, t: Any) -> dict[str, Any]:
    return {k: (a + t * v[k] if k in v else a) for k, a in values.items()}


# -- one point ---------------------------------------------------------------------------------------------
@dataclass
class _Run:
    """The checks of one implementation at one point (with the reference's graph, if there is one)."""

    code: UserCode
    values: Arrays
    wrt: tuple[str, ...]
    options: CheckOptions
    expected: _Renamed | None
    names: Mapping[str, str]
    rng: np.random.Generator
    near_kink: bool = False
    rows: list[Row] = field(default_factory=list)

    def guard(self, path: str, oracle: str, fn: Callable[[], Row | list[Row] | None]) -> None:
        try:
            out = fn()
        except ImplementationError as e:
            self.rows.append(Row(path, oracle, "error", note=str(e)))
            return
        except Exception as e:  # the user's code crashed: a failure of the code under test
            self.rows.append(Row(path, oracle, "error", note=f"{type(e).__name__}: {e}"))
            return
        if out is not None:
            self.rows.extend(out if isinstance(out, list) else [out])

    def run(self) -> list[Row]:
        opts = self.options
        state: dict[str, Any] = {}

        def own() -> None:
            loss, raw = self.code.value_and_grad(self.values)
            state["loss"], state["grad"] = float(_scalar(loss, "the loss").real), as_grads(raw, self.wrt)

        self.guard("impl", "-", own)
        if "grad" not in state:
            return self.rows
        g: Arrays = state["grad"]
        shapes = {k: self.values[k].shape for k in self.wrt}
        dirs = _directions(shapes, opts.directions, self.rng)
        expected = self.expected
        if expected is not None:
            self.guard("impl", "symbolic", lambda: self._against_reference(expected, state["loss"], g))
        if "fd" in opts.oracles:
            self.guard("impl gradient", "fd", lambda: self._fd(g, dirs))
        if "complex-step" in opts.oracles:
            self.guard("impl gradient", "complex-step", lambda: self._complex(g, dirs))
        if self.code.jvp is not None or self.code.vjp is not None:
            self.guard("impl jvp/vjp", "adjoint", lambda: self._modes(g, dirs))
        if opts.order == 2:
            self.guard("impl hvp", "-", lambda: self._second(dirs))
        return self.rows

    def _against_reference(self, expected: _Renamed, loss: float, g: Arrays) -> list[Row]:
        tol = self.options.tolerance("executor")
        value, sym = expected.symbolic(self.values)
        rows = []
        loss_bound = tol.bound(max(abs(loss), abs(value)))
        rows.append(
            _row("impl loss", "symbolic", [Comparison("loss", loss, value, abs(loss - value), loss_bound, "symbolic")])
        )
        rows.append(_row("impl gradient", "symbolic", compare_arrays("grad", g, sym, tol, "symbolic", self.names)))
        if "executor" in self.options.oracles:
            _, num = expected.numeric(self.values)
            rows.append(_row("impl gradient", "executor", compare_arrays("grad", g, num, tol, "executor", self.names)))
        return rows

    def _value(self, values: Mapping[str, Any]) -> complex:
        return _scalar(self.code.value(values), "the loss")

    def _along(self, v: Arrays) -> Callable[[float], float]:
        """t -> the implementation's loss at x + t v."""
        return lambda t: self._value(_shift(self.values, v, t)).real

    def _fd(self, g: Arrays, dirs: list[Arrays]) -> Row:
        if self.near_kink:
            return Row(
                "impl gradient", "fd", "kink", note="the point is within a difference step of a kink of the reference"
            )
        tol = self.options.tolerance("fd")
        comps = []
        for k, v in enumerate(dirs):
            est = _central(self._along(v))
            got = _dot(g, v)
            mag = math.sqrt(sum(float(np.sum((g[n] * a) ** 2)) for n, a in v.items()))
            comps.append(
                Comparison(f"direction {k}", got, est, abs(got - est), tol.bound(max(abs(got), abs(est), mag)), "fd")
            )
        if any(not c.ok for c in comps) and self.options.locate:
            comps = self._locate_fd(g, tol) or comps
        return _row("impl gradient", "fd", comps, "against central differences of the implementation's own loss")

    def _locate_fd(self, g: Arrays, tol: Tolerance) -> list[Comparison]:
        """Per-coordinate central differences (at most ``max_locate``), in parameter then index order."""
        out: list[Comparison] = []
        count = 0
        for k in self.wrt:
            for idx in np.ndindex(*self.values[k].shape):
                if count >= self.options.max_locate:
                    return out
                count += 1
                e = np.zeros(self.values[k].shape)
                e[idx] = 1.0
                est = _central(self._along({k: e}))
                got = float(g[k][idx]) if g[k].shape == e.shape else math.nan
                where = _where("grad", self.names.get(k, k), idx)
                out.append(Comparison(where, got, est, abs(got - est), tol.bound(max(abs(got), abs(est))), "fd"))
        return out

    def _complex(self, g: Arrays, dirs: list[Arrays]) -> Row:
        tol = self.options.tolerance("complex-step")
        comps = []
        for k, v in enumerate(dirs):
            try:
                z = self._value(_shift(self.values, v, 1j * COMPLEX_STEP))
            except Exception as e:  # real-only code (comparisons, np.maximum, float()): not an error
                return Row(
                    "impl gradient",
                    "complex-step",
                    "skip",
                    note=f"the implementation rejects complex input ({type(e).__name__})",
                )
            if (z.imag == 0.0 and _dot(g, v) != 0.0) or not math.isfinite(z.imag):
                return Row("impl gradient", "complex-step", "skip", note="the implementation drops the imaginary part")
            est, got = z.imag / COMPLEX_STEP, _dot(g, v)
            comps.append(
                Comparison(
                    f"direction {k}", got, est, abs(got - est), tol.bound(max(abs(got), abs(est))), "complex-step"
                )
            )
        return _row("impl gradient", "complex-step", comps)

    def _modes(self, g: Arrays, dirs: list[Arrays]) -> list[Row]:
        tol = self.options.tolerance("adjoint")
        rows = []
        if self.code.jvp is not None:
            comps = []
            for k, v in enumerate(dirs):
                got = float(_scalar(self.code.call(self.code.jvp, self.values, v), "jvp").real)
                exp = _dot(g, v)
                comps.append(
                    Comparison(
                        f"direction {k}", got, exp, abs(got - exp), tol.bound(max(abs(got), abs(exp))), "adjoint"
                    )
                )
            rows.append(_row("impl jvp", "adjoint", comps, "<J v> against <grad, v>"))
        if self.code.vjp is not None:
            c = self.rng.standard_normal()
            pulled = as_grads(self.code.call(self.code.vjp, self.values, np.asarray(c)), self.wrt, "vjp")
            comps = compare_arrays("vjp", pulled, {k: c * a for k, a in g.items()}, tol, "adjoint", self.names)
            rows.append(_row("impl vjp", "adjoint", comps, "J^T c against c * grad"))
        return rows

    def _second(self, dirs: list[Arrays]) -> list[Row]:
        if self.code.hvp is None:
            raise ImplementationError("order=2 needs hvp=f(values, v) returning the Hessian-vector product H v")
        rows = []
        tol = self.options.tolerance("fd")
        for k, v in enumerate(dirs[:1]):
            got = as_grads(self.code.call(self.code.hvp, self.values, v), self.wrt, "hvp")

            def grad_at(t: float, v: Arrays = v) -> Arrays:
                return as_grads(self.code.value_and_grad(_shift(self.values, v, t))[1], self.wrt)

            h = STEP
            gp, gm, gp2, gm2 = grad_at(h), grad_at(-h), grad_at(h / 2), grad_at(-h / 2)
            fd = {n: (4 * (gp2[n] - gm2[n]) / h - (gp[n] - gm[n]) / (2 * h)) / 3 for n in self.wrt}
            comps = compare_arrays("hvp", got, fd, tol, "fd", self.names)
            rows.append(
                _row("impl hvp", "fd", comps, f"direction {k}: against differences of the implementation's gradient")
            )
            if self.expected is not None:
                sym = self.expected.hvp(self.values, v)
                comps = compare_arrays("hvp", got, sym, self.options.tolerance("executor"), "symbolic", self.names)
                rows.append(_row("impl hvp", "symbolic", comps, "symnn.diff.hvp of the reference"))
        return rows


# -- the entry point ---------------------------------------------------------------------------------------
class _Disagreement(Exception):
    """Raised inside the Hypothesis test so that it shrinks the failing example."""


def _first(rows: Sequence[Row]) -> str:
    for r in rows:
        if r.verdict == "error":
            return f"{r.path} raised: {r.note}"
        for c in r.failures:
            if ": shape " in c.where:  # a gradient of the wrong shape: the shapes are the message
                return f"{c.where} ({r.oracle})"
            if not c.where.startswith("direction"):
                return f"{c.where}: got {c.got:.9g}, expected {c.expected:.9g} ({r.oracle})"
    for r in rows:
        for c in r.failures:
            return f"{r.path} in {c.where}: got {c.got:.9g}, expected {c.expected:.9g} ({r.oracle})"
    return ""


def _size_strategy(spec: Any) -> st.SearchStrategy[int]:
    if isinstance(spec, st.SearchStrategy):
        return spec
    if isinstance(spec, int):
        return st.just(spec)
    if isinstance(spec, tuple | list) and len(spec) == 2:
        return st.integers(int(spec[0]), int(spec[1]))
    raise GradcheckError(f"a size must be an int, a (low, high) pair or a Hypothesis strategy, got {spec!r}")


def check_implementation(
    impl: Callable[..., Any],
    reference: Any = None,
    options: CheckOptions | None = None,
    *,
    grad: Callable[..., Any] | None = None,
    jvp: Callable[..., Any] | None = None,
    vjp: Callable[..., Any] | None = None,
    hvp: Callable[..., Any] | None = None,
    point: Mapping[str, Any] | None = None,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
    sizes: Mapping[str, Any] | None = None,
    leaves: Mapping[str, Any] | None = None,
    wrt: Sequence[str] | None = None,
    inputs: Sequence[str] = (),
    rename: Mapping[str, str] | None = None,
    output: str | None = None,
    convert: Callable[[np.ndarray], Any] | None = None,
    name: str | None = None,
    data: Any = None,
    **overrides: Any,
) -> Report:
    """Check ``impl``'s loss and gradients against ``reference`` (or against itself) at Hypothesis-drawn points.

    ``options`` is a ``verify.CheckOptions`` (keyword ``overrides`` change single ones:
    ``examples`` points, ``directions``, ``seed``, ``low``/``high``, ``oracles``, ``order=2``
    with ``hvp=``). Points: ``point`` (one fixed point), or drawn for every leaf of the reference
    (or of ``shapes`` without one), with ``leaves={"y": strategy}`` for leaves that need their own
    values (one-hot labels: ``verify.strategies.one_hot``; a function of the leaf's shape where the
    shapes are drawn). ``sizes={"k": (2, 10)}`` draws sizes
    too, for a reference that is a function of them. ``rename`` maps ``impl``'s parameter names
    to the reference's (``{"W1": "0.W"}``); reports use ``impl``'s names. ``wrt`` defaults to the
    reference's parameters (without a reference: every leaf of ``shapes``/``point`` not in
    ``inputs``). Returns a ``Report`` whose ``info["first"]`` names the first disagreeing
    coordinate of the smallest failing example and ``info["example"]`` its shapes and point.
    Inside a Hypothesis test, pass its ``data`` (``st.data()``): the case is drawn from it, and
    the outer test shrinks it (a search nested in another is refused).
    """
    opts = make_options(options, overrides)
    started = time.perf_counter()
    to_ref = dict(rename or {})
    to_user = {v: k for k, v in to_ref.items()}
    if reference is None and point is None and shapes is None:
        raise GradcheckError("without a reference, give point={leaf: array} or shapes={leaf: shape} to check at")
    size_strategies = {k: _size_strategy(v) for k, v in (sizes or {}).items()}
    if size_strategies and (reference is None or isinstance(reference, Graph | str | sp.Expr)):
        raise GradcheckError("sizes= needs a reference that is a function of the sizes, e.g. lambda k: trace(...)")
    graphs: dict[tuple[tuple[str, int], ...], tuple[Graph, _Expected]] = {}

    def setup(
        sz: Mapping[str, int],
    ) -> tuple[Graph | None, _Expected | None, dict[str, tuple[int, ...]], tuple[str, ...]]:
        if reference is None:
            given = {k: np.shape(v) for k, v in (point or {}).items()}
            shp = dict(shapes or given)
            ws = tuple(wrt) if wrt is not None else tuple(k for k in shp if k not in inputs)
            return None, None, shp, ws
        key = tuple(sorted(sz.items()))
        if key not in graphs:
            g = reference_graph(reference, sz, inputs)
            out = output if output is not None else g.output_names[0]
            if out not in g.output_names:
                raise GraphError(f"the reference has no output {out!r}; its outputs are {list(g.output_names)}")
            if g.shape(g.outputs[g.output_names.index(out)]) != ():
                raise ShapeError(
                    f"the reference's output {out!r} must be a scalar loss, "
                    f"got shape {g.shape(g.outputs[g.output_names.index(out)])}"
                )
            ws = tuple(to_ref.get(w, w) for w in wrt) if wrt is not None else tuple(g.params)
            unknown = [w for w in ws if w not in {n.op.name for n in g.leaves()}]  # type: ignore[attr-defined]
            if unknown:
                raise GradcheckError(
                    f"wrt names {[to_user.get(u, u) for u in unknown]} are not leaves of the reference; "
                    f"its leaves are {[n.op.name for n in g.leaves()]} (map names with rename=)"  # type: ignore[attr-defined]
                )
            if "exact" in opts.oracles and scalar_count(g) <= opts.exact_max_scalars:
                rep = check_exact(g, seed=opts.int_seed, low=opts.low, high=opts.high)
                if not rep.ok:
                    raise VerificationError(
                        f"the reference's own derivative disagrees with sympy.diff: {rep.mismatches[:3]}"
                    )
            graphs[key] = (g, _Expected(g, ws, out))
        g, exp = graphs[key]
        return g, exp, {n.op.name: n.shape for n in g.leaves()}, exp.wrt  # type: ignore[attr-defined]

    seen: list[tuple[dict[str, int], Arrays, list[Row]]] = []
    base_seed = opts.int_seed

    def one(sz: dict[str, int], values: Arrays) -> list[Row]:
        """Every check of ``impl`` at one case (the same directions at every case: ``rng`` from the seed)."""
        g, exp, _, ws = setup(sz)
        near = g is not None and _has_kinks(g) and kink_distance(g, values) < 4 * STEP
        user_values = {to_user.get(k, k): v for k, v in values.items()}
        user_wrt = tuple(to_user.get(w, w) for w in ws)
        user_code = UserCode(impl, grad, jvp, vjp, hvp, convert, user_wrt)
        names = {w: w for w in user_wrt}
        rng = np.random.default_rng(base_seed)
        renamed = _Renamed(exp, to_ref, to_user) if exp is not None else None
        return _Run(user_code, user_values, user_wrt, opts, renamed, names, rng, near).run()

    if point is not None and not size_strategies:
        shp = setup({})[2]
        values = {to_ref.get(k, k): np.asarray(to_numpy(v), dtype=np.float64) for k, v in point.items()}
        missing = [k for k in shp if k not in values]
        if missing:
            raise GradcheckError(f"point has no values for {[to_user.get(m, m) for m in missing]}")
        rows = one({}, values)
        seen.append(({}, values, rows))
        examples = 1
    else:
        counter = [0]

        @st.composite
        def cases(draw: st.DrawFn) -> tuple[dict[str, int], Arrays]:
            sz = {k: draw(s) for k, s in size_strategies.items()}
            _, _, shp, _ = setup(sz)
            own = {
                to_ref.get(k, k): s if isinstance(s, st.SearchStrategy) else s(shp[to_ref.get(k, k)])
                for k, s in (leaves or {}).items()
            }
            values = draw(leaf_points(shp, opts.low, opts.high, own, HYPOTHESIS_SCALARS))
            return sz, values

        def check(case: tuple[dict[str, int], Arrays]) -> bool:
            sz, values = case
            counter[0] += 1
            rows = one(sz, values)
            seen.append((sz, values, rows))
            return not any(r.verdict in ("FAIL", "error") for r in rows)

        if data is not None:  # inside the user's @given: one case from its data, which it shrinks itself
            check(data.draw(cases(), label="check_implementation case"))
        elif currently_in_test_context():
            raise GradcheckError(
                "check_implementation runs its own Hypothesis search; inside a @given test pass data=data "
                "(a st.data() argument of the test), or a fixed point=..."
            )
        else:
            _search(cases(), check, opts.examples, base_seed)
        examples = counter[0]
        # the last failing run is Hypothesis's shrunk example (it replays it last)
        failing = [s for s in seen if any(r.verdict in ("FAIL", "error") for r in s[2])]
        if failing:
            seen.append(failing[-1])
    sz, values, rows = seen[-1]
    info: dict[str, Any] = {
        "examples": examples,
        "seed": base_seed,
        "order": opts.order,
        "sizes": dict(sz),
        "example": {to_user.get(k, k): np.asarray(v).tolist() for k, v in values.items()},
        "shapes": {to_user.get(k, k): list(np.shape(v)) for k, v in values.items()},
        "first": _first(rows),
        "seconds": round(time.perf_counter() - started, 3),
    }
    title = str(name or getattr(impl, "__name__", type(impl).__name__))
    return Report(title, tuple(rows), info)


def _search(cases: st.SearchStrategy[Any], check: Callable[[Any], bool], examples: int, at: int) -> None:
    """Hypothesis over ``cases`` until ``check`` fails, then shrinking: the shrunk case is checked last."""

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.generate, Phase.shrink),
        report_multiple_bugs=False,
    )
    @seed(at)
    @given(cases)
    def search(case: Any) -> None:
        if not check(case):
            raise _Disagreement

    try:
        search()
    except _Disagreement:
        pass


def _has_kinks(graph: Graph) -> bool:
    return math.isfinite(kink_distance(graph, {n.op.name: np.ones(n.shape) for n in graph.leaves()}))  # type: ignore[attr-defined]


def assert_implementation(
    impl: Callable[..., Any], reference: Any = None, options: CheckOptions | None = None, **kwargs: Any
) -> Report:
    """``check_implementation``, raising ``VerificationError`` naming the first disagreeing coordinate."""
    report = check_implementation(impl, reference, options, **kwargs)
    if not report.ok:
        raise VerificationError(f"{report.info['first']}\n\n{report.table()}", report)
    return report


__all__ = [
    "ImplementationError",
    "UserCode",
    "as_grads",
    "assert_implementation",
    "check_implementation",
    "compare_arrays",
    "reference_graph",
    "to_numpy",
]
