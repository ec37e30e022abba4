"""Numeric rules per op and mode, registered as the op's ``"exec.value"`` (primal), ``"exec.jvp"``
(tangent) and ``"exec.vjp"`` (cotangent) parts in ``symnn.registry``.

Every rule is hand-written numerics on numpy arrays (elementwise bodies and windows run in the
kernels of ``kernels``); nothing here derives a rule symbolically, and only the registration is
shared with ``symnn.diff``, never an implementation. Signatures:

* ``exec.value``: ``rule(op, xs, shape, dtype) -> (y, aux)`` with ``aux`` kept on the tape;
* ``exec.jvp``: ``rule(op, xs, y, aux, ts) -> tangent`` where ``ts[k]`` is ``None`` for a zero
  tangent (at least one is not);
* ``exec.vjp``: ``rule(op, xs, y, aux, ct, needs) -> [cotangent or None per argument]``.

>>> import numpy as np
>>> from symnn.ops import Einsum
>>> from symnn.registry import lookup
>>> x, w = np.ones((2, 3)), np.arange(12.0).reshape(4, 3)
>>> vjp = lookup(Einsum, "exec.vjp")
>>> [g.shape for g in vjp(Einsum("bi,oi->bo"), [x, w], None, None, np.ones((2, 4)), [True, True])]
[(2, 3), (4, 3)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ..ops import ALL_OPS, BroadcastTo, Concat, Einsum, Elementwise, Fold, LogSumExp, Op, Pad, Reshape, Slice, Window
from ..registry import lookup, rule
from . import kernels as K
from .contract import einsum, staged
from .scalar import Program, affine_coefficients, compile_lambda, compose

Array = np.ndarray
Maybe = Array | None
Shapes = tuple[tuple[int, ...], ...]
#: A primal with its shape-dependent work done: ``step(xs) -> (y, aux)``.
ValueStep = Callable[[list[Array]], tuple[Array, Any]]
#: A cotangent rule with its shape-dependent work done: ``step(xs, y, aux, ct) -> [cotangent or None per argument]``.
VjpStep = Callable[[list[Array], Array, Any, Array], list[Maybe]]
#: The ops linear in all their arguments (``Op.linear``): their tangent is the op applied to the tangents.
LINEAR: tuple[type[Op], ...] = tuple(op for op in ALL_OPS if op.linear)


# -- helpers ----------------------------------------------------------------------------------------
def unbroadcast(t: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``t`` over the axes that numpy broadcasting added to reach ``t.shape`` from ``shape``."""
    if t.shape == shape:
        return t
    return t.sum(axis=_broadcast_axes(t.shape, shape)).reshape(shape)


def _broadcast_axes(big: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of ``big`` that numpy broadcasting added to ``shape`` (new leading ones, and 1s stretched)."""
    lead = len(big) - len(shape)
    return tuple(range(lead)) + tuple(lead + k for k, n in enumerate(shape) if n == 1 and big[lead + k] != 1)


def _shapes(xs: Sequence[Array]) -> Shapes:
    return tuple(x.shape for x in xs)


def _scatter(shape: tuple[int, ...], index: tuple[slice, ...], part: Array) -> Array:
    """Zeros of ``shape`` with ``part`` written at ``index``."""
    out = np.zeros(shape, dtype=part.dtype)
    out[index] = part
    return out


def _slices(start: tuple[int, ...], stop: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(a, b) for a, b in zip(start, stop, strict=True))


def _as3(t: tuple[int, ...], fill: int) -> tuple[int, ...]:
    # the missing axes go first: the kernels' innermost loop then runs along the last real axis (a 2-d
    # window's loop of length 1 made W4's 64x3x3x6x6 window 89 us)
    return (fill,) * (3 - len(t)) + tuple(t)


def _geometry(op: Window | Fold) -> Array:
    return np.array(_as3(op.stride, 1) + _as3(op.padding, 0), dtype=np.int64)


def window(op: Window | Fold, x: Array) -> Array:
    """Window of ``x`` (N, C, *S) -> (N, C, *K, *O) through the 3-d kernel (missing axes have size 1)."""
    n, c, *spatial = x.shape
    kern = _as3(op.kernel, 1)
    outs = [(s + 2 * p - k) // st + 1 for s, k, st, p in zip(spatial, op.kernel, op.stride, op.padding, strict=True)]
    out = np.empty((n * c, *kern, *_as3(tuple(outs), 1)), dtype=x.dtype)
    K.window(np.ascontiguousarray(x).reshape(n * c, *_as3(tuple(spatial), 1)), _geometry(op), out)
    return out.reshape(n, c, *op.kernel, *outs)


def fold(op: Window | Fold, w: Array, spatial: tuple[int, ...]) -> Array:
    """Scatter-add of windows ``w`` (N, C, *K, *O) back to (N, C, *spatial): the adjoint of ``window``."""
    n, c = w.shape[:2]
    d = len(spatial)
    outs = w.shape[2 + d :]
    out = np.empty((n * c, *_as3(spatial, 1)), dtype=w.dtype)
    wk = np.ascontiguousarray(w).reshape(n * c, *_as3(op.kernel, 1), *_as3(tuple(outs), 1))
    K.fold(wk, _geometry(op), out)
    return out.reshape(n, c, *spatial)


def _softmax(x: Array, y: Array, axis: int) -> Array:
    """e / sum(e), e = exp(x - logsumexp(x)) along ``axis``: never overflows where y is finite.

    The sum cancels y's rounding (a common factor of e): exact to the dtype's precision at any scale.
    """
    e = np.exp(x - np.expand_dims(y, axis))
    return e / np.sum(e, axis=axis, keepdims=True)


# -- Elementwise: scalar programs on the kernels ----------------------------------------------------
def _stack(prog: Any, xs: Sequence[Array | float], shape: tuple[int, ...], dtype: np.dtype) -> Array:
    """Slot matrix (nslots, size) with the arguments broadcast into its first rows."""
    V = np.empty((prog.nslots, math.prod(shape)), dtype=dtype)
    for k, x in enumerate(xs):
        V[k].reshape(shape)[...] = x
    return V


#: The numpy ufunc of each instruction an affine program may hold (all exactly rounded, as in the kernels).
_AFFINE_UFUNCS = {K.ADD: np.add, K.SUB: np.subtract, K.NEG: np.negative, K.ADDC: np.add, K.MULC: np.multiply}


def _stage_affine_value(prog: Any, shape: tuple[int, ...], dtype: np.dtype) -> ValueStep:
    """An affine program run instruction by instruction as numpy ufuncs on the (broadcasting) arguments.

    Each instruction is one exactly rounded operation, so the values are the interpreter's to the last
    bit, without copying the arguments into a slot matrix; the tangent and adjoint rules of an affine
    program read only its coefficients, so the tape keeps nothing.
    """
    consts = prog.constants(dtype)
    instrs = [
        (prog.nargs + i, int(op), int(a), int(b), consts[i])
        for i, (op, a, b) in enumerate(zip(prog.code, prog.ia, prog.ib, strict=True))
    ]
    root, fresh = prog.root, prog.root >= prog.nargs

    def step(xs: list[Array]) -> tuple[Array, Any]:
        rows: list[Any] = [*xs, *([None] * len(instrs))]
        for r, op, a, b, c in instrs:
            if op == K.CONST:
                rows[r] = c
            elif b >= 0:
                rows[r] = _AFFINE_UFUNCS[op](rows[a], rows[b])
            elif op == K.NEG:
                rows[r] = np.negative(rows[a])
            else:
                rows[r] = _AFFINE_UFUNCS[op](rows[a], c)
        y = rows[root]
        # the interpreter's result is a fresh C-ordered array of the node's shape: so is this one (a ufunc
        # follows its arguments' layout, and a root that is an argument or a constant is not fresh)
        if not fresh or y.shape != shape or not y.flags.c_contiguous:
            out = np.empty(shape, dtype=dtype)
            out[...] = y
            return out, None
        return y, None

    return step


def _stage_elementwise(op: Elementwise, shapes: Shapes, shape: tuple[int, ...], dtype: np.dtype) -> ValueStep:
    prog = compile_lambda(op.fn)
    if affine_coefficients(op.fn) is not None:
        return _stage_affine_value(prog, shape, dtype)
    return stage_program(prog, shape, dtype)


def stage_program(prog: Program, shape: tuple[int, ...], dtype: np.dtype) -> ValueStep:
    """The values of ``prog`` on the interpreter; the tape keeps the slot matrix (the adjoint sweep reads it)."""
    code, ia, ib, consts, nargs, root = prog.code, prog.ia, prog.ib, prog.constants(dtype), prog.nargs, prog.root
    # the slot matrix is made (nslots, *shape), so each argument broadcasts into its row and each row is
    # a value of the node's shape; the kernels see it as (nslots, size)
    rows, slots, forward = (prog.nslots, *shape), (prog.nslots, math.prod(shape)), K.program_forward

    def step(xs: list[Array]) -> tuple[Array, Any]:
        V = np.empty(rows, dtype=dtype)
        for k, x in enumerate(xs):
            V[k] = x
        flat = V.reshape(slots)
        forward(code, ia, ib, consts, nargs, flat)
        return V[root, ...], flat

    return step


@rule(Elementwise, "exec.value")
def _eval_elementwise(op: Elementwise, xs: list[Array], shape: tuple[int, ...], dtype: np.dtype) -> tuple[Array, Any]:
    return _stage_elementwise(op, _shapes(xs), shape, dtype)(xs)


def _owned(t: Array, ct: Array) -> Array:
    """``t``, copied if it is the cotangent ``ct`` itself or a view (never hand out an alias of ``ct``)."""
    return t.copy() if t is ct or not t.flags.owndata else t


def _scaled(a: float, t: Array) -> Array:
    return t if a == 1.0 else -t if a == -1.0 else a * t


def _same(t: Array) -> Array:
    return t


def _reducer(shape: tuple[int, ...], to: tuple[int, ...]) -> Callable[[Array], Array]:
    """``unbroadcast(t, to)`` for a ``t`` of ``shape``, its axes found once (``t.sum`` calls ``np.add.reduce``)."""
    if shape == to:
        return _same
    axes = _broadcast_axes(shape, to)
    if all(shape[k] == 1 for k in axes):  # a sum of one term is that term: only the shape changes
        return lambda t: t.reshape(to) if t.shape == shape else unbroadcast(t, to)
    summed = tuple(n for k, n in enumerate(shape) if k not in axes)
    add, axis = np.add.reduce, axes[0] if len(axes) == 1 else axes  # an int axis is the faster call
    if axes[0] == 0 and len(axes) > 1 and len(axes) < len(shape):
        return _outer_first(shape, axes, to)
    if summed == to:
        return lambda t: add(t, axis=axis) if t.shape == shape else unbroadcast(t, to)
    return lambda t: add(t, axis=axis).reshape(to) if t.shape == shape else unbroadcast(t, to)


def _outer_first(shape: tuple[int, ...], axes: tuple[int, ...], to: tuple[int, ...]) -> Callable[[Array], Array]:
    """``unbroadcast`` to ``to`` summing the leading ``axes`` first: whole rows added at a time, then the
    rest over a far smaller array (a bias's cotangent over (64, 8, 6, 6): 20 us by one tuple-axis sum, ~5)."""
    lead = next(k for k in range(len(shape)) if k not in axes)  # axes 0 .. lead-1 go first
    rows = (math.prod(shape[:lead]), *shape[lead:])
    rest = tuple(k - lead for k in axes if k >= lead)
    rest_axis = rest[0] if len(rest) == 1 else rest
    add = np.add.reduce

    def reduce(t: Array) -> Array:
        if t.shape != shape:
            return unbroadcast(t, to)
        return add(add(t.reshape(rows), axis=0), axis=rest_axis).reshape(to)

    return reduce


@rule(Elementwise, "exec.jvp")
def _jvp_elementwise(op: Elementwise, xs: list[Array], y: Array, V: Array, ts: list[Maybe]) -> Maybe:
    # d f(x_1..x_n) = sum_i (df/dx_i) dx_i, swept through the scalar program
    coefs = affine_coefficients(op.fn)
    if coefs is not None:  # constant partials: no per-element sweep
        terms = [_scaled(a, t) for a, t in zip(coefs, ts, strict=True) if t is not None and a != 0.0]
        out = np.zeros(y.shape, dtype=y.dtype)
        for t in terms:
            out += t
        return out
    prog = compile_lambda(op.fn)
    T = _stack(prog, [t if t is not None else 0.0 for t in ts], y.shape, V.dtype)
    active = np.zeros(prog.nslots, dtype=np.bool_)
    active[: prog.nargs] = [t is not None for t in ts]
    K.program_jvp(prog.code, prog.ia, prog.ib, prog.constants(V.dtype), prog.nargs, V, T, active)
    return T[prog.root].reshape(y.shape)


def _stage_elementwise_vjp(
    op: Elementwise, shapes: Shapes, shape: tuple[int, ...], dtype: np.dtype, needs: list[bool]
) -> VjpStep:
    coefs = affine_coefficients(op.fn)
    if coefs is not None:  # constant partials: scale and reduce the cotangent, no per-element sweep
        reduce = [_reducer(shape, s) if need else None for s, need in zip(shapes, needs, strict=True)]
        parts = [None if r is None else _affine_part(a, r) for a, r in zip(coefs, reduce, strict=True)]

        def affine(xs: list[Array], y: Array, V: Any, ct: Array) -> list[Maybe]:
            return [None if part is None else part(ct) for part in parts]

        return affine
    return stage_program_vjp(compile_lambda(op.fn), shapes, shape, dtype, needs)


def stage_program_vjp(
    prog: Program, shapes: Shapes, shape: tuple[int, ...], dtype: np.dtype, needs: list[bool]
) -> VjpStep:
    """The adjoint sweep of ``prog`` over the slot matrix its values left on the tape."""
    reduce = [_reducer(shape, s) if need else None for s, need in zip(shapes, needs, strict=True)]
    code, ia, ib, consts, nargs, root = prog.code, prog.ia, prog.ib, prog.constants(dtype), prog.nargs, prog.root
    rows, slots, vjp = (prog.nslots, *shape), (prog.nslots, math.prod(shape)), K.program_vjp
    wanted = np.zeros(prog.nslots, dtype=np.bool_)
    wanted[:nargs] = needs

    def sweep(xs: list[Array], y: Array, V: Array, ct: Array) -> list[Maybe]:
        G = np.zeros(rows, dtype=dtype)  # (nslots, *shape) like the primal's slots
        G[root] = ct
        vjp(code, ia, ib, consts, nargs, V, G.reshape(slots), wanted.copy())
        return [None if r is None else r(G[k, ...]) for k, r in enumerate(reduce)]

    return sweep


def _affine_part(a: float, reduce: Callable[[Array], Array]) -> Callable[[Array], Array]:
    """``ct -> unbroadcast(a ct)`` as an array of its own (never ``ct`` itself nor a view of it)."""
    if a == 1.0 and reduce is _same:
        return lambda ct: ct.copy()
    return lambda ct: _owned(reduce(_scaled(a, ct)), ct)


@rule(Elementwise, "exec.vjp")
def _vjp_elementwise(op: Elementwise, xs: list[Array], y: Array, V: Array, ct: Array, needs: list[bool]) -> list[Maybe]:
    # x_i_bar = unbroadcast((df/dx_i) y_bar), swept backwards through the scalar program
    return _stage_elementwise_vjp(op, _shapes(xs), y.shape, ct.dtype, needs)(xs, y, V, ct)


# -- Einsum ------------------------------------------------------------------------------------------
def _stage_einsum(op: Einsum, shapes: Shapes, shape: tuple[int, ...], dtype: np.dtype) -> ValueStep:
    contract = staged(op.spec, shapes)
    return lambda xs: (contract(*xs), None)


@rule(Einsum, "exec.value")
def _eval_einsum(op: Einsum, xs: list[Array], shape: tuple[int, ...], dtype: np.dtype) -> tuple[Array, Any]:
    return einsum(op.spec, *xs), None


@rule(Einsum, "exec.jvp")
def _jvp_einsum(op: Einsum, xs: list[Array], y: Array, aux: Any, ts: list[Maybe]) -> Maybe:
    # d (A . B) = dA . B + A . dB
    terms = [einsum(op.spec, *xs[:k], t, *xs[k + 1 :]) for k, t in enumerate(ts) if t is not None]
    return sum(terms[1:], terms[0])


@lru_cache(maxsize=4096)
def _einsum_transpose(spec: str, k: int) -> tuple[str, tuple[int, ...], tuple[int, ...]]:
    """The contraction giving operand ``k``'s cotangent: its spec, the other operands, and the
    axes of operand ``k`` that no other term carries (broadcast back afterwards)."""
    ins, out = Einsum(spec).terms
    others = tuple(j for j in range(len(ins)) if j != k)
    seen = set(out).union(*(set(ins[j]) for j in others))
    present = "".join(ch for ch in ins[k] if ch in seen)
    missing = tuple(i for i, ch in enumerate(ins[k]) if ch not in seen)
    return ",".join([out, *(ins[j] for j in others)]) + "->" + present, others, missing


def _stage_einsum_vjp(
    op: Einsum, shapes: Shapes, shape: tuple[int, ...], dtype: np.dtype, needs: list[bool]
) -> VjpStep:
    # A_bar = einsum(y_bar, B, ... -> A's subscripts), broadcast over indices only A carries
    parts = [_einsum_part(op.spec, k, shapes, shape) if need else None for k, need in enumerate(needs)]

    def step(xs: list[Array], y: Array, aux: Any, ct: Array) -> list[Maybe]:
        return [None if part is None else part(xs, ct) for part in parts]

    return step


def _einsum_part(spec: str, k: int, shapes: Shapes, shape: tuple[int, ...]) -> Callable[[list[Array], Array], Array]:
    """``(xs, ct) -> `` operand ``k``'s cotangent, for operands of ``shapes`` and a cotangent of ``shape``."""
    transposed, others, missing = _einsum_transpose(spec, k)
    contract = staged(transposed, (shape, *(shapes[j] for j in others)))
    if not missing:
        if len(others) == 1:  # the common pair
            j = others[0]
            return lambda xs, ct: contract(ct, xs[j])
        return lambda xs, ct: contract(ct, *[xs[j] for j in others])
    x_shape = shapes[k]
    expanded = tuple(1 if i in missing else n for i, n in enumerate(x_shape))  # a 1 on each axis only A carries

    def broadcast(xs: list[Array], ct: Array) -> Array:
        r = contract(ct, *[xs[j] for j in others])
        out = np.empty(x_shape, dtype=r.dtype)  # a copy: cheaper than broadcast_to's view on small arrays
        out[...] = r.reshape(expanded)
        return out

    return broadcast


@rule(Einsum, "exec.vjp")
def _vjp_einsum(op: Einsum, xs: list[Array], y: Array, aux: Any, ct: Array, needs: list[bool]) -> list[Maybe]:
    return _stage_einsum_vjp(op, _shapes(xs), ct.shape, ct.dtype, needs)(xs, y, aux, ct)


# -- linear structural ops: JVP is the op itself, VJP its transpose ------------------------------------
@rule(Reshape, "exec.value")
def _eval_reshape(op: Reshape, xs: list[Array], shape: tuple[int, ...], dtype: np.dtype) -> tuple[Array, Any]:
    return xs[0].reshape(op.shape), None


@rule(Slice, "exec.value")
def _eval_slice(op: Slice, xs: list[Array], shape: tuple[int, ...], dtype: np.dtype) -> tuple[Array, Any]:
    return xs[0][_slices(op.start, op.stop)], None


@rule(Pad, "exec.value")
def _eval_pad(op: Pad, xs: list[Array], shape: tuple[int, ...], dtype: np.dtype) -> tuple[Array, Any]:
    x = xs[0]
    return _scatter(shape, _slices(op.before, tuple(a + n for a, n in zip(op.before, x.shape, strict=True))), x), None


@rule(Concat, "exec.value")
def _eval_concat(op: Concat, xs: list[Array], shape: tuple[int, ...], dtype: np.dtype) -> tuple[Array, Any]:
    return np.concatenate(xs, axis=op.axis), None


@rule(BroadcastTo, "exec.value")
def _eval_broadcast(op: BroadcastTo, xs: list[Array], shape: tuple[int, ...], dtype: np.dtype) -> tuple[Array, Any]:
    return np.broadcast_to(xs[0], op.shape), None


@rule(Window, "exec.value")
def _eval_window(op: Window, xs: list[Array], shape: tuple[int, ...], dtype: np.dtype) -> tuple[Array, Any]:
    return window(op, xs[0]), None


@rule(Fold, "exec.value")
def _eval_fold(op: Fold, xs: list[Array], shape: tuple[int, ...], dtype: np.dtype) -> tuple[Array, Any]:
    return fold(op, xs[0], op.spatial), None


@rule(LINEAR, "exec.jvp")
def _jvp_linear(op: Op, xs: list[Array], y: Array, aux: Any, ts: list[Maybe]) -> Maybe:
    # d L(x) = L(dx) for a linear op L
    full = [t if t is not None else np.zeros_like(x) for x, t in zip(xs, ts, strict=True)]
    return lookup(type(op), "exec.value")(op, full, y.shape, y.dtype)[0]


@rule(Reshape, "exec.vjp")
def _vjp_reshape(op: Reshape, xs: list[Array], y: Array, aux: Any, ct: Array, needs: list[bool]) -> list[Maybe]:
    # Reshape^T = reshape back
    return [ct.reshape(xs[0].shape)]


@rule(Slice, "exec.vjp")
def _vjp_slice(op: Slice, xs: list[Array], y: Array, aux: Any, ct: Array, needs: list[bool]) -> list[Maybe]:
    # Slice^T = zero padding back to the input's shape
    return [_scatter(xs[0].shape, _slices(op.start, op.stop), ct)]


@rule(Pad, "exec.vjp")
def _vjp_pad(op: Pad, xs: list[Array], y: Array, aux: Any, ct: Array, needs: list[bool]) -> list[Maybe]:
    # Pad^T = the slice that drops the padding
    return [ct[_slices(op.before, tuple(a + n for a, n in zip(op.before, xs[0].shape, strict=True)))]]


@rule(Concat, "exec.vjp")
def _vjp_concat(op: Concat, xs: list[Array], y: Array, aux: Any, ct: Array, needs: list[bool]) -> list[Maybe]:
    # Concat^T = one slice per piece
    cuts = np.cumsum([x.shape[op.axis] for x in xs])[:-1]
    return [p if need else None for p, need in zip(np.split(ct, cuts, axis=op.axis), needs, strict=True)]


@rule(BroadcastTo, "exec.vjp")
def _vjp_broadcast(op: BroadcastTo, xs: list[Array], y: Array, aux: Any, ct: Array, needs: list[bool]) -> list[Maybe]:
    # BroadcastTo^T = sum over the broadcast axes
    return [unbroadcast(ct, xs[0].shape)]


@rule(Window, "exec.vjp")
def _vjp_window(op: Window, xs: list[Array], y: Array, aux: Any, ct: Array, needs: list[bool]) -> list[Maybe]:
    # Window^T = Fold
    return [fold(op, ct, xs[0].shape[2:])]


@rule(Fold, "exec.vjp")
def _vjp_fold(op: Fold, xs: list[Array], y: Array, aux: Any, ct: Array, needs: list[bool]) -> list[Maybe]:
    # Fold^T = Window
    return [window(op, ct)]


# -- LogSumExp ---------------------------------------------------------------------------------------
def _rows(x: Array, axis: int) -> Array:
    """``x`` as a C-contiguous (rows, n) matrix with ``axis`` last: a view when it is already last."""
    if axis != x.ndim - 1:
        x = np.moveaxis(x, axis, -1)  # moveaxis costs more than the kernel on small arrays: only when needed
    return np.ascontiguousarray(x).reshape(-1, x.shape[-1])


@rule(LogSumExp, "exec.value")
def _eval_logsumexp(op: LogSumExp, xs: list[Array], shape: tuple[int, ...], dtype: np.dtype) -> tuple[Array, Any]:
    # lse(x) = m + log(sum(exp(x - m))), m = max(x) (0 where the max is infinite, so -inf stays -inf)
    x = xs[0]
    if x.shape[op.axis] == 0:  # np.max names the empty axis, as before the kernel
        np.max(x, axis=op.axis)
    y = np.empty(shape, dtype=x.dtype)
    K.logsumexp(_rows(x, op.axis), y.reshape(-1))
    return y, None


@rule(LogSumExp, "exec.jvp")
def _jvp_logsumexp(op: LogSumExp, xs: list[Array], y: Array, aux: Any, ts: list[Maybe]) -> Maybe:
    # d lse(x) = sum_axis softmax(x) dx
    return np.sum(_softmax(xs[0], y, op.axis) * ts[0], axis=op.axis)


@rule(LogSumExp, "exec.vjp")
def _vjp_logsumexp(op: LogSumExp, xs: list[Array], y: Array, aux: Any, ct: Array, needs: list[bool]) -> list[Maybe]:
    # x_bar = softmax(x) y_bar (broadcast along the axis)
    x = xs[0]
    rows = _rows(x, op.axis)
    out = np.empty(rows.shape, dtype=x.dtype)
    flat = (rows.shape[0],)
    K.logsumexp_vjp(
        rows,
        np.ascontiguousarray(y, dtype=x.dtype).reshape(flat),
        np.ascontiguousarray(ct, dtype=x.dtype).reshape(flat),
        out,
    )
    if op.axis == x.ndim - 1:
        return [out.reshape(x.shape)]
    moved = (*x.shape[: op.axis], *x.shape[op.axis + 1 :], x.shape[op.axis])
    return [np.moveaxis(out.reshape(moved), -1, op.axis)]


# -- staged rules: the work that depends only on shapes, done once per graph --------------------------
_VALUE_STAGES: dict[Callable[..., Any], Callable[..., ValueStep]] = {
    _eval_elementwise: _stage_elementwise,
    _eval_einsum: _stage_einsum,
}
_VJP_STAGES: dict[Callable[..., Any], Callable[..., VjpStep]] = {
    _vjp_elementwise: _stage_elementwise_vjp,
    _vjp_einsum: _stage_einsum_vjp,
}


def stage_value(impl: Callable[..., Any], op: Op, shapes: Shapes, shape: tuple[int, ...], dtype: np.dtype) -> ValueStep:
    """The ``exec.value`` rule ``impl`` of ``op`` for arguments of ``shapes``, as a ``step(xs) -> (y, aux)``.

    An executor rule with a staged form (plans, programs and reductions fixed by the shapes) gives
    that; any other rule, such as a mutant put in by ``registry.override``, is called as it is.
    """
    stage = _VALUE_STAGES.get(impl)
    if stage is not None:
        return stage(op, shapes, shape, dtype)
    return lambda xs: impl(op, xs, shape, dtype)  # type: ignore[no-any-return]


def stage_vjp(
    impl: Callable[..., Any], op: Op, shapes: Shapes, shape: tuple[int, ...], dtype: np.dtype, needs: list[bool]
) -> VjpStep:
    """The ``exec.vjp`` rule ``impl`` of ``op`` as ``step(xs, y, aux, ct) -> [cotangent or None]``, as stage_value."""
    stage = _VJP_STAGES.get(impl)
    if stage is not None:
        return stage(op, shapes, shape, dtype, needs)
    return lambda xs, y, aux, ct: impl(op, xs, y, aux, ct, needs)  # type: ignore[no-any-return]


# -- fused chains: an elementwise node computed inside its only consumer's program ---------------------
def fusable(inner: Op, outer: Op, value_rules: Sequence[Any], vjp_rules: Sequence[Any]) -> bool:
    """Whether ``inner`` may be computed inside ``outer``'s scalar program: both elementwise and run by the
    executor's own rules (an overridden rule, such as a mutant, is never bypassed), ``outer`` not affine."""
    return (
        isinstance(inner, Elementwise)
        and isinstance(outer, Elementwise)
        and all(r is _eval_elementwise for r in value_rules)
        and all(r is _vjp_elementwise for r in vjp_rules)
        and affine_coefficients(outer.fn) is None
    )


def fused_program(ops: Sequence[Elementwise], positions: Sequence[int]) -> Program:
    """The program of ``ops[-1]`` with each ``ops[k]`` computed at its argument ``positions[k]`` of ``ops[k + 1]``."""
    prog = compile_lambda(ops[0].fn)
    for op, j in zip(ops[1:], positions, strict=True):
        prog = compose(compile_lambda(op.fn), j, prog)
    return prog


#: The executor's own (value, cotangent) rule pairs of the ops the compiled tape (``tape``) runs: a node whose
#: rules are not one of these (overridden in the registry, as a mutant is) keeps its graph on the planned sweeps.
TAPE_RULES: frozenset[tuple[Callable[..., Any], Callable[..., Any]]] = frozenset(
    {
        (_eval_elementwise, _vjp_elementwise),
        (_eval_einsum, _vjp_einsum),
        (_eval_reshape, _vjp_reshape),
        (_eval_slice, _vjp_slice),
        (_eval_pad, _vjp_pad),
        (_eval_concat, _vjp_concat),
        (_eval_broadcast, _vjp_broadcast),
        (_eval_window, _vjp_window),
        (_eval_fold, _vjp_fold),
        (_eval_logsumexp, _vjp_logsumexp),
    }
)
