"""A compiled tape for small graphs: a value and gradient in one call of one Numba function.

On a small graph the planned sweeps spend their time in Python and NumPy call overhead, not in
arithmetic (W1: ~80 us a gradient, the generated kernel ~2 us). The tape lays every node's value
and cotangent in two flat buffers and turns each node into index lists enumerated once per graph
with NumPy, so one compiled function, the same for every graph (compiled once per machine and
dtype), runs the whole forward and reverse sweep:

* ``Einsum`` (one or two operands, any spec): triples ``(o, i, j)``, one per term of the sum,
  ``y[o] += a[i] b[j]``; reverse ``a_bar[i] += y_bar[o] b[j]``, ``b_bar[j] += y_bar[o] a[i]``;
* ``Elementwise``: the executor's scalar programs on its own kernels (``kernels.program_forward``
  and ``program_vjp``, with ``vmath``'s exp and tanh: the scalar rules keep one definition), each
  argument gathered into its slot row through a broadcasting index map and its cotangent row
  scatter-added back;
* ``Reshape``, ``Slice``, ``Pad``, ``BroadcastTo``, ``Concat``, ``Window``: a gather map ``y[k] =
  v[map[k]]`` (``-1``: zero), made by running the op's own value rule on the positions themselves;
  the reverse is its scatter-add ``v_bar[map[k]] += y_bar[k]``;
* ``Fold``: Window's transpose, a scatter-add ``y[map[k]] += x[k]`` whose reverse is the gather;
* ``LogSumExp``: a loop over the axis with the rule of ``rules`` (max shift, softmax cotangent).

A graph with any other node (an einsum of three operands, a log-sum-exp over an empty axis), a rule
overridden in the registry (a mutant is never bypassed), or more than ``MAX_ENTRIES`` index entries
gets no tape (``build`` returns None) and the executor keeps its planned sweeps. Sums run in
another order than BLAS's, so values agree with the planned sweeps to rounding, not bit for bit.

>>> import numpy as np
>>> from symnn.ir import Builder
>>> from symnn.executor import Executor
>>> b = Builder()
>>> w = b.param("w", (3,))
>>> g = b.build((w * w).sum())
>>> ex = Executor(g)
>>> t = build(g, np.dtype(np.float64), ex._value_rules, ex._vjp_rules)
>>> value, grads = t.grad({0: np.array([1.0, 2.0, 3.0])}, 2, (0,))
>>> value, grads[0].tolist()
(14.0, [2.0, 4.0, 6.0])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..ir import Graph
from ..jit import njit
from ..ops import Const, Einsum, Elementwise, Fold, Input, LogSumExp
from . import kernels as K
from .rules import TAPE_RULES, window
from .scalar import compile_lambda

#: The most index entries (einsum terms, gather and broadcast map entries) a tape holds. Above it the
#: planned sweeps win: an indexed term costs ~8 ns over the three sweeps, a BLAS product's Python call
#: ~1 us plus much less per term. Measured on tanh MLPs (batch, n, n, 10) with softmax cross-entropy:
#: 1,664 terms tape 32 us vs planned 160 us; 10,752 terms 112 vs 170 us; 75,776 terms 676 vs 205 us.
MAX_ENTRIES = 20_000

# the kinds of step, and the columns of the step table
EINSUM, GATHER, PROGRAM, SCATTER, LSE = 0, 1, 2, 3, 4
_KIND, _OUT, _SIZE, _A, _B, _LO1, _LO2, _LO3, _N, _NEED_A, _NEED_B = range(11)
_P, _PC, _NCODE, _NARGS, _ROOT, _WORK, _LIVE, _NODE = range(11, 19)
_COLUMNS = 19
# a log-sum-exp over x as (outer, axis, inner) keeps its sizes in the program's columns
_OUTER, _AXIS, _INNER = _P, _NCODE, _NARGS

_JIT = {"nogil": True, "error_model": "numpy"}
#: The sweep compiles the interpreters of ``kernels`` in, and Numba's disk cache keys on this file alone:
#: bump this with every edit of kernels.py or vmath.py, or a warm cache keeps running the old code.
KERNELS_REVISION = 4


@njit(inline="always", **_JIT)  # type: ignore[call-overload]
def _lse_forward(vals, ao, oo, outer, n, inner):
    """y = m + log(sum(exp(x - m))) along the axis, m = max(x) (0 where it is not finite), as rules' own rule."""
    for p in range(outer):
        for q in range(inner):
            base = ao + p * n * inner + q
            m = vals[base]
            for r in range(1, n):
                v = vals[base + r * inner]
                if v > m or v != v:  # a NaN anywhere makes the max NaN, as np.max
                    m = v
            if not math.isfinite(m):
                m = 0.0
            t = 0.0
            for r in range(n):
                t += math.exp(vals[base + r * inner] - m)
            vals[oo + p * inner + q] = math.log(t) + m


@njit(inline="always", **_JIT)  # type: ignore[call-overload]
def _lse_reverse(vals, grads, ao, oo, outer, n, inner):
    """x_bar += softmax(x) y_bar, softmax = e / sum(e), e = exp(x - y), as rules' own rule."""
    for p in range(outer):
        for q in range(inner):
            base, y = ao + p * n * inner + q, vals[oo + p * inner + q]
            t = 0.0
            for r in range(n):
                t += math.exp(vals[base + r * inner] - y)
            g = grads[oo + p * inner + q]
            for r in range(n):
                grads[base + r * inner] += math.exp(vals[base + r * inner] - y) / t * g


@njit(**_JIT)  # type: ignore[call-overload]
def sweep(steps, ix, consts, template, leaves, output, nwork):
    """The values and cotangents of every node: ``(vals, grads)``, flat, laid out as the tape's ``offsets``.

    ``vals`` starts as ``leaves`` followed by ``template`` (the constants); the forward sweep fills the
    rest. The adjoint sweep seeds the cotangent of the scalar at ``output`` (an offset; -1: no reverse
    sweep) and runs the steps marked live. ``ix`` holds every index list and program, ``consts`` the
    programs' constants; ``nwork`` is the size of the programs' slot matrices, all together.
    """
    vals = np.empty_like(template)
    nleaf = leaves.shape[0]
    vals[:nleaf] = leaves
    vals[nleaf:] = template[nleaf:]
    work = np.empty(nwork, dtype=template.dtype)
    for s in range(steps.shape[0]):
        kind, oo, size = steps[s, _KIND], steps[s, _OUT], steps[s, _SIZE]
        ao, bo, n = steps[s, _A], steps[s, _B], steps[s, _N]
        l1, l2, l3 = steps[s, _LO1], steps[s, _LO2], steps[s, _LO3]
        if kind == EINSUM:
            for k in range(size):
                vals[oo + k] = 0.0
            if bo < 0:
                for t in range(n):
                    vals[oo + ix[l1 + t]] += vals[ao + ix[l2 + t]]
            else:
                for t in range(n):
                    vals[oo + ix[l1 + t]] += vals[ao + ix[l2 + t]] * vals[bo + ix[l3 + t]]
        elif kind == GATHER:
            for k in range(size):
                m = ix[l1 + k]
                vals[oo + k] = vals[m] if m >= 0 else 0.0
        elif kind == SCATTER:
            for k in range(size):
                vals[oo + k] = 0.0
            for k in range(n):
                m = ix[l1 + k]
                if m >= 0:
                    vals[oo + m] += vals[ao + k]
        elif kind == LSE:
            _lse_forward(vals, ao, oo, steps[s, _OUTER], steps[s, _AXIS], steps[s, _INNER])
        else:
            p, nc, nargs, root, w = steps[s, _P], steps[s, _NCODE], steps[s, _NARGS], steps[s, _ROOT], steps[s, _WORK]
            V = work[w : w + (nargs + nc) * size].reshape((nargs + nc, size))
            for k in range(nargs):
                for e in range(size):
                    V[k, e] = vals[ix[l1 + k * size + e]]
            c = steps[s, _PC]
            code, ia, ib = ix[p : p + nc], ix[p + nc : p + 2 * nc], ix[p + 2 * nc : p + 3 * nc]
            K.program_forward(code, ia, ib, consts[c : c + nc], nargs, V)
            for e in range(size):
                vals[oo + e] = V[root, e]
    grads = np.zeros_like(vals)
    if output < 0:
        return vals, grads
    grads[output] = 1.0
    gwork = np.empty(nwork, dtype=template.dtype)
    for s in range(steps.shape[0] - 1, -1, -1):
        if steps[s, _LIVE] == 0:  # no cotangent reaches it, or none of the wanted leaves is behind it
            continue
        kind, oo, size = steps[s, _KIND], steps[s, _OUT], steps[s, _SIZE]
        ao, bo, n = steps[s, _A], steps[s, _B], steps[s, _N]
        l1, l2, l3 = steps[s, _LO1], steps[s, _LO2], steps[s, _LO3]
        if kind == EINSUM:
            need_a, need_b = steps[s, _NEED_A] != 0, steps[s, _NEED_B] != 0
            if bo < 0:
                if need_a:
                    for t in range(n):
                        grads[ao + ix[l2 + t]] += grads[oo + ix[l1 + t]]
            else:
                for t in range(n):
                    g = grads[oo + ix[l1 + t]]
                    i, j = ao + ix[l2 + t], bo + ix[l3 + t]
                    if need_a:
                        grads[i] += g * vals[j]
                    if need_b:
                        grads[j] += g * vals[i]
        elif kind == GATHER:
            for k in range(size):
                m = ix[l1 + k]
                if m >= 0:
                    grads[m] += grads[oo + k]
        elif kind == SCATTER:
            for k in range(n):
                m = ix[l1 + k]
                if m >= 0:
                    grads[ao + k] += grads[oo + m]
        elif kind == LSE:
            _lse_reverse(vals, grads, ao, oo, steps[s, _OUTER], steps[s, _AXIS], steps[s, _INNER])
        else:
            p, nc, nargs, root, w = steps[s, _P], steps[s, _NCODE], steps[s, _NARGS], steps[s, _ROOT], steps[s, _WORK]
            nslots = nargs + nc
            V = work[w : w + nslots * size].reshape((nslots, size))
            G = gwork[w : w + nslots * size].reshape((nslots, size))
            G[:, :] = 0.0
            for e in range(size):
                G[root, e] = grads[oo + e]
            active = np.zeros(nslots, dtype=np.bool_)
            for k in range(nargs):
                active[k] = ix[l2 + k] != 0
            c = steps[s, _PC]
            code, ia, ib = ix[p : p + nc], ix[p + nc : p + 2 * nc], ix[p + 2 * nc : p + 3 * nc]
            K.program_vjp(code, ia, ib, consts[c : c + nc], nargs, V, G, active)
            for k in range(nargs):
                if ix[l2 + k] != 0:
                    for e in range(size):
                        grads[ix[l1 + k * size + e]] += G[k, e]
    return vals, grads


class Tape:
    """One graph's step table, index lists and buffer layout: ``grad`` runs it in one compiled call."""

    def __init__(self, graph: Graph, dtype: np.dtype, offsets: list[int], parts: dict[str, Any]) -> None:
        self.graph, self.dtype, self.offsets = graph, dtype, offsets
        self.steps: np.ndarray = parts["steps"]
        self.ix: np.ndarray = parts["ix"]
        self.consts: np.ndarray = parts["consts"]
        self.work_size: int = parts["work"]
        self.template: np.ndarray = parts["template"]  # the constants in place, everything else zero
        self.leaf_ids: tuple[int, ...] = parts["leaves"]  # laid out first, in this order
        self._plans: dict[tuple[int, tuple[int, ...]], tuple[np.ndarray, list[tuple[int, int, int, Any]]]] = {}

    def _plan(self, output: int, ids: tuple[int, ...]) -> tuple[np.ndarray, list[tuple[int, int, int, Any]]]:
        """The step table with the live column set for the cotangent of ``output`` w.r.t. the leaves ``ids``,
        and where each of their cotangents lies (made once per ``(output, ids)``)."""
        nodes = self.graph.nodes
        wanted = [False] * len(nodes)
        for i in ids:
            wanted[i] = True
        for i, n in enumerate(nodes):
            if n.args and any(wanted[a] for a in n.args):
                wanted[i] = True
        reached = [False] * len(nodes)  # behind the output: the planned sweeps give exactly these a cotangent
        reached[output] = True
        for i in range(len(nodes) - 1, -1, -1):
            if reached[i]:
                for a in nodes[i].args:
                    reached[a] = True
        steps = self.steps.copy()
        for s in range(steps.shape[0]):
            node = int(steps[s, _NODE])
            steps[s, _LIVE] = wanted[node] and reached[node]
        offsets = self.offsets
        where = [(i, offsets[i], offsets[i] + math.prod(nodes[i].shape), nodes[i].shape) for i in ids]
        plan = self._plans[output, ids] = (steps, where)
        return plan

    def grad(self, env: Mapping[int, np.ndarray], output: int, ids: tuple[int, ...]) -> tuple[float, dict[int, Any]]:
        """The value of the scalar ``output`` at the leaves ``env`` (all of them) and its gradient w.r.t. ``ids``."""
        plan = self._plans.get((output, ids))
        steps, where = plan if plan is not None else self._plan(output, ids)
        leaves = np.concatenate([env[i] for i in self.leaf_ids], axis=None) if self.leaf_ids else self.template[:0]
        at = self.offsets[output]
        vals, grads = sweep(steps, self.ix, self.consts, self.template, leaves, at, self.work_size)
        # each gradient a view of this call's own buffer: no later call writes there
        return float(vals[at]), {i: grads[a:b].reshape(shape) for i, a, b, shape in where}


def build(graph: Graph, dtype: np.dtype, value_rules: Sequence[Any], vjp_rules: Sequence[Any]) -> Tape | None:
    """The tape of ``graph`` in ``dtype``, or None when a node, a rule or the size rules it out (see the module)."""
    nodes = graph.nodes
    for i, n in enumerate(nodes):
        if isinstance(n.op, (Input, Const)):
            continue
        if (value_rules[i], vjp_rules[i]) not in TAPE_RULES:
            return None
        if isinstance(n.op, Einsum) and len(n.args) > 2:
            return None
        if isinstance(n.op, LogSumExp) and graph.shape(n.args[0])[n.op.axis] == 0:
            return None  # the planned sweeps' max of nothing raises numpy's error: so does the executor
    sizes = [math.prod(n.shape) for n in nodes]
    budget = MAX_ENTRIES
    for i, n in enumerate(nodes):  # count first: a too large graph costs no enumeration
        if isinstance(n.op, Einsum):
            budget -= math.prod(n.op.sizes(*(graph.shape(a) for a in n.args)).values())
        elif n.args:
            budget -= sizes[i] * len(n.args) + sum(sizes[a] for a in n.args)
        if budget < 0:
            return None
    # the inputs first (one copy of all of them per call), then every other node in graph order
    leaf_ids = tuple(i for i, n in enumerate(nodes) if isinstance(n.op, Input))
    order = [*leaf_ids, *(i for i, n in enumerate(nodes) if not isinstance(n.op, Input))]
    offsets = [0] * len(nodes)
    total = 0
    for i in order:
        offsets[i], total = total, total + sizes[i]
    rows: list[list[int]] = []
    ix: list[np.ndarray] = []
    consts: list[np.ndarray] = [np.zeros(0, dtype=dtype)]
    nix = nconst = work = 0
    template = np.zeros(total, dtype=dtype)

    def put(*lists: np.ndarray) -> int:
        nonlocal nix
        start = nix
        for lst in lists:
            ix.append(np.asarray(lst, dtype=np.int64))
            nix += len(lst)
        return start

    for i, n in enumerate(nodes):
        op = n.op
        if isinstance(op, Const):
            template[offsets[i] : offsets[i] + sizes[i]] = _const_values(op, n.shape, dtype)
        if not n.args:
            continue
        row = [0] * _COLUMNS
        row[_OUT], row[_SIZE], row[_NODE] = offsets[i], sizes[i], i
        if isinstance(op, Einsum):
            o, a, b = _einsum_lists(op, [graph.shape(x) for x in n.args], n.shape)
            row[_KIND], row[_A], row[_N] = EINSUM, offsets[n.args[0]], len(o)
            row[_B] = offsets[n.args[1]] if len(n.args) == 2 else -1
            row[_NEED_A] = row[_NEED_B] = 1
            row[_LO1], row[_LO2] = put(o), put(a)
            if b is not None:
                row[_LO3] = put(b)
        elif isinstance(op, Elementwise):
            prog = compile_lambda(op.fn)
            maps = [_broadcast_map(graph.shape(a), n.shape, offsets[a]) for a in n.args]
            row[_KIND], row[_NCODE], row[_NARGS], row[_ROOT] = PROGRAM, len(prog.code), prog.nargs, prog.root
            row[_LO1] = put(*maps)
            row[_LO2] = put(np.ones(prog.nargs, dtype=np.int64))  # every argument's cotangent row scattered back
            row[_P] = put(prog.code, prog.ia, prog.ib)
            row[_PC], row[_WORK] = nconst, work
            consts.append(prog.constants(dtype))
            nconst += len(prog.code)
            work += prog.nslots * sizes[i]
        elif isinstance(op, LogSumExp):
            x_shape = graph.shape(n.args[0])
            row[_KIND], row[_A] = LSE, offsets[n.args[0]]
            row[_OUTER], row[_AXIS] = math.prod(x_shape[: op.axis]), x_shape[op.axis]
            row[_INNER] = math.prod(x_shape[op.axis + 1 :])
        elif isinstance(op, Fold):
            # Fold is Window's transpose: the window of the output's positions says where each input goes
            y_pos = np.arange(1, sizes[i] + 1, dtype=np.float64).reshape(n.shape)
            m = window(op, y_pos).reshape(-1).astype(np.int64) - 1
            row[_KIND], row[_A], row[_N], row[_LO1] = SCATTER, offsets[n.args[0]], len(m), put(m)
        else:
            row[_KIND], row[_LO1] = GATHER, put(_gather_map(op, graph, i, offsets, value_rules[i]))
        rows.append(row)
    parts = {
        "steps": np.array(rows, dtype=np.int64).reshape(len(rows), _COLUMNS),
        "ix": np.concatenate([np.zeros(0, dtype=np.int64), *ix]),
        "consts": np.concatenate(consts).astype(dtype),
        "work": work,
        "template": template,
        "leaves": leaf_ids,
    }
    return Tape(graph, dtype, offsets, parts)


def _const_values(op: Const, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    values = np.array([float(v) for v in op.values], dtype=dtype)
    return np.full(math.prod(shape), values[0], dtype=dtype) if values.size == 1 else values


def _einsum_lists(
    op: Einsum, shapes: list[tuple[int, ...]], shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The flat positions (in y, A and B) of every term ``A[i] B[j]`` of ``y[o]``: one per point of the
    grid of all the spec's indices (an index repeated within a term walks its diagonal)."""
    ins, out = op.terms
    sizes = op.sizes(*shapes)
    letters = sorted(sizes)
    grid = np.indices([sizes[c] for c in letters], dtype=np.int64).reshape(len(letters), -1)
    where = {c: k for k, c in enumerate(letters)}

    def flat(term: str, term_shape: tuple[int, ...]) -> np.ndarray:
        strides = np.cumprod((*term_shape[1:], 1)[::-1])[::-1] if term_shape else ()
        pos = np.zeros(grid.shape[1], dtype=np.int64)
        for c, st in zip(term, strides, strict=True):
            pos += grid[where[c]] * int(st)
        return pos

    o = flat(out, shape)
    a = flat(ins[0], shapes[0])
    b = flat(ins[1], shapes[1]) if len(ins) == 2 else None
    return o, a, b


def _broadcast_map(shape: tuple[int, ...], to: tuple[int, ...], offset: int) -> np.ndarray:
    """The buffer position read for each element of ``to`` when an argument of ``shape`` at ``offset`` broadcasts."""
    pos = np.arange(offset, offset + math.prod(shape), dtype=np.int64).reshape(shape)
    return np.broadcast_to(pos, to).reshape(-1).copy()


def _gather_map(op: Any, graph: Graph, i: int, offsets: list[int], value_rule: Any) -> np.ndarray:
    """The buffer position each element of node ``i`` copies (-1: a zero), found by running the op's own
    value rule on the positions plus one (a zero it writes is then a position of none)."""
    args = graph.nodes[i].args
    xs = [np.arange(offsets[a] + 1, offsets[a] + 1 + math.prod(graph.shape(a)), dtype=np.float64) for a in args]
    xs = [x.reshape(graph.shape(a)) for x, a in zip(xs, args, strict=True)]
    y, _ = value_rule(op, xs, graph.shape(i), np.dtype(np.float64))
    return np.asarray(y, dtype=np.float64).reshape(-1).astype(np.int64) - 1
