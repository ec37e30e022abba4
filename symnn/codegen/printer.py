"""Op-by-op printing of a Graph into the body of one Numba function.

Each op class has one small emitter registered as its ``"emit"`` part (``@rule(Op, "emit")``,
found along the class like SymPy's ``_print_<Class>``); elementwise nodes are printed
as fused loops (``fuse.plan``) through the scalar printer. Inside ``compute`` every array is
flat (1-d, C order) and indexed by explicit arithmetic, so Numba types one kind of array
(compile time grows with the number of distinct types) and a Reshape costs nothing.

Names: ``arg<k>``/``a<k>`` (input k, and its flat view), ``out<k>``/``y<k>`` (output buffer k),
``v<node>`` (other values), ``x<k>``/``s<k>`` (scalars inside a loop): identifiers never come
from user strings. A value with one element that is not an output lives in a scalar local.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import sympy as sp

from ..ir import Graph
from ..ops import (
    BroadcastTo,
    Concat,
    Const,
    Einsum,
    Elementwise,
    Fold,
    Input,
    LogSumExp,
    Pad,
    Reshape,
    Shape,
    Slice,
    Window,
)
from ..registry import lookup, rule
from .einsum import (
    BLAS_INT_MAX,
    BLAS_MIN_MACS,
    Gemm,
    Transposed,
    gemm_plan,
    loop_order,
    merge,
    reduction_steps,
    transposed_plan,
)
from .fuse import Group, plan, users
from .scalar import ScalarPrinter, literal, stabilize


@dataclass
class Value:
    """How generated code refers to a node's value: a flat array, or a scalar expression."""

    name: str
    scalar: bool = False


def tup(shape: Sequence[int]) -> str:
    """A shape as Python source: ``(2, 3)``, ``(5,)``, ``()``."""
    return f"({shape[0]},)" if len(shape) == 1 else f"({', '.join(map(str, shape))})"


def strides(shape: Sequence[int]) -> list[int]:
    """C-order strides in elements."""
    out = [1] * len(shape)
    for d in range(len(shape) - 2, -1, -1):
        out[d] = out[d + 1] * shape[d + 1]
    return out


def flat(terms: Iterable[tuple[str, int]]) -> str:
    """The flat index sum(var * stride); e.g. ``i0 * 8 + i1``, ``0``."""
    parts = [v if s == 1 else f"{v} * {s}" for v, s in terms if s]
    return " + ".join(parts) if parts else "0"


def at(shape: Sequence[int], idx: Sequence[str]) -> str:
    """The flat index of element ``idx`` (one expression per axis) of a C array of ``shape``."""
    return flat((v, s) for v, s, n in zip(idx, strides(shape), shape, strict=True) if n > 1)


class Printer:
    """Collects the lines of ``compute``'s body and what the module around it must define."""

    def __init__(self, graph: Graph, dtype: str) -> None:
        self.graph = graph
        self.dtype = dtype
        self.lines: list[str] = []
        self.depth = 1
        self.env: dict[int, Value] = {}
        self.helpers: set[str] = set()
        self.constants: list[str] = []
        self.slot: dict[int, int] = {}  # node -> the output buffer it is computed into
        self.leaf_index = {i: k for k, i in enumerate(graph.leaf_ids())}  # node -> argument number (one pass)
        readers = users(graph)
        for k, o in enumerate(graph.outputs):
            self.slot.setdefault(o, k)
            # an output that reshapes its only reader's source: compute the source into the buffer
            while isinstance(graph.nodes[o].op, Reshape) and readers[graph.nodes[o].args[0]] == [o]:
                o = graph.nodes[o].args[0]
                if o in self.slot or isinstance(graph.nodes[o].op, Input):
                    break
                self.slot[o] = k
        self.buffers = [self.flat_view(f"out{k}", f"y{k}", self.shape(o)) for k, o in enumerate(graph.outputs)]

    # -- small tools --------------------------------------------------------------------------------
    def flat_view(self, name: str, alias: str, shape: Shape) -> str:
        """The name of a flat view of the C-contiguous array ``name`` (``ravel`` of a C array is a view)."""
        if len(shape) == 1:
            return name
        self.line(f"{alias} = {name}.ravel()")
        return alias

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def loop(self, var: str, n: int) -> None:
        """Open ``for var in range(n)``, or bind ``var = 0`` when n == 1."""
        if n == 1:
            self.line(f"{var} = 0")
        else:
            self.line(f"for {var} in range({n}):")
            self.depth += 1

    def lit(self, value: float) -> str:
        return literal(value, self.dtype)

    def shape(self, i: int) -> Shape:
        return self.graph.nodes[i].shape

    def size_of(self, i: int) -> int:
        return math.prod(self.shape(i))

    def call(self, helper: str, *args: object) -> None:
        self.helpers.add(helper)
        self.line(f"{helper}({', '.join(map(str, args))})")

    def alloc(self, i: int, zero: bool = False) -> str:
        """The flat array node ``i`` is written into: its output buffer, or a new array."""
        if i in self.slot:
            name = self.buffers[self.slot[i]]
            if zero:
                self.call("_fill", name, self.lit(0))
        else:
            name = f"v{i}"
            self.line(f"{name} = np.{'zeros' if zero else 'empty'}({self.size_of(i)}, np.{self.dtype})")
        self.env[i] = Value(name)
        return name

    def keeps_scalar(self, i: int) -> bool:
        """Whether node ``i`` may live in a scalar local (one element, and not an output)."""
        return self.size_of(i) == 1 and i not in self.slot

    def scalar(self, i: int) -> str:
        """Node ``i`` becomes the scalar local ``v<i>``; returns that name."""
        self.env[i] = Value(f"v{i}", scalar=True)
        return f"v{i}"

    def array(self, i: int) -> str:
        """A flat array holding node ``i`` (a scalar local is put into an array once)."""
        v = self.env[i]
        if not v.scalar:
            return v.name
        name = f"v{i}_array"
        self.line(f"{name} = np.full({self.size_of(i)}, {v.name})")
        self.env[i] = Value(name)
        return name

    def read(self, i: int, idx: Sequence[str]) -> str:
        """The element of node ``i`` at ``idx`` (one index expression per axis)."""
        v = self.env[i]
        return v.name if v.scalar else f"{v.name}[{at(self.shape(i), idx)}]"

    def emit(self, step: int | Group) -> None:
        if isinstance(step, Group):
            emit_group(self, step)
        else:
            emitter: Emitter = lookup(type(self.graph.nodes[step].op), "emit")
            emitter(self, step)

    def copy_outputs(self) -> None:
        """Outputs that are leaves, reshapes or repeated: copy them into their buffers."""
        for k, o in enumerate(self.graph.outputs):
            v = self.env[o]
            if v.name == self.buffers[k]:
                continue
            if v.scalar:
                self.line(f"{self.buffers[k]}[0] = {v.name}")
            else:
                self.call("_copy", self.buffers[k], v.name)


#: ``emitter(printer, node id)``: one per op class (leaves included), registered as its "emit" part.
Emitter = Callable[[Printer, int], None]


def body(graph: Graph, dtype: str) -> Printer:
    """Print every step of ``graph``; the Printer then holds the lines and what they need."""
    p = Printer(graph, dtype)
    for step in plan(graph):
        p.emit(step)
    p.copy_outputs()
    return p


# -- leaves ------------------------------------------------------------------------------------------
@rule(Input, "emit")
def _input(p: Printer, i: int) -> None:
    k = p.leaf_index[i]
    p.env[i] = Value(p.flat_view(f"arg{k}", f"a{k}", p.shape(i)))


@rule(Const, "emit")
def _const(p: Printer, i: int) -> None:
    values = p.graph.nodes[i].op.values  # type: ignore[attr-defined]
    if len(values) == 1 and p.keeps_scalar(i):
        p.env[i] = Value(p.lit(values[0]), scalar=True)
    elif len(values) == 1 and i in p.slot:
        p.call("_fill", p.alloc(i), p.lit(values[0]))
    elif len(values) == 1:
        p.line(f"v{i} = np.full({p.size_of(i)}, {p.lit(values[0])})")
        p.env[i] = Value(f"v{i}")
    else:
        data = ", ".join(repr(float(v)) for v in values)
        p.constants.append(f"C{i} = np.array([{data}], dtype=np.{p.dtype})")
        p.line(f"v{i} = C{i}.copy()")  # Numba freezes globals read-only; the helpers take writeable arrays
        p.env[i] = Value(f"v{i}")


# -- elementwise: fused loops ---------------------------------------------------------------------------
def _alone(p: Printer, i: int) -> None:
    """Node ``i`` as a fused group of its own (when ``fuse.plan`` did not group it)."""
    node = p.graph.nodes[i]
    emit_group(p, Group((i,), (i,), tuple(dict.fromkeys(node.args)), node.shape))


@rule(Elementwise, "emit")
def _elementwise(p: Printer, i: int) -> None:
    # y[idx] = fn(x_1[idx], ..., x_n[idx]) in one loop
    _alone(p, i)


@rule(BroadcastTo, "emit")
def _broadcast_to(p: Printer, i: int) -> None:
    # y[idx] = x[idx with broadcast axes at 0]: the identity inside a loop over y's shape
    _alone(p, i)


def emit_group(p: Printer, group: Group) -> None:
    """One loop over the group's shape: read inputs, compute with CSE'd temporaries, store."""
    g = p.graph
    xs = [sp.Symbol(f"x{k}", real=True) for k in range(len(group.inputs))]
    expr: dict[int, sp.Expr] = dict(zip(group.inputs, xs, strict=True))
    for m in group.members:
        node = g.nodes[m]
        args = [expr[a] for a in node.args]
        expr[m] = node.op.fn(*args) if isinstance(node.op, Elementwise) else args[0]
    temps, results = sp.cse(
        [stabilize(expr[m]) for m in group.stored], symbols=sp.numbered_symbols("s", real=True), order="none"
    )
    printer = ScalarPrinter({x: str(x) for x in xs} | {t: str(t) for t, _ in temps}, p.dtype)

    # loop axes: size-1 axes dropped, neighbours merged where every input is full or broadcast on both
    axes: list[tuple[int, tuple[bool, ...]]] = []
    for j, n in enumerate(group.shape):
        if n == 1:
            continue
        flags = tuple(_varies(g.shape(e), group.shape, j) for e in group.inputs)
        if axes and axes[-1][1] == flags:
            axes[-1] = (axes[-1][0] * n, flags)
        else:
            axes.append((n, flags))
    sizes = [n for n, _ in axes]
    idx = [f"i{d}" for d in range(len(axes))]

    reads: list[list[str]] = [[] for _ in range(len(axes) + 1)]  # by loop depth: invariant reads first
    for k, e in enumerate(group.inputs):
        own = [d for d, (_, flags) in enumerate(axes) if flags[k]]
        if not own:
            reads[0].append(f"x{k} = {p.read(e, ['0'] * len(g.shape(e)))}")
        else:
            view = [sizes[d] for d in own]
            reads[max(own) + 1].append(f"x{k} = {p.array(e)}[{at(view, [idx[d] for d in own])}]")
    stores = [p.scalar(m) if p.keeps_scalar(m) else f"{p.alloc(m)}[{at(sizes, idx)}]" for m in group.stored]

    depth = p.depth
    for text in reads[0]:
        p.line(text)
    for d, n in enumerate(sizes):
        p.loop(idx[d], n)
        for text in reads[d + 1]:
            p.line(text)
    for t, e in temps:
        p.line(f"{t} = {printer.doprint(e)}")
    for target, e in zip(stores, results, strict=True):
        p.line(f"{target} = {printer.doprint(e)}")
    p.depth = depth
    p.helpers |= printer.helpers


def _varies(arg: Shape, shape: Shape, j: int) -> bool:
    """Whether an argument of shape ``arg`` varies along axis ``j`` of the broadcast ``shape``."""
    k = j - (len(shape) - len(arg))
    return k >= 0 and arg[k] == shape[j]


# -- contractions ------------------------------------------------------------------------------------------
@rule(Einsum, "emit")
def _einsum(p: Printer, i: int) -> None:
    node = p.graph.nodes[i]
    spec, shapes, out_shape = merge(node.op.spec, [p.shape(a) for a in node.args])  # type: ignore[attr-defined]
    if p.size_of(i) > 1 and not any(p.env[a].scalar for a in node.args):
        gemm = gemm_plan(spec, shapes)
        if gemm is not None:
            a, b = (p.array(x) for x in node.args)
            _product(p, a, b, p.alloc(i), gemm)
            return
        transposed = transposed_plan(spec, shapes)
        if transposed is not None:
            _transposed_product(p, i, spec, shapes, transposed)
            return
        steps = reduction_steps(spec, shapes[0])
        if steps is not None:
            # y[p, q] = sum_i x[p, i, q], one block of summed indices at a time
            src = p.array(node.args[0])
            for k, (pre, n, post) in enumerate(steps):
                if k == len(steps) - 1:
                    dst = p.alloc(i)
                else:
                    dst = f"v{i}_{k}"
                    p.line(f"{dst} = np.empty({pre * post}, np.{p.dtype})")
                p.call("_sum_mid", src, dst, pre, n, post)
                src = dst
            return
    if p.keeps_scalar(i) and len(node.args) == 1 and not p.env[node.args[0]].scalar:
        # y = sum of every element of x
        p.line(f"{p.scalar(i)} = _sum_all({p.array(node.args[0])})")
        p.helpers.add("_sum_all")
        return
    _einsum_loops(p, i, spec, shapes, out_shape)


def _einsum_loops(p: Printer, i: int, spec: str, shapes: list[Shape], out_shape: Shape) -> None:
    """Any contraction as a loop nest (order from ``loop_order``), on ``merge``'d indices."""
    args = p.graph.nodes[i].args
    lhs, out = spec.split("->")
    size = {c: n for t, s in zip(lhs.split(","), shapes, strict=True) for c, n in zip(t, s, strict=True)}
    accumulate, order = loop_order(spec, shapes)
    var = {c: f"j{k}" for k, c in enumerate(order)}
    factors = []
    for a, t, shape in zip(args, lhs.split(","), shapes, strict=True):
        v = p.env[a]
        factors.append(v.name if v.scalar else f"{v.name}[{at(shape, [var[c] for c in t])}]")
    product = " * ".join(factors)
    contracted = [c for c in order if c not in out]
    out_at = at(out_shape, [var[c] for c in out])
    depth = p.depth
    if accumulate and not p.keeps_scalar(i):
        target = f"{p.alloc(i, zero=True)}[{out_at}]"
        for c in order:
            p.loop(var[c], size[c])
        p.line(f"{target} += {product}")
        p.depth = depth
        return
    target = p.scalar(i) if p.keeps_scalar(i) else f"{p.alloc(i)}[{out_at}]"
    for c in out:
        p.loop(var[c], size[c])
    if contracted:
        p.line(f"acc = {p.lit(0)}")
        inner = p.depth
        for c in contracted:
            p.loop(var[c], size[c])
        p.line(f"acc += {product}")
        p.depth = inner
        p.line(f"{target} = acc")
    else:
        p.line(f"{target} = {product}")
    p.depth = depth


def _product(p: Printer, a: str, b: str, out: str, gm: Gemm) -> None:
    """out = a @ b, (batched): BLAS (``_gemm_*``) when large, else the ``_mm_*`` loops.

    BLAS takes its sizes as 32-bit ints: a product with a size above that is loops too.
    """
    fits = max(gm.m, gm.n, gm.k) <= BLAS_INT_MAX
    kind = "_gemm" if gm.macs >= BLAS_MIN_MACS and fits else "_mm"
    step_a = gm.m * gm.k if gm.a_step else 0  # 0: one matrix serves every product
    step_b = gm.k * gm.n if gm.b_step else 0
    if gm.swap:  # the output is stored transposed: out^T = B^T A^T
        tag = ("n" if gm.b_t else "t") + ("n" if gm.a_t else "t")
        p.call(f"{kind}_{tag}", b, a, out, gm.batch, gm.n, gm.m, gm.k, step_b, step_a)
    else:
        tag = ("t" if gm.a_t else "n") + ("t" if gm.b_t else "n")
        p.call(f"{kind}_{tag}", a, b, out, gm.batch, gm.m, gm.n, gm.k, step_a, step_b)


def _transposed_product(p: Printer, i: int, spec: str, shapes: list[Shape], plan: Transposed) -> None:
    """A matrix product on transposed copies of the operands (and of the result)."""
    lhs, out = spec.split("->")
    terms = lhs.split(",")
    size = {c: n for t, s in zip(terms, shapes, strict=True) for c, n in zip(t, s, strict=True)}
    a, b = (
        _permuted(p, p.array(x), term, f"v{i}_{k}", target, size) if target else p.array(x)
        for k, (x, term, target) in enumerate(zip(p.graph.nodes[i].args, terms, plan.terms, strict=True))
    )
    if plan.out is None:
        _product(p, a, b, p.alloc(i), plan.gemm)
        return
    p.line(f"v{i}_out = np.empty({p.size_of(i)}, np.{p.dtype})")
    _product(p, a, b, f"v{i}_out", plan.gemm)
    dst = p.alloc(i)
    _permuted(p, f"v{i}_out", plan.out, dst, out, size, allocate=False)


def _permuted(
    p: Printer, src: str, term: str, dst: str, target: str, size: dict[str, int], allocate: bool = True
) -> str:
    """``dst``: the flat array ``src`` (indices ``term``) with its indices put in the order ``target``."""
    src_strides = dict(zip(term, strides([size[c] for c in term]), strict=True))
    dims = [1] * (4 - len(target)) + [size[c] for c in target]
    steps = [0] * (4 - len(target)) + [src_strides[c] for c in target]
    if allocate:
        p.line(f"{dst} = np.empty({math.prod(dims)}, np.{p.dtype})")
    p.call("_permute", src, dst, *dims, *steps)
    return dst


@rule(LogSumExp, "emit")
def _logsumexp(p: Printer, i: int) -> None:
    # y[p, q] = m + log(sum_i exp(x[p, i, q] - m)), m = max_i x[p, i, q]
    (x,) = p.graph.nodes[i].args
    axis = p.graph.nodes[i].op.axis  # type: ignore[attr-defined]
    shape = p.shape(x)
    src = p.array(x)
    p.call("_logsumexp", src, p.alloc(i), math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1 :]))


# -- windows -----------------------------------------------------------------------------------------------
def _window_loops(p: Printer, op: Window | Fold, windows: Shape, image: Shape, body: Callable[[str, str], str]) -> None:
    """Loops over (n, c, *kernel, *out) with image positions q_d = o_d * stride_d + k_d - pad_d;
    ``body(window_index, image_index)`` is the innermost statement."""
    d = len(op.kernel)
    depth = p.depth
    p.loop("b0", windows[0])
    p.loop("b1", windows[1])
    for a in range(d):
        p.loop(f"k{a}", op.kernel[a])
    for a in range(d):
        p.loop(f"o{a}", windows[2 + d + a])
        shift = f" - {op.padding[a]}" if op.padding[a] else ""
        p.line(f"q{a} = o{a} * {op.stride[a]} + k{a}{shift}")
        if op.padding[a]:
            p.line(f"if 0 <= q{a} < {image[2 + a]}:")
            p.depth += 1
    win = at(windows, ["b0", "b1", *(f"k{a}" for a in range(d)), *(f"o{a}" for a in range(d))])
    img = at(image, ["b0", "b1", *(f"q{a}" for a in range(d))])
    p.line(body(win, img))
    p.depth = depth


@rule(Window, "emit")
def _window(p: Printer, i: int) -> None:
    # y[n, c, k, o] = x[n, c, o * stride + k - pad], zero outside the image
    op: Window = p.graph.nodes[i].op  # type: ignore[assignment]
    (x,) = p.graph.nodes[i].args
    src = p.array(x)
    dst = p.alloc(i, zero=any(op.padding))
    _window_loops(p, op, p.shape(i), p.shape(x), lambda win, img: f"{dst}[{win}] = {src}[{img}]")


@rule(Fold, "emit")
def _fold(p: Printer, i: int) -> None:
    # y[n, c, o * stride + k - pad] += x[n, c, k, o]: the adjoint of Window
    op: Fold = p.graph.nodes[i].op  # type: ignore[assignment]
    (x,) = p.graph.nodes[i].args
    src = p.array(x)
    dst = p.alloc(i, zero=True)
    _window_loops(p, op, p.shape(x), p.shape(i), lambda win, img: f"{dst}[{img}] += {src}[{win}]")


# -- structure -------------------------------------------------------------------------------------------------
@rule(Reshape, "emit")
def _reshape(p: Printer, i: int) -> None:
    # flat arrays in C order: the same data
    p.env[i] = p.env[p.graph.nodes[i].args[0]]


def _copy_block(p: Printer, dst: int, dst_at: Sequence[int], src: int, src_at: Sequence[int], block: Shape) -> None:
    """value(dst)[dst_at + i] = value(src)[src_at + i] for i over ``block``."""
    dshape, sshape = p.shape(dst), p.shape(src)
    src_name, dst_name = p.array(src), p.env[dst].name
    differ = [d for d in range(len(block)) if not block[d] == dshape[d] == sshape[d]]
    if len(differ) <= 1:  # one axis changes: (P, n, Q) views
        a = differ[0] if differ else 0
        pre, post = math.prod(block[:a]), math.prod(block[a + 1 :])
        p.call("_copy_mid", dst_name, src_name, pre, post, dshape[a], sshape[a], dst_at[a], src_at[a], block[a])
        return
    depth = p.depth
    idx = [f"i{d}" for d in range(len(block))]
    for var, n in zip(idx, block, strict=True):
        p.loop(var, n)

    def shifted(offsets: Sequence[int]) -> list[str]:
        return [f"({v} + {o})" if o else v for v, o in zip(idx, offsets, strict=True)]

    p.line(f"{dst_name}[{at(dshape, shifted(dst_at))}] = {src_name}[{at(sshape, shifted(src_at))}]")
    p.depth = depth


@rule(Slice, "emit")
def _slice(p: Printer, i: int) -> None:
    # y = x[start:stop]
    op: Slice = p.graph.nodes[i].op  # type: ignore[assignment]
    (x,) = p.graph.nodes[i].args
    p.alloc(i)
    _copy_block(p, i, (0,) * len(op.start), x, op.start, p.shape(i))


@rule(Pad, "emit")
def _pad(p: Printer, i: int) -> None:
    # y = zeros; y[before:before + n] = x
    op: Pad = p.graph.nodes[i].op  # type: ignore[assignment]
    (x,) = p.graph.nodes[i].args
    p.alloc(i, zero=True)
    _copy_block(p, i, op.before, x, (0,) * len(op.before), p.shape(x))


@rule(Concat, "emit")
def _concat(p: Printer, i: int) -> None:
    # y[..., start_k:stop_k, ...] = x_k
    op: Concat = p.graph.nodes[i].op  # type: ignore[assignment]
    p.alloc(i)
    rank = len(p.shape(i))
    start = 0
    for a in p.graph.nodes[i].args:
        offset = [0] * rank
        offset[op.axis] = start
        _copy_block(p, i, offset, a, (0,) * rank, p.shape(a))
        start += p.shape(a)[op.axis]
