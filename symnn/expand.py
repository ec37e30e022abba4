"""Scalar expansion: a Graph evaluated on numpy object arrays of sympy expressions.

``expand`` is the exact reference of the verifier (oracle 2 in DESIGN.md): every output becomes
an array of explicit scalar expressions in the leaves' scalars, which tests differentiate with
``sympy.diff`` themselves. It is meant for small shapes only and refuses, with a ``SizeError``,
graphs whose nodes hold more than ``max_scalars`` scalars in total. Each op is evaluated by one
rule registered as its ``"expand"`` part (``symnn.registry``), following the op's docstring in
``symnn.ops`` literally.

>>> from symnn.ir import Builder
>>> b = Builder()
>>> x = b.input("x", (2,))
>>> w = b.param("w", (2,))
>>> expand(b.build((x * w).sum()))["out"][()]
w[0]*x[0] + w[1]*x[1]
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import sympy as sp

from .errors import GraphError, ShapeError, SizeError
from .functions import sympify_data
from .ir import Graph
from .ops import (
    BroadcastTo,
    Concat,
    Const,
    Einsum,
    Elementwise,
    Fold,
    Input,
    LogSumExp,
    Op,
    Pad,
    Reshape,
    Shape,
    Slice,
    Window,
)
from .registry import has, lookup, rule

#: Default bound on the total number of scalars over all nodes of an expanded graph.
DEFAULT_MAX = 20_000

#: Seconds per unit of ``cse_work``, the work of ``sympy.cse`` and the printers: ``symnn derive attention
#: --scalar`` (1.8e8 units) took 84 s, ``conv`` (7.6e7) 44 s, on the project's 2-core machine.
SECONDS_PER_CSE_UNIT = 6e-7
#: Printing scalar equations estimated above this many seconds is refused (``check_printable``).
MAX_PRINT_SECONDS = 120.0

Leaves = Mapping[str, np.ndarray]
ExpandRule = Callable[[Op, list[np.ndarray], Shape, Leaves], np.ndarray]


def _sym_array(shape: Shape, make: Callable[[tuple[int, ...]], Any]) -> np.ndarray:
    """An object array of ``shape`` whose entry at ``idx`` is ``make(idx)``."""
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = make(idx)
    return out


def _zeros(shape: Shape) -> np.ndarray:
    return _sym_array(shape, lambda idx: sp.S.Zero)


def leaf_symbols(graph: Graph) -> dict[str, np.ndarray]:
    """One real Symbol per scalar of every Input leaf, named ``W[0,1]`` (scalars: ``W``).

    >>> from symnn.ir import Builder
    >>> b = Builder()
    >>> _ = b.param("W", (1, 2)); _ = b.input("t", ())
    >>> syms = leaf_symbols(b.build(_))
    >>> syms["W"].tolist(), syms["t"].shape
    ([[W[0,0], W[0,1]]], ())
    """
    out: dict[str, np.ndarray] = {}
    for node in graph.leaves():
        name = node.op.name  # type: ignore[attr-defined]
        out[name] = _sym_array(node.shape, functools.partial(_leaf_symbol, name))
    return out


def _leaf_symbol(name: str, idx: tuple[int, ...]) -> sp.Symbol:
    return sp.Symbol(f"{name}[{','.join(map(str, idx))}]" if idx else name, real=True)


def _number(v: Any, where: str) -> sp.Expr:
    if isinstance(v, bool):
        raise GraphError(f"{where}: expected a number, got the boolean {v!r}")
    if isinstance(v, sp.Basic):
        return v
    try:
        # a str anywhere in v would otherwise run as Python
        e = sympify_data(v, f"{where} (expected a number or a sympy expression)", GraphError, strict=True)
    except (sp.SympifyError, TypeError):
        raise GraphError(f"{where}: expected a number or a sympy expression, got {v!r}") from None
    if not isinstance(e, sp.Expr):
        raise GraphError(f"{where}: expected a number or a sympy expression, got the {type(v).__name__} {v!r}")
    return e


def _given(arr: np.ndarray, where: str, idx: tuple[int, ...]) -> sp.Expr:
    return _number(arr[idx], where)


def _leaf_values(graph: Graph, values: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    leaves = leaf_symbols(graph)
    for name, given in (values or {}).items():
        if name not in leaves:
            raise GraphError(
                f"values given for {name!r}, but the graph has no such leaf; its leaves are {list(leaves)}"
            )
        arr = np.asarray(given, dtype=object)
        shape = leaves[name].shape
        if arr.shape != shape:
            raise ShapeError(f"values for {name!r} have shape {arr.shape}, but the leaf has shape {shape}")
        leaves[name] = _sym_array(shape, functools.partial(_given, arr, f"values[{name!r}]"))
    return leaves


def scalar_count(graph: Graph) -> int:
    """The number of scalars ``expand`` would create: the sizes of all nodes, summed."""
    return sum(math.prod(n.shape) for n in graph.nodes)


def cse_work(values: Mapping[str, np.ndarray]) -> int:
    """The sum, over the distinct subexpressions of ``values``, of their sizes as trees; linear in the DAG.

    ``sympy.cse`` orders the arguments of every subexpression it rebuilds by counting their nodes as
    trees, so its time follows this sum, which nested softmax and attention sums make huge.

    >>> x = sp.Symbol("x")
    >>> cse_work({"y": np.array([(x + 1) ** 2], dtype=object)})  # x, 1, 2: 1 each; x + 1: 3; the power: 5
    11
    """
    sizes: dict[sp.Basic, int] = {}
    for arr in values.values():
        for root in np.asarray(arr, dtype=object).ravel():
            stack = [root]
            while stack:  # post-order without recursion: a deep expression does not reach the recursion limit
                e = stack[-1]
                missing = [a for a in e.args if a not in sizes]
                if missing:
                    stack.extend(missing)
                    continue
                stack.pop()
                sizes[e] = 1 + sum(sizes[a] for a in e.args)
    return sum(sizes.values())


def check_printable(values: Mapping[str, np.ndarray], max_seconds: float = MAX_PRINT_SECONDS) -> None:
    """Raise ``SizeError``, with the estimate, if printing ``values`` as equations would take over ``max_seconds``.

    The estimate is ``cse_work(values) * SECONDS_PER_CSE_UNIT`` (measured; see ``cse_work``).
    """
    work = cse_work(values)
    seconds = work * SECONDS_PER_CSE_UNIT
    if seconds > max_seconds:
        raise SizeError(
            f"the scalar equations would take about {seconds:,.0f} s to simplify and print ({work:.3g} units of "
            f"sympy.cse work at {SECONDS_PER_CSE_UNIT:g} s each), above the limit of {max_seconds:g} s; "
            "use smaller shapes, or leave out --scalar for the equations over tensors"
        )


def expand(
    graph: Graph,
    values: Mapping[str, Any] | None = None,
    max_scalars: int = DEFAULT_MAX,
    digits: int | None = None,
) -> dict[str, np.ndarray]:
    """Every output of ``graph`` as an object array of explicit sympy expressions (0-d for scalars).

    Leaves named in ``values`` take those numbers (ints, floats, sympy Rationals, in the leaf's
    shape); the others become the symbols of ``leaf_symbols``. With ``digits``, every node's
    numeric parts are evaluated to that many digits as they are computed (``evalf``), so
    irrational constants such as ``sqrt(2)`` fold into Floats instead of growing the expressions.
    """
    count = scalar_count(graph)
    if count > max_scalars:
        raise SizeError(
            f"expand would create {count} scalars over the graph's {len(graph.nodes)} nodes, "
            f"above the bound max_scalars={max_scalars}; scalar expansion is for small shapes: "
            "use smaller shapes, or raise the bound (max_scalars=... in Python, --max-scalars on the command line)"
        )
    leaves = _leaf_values(graph, values)
    vals: list[np.ndarray] = []
    for node in graph.nodes:
        if not has(type(node.op), "expand"):
            raise GraphError(f"expand has no rule for the op {type(node.op).__name__}")
        expand_rule: ExpandRule = lookup(type(node.op), "expand")
        val = expand_rule(node.op, [vals[a] for a in node.args], node.shape, leaves)
        if digits is not None and not isinstance(node.op, Input):
            val = _evalf_array(val, digits)
        vals.append(val)
    return {name: vals[o] for name, o in zip(graph.output_names, graph.outputs, strict=True)}


def _evalf_array(arr: np.ndarray, digits: int) -> np.ndarray:
    return _sym_array(arr.shape, lambda idx: sp.sympify(arr[idx]).evalf(digits))


# -- one rule per op, leaves included: rule(op, argument arrays, result shape, leaf arrays) ---------
@rule(Input, "expand")
def _expand_input(op: Input, args: list[np.ndarray], shape: Shape, leaves: Leaves) -> np.ndarray:
    return leaves[op.name]


@rule(Const, "expand")
def _expand_const(op: Const, args: list[np.ndarray], shape: Shape, leaves: Leaves) -> np.ndarray:
    # one value: filled; otherwise all values in C order
    vals = [sp.sympify(v) for v in op.values]
    if len(vals) == 1:
        return _sym_array(shape, lambda idx: vals[0])
    if len(vals) != math.prod(shape):
        raise GraphError(f"Const of shape {shape} holds {len(vals)} values; it needs 1 or {math.prod(shape)}")
    return np.array(vals, dtype=object).reshape(shape)


@rule(Elementwise, "expand")
def _expand_elementwise(op: Elementwise, args: list[np.ndarray], shape: Shape, leaves: Leaves) -> np.ndarray:
    # y[idx] = fn(a_1[idx], ..., a_n[idx]) after numpy broadcasting
    wide = [np.broadcast_to(a, shape) for a in args]
    body, variables = op.fn.expr, op.fn.variables
    return _sym_array(shape, lambda idx: body.xreplace({v: a[idx] for v, a in zip(variables, wide, strict=True)}))


@rule(Einsum, "expand")
def _expand_einsum(op: Einsum, args: list[np.ndarray], shape: Shape, leaves: Leaves) -> np.ndarray:
    # y[out] = sum over the other letters of the product of the operands (np.einsum's meaning);
    # each sum is one sympy Add of all its terms, since adding terms one by one is quadratic
    ins, out = op.terms
    summed = "".join(c for c in dict.fromkeys("".join(ins)) if c not in out)
    letters = out + summed
    size = op.sizes(*(a.shape for a in args))
    full = tuple(size[c] for c in letters)
    aligned = [
        a.transpose(sorted(range(len(term)), key=lambda k: letters.index(term[k]))).reshape(
            [size[c] if c in term else 1 for c in letters]
        )
        for term, a in zip(ins, args, strict=True)
    ]
    terms = functools.reduce(operator.mul, aligned)
    rows = np.broadcast_to(terms, full).reshape(math.prod(shape), -1)
    flat = np.empty(len(rows), dtype=object)
    flat[:] = [sp.Add(*row) for row in rows]
    return flat.reshape(shape)


def _positions(kernel: Shape, stride: Shape, outs: Shape, offset: tuple[int, ...]) -> tuple[slice, ...]:
    """The padded-input slice that window offset ``offset`` reads for every output position."""
    return tuple(slice(k, k + st * (o - 1) + 1, st) for k, st, o in zip(offset, stride, outs, strict=True))


@rule(Window, "expand")
def _expand_window(op: Window, args: list[np.ndarray], shape: Shape, leaves: Leaves) -> np.ndarray:
    # y[n, c, *k, *o] = x_padded[n, c, *(o * stride + k)], zeros outside x
    (x,) = args
    d = len(op.kernel)
    padded = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in op.padding], constant_values=sp.S.Zero)
    outs = shape[2 + d :]
    out = np.empty(shape, dtype=object)
    for k in np.ndindex(*op.kernel):
        out[(slice(None), slice(None), *k)] = padded[
            (slice(None), slice(None), *_positions(op.kernel, op.stride, outs, k))
        ]
    return out


@rule(Fold, "expand")
def _expand_fold(op: Fold, args: list[np.ndarray], shape: Shape, leaves: Leaves) -> np.ndarray:
    # x[n, c, *s] = sum over (k, o) with o * stride + k - padding = s of w[n, c, *k, *o]
    (w,) = args
    d = len(op.kernel)
    outs = w.shape[2 + d :]
    buf = _zeros((*shape[:2], *(s + 2 * p for s, p in zip(op.spatial, op.padding, strict=True))))
    for k in np.ndindex(*op.kernel):
        buf[(slice(None), slice(None), *_positions(op.kernel, op.stride, outs, k))] += w[(slice(None), slice(None), *k)]
    crop = tuple(slice(p, p + s) for s, p in zip(op.spatial, op.padding, strict=True))
    return buf[(slice(None), slice(None), *crop)].copy()


@rule(Reshape, "expand")
def _expand_reshape(op: Reshape, args: list[np.ndarray], shape: Shape, leaves: Leaves) -> np.ndarray:
    return args[0].reshape(op.shape)  # C order, like numpy


@rule(Slice, "expand")
def _expand_slice(op: Slice, args: list[np.ndarray], shape: Shape, leaves: Leaves) -> np.ndarray:
    return args[0][tuple(slice(a, b) for a, b in zip(op.start, op.stop, strict=True))].copy()


@rule(Pad, "expand")
def _expand_pad(op: Pad, args: list[np.ndarray], shape: Shape, leaves: Leaves) -> np.ndarray:
    return np.pad(args[0], list(zip(op.before, op.after, strict=True)), constant_values=sp.S.Zero)


@rule(Concat, "expand")
def _expand_concat(op: Concat, args: list[np.ndarray], shape: Shape, leaves: Leaves) -> np.ndarray:
    return np.concatenate(args, axis=op.axis)


@rule(BroadcastTo, "expand")
def _expand_broadcast_to(op: BroadcastTo, args: list[np.ndarray], shape: Shape, leaves: Leaves) -> np.ndarray:
    return np.broadcast_to(args[0], op.shape).copy()


@rule(LogSumExp, "expand")
def _expand_logsumexp(op: LogSumExp, args: list[np.ndarray], shape: Shape, leaves: Leaves) -> np.ndarray:
    # y = log(sum_axis exp(x)): the exact value (the max shift is a numerical device only)
    rows = np.moveaxis(args[0], op.axis, -1)
    return _sym_array(shape, lambda idx: sp.log(sp.Add(*[sp.exp(v) for v in rows[idx]])))
