"""The Graph: an SSA program of shaped tensor values over the ops in ``symnn.ops``.

A ``Builder`` records nodes in topological order, checks shapes as each node is added,
and hash-conses them, so a subexpression built twice is one node. ``Tensor`` is the handle
that layers and users compute with.

>>> b = Builder()
>>> x = b.input("x", (2, 3))
>>> w = b.param("W", (4, 3))
>>> y = (x @ w.T).sum()
>>> g = b.build(y)
>>> g.shape(g.outputs[0]), [n.op.name for n in g.leaves()]
((), ['x', 'W'])
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import keyword
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from . import draw
from .errors import GraphError, ShapeError, SymnnError
from .functions import canonicalize, sympify_data
from .ops import (
    BroadcastTo,
    Concat,
    Const,
    Einsum,
    Elementwise,
    Input,
    LogSumExp,
    Op,
    Pad,
    Reshape,
    Shape,
    Slice,
    broadcast_shapes,
)

_ARGS = [sp.Symbol(f"_a{i}", real=True) for i in range(64)]
#: Leaf names of this form are the derivatives' own (``symnn.diff``): a user leaf may not take one.
RESERVED = re.compile(r"(tangent|cotangent|grad|hvp)[0-9]*:")


#: Larger graphs display as their one-line repr in Jupyter (``draw()`` and ``symnn.printing`` still work).
DISPLAY_MAX_NODES = 400
#: A Graph's renderings by mime kind, for Jupyter: ``"latex"`` is registered by ``symnn.printing`` when it
#: is imported. ir cannot import printing: printing reaches ``symnn.expand``, and the independent oracles,
#: which import ir, must never reach it.
RENDERERS: dict[str, Callable[[Graph], str]] = {}


def arg_symbols(n: int) -> list[sp.Symbol]:
    """The canonical real symbols ``_a0 .. _a{n-1}`` that Elementwise lambdas are written in."""
    if n > len(_ARGS):
        _ARGS.extend(sp.Symbol(f"_a{i}", real=True) for i in range(len(_ARGS), n))
    return _ARGS[:n]


@dataclass(frozen=True)
class Node:
    """One SSA value: ``op`` applied to the values ``args`` (indices of earlier nodes)."""

    op: Op
    args: tuple[int, ...]
    shape: Shape


@dataclass(frozen=True)
class Graph:
    """A finished program: nodes in topological order, and named outputs."""

    nodes: tuple[Node, ...]
    outputs: tuple[int, ...]
    output_names: tuple[str, ...]

    def shape(self, i: int) -> Shape:
        return self.nodes[i].shape

    def leaves(self, kind: str | None = None) -> list[Node]:
        """The Input nodes in creation order (``kind`` filters ``"input"`` or ``"param"``)."""
        return [n for n in self.nodes if isinstance(n.op, Input) and (kind is None or n.op.kind == kind)]

    def leaf_ids(self, kind: str | None = None) -> list[int]:
        return [i for i, n in enumerate(self.nodes) if isinstance(n.op, Input) and (kind is None or n.op.kind == kind)]

    @property
    def params(self) -> dict[str, Shape]:
        return {n.op.name: n.shape for n in self.leaves("param")}  # type: ignore[attr-defined]

    @property
    def inputs(self) -> dict[str, Shape]:
        return {n.op.name: n.shape for n in self.leaves("input")}  # type: ignore[attr-defined]

    def leaf(self, name: str) -> int:
        for i, n in enumerate(self.nodes):
            if isinstance(n.op, Input) and n.op.name == name:
                return i
        known = ", ".join(n.op.name for n in self.leaves())  # type: ignore[attr-defined]
        raise GraphError(f"the graph has no input or parameter named {name!r}; it has: {known}")

    def fingerprint(self) -> str:
        """A content hash of the program (ops, wiring, shapes, output names)."""
        h = hashlib.sha256()
        for n in self.nodes:
            h.update(_op_key(n.op).encode())
            h.update(repr((n.args, n.shape)).encode())
        h.update(repr((self.outputs, self.output_names)).encode())
        return h.hexdigest()

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        outs = {nm: self.shape(o) for nm, o in zip(self.output_names, self.outputs, strict=True)}
        return f"<Graph {len(self.nodes)} nodes, outputs {outs}>"

    # -- display: Jupyter calls the _repr_*_ methods ------------------------------------------------
    def draw(self, engine: str = "auto") -> draw.Drawing:
        """The computational graph as SVG (a ``str`` Jupyter shows as the picture): ``dot``, or a built-in layout."""
        return draw.to_svg(self, engine)

    def to_dot(self) -> str:
        """The computational graph as Graphviz DOT text."""
        return draw.to_dot(self)

    def _repr_svg_(self) -> str | None:
        return None if len(self.nodes) > DISPLAY_MAX_NODES else str(draw.to_svg(self))

    def _repr_latex_(self) -> str | None:
        render = RENDERERS.get("latex")
        return None if render is None or len(self.nodes) > DISPLAY_MAX_NODES else render(self)


def _op_key(op: Op) -> str:
    if isinstance(op, Elementwise):
        return _lambda_key(op.fn)
    return repr(op)


@functools.lru_cache(maxsize=1 << 14)
def _lambda_key(fn: sp.Lambda) -> str:
    return f"Elementwise({sp.srepr(fn)})"  # cached: a scalar graph repeats a few bodies many times


class Builder:
    """Records a Graph node by node; ``scope`` names the layer in shape errors."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self._memo: dict[tuple[Any, ...], int] = {}
        self._names: dict[str, int] = {}
        self._scopes: list[str] = []

    # -- leaves -----------------------------------------------------------------------------
    def input(self, name: str, shape: Sequence[int]) -> Tensor:
        """A data input (no gradient is taken for it by default)."""
        return self._leaf(_unreserved(name), shape, "input")

    def param(self, name: str, shape: Sequence[int]) -> Tensor:
        """A trainable parameter."""
        return self._leaf(_unreserved(name), shape, "param")

    def derivative_input(self, name: str, shape: Sequence[int]) -> Tensor:
        """An input of a derivative graph (``tangent:w``, ``cotangent:loss``): for ``symnn.diff`` only."""
        return self._leaf(name, shape, "input")

    def _leaf(self, name: str, shape: Sequence[int], kind: str, trusted: bool = False) -> Tensor:
        if not isinstance(name, str) or not name:
            raise GraphError(f"input names must be non-empty strings, got {name!r}")
        shape = tuple(shape) if trusted else _check_shape(shape, name)  # a Graph's own shapes are already checked
        if name in self._names:
            i = self._names[name]
            node = self.nodes[i]
            if node.shape != shape or node.op.kind != kind:  # type: ignore[attr-defined]
                raise ShapeError(
                    f"{name!r} was declared as {node.op.kind} of shape {node.shape}, "  # type: ignore[attr-defined]
                    f"now as {kind} of shape {shape}; use another name"
                )
            return Tensor(self, i)
        i = self._append(Node(Input(name, kind), (), tuple(shape)))
        self._names[name] = i
        return Tensor(self, i)

    def const(self, values: Any, shape: Sequence[int] = ()) -> Tensor:
        """A constant: a number filled to ``shape``, or nested sequences (or an array) of numbers."""
        if isinstance(values, sp.Expr):
            if not values.is_number:
                raise GraphError(f"constants must be numbers, got {values!r}")
            return self.const_node((_exact(values),), _check_shape(shape, "const"))
        dims, vals = _nested(values)
        shape = _check_shape(shape if not dims else dims, "const")
        if not all(math.isfinite(v) for v in vals):
            raise GraphError("constants must be finite numbers")
        return self.const_node(tuple(vals), shape)

    def const_node(self, values: tuple[float | int, ...], shape: Shape) -> Tensor:
        """The Const node holding ``values`` (one fill value, or all in C order)."""
        key = ("const", values, shape)
        if key in self._memo:
            return Tensor(self, self._memo[key])
        i = self._append(Node(Const(values), (), shape))
        self._memo[key] = i
        return Tensor(self, i)

    # -- nodes ------------------------------------------------------------------------------
    def add(self, op: Op, *args: Tensor) -> Tensor:
        """Append ``op(*args)`` after checking shapes; an identical node is reused."""
        ids = tuple(self._id(a) for a in args)
        key = (op, ids)
        if key in self._memo:
            return Tensor(self, self._memo[key])
        try:
            shape = _infer(op, tuple(self.nodes[i].shape for i in ids))
        except SymnnError as e:
            if self._scopes:
                raise type(e)(f"{self._scopes[-1]}: {e}") from None
            raise
        i = self._append(Node(op, ids, tuple(shape)))
        self._memo[key] = i
        return Tensor(self, i)

    def elementwise(self, fn: Callable[..., Any] | sp.Lambda, *args: Tensor | float) -> Tensor:
        """Apply a scalar sympy function elementwise; Python numbers are folded into its body."""
        tensors: list[Tensor] = []
        exprs: list[sp.Expr] = []
        for a in args:
            if isinstance(a, Tensor):
                if a.builder is not self:
                    raise GraphError("a tensor from another graph was used here")
                if a not in tensors:
                    tensors.append(a)
                exprs.append(arg_symbols(len(tensors))[tensors.index(a)])
            else:
                exprs.append(_number(a))
        if isinstance(fn, sp.Lambda):
            body = fn(*exprs)
        else:
            body = sympify_data(fn(*exprs), "map", GraphError)
            if not isinstance(body, sp.Basic):
                raise GraphError(f"map: the function must return a sympy expression, got {type(body).__name__}")
        return self.apply(body, tensors)

    def apply(self, body: sp.Expr, tensors: Sequence[Tensor]) -> Tensor:
        """Elementwise node for ``body`` over ``_a0.._a{n-1}`` bound to ``tensors``.

        Arguments that are filled constants are folded into the body, explicit broadcasts that
        numpy broadcasting would do anyway are dropped, and unused arguments are removed.
        """
        # the sympy work depends only on the body and on which arguments are filled constants or
        # repeated (the "pattern"), not on the node: it is cached, so a graph of 10,000 scalar
        # nodes with a handful of distinct bodies costs a handful of rewrites
        body, used = _canonical(body, len(tensors))
        nodes = self.nodes
        shapes = [nodes[t.id].shape for t in tensors]
        same = all(sh == shapes[0] for sh in shapes)  # the common case (every scalar of a formula): no broadcasting
        out_shape = shapes[0] if same and shapes else broadcast_shapes(*shapes)
        keep: list[Tensor] = []
        slots: dict[int, int] = {}  # node id -> index in keep (ids hash faster than Tensors)
        pattern: list[Any] = []
        for used_k, t in zip(used, tensors, strict=True):
            if not used_k:
                pattern.append(None)
                continue
            node = nodes[t.id]
            if isinstance(node.op, (BroadcastTo, Reshape)):
                t = self._peel_broadcast(t, out_shape)
                same = same and nodes[t.id].shape == out_shape
                node = nodes[t.id]
            if isinstance(node.op, Const) and len(node.op.values) == 1:
                pattern.append(("c", node.op.values[0], type(node.op.values[0])))  # 0 and 0.0 differ
            elif t.id in slots:
                pattern.append(slots[t.id])
            else:
                pattern.append(slots.setdefault(t.id, len(keep)))
                keep.append(t)
        folded = _fold(body, tuple(pattern), len(keep))
        if not keep:
            return self.const_node((folded,), out_shape)  # type: ignore[arg-type]
        if not same and broadcast_shapes(*(t.shape for t in keep)) != out_shape:
            # a dropped argument still decides the shape: broadcast explicitly
            keep = [t.broadcast_to(out_shape) for t in keep]
        if folded is None:  # identity (sympy would make Lambda(x, x) its IdentityFunction)
            return keep[0]
        return self.add(Elementwise(folded), *keep)  # type: ignore[arg-type]

    def _peel_broadcast(self, t: Tensor, out_shape: Shape) -> Tensor:
        """Skip BroadcastTo and leading-axis Reshape nodes that broadcasting makes redundant."""
        while True:
            node = self.nodes[t.id]
            if isinstance(node.op, BroadcastTo) or (
                isinstance(node.op, Reshape) and _same_but_leading_ones(self.nodes[node.args[0]].shape, node.shape)
            ):
                cand = Tensor(self, node.args[0])
                if broadcast_shapes(cand.shape, out_shape) == out_shape:
                    t = cand
                    continue
            return t

    def build(self, *outputs: Tensor, names: Sequence[str] | None = None) -> Graph:
        """Finish: keep only nodes the outputs need (leaves are always kept, in order)."""
        names = (
            list(names)
            if names is not None
            else (["out"] if len(outputs) == 1 else [f"out{i}" for i in range(len(outputs))])
        )
        if len(names) != len(outputs) or len(set(names)) != len(names):
            raise GraphError(f"need one distinct name per output, got {names}")
        return prune(self.nodes, tuple(self._id(o) for o in outputs), tuple(names))

    @contextlib.contextmanager
    def scope(self, name: str) -> Iterator[None]:
        self._scopes.append(name)
        try:
            yield
        finally:
            self._scopes.pop()

    def _id(self, t: Tensor) -> int:
        if not isinstance(t, Tensor) or t.builder is not self:
            raise GraphError(f"expected a Tensor of this graph, got {t!r}")
        return t.id

    def _append(self, node: Node) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1


def prune(nodes: Sequence[Node], outputs: tuple[int, ...], names: tuple[str, ...]) -> Graph:
    """Drop nodes no output needs and renumber; Input leaves always stay."""
    live = set(outputs)
    for i in range(len(nodes) - 1, -1, -1):
        if i in live:
            live.update(nodes[i].args)
    keep = [i for i, n in enumerate(nodes) if i in live or isinstance(n.op, Input)]
    new = {old: k for k, old in enumerate(keep)}
    out_nodes = tuple(Node(nodes[i].op, tuple(map(new.__getitem__, nodes[i].args)), nodes[i].shape) for i in keep)
    return Graph(out_nodes, tuple(new[o] for o in outputs), names)


def _unreserved(name: Any) -> Any:
    """``name``, unless it looks like a derivative's own leaf (``tangent:w``), which it would be mistaken for."""
    if isinstance(name, str) and RESERVED.match(name):
        raise GraphError(
            f"the leaf name {name!r} is reserved: names starting with tangent:, cotangent:, grad: or hvp: "
            f"(or tangent2: ...) are those of the derivative graphs' inputs and outputs; rename it, "
            f"e.g. {name.replace(':', '_', 1)!r}"
        )
    return name


def load(builder: Builder, graph: Graph, env: dict[int, Tensor] | None = None) -> list[Tensor]:
    """Replay ``graph`` into ``builder``; returns one Tensor per node (leaves by name)."""
    env = env or {}
    vals: list[Tensor] = []
    for i, n in enumerate(graph.nodes):
        if i in env:
            vals.append(env[i])
        elif isinstance(n.op, Input):
            vals.append(builder._leaf(n.op.name, n.shape, n.op.kind, trusted=True))  # a Graph's shapes are checked
        elif isinstance(n.op, Const):
            vals.append(builder.const_node(n.op.values, n.shape))
        elif isinstance(n.op, Elementwise):
            args = [vals[a] for a in n.args]
            if _replays_as_is(n.op.fn) and _plain(builder, args):  # apply would give this very node
                vals.append(builder.add(n.op, *args))
            else:
                vals.append(builder.apply(n.op.fn.expr, args))
        else:
            vals.append(builder.add(n.op, *(vals[a] for a in n.args)))
    return vals


_INFERRED: dict[tuple[Op, tuple[Shape, ...]], Shape] = {}


def _infer(op: Op, shapes: tuple[Shape, ...]) -> Shape:
    """``op.infer(*shapes)``, cached: it is pure, and an Elementwise op's arity is a slow sympy property."""
    key = (op, shapes)
    hit = _INFERRED.get(key)
    if hit is None:
        hit = tuple(op.infer(*shapes))
        if len(_INFERRED) >= _CACHE_LIMIT:
            _INFERRED.clear()
        _INFERRED[key] = hit
    return hit


_CANONICAL: dict[tuple[sp.Expr, int], tuple[sp.Expr, tuple[bool, ...]]] = {}
_FOLDED: dict[tuple[sp.Expr, tuple[Any, ...], int], Any] = {}
_INTERNED: dict[sp.Lambda, sp.Lambda] = {}
_CACHE_LIMIT = 1 << 16  # distinct bodies kept; cleared when full (a graph rarely has more than a few hundred)


def _canonical(body: sp.Expr, n: int) -> tuple[sp.Expr, tuple[bool, ...]]:
    """``canonicalize(body)`` and which of ``_a0.._a{n-1}`` it uses (cached by body)."""
    key = (body, n)
    hit = _CANONICAL.get(key)
    if hit is None:
        canon = canonicalize(body)
        syms = arg_symbols(n)
        extra = canon.free_symbols - set(syms)
        if extra:
            raise GraphError(f"elementwise body {canon} uses unbound symbols {sorted(map(str, extra))}")
        if len(_CANONICAL) >= _CACHE_LIMIT:
            _CANONICAL.clear()
        hit = _CANONICAL[key] = (canon, tuple(s in canon.free_symbols for s in syms))
    return hit


def _fold(body: sp.Expr, pattern: tuple[Any, ...], n_keep: int) -> Any:
    """The Lambda over the kept arguments (constants folded in, repeats merged), the folded value
    when no argument is kept, or None for the identity; cached by (body, pattern)."""
    key = (body, pattern, n_keep)
    if key in _FOLDED:
        return _FOLDED[key]
    syms = arg_symbols(len(pattern))
    subs: dict[sp.Symbol, sp.Expr] = {}
    for s, slot in zip(syms, pattern, strict=True):
        if slot is None:
            continue
        subs[s] = sp.sympify(slot[1]) if isinstance(slot, tuple) else _tmp(slot)
    out = body.xreplace(subs)
    out = out.xreplace({_tmp(i): a for i, a in enumerate(arg_symbols(n_keep))})
    if not n_keep:
        res: Any = _exact(out)
    elif out == arg_symbols(1)[0]:
        res = None
    else:
        res = sp.Lambda(tuple(arg_symbols(n_keep)), out)
        # one object per distinct Lambda: dict lookups keyed by it (node memo, derivative caches)
        # then succeed on identity instead of comparing expression trees
        res = _INTERNED.setdefault(res, res)
    if len(_FOLDED) >= _CACHE_LIMIT:
        _FOLDED.clear()
        _INTERNED.clear()
    _FOLDED[key] = res
    return res


_AS_IS: dict[sp.Lambda, bool] = {}


def _replays_as_is(fn: sp.Lambda) -> bool:
    """Whether ``apply(fn.expr, args)`` over distinct plain arguments gives ``Elementwise(fn)`` itself."""
    hit = _AS_IS.get(fn)
    if hit is None:
        n = len(fn.variables)
        canon, used = _canonical(fn.expr, n)
        hit = all(used) and _fold(canon, tuple(range(n)), n) == fn
        if len(_AS_IS) >= _CACHE_LIMIT:
            _AS_IS.clear()
        _AS_IS[fn] = hit
    return hit


def _plain(builder: Builder, args: list[Tensor]) -> bool:
    """Distinct arguments of one shape, none a filled constant or a broadcast/reshape apply would peel."""
    nodes = builder.nodes
    shape = nodes[args[0].id].shape if args else None
    seen = set()
    for t in args:
        node = nodes[t.id]
        if node.shape != shape or t.id in seen or isinstance(node.op, (BroadcastTo, Reshape)):
            return False
        if isinstance(node.op, Const) and len(node.op.values) == 1:
            return False
        seen.add(t.id)
    return bool(args)


_TMP: list[sp.Dummy] = []


def _tmp(i: int) -> sp.Dummy:
    """The i-th placeholder symbol of ``apply`` (created on demand: Elementwise arity is unbounded)."""
    while len(_TMP) <= i:
        _TMP.append(sp.Dummy(f"t{len(_TMP)}", real=True))
    return _TMP[i]


def _exact(value: sp.Expr) -> sp.Expr | float:
    """A constant's value: exact when rational, a float otherwise."""
    if value.is_Rational:
        return value
    if not value.is_real or not value.is_finite:
        raise GraphError(f"constant {value} is not a finite real number")
    return value


def _same_but_leading_ones(a: Shape, b: Shape) -> bool:
    while a and a[0] == 1:
        a = a[1:]
    while b and b[0] == 1:
        b = b[1:]
    return a == b


def _check_shape(shape: Sequence[int], what: str) -> Shape:
    try:
        out = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ShapeError(f"shape of {what!r} must be a tuple of ints, got {shape!r}") from None
    if any(s < 1 for s in out) or any(int(s) != s for s in shape):
        raise ShapeError(f"shape of {what!r} must have positive integer sizes, got {tuple(shape)}")
    return out


def _nested(values: Any) -> tuple[Shape, list[bool | int | float]]:
    """The shape and C-order values of a number or of nested sequences of equal lengths.

    As ``numpy.asarray`` would read them: arrays and NumPy scalars by their ``tolist()``, all
    values raised to the widest type present (bool < int < float); complex numbers, strings and
    other objects are refused.

    >>> _nested([[1, 2.5], [True, 0]])
    ((2, 2), [1.0, 2.5, 1.0, 0.0])
    """
    if callable(getattr(values, "tolist", None)) and not isinstance(values, sp.Basic):
        values = values.tolist()  # a NumPy array or scalar, without importing NumPy here
    if isinstance(values, Sequence) and not isinstance(values, (str, bytes)):
        parts = [_nested(v) for v in values]
        if not parts or any(p[0] != parts[0][0] for p in parts):
            raise GraphError(f"constants must be nested sequences of equal, non-zero lengths, got {values!r}")
        flat = [v for p in parts for v in p[1]]
        return (len(parts), *parts[0][0]), _widen(flat)
    if not isinstance(values, (bool, int, float)):
        raise GraphError(f"constants must be real numbers, got {values!r}")
    return (), [values]


def _widen(vals: list[bool | int | float]) -> list[bool | int | float]:
    if any(isinstance(v, float) for v in vals):
        return [float(v) for v in vals]
    if all(isinstance(v, bool) for v in vals):
        return vals
    return [int(v) for v in vals]


def _number(a: Any) -> sp.Expr:
    if isinstance(a, bool) or not isinstance(a, (int, float, sp.Expr)):
        raise GraphError(f"expected a Tensor or a real number, got {a!r}")
    return sp.nsimplify(a) if isinstance(a, float) and a.is_integer() else sp.sympify(a)


def is_identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


@dataclass(frozen=True, eq=False)
class Tensor:
    """A value under construction: arithmetic on Tensors adds nodes to their Builder."""

    builder: Builder
    id: int
    _hash: int = field(default=0, repr=False, compare=False)

    @property
    def shape(self) -> Shape:
        return self.builder.nodes[self.id].shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __eq__(self, other: object) -> bool:  # identity of values, not elementwise equality
        return isinstance(other, Tensor) and other.builder is self.builder and other.id == self.id

    def __hash__(self) -> int:
        return hash((id(self.builder), self.id))

    def __repr__(self) -> str:
        return f"Tensor(%{self.id}, shape={self.shape})"

    # elementwise arithmetic
    def __add__(self, o: Tensor | float) -> Tensor:
        return self.builder.elementwise(lambda a, b: a + b, self, o)

    def __radd__(self, o: float) -> Tensor:
        return self.builder.elementwise(lambda a, b: a + b, o, self)

    def __sub__(self, o: Tensor | float) -> Tensor:
        return self.builder.elementwise(lambda a, b: a - b, self, o)

    def __rsub__(self, o: float) -> Tensor:
        return self.builder.elementwise(lambda a, b: a - b, o, self)

    def __mul__(self, o: Tensor | float) -> Tensor:
        return self.builder.elementwise(lambda a, b: a * b, self, o)

    def __rmul__(self, o: float) -> Tensor:
        return self.builder.elementwise(lambda a, b: a * b, o, self)

    def __truediv__(self, o: Tensor | float) -> Tensor:
        return self.builder.elementwise(lambda a, b: a / b, self, o)

    def __rtruediv__(self, o: float) -> Tensor:
        return self.builder.elementwise(lambda a, b: a / b, o, self)

    def __pow__(self, o: Tensor | float) -> Tensor:
        return self.builder.elementwise(lambda a, b: a**b, self, o)

    def __neg__(self) -> Tensor:
        return self.builder.elementwise(lambda a: -a, self)

    def map(self, fn: Callable[[sp.Expr], sp.Expr]) -> Tensor:
        """Apply a one-variable sympy function elementwise."""
        return self.builder.elementwise(fn, self)

    # contractions and structure
    def __matmul__(self, o: Tensor) -> Tensor:
        if self.ndim != 2 or o.ndim != 2:
            raise ShapeError(f"@ needs two matrices, got shapes {self.shape} and {o.shape}; use einsum")
        if self.shape[1] != o.shape[0]:
            raise ShapeError(
                f"matmul of shapes {self.shape} and {o.shape}: inner sizes {self.shape[1]} != {o.shape[0]}"
            )
        return einsum("ij,jk->ik", self, o)

    @property
    def T(self) -> Tensor:
        letters = "abcdefgh"[: self.ndim]
        return einsum(f"{letters}->{letters[::-1]}", self)

    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        axes = _axes(axis, self.ndim)
        letters = "abcdefghijklmnop"[: self.ndim]
        out = "".join(c for k, c in enumerate(letters) if k not in axes)
        res = einsum(f"{letters}->{out}", self) if axes else self
        if keepdims:
            res = res.reshape(tuple(1 if k in axes else n for k, n in enumerate(self.shape)))
        return res

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        axes = _axes(axis, self.ndim)
        count = math.prod(self.shape[k] for k in axes)
        return self.sum(axes, keepdims) * sp.Rational(1, count)

    def reshape(self, shape: Sequence[int]) -> Tensor:
        shape = tuple(int(s) for s in shape)
        if shape == self.shape:
            return self
        if (fill := self._fill()) is not None and math.prod(shape) == self.size:
            return self.builder.const_node(fill, shape)
        return self.builder.add(Reshape(shape), self)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        shape = tuple(int(s) for s in shape)
        if shape == self.shape:
            return self
        if (fill := self._fill()) is not None:
            BroadcastTo(shape).infer(self.shape)
            return self.builder.const_node(fill, shape)
        return self.builder.add(BroadcastTo(shape), self)

    def _fill(self) -> tuple[Any, ...] | None:
        """The single value of a filled constant, else None."""
        op = self.builder.nodes[self.id].op
        return op.values if isinstance(op, Const) and len(op.values) == 1 else None

    def slice(self, start: Sequence[int], stop: Sequence[int]) -> Tensor:
        if tuple(start) == (0,) * self.ndim and tuple(stop) == self.shape:
            return self
        return self.builder.add(Slice(tuple(start), tuple(stop)), self)

    def pad(self, before: Sequence[int], after: Sequence[int]) -> Tensor:
        if not any(before) and not any(after):
            return self
        return self.builder.add(Pad(tuple(before), tuple(after)), self)

    def take(self, axis: int, start: int, stop: int) -> Tensor:
        """``x[..., start:stop, ...]`` along one axis."""
        lo = [0] * self.ndim
        hi = list(self.shape)
        lo[axis], hi[axis] = start, stop
        return self.slice(lo, hi)

    def logsumexp(self, axis: int = -1) -> Tensor:
        return self.builder.add(LogSumExp(axis % self.ndim), self)


def _axes(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    out = tuple(sorted({a % ndim for a in axis})) if ndim else ()
    for a in axis:
        if not -ndim <= a < ndim:
            raise ShapeError(f"axis {a} is outside a tensor of rank {ndim}")
    return out


def einsum(spec: str, *args: Tensor) -> Tensor:
    """A contraction node, e.g. ``einsum("bi,oi->bo", x, W)``.

    Pure permutations feeding a contraction are folded into its subscripts, and identity
    permutations vanish, so ``x @ W.T`` is one node.
    """
    spec = spec.replace(" ", "")
    if not args:
        raise GraphError("einsum needs at least one operand")
    b = args[0].builder
    if "->" not in spec:
        raise GraphError(f"einsum spec {spec!r} needs an explicit output, e.g. 'ij,jk->ik'")
    with b.scope(f"einsum {spec!r}"):
        Einsum(spec).infer(*(a.shape for a in args))  # errors in the caller's own subscripts
    lhs, out = spec.split("->")
    terms, srcs = [], []
    for term, a in zip(lhs.split(","), args, strict=True):
        node = b.nodes[a.id]
        if isinstance(node.op, Einsum) and len(node.args) == 1:
            (sub_in,), sub_out = node.op.terms
            if sorted(sub_in) == sorted(sub_out):  # a permutation: read the source directly
                rename = dict(zip(sub_out, term, strict=True))
                term, a = "".join(rename[c] for c in sub_in), Tensor(b, node.args[0])
        terms.append(term)
        srcs.append(a)
    if len(srcs) == 1 and terms[0] == out:
        return srcs[0]
    return b.add(Einsum(",".join(terms) + "->" + out), *srcs)


def concat(tensors: Sequence[Tensor], axis: int) -> Tensor:
    """Join tensors along ``axis``."""
    if len(tensors) == 1:
        return tensors[0]
    return tensors[0].builder.add(Concat(axis % tensors[0].ndim), *tensors)
