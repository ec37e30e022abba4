"""The Executor: runs a Graph numerically, node by node, in forward and reverse mode.

Forward mode carries a tangent beside each primal; reverse mode records the primal sweep on a
tape and walks it backwards accumulating cotangents. Per node the work is one call of a rule
from ``rules`` (numpy, or one of the few compiled kernels); nothing is compiled per graph. On
first use the sweeps are planned once per executor (``plan``): each node's rule staged for its
shapes, elementwise chains fused for the primal and adjoint sweeps.

>>> import numpy as np
>>> from symnn.ir import Builder
>>> b = Builder()
>>> w = b.param("w", (3,))
>>> ex = Executor(b.build((w * w).sum()))
>>> value, grads = ex.grad({"w": np.array([1.0, 2.0, 3.0])})
>>> value, grads["w"].tolist()
(14.0, [2.0, 4.0, 6.0])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import GraphError, ShapeError
from ..ir import Graph
from ..ops import Const, Input
from ..registry import has, lookup, table
from .plan import Step, plan  # importing plan imports rules, which registers every op's "exec.*" parts
from .rules import VjpStep
from .tape import Tape, build

Array = np.ndarray
_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def _add(a: Array | None, b: Array | None) -> Array | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


class Executor:
    """Numeric forward value, JVP, VJP and gradients of ``graph`` on arrays of ``dtype``.

    ``grad`` runs a small graph on the compiled tape (``tape``); ``tape=False`` keeps it on the planned sweeps.
    """

    def __init__(self, graph: Graph, dtype: Any = np.float64, tape: bool = True) -> None:
        if not isinstance(graph, Graph):
            raise GraphError(f"Executor needs a symnn Graph, got {type(graph).__name__}")
        try:
            self.dtype = np.dtype(dtype)
        except TypeError:
            raise GraphError(f"dtype must be float64 or float32, got {dtype!r}") from None
        if self.dtype not in _DTYPES:
            raise GraphError(f"dtype must be float64 or float32, got {self.dtype}")
        runnable = [
            isinstance(n.op, (Input, Const)) or (has(type(n.op), "exec.value") and bool(n.args)) for n in graph.nodes
        ]
        if not all(runnable):
            bad = sorted({repr(n.op) for n, ok in zip(graph.nodes, runnable, strict=True) if not ok})
            known = ", ".join(op.__name__ for op in table("exec.value"))
            raise GraphError(f"the executor cannot run {bad}; it runs leaves and nodes with arguments of: {known}")
        self.graph = graph
        self._shapes = [n.shape for n in graph.nodes]
        self._leaves = {n.op.name: i for i, n in enumerate(graph.nodes) if isinstance(n.op, Input)}  # type: ignore[attr-defined]
        self._names = {i: nm for nm, i in self._leaves.items()}
        self._consts = {
            i: _const(n.op, n.shape, self.dtype) for i, n in enumerate(graph.nodes) if isinstance(n.op, Const)
        }
        self._outputs = dict(zip(graph.output_names, graph.outputs, strict=True))
        # resolved once per graph: each sweep then makes one call per node and no registry look-ups
        ops = [type(n.op) for n in graph.nodes]
        self._value_rules = [lookup(t, "exec.value") if n.args else None for t, n in zip(ops, graph.nodes, strict=True)]
        self._vjp_rules = [
            lookup(t, "exec.vjp") if n.args and has(t, "exec.vjp") else None
            for t, n in zip(ops, graph.nodes, strict=True)
        ]
        self._params = tuple(graph.leaf_ids("param"))
        self._wanted: dict[tuple[int, ...], list[bool]] = {}  # ids -> which nodes need a cotangent
        # the sweeps, planned on first use: primal steps (fused or not), and a reverse walk per set of leaves
        self._plans: dict[bool, list[Step]] = {}
        self._backward: dict[tuple[int, ...], list[tuple[int, VjpStep, tuple[int, ...], list[bool]]]] = {}
        # grad on a small graph: one compiled call over index lists (``tape``), made on first use; with
        # tape=False, or when the graph has no tape, grad runs the planned sweeps
        self._use_tape = bool(tape)
        self._tape: Tape | None = None

    def __getstate__(self) -> dict[str, Any]:
        # the plans hold closures, which do not pickle: a copy plans again on first use
        return {**self.__dict__, "_plans": {}, "_backward": {}, "_tape": None}

    # -- public API --------------------------------------------------------------------------------
    def forward(self, values: Mapping[str, Any]) -> dict[str, Array]:
        """The outputs of the graph at ``values`` (one array per input and parameter name)."""
        env = self._check_values(values)
        with np.errstate(all="ignore"):
            vals, _ = self._primal(env)
        return self._named(vals, _Release(self.dtype, env, self._consts))

    def jvp(self, values: Mapping[str, Any], tangents: Mapping[str, Any]) -> tuple[dict[str, Array], dict[str, Array]]:
        """Outputs and their tangents ``J t`` (``tangents`` keyed by leaf name; missing leaves have zero tangent)."""
        env = self._check_values(values)
        seeds = self._check_named(tangents, self._leaves, "tangent", "leaf (input or parameter)")
        g = self.graph
        vals = self._leaf_values(env)
        tans: list[Array | None] = [seeds.get(i) for i in range(len(g.nodes))]
        with np.errstate(all="ignore"):
            for i, value, args, _ in self._plan(fuse=False):
                xs = [vals[a] for a in args]
                vals[i], aux = value(xs)
                if any(tans[a] is not None for a in args):
                    n = g.nodes[i]
                    tans[i] = lookup(type(n.op), "exec.jvp")(n.op, xs, vals[i], aux, [tans[a] for a in args])
        release = _Release(self.dtype, env, seeds, self._consts)
        return self._named(vals, release), {nm: release(tans[o], g.shape(o)) for nm, o in self._outputs.items()}

    def vjp(
        self, values: Mapping[str, Any], cotangents: Mapping[str, Any]
    ) -> tuple[dict[str, Array], dict[str, Array]]:
        """Outputs and ``J^T c`` for every leaf (``cotangents`` keyed by output name; missing ones are zero)."""
        env = self._check_values(values)
        seeds = self._check_named(cotangents, self._outputs, "cotangent", "output")
        with np.errstate(all="ignore"):
            vals, tape = self._primal(env)
            cts = self._reverse(vals, tape, seeds, tuple(self._leaves.values()))
        release = _Release(self.dtype, env, seeds, self._consts)
        outs = self._named(vals, release)
        return outs, {nm: release(cts[i], self.graph.shape(i)) for nm, i in self._leaves.items()}

    def grad(
        self, values: Mapping[str, Any], output: str | None = None, wrt: str | Sequence[str] | None = None
    ) -> tuple[float, dict[str, Array]]:
        """Value and gradient of a scalar output (default: the first) w.r.t. ``wrt`` (default: the parameters)."""
        g = self.graph
        name = output if output is not None else g.output_names[0]
        if name not in self._outputs:
            raise GraphError(f"the graph has no output {name!r}; its outputs are {list(g.output_names)}")
        o = self._outputs[name]
        if self._shapes[o] != ():
            raise ShapeError(
                f"grad needs a scalar output, but {name!r} has shape {g.shape(o)}; reduce it (e.g. .sum()) or use vjp"
            )
        ids = self._wrt(wrt)
        env = self._check_values(values)
        if self._use_tape:
            compiled = self._tape
            if compiled is None:
                compiled = self._tape = build(g, self.dtype, self._value_rules, self._vjp_rules)
                self._use_tape = compiled is not None
            if compiled is not None:
                value, grads = compiled.grad(env, o, ids)
                names = self._names
                return value, {names[i]: grads[i] for i in ids}
        with np.errstate(all="ignore"):
            vals, tape = self._primal(env)
            cts = self._reverse(vals, tape, {o: np.ones((), dtype=self.dtype)}, ids)
        release, shapes, names = _Release(self.dtype, env, self._consts), self._shapes, self._names
        return float(vals[o]), {names[i]: release(cts[i], shapes[i]) for i in ids}

    # -- sweeps (callers hold np.errstate(all="ignore")) ------------------------------------------------
    def _plan(self, fuse: bool) -> list[Step]:
        """The primal sweep, planned on first use: fused for values and reverse mode, unfused for forward mode."""
        steps = self._plans.get(fuse)
        if steps is None:
            steps = self._plans[fuse] = plan(self.graph, self.dtype, self._value_rules, self._vjp_rules, fuse)
        return steps

    def _leaf_values(self, env: dict[int, Array]) -> list[Any]:
        """One slot per node, the inputs (from ``env``) and constants filled in."""
        vals: list[Any] = [None] * len(self.graph.nodes)
        for i, c in self._consts.items():
            vals[i] = c
        for i, x in env.items():
            vals[i] = x
        return vals

    def _primal(self, env: dict[int, Array]) -> tuple[list[Any], list[Any]]:
        vals = self._leaf_values(env)
        tape: list[Any] = [None] * len(vals)
        for i, value, args, _ in self._plan(fuse=True):
            vals[i], tape[i] = value([vals[a] for a in args])
        return vals, tape

    def _reverse(
        self, vals: list[Any], tape: list[Any], seeds: dict[int, Array], ids: tuple[int, ...]
    ) -> list[Array | None]:
        """Cotangents of the nodes ``ids`` given output cotangents ``seeds``: one backward walk of the tape."""
        cts: list[Array | None] = [None] * len(vals)
        for o, s in seeds.items():
            cts[o] = _add(cts[o], s)
        for i, step, args, needs in self._backward_plan(ids):
            ct = cts[i]
            if ct is None:
                continue
            contribs = step([vals[a] for a in args], vals[i], tape[i], ct)
            for a, c, need in zip(args, contribs, needs, strict=True):
                if need and c is not None:
                    prev = cts[a]
                    cts[a] = c if prev is None else prev + c  # a new array: no cotangent is ever changed in place
        return cts

    def _backward_plan(self, ids: tuple[int, ...]) -> list[tuple[int, VjpStep, tuple[int, ...], list[bool]]]:
        """(node, staged cotangent rule, arguments, which need a cotangent) for the leaves ``ids``, last step
        first: only the steps that depend on one of them (planned once per ``ids``)."""
        backward = self._backward.get(ids)
        if backward is None:
            wanted = self._wanted_by(ids)
            backward = []
            for i, _, args, vjp in reversed(self._plan(fuse=True)):
                if wanted[i]:
                    needs = [wanted[a] for a in args]
                    backward.append((i, vjp(needs), args, needs))
            self._backward[ids] = backward
        return backward

    def _wanted_by(self, ids: tuple[int, ...]) -> list[bool]:
        """Which nodes need a cotangent for the leaves ``ids``: those that depend on one (cached per ``ids``)."""
        wanted = self._wanted.get(ids)
        if wanted is None:
            wanted = [False] * len(self.graph.nodes)
            for i in ids:
                wanted[i] = True
            for i, n in enumerate(self.graph.nodes):
                if n.args and any(wanted[a] for a in n.args):
                    wanted[i] = True
            self._wanted[ids] = wanted
        return wanted

    # -- validation ----------------------------------------------------------------------------------
    def _check_values(self, values: Mapping[str, Any]) -> dict[int, Array]:
        if type(values) is dict and len(values) == len(self._leaves):
            # the common call: every leaf once, as an array of the declared shape and the executor's dtype
            env, leaves, shapes, dtype = {}, self._leaves, self._shapes, self.dtype
            for nm, v in values.items():
                i = leaves.get(nm)
                if i is None or type(v) is not np.ndarray or v.dtype != dtype or v.shape != shapes[i]:
                    break
                env[i] = v
            else:
                return env
        if not isinstance(values, Mapping):
            raise GraphError(f"values must be a dict from leaf names to arrays, got {type(values).__name__}")
        missing = [nm for nm in self._leaves if nm not in values]
        if missing:
            raise GraphError(f"no value given for {missing}; the graph needs {self._signature()}")
        return self._check_named(values, self._leaves, "value", "input or parameter")

    def _check_named(self, given: Mapping[str, Any], known: dict[str, int], what: str, kind: str) -> dict[int, Array]:
        if not isinstance(given, Mapping):
            raise GraphError(f"{what}s must be a dict keyed by {kind} name, got {type(given).__name__}")
        unknown = [nm for nm in given if nm not in known]
        if unknown:
            raise GraphError(f"{what}s given for unknown names {unknown}; the graph's {kind} names are {list(known)}")
        shapes = self._shapes
        return {known[nm]: self._array(nm, v, shapes[known[nm]], what) for nm, v in given.items()}

    def _array(self, name: str, value: Any, shape: tuple[int, ...], what: str) -> Array:
        if type(value) is np.ndarray and value.dtype == self.dtype and value.shape == shape:
            return value  # what the checks below would return, without their calls
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as e:
            raise ShapeError(f"the {what} for {name!r} is not an array of numbers ({e})") from None
        if arr.dtype.kind not in "biuf":
            raise GraphError(
                f"the {what} for {name!r} has dtype {arr.dtype}; pass real numbers (float64, float32, int or bool)"
            )
        if arr.shape != shape:
            raise ShapeError(f"the {what} for {name!r} has shape {arr.shape}, but the graph declares {shape}")
        return arr.astype(self.dtype, copy=False)

    def _wrt(self, wrt: str | Sequence[str] | None) -> tuple[int, ...]:
        if wrt is None:
            ids = self._params
            if not ids:
                raise GraphError(
                    f"the graph has no parameters to differentiate; pass wrt=[names] from {list(self._leaves)}"
                )
            return ids
        names = [wrt] if isinstance(wrt, str) else list(wrt)
        unknown = [nm for nm in names if nm not in self._leaves]
        if unknown:
            raise GraphError(f"cannot differentiate with respect to {unknown}; the leaves are {list(self._leaves)}")
        return tuple(self._leaves[nm] for nm in names)

    def _signature(self) -> str:
        return ", ".join(f"{nm} {self.graph.shape(i)}" for nm, i in self._leaves.items())

    def _named(self, vals: list[Any], release: _Release) -> dict[str, Array]:
        return {nm: release(vals[o], self.graph.shape(o)) for nm, o in self._outputs.items()}


def _const(op: Const, shape: tuple[int, ...], dtype: np.dtype) -> Array:
    values = np.array([float(v) for v in op.values], dtype=dtype)
    if values.size == 1:
        return np.full(shape, values[0], dtype=dtype)
    return values.reshape(shape)


class _Release:
    """Hands arrays to the caller: a fresh array as it is, one shared with the caller's inputs, the
    executor's constants, the tape or another result as a copy, and a structural zero as zeros."""

    def __init__(self, dtype: np.dtype, *shared: Mapping[int, Array]) -> None:
        self.dtype = dtype
        self.taken: set[int] = set()
        for group in shared:
            self.taken.update(map(id, group.values()))

    def __call__(self, x: Array | None, shape: tuple[int, ...]) -> Array:
        if x is None:
            return np.zeros(shape, dtype=self.dtype)
        if (
            x.base is None
            and x.flags.writeable
            and x.shape == shape
            and x.dtype == self.dtype
            and id(x) not in self.taken
        ):
            self.taken.add(id(x))
            return x
        return np.array(x if x.shape == shape else np.broadcast_to(x, shape), dtype=self.dtype)
