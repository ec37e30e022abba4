"""The executor's sweeps, planned once per graph: each node's rule staged for its shapes.

A planned primal step is ``(node, value, args, vjp)``: ``value(xs) -> (y, aux)`` runs the node on the
values of ``args``, and ``vjp(needs)`` stages its cotangent rule, ``step(xs, y, aux, ct) -> [cotangent or
None per argument]``, for the arguments that ``needs`` a cotangent. Rules come from ``rules.stage_value``
and ``rules.stage_vjp``: the executor's own in their staged forms, an overridden one (a mutant) as it is.

With ``fuse``, an elementwise node whose only use is as an argument of a non-affine elementwise node of
the same shape (a bias add under its activation) is computed inside that node's scalar program: one
interpreter call per sweep instead of two, each value by the same operations in the same order
(``scalar.compose``). Its own value is then never stored: the forward mode, which needs every
tangent, runs unfused.

>>> import numpy as np, sympy as sp
>>> from symnn.ir import Builder
>>> from symnn.registry import lookup
>>> from symnn.ops import Elementwise
>>> b = Builder()
>>> h = (b.input("x", (2, 3)) + b.param("b", (3,))).map(sp.tanh)
>>> g = b.build(h.sum())
>>> rules = [lookup(type(n.op), "exec.value") if n.args else None for n in g.nodes]
>>> vjps = [lookup(type(n.op), "exec.vjp") if n.args else None for n in g.nodes]
>>> [(s.node, s.args) for s in plan(g, np.dtype(np.float64), rules, vjps, fuse=True)]
[(3, (0, 1)), (4, (3,))]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..ir import Graph
from ..registry import lookup
from .rules import ValueStep, VjpStep, fusable, fused_program, stage_program, stage_program_vjp, stage_value, stage_vjp


class Step(NamedTuple):
    """One planned node of the primal sweep (a tuple, so the sweeps unpack it without attribute look-ups)."""

    node: int
    value: ValueStep
    args: tuple[int, ...]
    vjp: Callable[[list[bool]], VjpStep]


def plan(graph: Graph, dtype: np.dtype, value_rules: Sequence[Any], vjp_rules: Sequence[Any], fuse: bool) -> list[Step]:
    """The primal sweep of ``graph``: one ``Step`` per node that computes (or per fused chain), in order."""
    nodes = graph.nodes
    uses = [0] * len(nodes)
    for n in nodes:
        for a in n.args:
            uses[a] += 1
    for o in graph.outputs:
        uses[o] += 1
    chains: dict[int, tuple[list[Any], list[int], tuple[int, ...]]] = {}  # end node -> (ops, positions, args)
    inside: set[int] = set()  # nodes computed inside a chain
    for i, n in enumerate(nodes):
        if value_rules[i] is None or not fuse:
            continue
        for j, p in enumerate(n.args):
            inner = nodes[p]
            others = n.args[:j] + n.args[j + 1 :]
            ops, positions, args = chains.get(p, ([inner.op], [], inner.args))
            if (
                uses[p] == 1
                and inner.args
                and inner.shape == n.shape
                and fusable(inner.op, n.op, (value_rules[p], value_rules[i]), (vjp_rules[p], vjp_rules[i]))
                and not set(args) & set(others)  # each argument's cotangent summed in the unfused order
            ):
                chains[i] = ([*ops, n.op], [*positions, j], args + others)
                inside.add(p)
                break
    steps = []
    for i, n in enumerate(nodes):
        if value_rules[i] is None or i in inside:
            continue
        if i in chains:
            ops, positions, args = chains[i]
            steps.append(_fused(fused_program(ops, positions), args, n.shape, graph, dtype, i))
            continue
        shapes = tuple(graph.shape(a) for a in n.args)
        value = stage_value(value_rules[i], n.op, shapes, n.shape, dtype)
        steps.append(Step(i, value, n.args, _vjp_of(vjp_rules[i], n.op, shapes, n.shape, dtype)))
    return steps


def _fused(prog: Any, args: tuple[int, ...], shape: tuple[int, ...], graph: Graph, dtype: np.dtype, i: int) -> Step:
    shapes = tuple(graph.shape(a) for a in args)
    value = stage_program(prog, shape, dtype)
    return Step(i, value, args, lambda needs: stage_program_vjp(prog, shapes, shape, dtype, needs))


def _vjp_of(
    rule: Any, op: Any, shapes: tuple[tuple[int, ...], ...], shape: tuple[int, ...], dtype: np.dtype
) -> Callable[[list[bool]], VjpStep]:
    if rule is None:  # no "exec.vjp" part: reached with a cotangent, the look-up names what is missing
        return lambda needs: _missing(op)
    return lambda needs: stage_vjp(rule, op, shapes, shape, dtype, needs)


def _missing(op: Any) -> VjpStep:
    def step(xs: list[Any], y: Any, aux: Any, ct: Any) -> list[Any]:
        return lookup(type(op), "exec.vjp")(op, xs, y, aux, ct, [True] * len(xs))  # type: ignore[no-any-return]

    return step
