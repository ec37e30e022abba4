"""Elementwise fusion: which nodes share one loop, and in what order everything is emitted.

A ``Group`` is a set of elementwise nodes (``Elementwise``, and ``BroadcastTo`` as the
identity) of one shape, computed element by element in one loop with scalar temporaries.
Groups are grown backwards from a root: a producer joins when it has the group's shape and
every one of its users is either in the group or emitted after the group (then the producer
is also stored: a group may store several members). The group is emitted at its root's
position, so every value it reads is ready and every later reader finds its results.

>>> from symnn.ir import Builder
>>> b = Builder()
>>> x = b.input("x", (3,))
>>> g = b.build(((x + 1) * 2).map(lambda t: t**2).sum())
>>> [s if isinstance(s, int) else s.members for s in plan(g)]
[0, (1, 2, 3), 4]
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from ..ir import Graph
from ..ops import BroadcastTo, Elementwise, Shape


@dataclass(frozen=True)
class Group:
    """Elementwise nodes computed in one loop; ``stored`` are written to arrays."""

    members: tuple[int, ...]  # topological order
    stored: tuple[int, ...]  # members read after the group or returned as outputs
    inputs: tuple[int, ...]  # values from outside the group, in first-use order
    shape: Shape


def fusible(graph: Graph, i: int) -> bool:
    return isinstance(graph.nodes[i].op, (Elementwise, BroadcastTo))


def users(graph: Graph) -> list[list[int]]:
    """For each node, the nodes that read it (each once)."""
    out: list[list[int]] = [[] for _ in graph.nodes]
    for i, n in enumerate(graph.nodes):
        for a in dict.fromkeys(n.args):
            out[a].append(i)
    return out


def plan(graph: Graph) -> list[int | Group]:
    """The emission order: node ids (non-fused ops and leaves) and fused Groups."""
    readers = users(graph)
    outputs = set(graph.outputs)
    owner: dict[int, int] = {}  # member -> root of its group
    groups: dict[int, Group] = {}
    for root in range(len(graph.nodes) - 1, -1, -1):
        if root in owner or not fusible(graph, root):
            continue
        shape = graph.nodes[root].shape
        members = {root}
        todo = [-a for a in graph.nodes[root].args]
        heapq.heapify(todo)
        while todo:  # latest producer first, so its users have all been decided
            p = -heapq.heappop(todo)
            if p in members or p in owner or not fusible(graph, p) or graph.nodes[p].shape != shape:
                continue
            if all(u in members or u > root for u in readers[p]):
                members.add(p)
                for a in graph.nodes[p].args:
                    heapq.heappush(todo, -a)
        for m in members:
            owner[m] = root
        order = tuple(sorted(members))
        stored = tuple(m for m in order if m in outputs or any(u not in members for u in readers[m]))
        inputs = tuple(dict.fromkeys(a for m in order for a in graph.nodes[m].args if a not in members))
        groups[root] = Group(order, stored, inputs, shape)
    steps: list[int | Group] = []
    for i in range(len(graph.nodes)):
        if i in groups:
            steps.append(groups[i])
        elif i not in owner:
            steps.append(i)
    return steps
