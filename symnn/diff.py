"""Symbolic differentiation, Graph to Graph: ``jvp`` (forward mode), ``vjp``/``grad`` (reverse
mode) and ``hvp`` (forward over reverse).

Every rule is registered in ``symnn.registry`` right above its function: ``@rule(Op, "jvp")``
and ``@rule(Op, "vjp")`` for the ops that are not linear, and for a linear op (``Op.linear``)
only its ``"transpose"``, from which ``derivative_rule`` derives both modes (as JAX's
``deflinear`` does). Elementwise partial derivatives come from ``sympy.diff`` of the op's
lambda. Tangents and cotangents that are identically zero are ``None`` and cost nothing;
reverse mode only propagates through nodes that depend on a differentiated leaf, so data
inputs get no gradient.

>>> from symnn.ir import Builder
>>> b = Builder()
>>> x = b.param("x", (3,))
>>> g = grad(b.build((x * x).sum()))
>>> g.output_names
('out', 'grad:x')
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

import sympy as sp

from .errors import GraphError
from .ir import Builder, Graph, Node, Tensor, arg_symbols, einsum, load, prune
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
    Slice,
    Window,
)
from .registry import lookup, rule

MaybeTensor = Tensor | None
JvpRule = Callable[[Op, list[Tensor], Tensor, list[MaybeTensor]], MaybeTensor]
VjpRule = Callable[[Op, list[Tensor], Tensor, Tensor, list[bool]], list[MaybeTensor]]
TransposeRule = Callable[[Op, list[Tensor], Tensor], list[Tensor]]

_Y = sp.Symbol("_y", real=True)  # stands for the op's own output inside a partial derivative


# -- helpers -------------------------------------------------------------------------------------
def add_all(terms: Sequence[MaybeTensor]) -> MaybeTensor:
    """Sum of the non-zero terms, or None if all are zero."""
    live = [t for t in terms if t is not None]
    if not live:
        return None
    out = live[0]
    for t in live[1:]:
        out = out + t
    return out


def zeros(b: Builder, shape: tuple[int, ...]) -> Tensor:
    return b.const(0, shape)


def _or_zeros(b: Builder, t: MaybeTensor, shape: tuple[int, ...]) -> Tensor:
    return t if t is not None else zeros(b, shape)


def unbroadcast(t: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum ``t`` over the axes that broadcasting added to reach ``t.shape`` from ``shape``."""
    if t.shape == shape:
        return t
    lead = t.ndim - len(shape)
    axes = list(range(lead)) + [lead + k for k, n in enumerate(shape) if n == 1 and t.shape[lead + k] != 1]
    return t.sum(axes).reshape(shape)


@lru_cache(maxsize=4096)
def partials(fn: sp.Lambda) -> tuple[sp.Expr, ...]:
    """d fn / d a_i for each argument, written with ``_y`` where the output itself reappears."""
    body = fn.expr
    out = []
    for v in fn.variables:
        d = sp.diff(body, v)
        if isinstance(body, sp.Function):  # e.g. d exp(x) = exp(x): reuse the output
            d = d.xreplace({body: _Y})
        out.append(d)
    return tuple(out)


def clear_caches() -> None:
    """Forget every derivative body computed so far (``partials`` and the JVP/VJP bodies built from it).

    They depend only on an elementwise body and SymPy's derivative of its functions, so they are
    cached; a changed derivative rule of a function (a mutant in ``verify.mutation``) must clear them.
    """
    partials.cache_clear()
    _jvp_body.cache_clear()
    _vjp_body.cache_clear()


# -- forward mode: one rule per op that is not linear ---------------------------------------------------
@rule(Elementwise, "jvp")
def _jvp_elementwise(op: Elementwise, primals: list[Tensor], out: Tensor, tangents: list[MaybeTensor]) -> MaybeTensor:
    # d f(x_1..x_n) = sum_i (df/dx_i) dx_i
    live = tuple(i for i, t in enumerate(tangents) if t is not None)
    expr = _jvp_body(op.fn, live)
    if expr is None:
        return None
    live_tangents = [t for t in tangents if t is not None]
    return out.builder.apply(expr, [*primals, out, *live_tangents])


@lru_cache(maxsize=4096)
def _jvp_body(fn: sp.Lambda, live: tuple[int, ...]) -> sp.Expr | None:
    """sum_k (d fn / d a_live[k]) t_k over (args..., y, t...): depends only on the body (cached)."""
    n = len(fn.variables)
    syms = arg_symbols(n + 1 + len(live))
    expr = sp.Add(*(partials(fn)[i] * syms[n + 1 + k] for k, i in enumerate(live)))
    return None if expr == 0 else expr.xreplace({_Y: syms[n]})


@lru_cache(maxsize=4096)
def _vjp_body(fn: sp.Lambda, i: int) -> sp.Expr | None:
    """(d fn / d a_i) c over (args..., y, c): depends only on the body (cached)."""
    n = len(fn.variables)
    d = partials(fn)[i]
    if d == 0:
        return None
    syms = arg_symbols(n + 2)
    return (d * syms[n + 1]).xreplace({_Y: syms[n]})


@rule(Einsum, "jvp")
def _jvp_einsum(op: Einsum, primals: list[Tensor], out: Tensor, tangents: list[MaybeTensor]) -> MaybeTensor:
    # d (A . B) = dA . B + A . dB
    return add_all(
        [einsum(op.spec, *primals[:k], t, *primals[k + 1 :]) if t is not None else None for k, t in enumerate(tangents)]
    )


def _softmax(x: Tensor, lse: Tensor, axis: int) -> Tensor:
    """e / sum_axis(e), e = exp(x - lse(x)): the rounding of lse is a common factor of e that the sum cancels.

    Without the normalisation the probabilities carry lse's rounding, ulp(lse) ~ |x| eps (1e-4 at
    logits of 1e12 in float64); x - lse is exact near the top entries (Sterbenz), so with it they
    are exact to the dtype's precision at any logit scale.
    """
    kept = x.shape[:axis] + (1,) + x.shape[axis + 1 :]
    e = x.builder.elementwise(lambda a, m: sp.exp(a - m), x, lse.reshape(kept))
    return x.builder.elementwise(lambda a, s: a / s, e, e.sum(axis).reshape(kept))


@rule(LogSumExp, "jvp")
def _jvp_logsumexp(op: LogSumExp, primals: list[Tensor], out: Tensor, tangents: list[MaybeTensor]) -> MaybeTensor:
    # d lse(x) = sum_axis softmax(x) dx, softmax(x) = exp(x - lse(x)) (stable)
    (t,) = tangents
    if t is None:
        return None
    return (_softmax(primals[0], out, op.axis) * t).sum(op.axis)


# -- reverse mode: one rule per op that is not linear ---------------------------------------------------
@rule(Elementwise, "vjp")
def _vjp_elementwise(
    op: Elementwise, primals: list[Tensor], out: Tensor, cot: Tensor, needs: list[bool]
) -> list[MaybeTensor]:
    # x_i_bar = unbroadcast((df/dx_i) y_bar)
    b = out.builder
    res: list[MaybeTensor] = []
    for i, p in enumerate(primals):
        body = _vjp_body(op.fn, i) if needs[i] else None
        res.append(None if body is None else unbroadcast(b.apply(body, [*primals, out, cot]), p.shape))
    return res


@rule(Einsum, "vjp")
def _vjp_einsum(op: Einsum, primals: list[Tensor], out: Tensor, cot: Tensor, needs: list[bool]) -> list[MaybeTensor]:
    # A_bar = y_bar . B^T (the einsum with A's and y's subscripts swapped)
    ins, sub_out = op.terms
    res: list[MaybeTensor] = []
    for k, p in enumerate(primals):
        if not needs[k]:
            res.append(None)
            continue
        others = [(ins[j], primals[j]) for j in range(len(primals)) if j != k]
        seen = set(sub_out).union(*(set(s) for s, _ in others))
        present = "".join(ch for ch in ins[k] if ch in seen)
        spec = ",".join([sub_out, *(s for s, _ in others)]) + "->" + present
        r = einsum(spec, cot, *(t for _, t in others))
        if present != ins[k]:  # indices summed only inside this operand: broadcast back
            r = r.reshape(tuple(n if ch in seen else 1 for ch, n in zip(ins[k], p.shape, strict=True))).broadcast_to(
                p.shape
            )
        res.append(r)
    return res


@rule(LogSumExp, "vjp")
def _vjp_logsumexp(
    op: LogSumExp, primals: list[Tensor], out: Tensor, cot: Tensor, needs: list[bool]
) -> list[MaybeTensor]:
    # x_bar = softmax(x) * y_bar (broadcast along axis)
    x = primals[0]
    keep = cot.reshape(x.shape[: op.axis] + (1,) + x.shape[op.axis + 1 :])
    return [_softmax(x, out, op.axis) * keep]


# -- linear ops: one transpose each, ``transpose(op, primals, cot) -> [x_bar per argument]`` -------------
@rule(Window, "transpose")
def _transpose_window(op: Window, primals: list[Tensor], cot: Tensor) -> list[Tensor]:
    # Window^T = Fold
    return [cot.builder.add(Fold(primals[0].shape[2:], op.kernel, op.stride, op.padding), cot)]


@rule(Fold, "transpose")
def _transpose_fold(op: Fold, primals: list[Tensor], cot: Tensor) -> list[Tensor]:
    # Fold^T = Window
    return [cot.builder.add(Window(op.kernel, op.stride, op.padding), cot)]


@rule(Reshape, "transpose")
def _transpose_reshape(op: Reshape, primals: list[Tensor], cot: Tensor) -> list[Tensor]:
    # Reshape^T = the reshape back to the input's shape
    return [cot.reshape(primals[0].shape)]


@rule(Slice, "transpose")
def _transpose_slice(op: Slice, primals: list[Tensor], cot: Tensor) -> list[Tensor]:
    # Slice^T = zero padding back to the input's shape
    shape = primals[0].shape
    return [cot.pad(op.start, tuple(n - e for n, e in zip(shape, op.stop, strict=True)))]


@rule(Pad, "transpose")
def _transpose_pad(op: Pad, primals: list[Tensor], cot: Tensor) -> list[Tensor]:
    # Pad^T = the slice that drops the padding
    return [cot.slice(op.before, tuple(a + n for a, n in zip(op.before, primals[0].shape, strict=True)))]


@rule(Concat, "transpose")
def _transpose_concat(op: Concat, primals: list[Tensor], cot: Tensor) -> list[Tensor]:
    # Concat^T = one slice per piece
    parts, start = [], 0
    for p in primals:
        stop = start + p.shape[op.axis]
        parts.append(cot.take(op.axis, start, stop))
        start = stop
    return parts


@rule(BroadcastTo, "transpose")
def _transpose_broadcast_to(op: BroadcastTo, primals: list[Tensor], cot: Tensor) -> list[Tensor]:
    # BroadcastTo^T = sum over the broadcast axes
    return [unbroadcast(cot, primals[0].shape)]


def _jvp_linear(op: Op, primals: list[Tensor], out: Tensor, tangents: list[MaybeTensor]) -> MaybeTensor:
    # d L(x) = L(dx) for a linear op L
    if all(t is None for t in tangents):
        return None
    b = out.builder
    return b.add(op, *(t if t is not None else zeros(b, p.shape) for p, t in zip(primals, tangents, strict=True)))


def _vjp_linear(op: Op, primals: list[Tensor], out: Tensor, cot: Tensor, needs: list[bool]) -> list[MaybeTensor]:
    # x_bar = L^T(y_bar) for a linear op L, through its registered transpose
    transpose: TransposeRule = lookup(type(op), "transpose")
    return [c if need else None for c, need in zip(transpose(op, primals, cot), needs, strict=True)]


def derivative_rule(op: type[Op], mode: str) -> Callable[..., Any]:
    """The ``mode`` (``"jvp"`` or ``"vjp"``) rule of the op class ``op``.

    An op that is not linear has its own registered rules. A linear op (``op.linear``) has only
    a transpose, and both modes derive from it, as JAX's ``deflinear`` does: the JVP is the op
    applied to the tangents (zeros where they are ``None``), the VJP the transpose applied to
    the cotangent.

    >>> from symnn.ops import Einsum, Reshape
    >>> derivative_rule(Reshape, "vjp").__name__, derivative_rule(Einsum, "vjp").__name__
    ('_vjp_linear', '_vjp_einsum')
    """
    if mode not in ("jvp", "vjp"):
        raise GraphError(f"mode must be 'jvp' or 'vjp', got {mode!r}")
    if op.linear:
        return _jvp_linear if mode == "jvp" else _vjp_linear
    return lookup(op, mode)


# -- drivers -----------------------------------------------------------------------------------------
def _graph(graph: Any, what: str) -> Graph:
    """``graph`` if it is a Graph (a wrong-type call is a GraphError naming the fix, not an AttributeError)."""
    if not isinstance(graph, Graph):
        raise GraphError(
            f"{what} needs a symnn Graph, got {type(graph).__name__}; e.g. symnn.zoo.resolve(spec).graph()"
        )
    return graph


def _wrt_ids(graph: Graph, wrt: Sequence[str] | None) -> list[int]:
    if wrt is None:
        ids = graph.leaf_ids("param")
        if not ids:
            raise GraphError(
                f"the graph has no parameters to differentiate; pass wrt=[names] from its inputs {list(graph.inputs)}"
            )
        return ids
    if isinstance(wrt, str):
        wrt = [wrt]
    names = list(wrt) if isinstance(wrt, Iterable) else [wrt]
    if not all(isinstance(n, str) for n in names):
        raise GraphError(f"wrt must be leaf names (a str or a list of str), got {wrt!r}")
    by_name = {n.op.name: i for i, n in enumerate(graph.nodes) if isinstance(n.op, Input)}  # one pass, not one per name
    return [by_name[name] if name in by_name else graph.leaf(name) for name in names]  # graph.leaf raises the error


def _active(graph: Graph, ids: list[int]) -> list[bool]:
    act = [False] * len(graph.nodes)
    for i in ids:
        act[i] = True
    for i, n in enumerate(graph.nodes):
        if n.args and any(act[a] for a in n.args):
            act[i] = True
    return act


def _name(node: Node) -> str:
    assert isinstance(node.op, Input)
    return node.op.name


def derivative_names(graph: Graph, kind: str, names: Sequence[str]) -> list[str]:
    """``kind:name`` for each name, or ``kind2:name``, ``kind3:name``, ... if one of those is already taken.

    A derivative of a derivative graph keeps distinct names: ``vjp(grad(g))`` already has the
    outputs ``grad:W``, so its own gradients are ``grad2:W``; ``jvp(jvp(g))`` gets the inputs
    ``tangent2:W``. One order is chosen for all names, so they stay parallel.

    >>> from symnn.ir import Builder
    >>> b = Builder()
    >>> w = b.param("w", (2,))
    >>> g = grad(b.build((w * w).sum()))
    >>> derivative_names(g, "grad", ["w"]), vjp(g).output_names
    (['grad2:w'], ('out', 'grad:w', 'grad2:w'))
    """
    taken = set(graph.output_names) | {_name(n) for n in graph.leaves()}
    order = 1
    while True:
        prefix = kind if order == 1 else f"{kind}{order}"
        out = [f"{prefix}:{nm}" for nm in names]
        if not taken.intersection(out):
            return out
        order += 1


def jvp(graph: Graph, wrt: Sequence[str] | None = None) -> Graph:
    """Forward mode: adds inputs ``tangent:<leaf>`` and outputs ``tangent:<output>``.

    Outputs are the primal outputs followed by their tangents (the Jacobian applied to the
    tangent inputs); ``wrt`` defaults to the parameters.
    """
    ids = _wrt_ids(_graph(graph, "jvp"), wrt)
    b = Builder()
    primals = load(b, graph)
    tangents: list[MaybeTensor] = [None] * len(graph.nodes)
    for i, nm in zip(ids, derivative_names(graph, "tangent", [_name(graph.nodes[i]) for i in ids]), strict=True):
        tangents[i] = b.derivative_input(nm, graph.nodes[i].shape)
    for i, n in enumerate(graph.nodes):
        if isinstance(n.op, (Input, Const)) or all(tangents[a] is None for a in n.args):
            continue
        with b.scope(f"jvp of node %{i} ({type(n.op).__name__})"):
            tangents[i] = derivative_rule(type(n.op), "jvp")(
                n.op, [primals[a] for a in n.args], primals[i], [tangents[a] for a in n.args]
            )
    outs = [primals[o] for o in graph.outputs]
    outs += [_or_zeros(b, tangents[o], graph.shape(o)) for o in graph.outputs]
    names = list(graph.output_names) + derivative_names(graph, "tangent", graph.output_names)
    return b.build(*outs, names=names)


def _reverse(graph: Graph, ids: list[int], b: Builder, primals: list[Tensor], seeds: dict[int, Tensor]) -> list[Tensor]:
    act = _active(graph, ids)
    cots: list[MaybeTensor] = [None] * len(graph.nodes)
    for o, s in seeds.items():
        cots[o] = add_all([cots[o], s])
    for i in range(len(graph.nodes) - 1, -1, -1):
        n = graph.nodes[i]
        c = cots[i]
        if c is None or not n.args or not act[i]:
            continue
        needs = [act[a] for a in n.args]
        with b.scope(f"vjp of node %{i} ({type(n.op).__name__})"):
            contribs = derivative_rule(type(n.op), "vjp")(n.op, [primals[a] for a in n.args], primals[i], c, needs)
        for a, ca in zip(n.args, contribs, strict=True):
            if ca is not None:
                cots[a] = add_all([cots[a], ca])
    return [_or_zeros(b, cots[i], graph.shape(i)) for i in ids]


def vjp(graph: Graph, wrt: Sequence[str] | None = None) -> Graph:
    """Reverse mode: adds inputs ``cotangent:<output>`` and outputs ``grad:<leaf>``.

    Outputs are the primal outputs followed by J^T c for each leaf in ``wrt`` (default: the
    parameters).
    """
    ids = _wrt_ids(_graph(graph, "vjp"), wrt)
    b = Builder()
    primals = load(b, graph)
    cotangents = derivative_names(graph, "cotangent", graph.output_names)
    seeds = {o: b.derivative_input(nm, graph.shape(o)) for o, nm in zip(graph.outputs, cotangents, strict=True)}
    grads = _reverse(graph, ids, b, primals, seeds)
    names = list(graph.output_names) + derivative_names(graph, "grad", [_name(graph.nodes[i]) for i in ids])
    return b.build(*(primals[o] for o in graph.outputs), *grads, names=names)


def grad(graph: Graph, wrt: Sequence[str] | None = None, output: str | None = None) -> Graph:
    """Value and gradient of a scalar output: outputs ``(output, grad:<leaf>, ...)``."""
    graph = _graph(graph, "grad")
    name = output if output is not None else graph.output_names[0]
    if name not in graph.output_names:
        raise GraphError(f"the graph has no output {name!r}; its outputs are {list(graph.output_names)}")
    o = graph.outputs[graph.output_names.index(name)]
    if graph.shape(o) != ():
        raise GraphError(
            f"grad needs a scalar output, but {name!r} has shape {graph.shape(o)}; "
            "reduce it (e.g. .sum() or a loss) or use vjp"
        )
    ids = _wrt_ids(graph, wrt)
    b = Builder()
    primals = load(b, graph)
    grads = _reverse(graph, ids, b, primals, {o: b.const(1, ())})
    names = [name] + derivative_names(graph, "grad", [_name(graph.nodes[i]) for i in ids])
    return b.build(primals[o], *grads, names=names)


def hvp(graph: Graph, wrt: Sequence[str] | None = None, output: str | None = None) -> Graph:
    """Hessian-vector product by forward over reverse: outputs ``(output, grad:.., hvp:..)``.

    The tangent inputs are named ``tangent:<leaf>`` (``tangent2:<leaf>`` ... if those are taken,
    see ``derivative_names``).
    """
    names = [_name(graph.nodes[i]) for i in _wrt_ids(_graph(graph, "hvp"), wrt)]
    g = grad(graph, names, output)
    j = jvp(g, names)
    k = len(g.outputs)
    keep = list(j.outputs[:k]) + list(j.outputs[k + 1 :])
    out_names = list(j.output_names[:k]) + derivative_names(g, "hvp", names)
    return prune(j.nodes, tuple(keep), tuple(out_names))


def require_scalar(graph: Graph, mode: str, instead: str = "--mode jvp") -> None:
    """Refuse ``--mode mode`` (grad, hvp) of a graph whose first output is not a scalar, naming ``instead``."""
    shape = graph.shape(graph.outputs[0])
    if shape != ():
        raise GraphError(
            f"--mode {mode} needs a scalar output (a loss), but {graph.output_names[0]!r} has shape {shape}; "
            f"use {instead} (forward mode works for any output), or make the model end in a loss"
        )
