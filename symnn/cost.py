"""Operation counts of a Graph, from shapes alone.

A contraction of two or more operands costs one multiply-add per point of its index space
(``prod`` of all index sizes, times ``operands - 1``); that is the count BENCHMARKS.md (S4)
compares between the value-and-gradient graph and the forward graph. Sums, elementwise work
and data movement are counted separately.

>>> from symnn.ir import Builder
>>> b = Builder()
>>> x, w = b.input("x", (4, 3)), b.param("W", (2, 3))
>>> cost(b.build((x @ w.T).sum())).macs
24
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .ir import Graph
from .ops import Concat, Const, Einsum, Elementwise, Fold, Input, LogSumExp, Window


@dataclass(frozen=True)
class Cost:
    """Scalar operation counts: multiply-adds, reductions, elementwise and other work."""

    macs: int
    reductions: int
    elementwise: int
    other: int
    nodes: int

    @property
    def total(self) -> int:
        return self.macs + self.reductions + self.elementwise + self.other


def cost(graph: Graph) -> Cost:
    """Count the work of ``graph`` node by node."""
    macs = reductions = elementwise = other = 0
    for n in graph.nodes:
        op = n.op
        size = math.prod(n.shape)
        if isinstance(op, (Input, Const)):
            continue
        if isinstance(op, Einsum):
            index_space = math.prod(op.sizes(*(graph.shape(a) for a in n.args)).values())
            if len(n.args) >= 2:
                macs += (len(n.args) - 1) * index_space
            else:
                reductions += index_space if index_space != size else 0
        elif isinstance(op, Elementwise):
            elementwise += size
        elif isinstance(op, (Window, Fold, LogSumExp, Concat)):
            other += max(size, *(math.prod(graph.shape(a)) for a in n.args))
    return Cost(macs, reductions, elementwise, other, len(graph.nodes))


def gradient_ratio(forward: Graph, value_and_grad: Graph) -> float:
    """Multiply-adds of the value-and-gradient graph over those of the forward graph."""
    base = cost(forward).macs
    if base == 0:
        raise ZeroDivisionError("the forward graph has no contractions to compare against")
    return cost(value_and_grad).macs / base
