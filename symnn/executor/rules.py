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
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ..ops import ALL_OPS, BroadcastTo, Concat, Einsum, Elementwise, Fold, LogSumExp, Op, Pad, Reshape, Slice, Window
from ..registry import lookup, rule
from . import kernels as K
from .contract import einsum
from .scalar import affine_coefficients, compile_lambda

Array = np.ndarray
Maybe = Array | None
#: The ops linear in all their arguments (``Op.linear``): their tangent is the op applied to the tangents.
LINEAR: tuple[type[Op], ...] = tuple(op for op in ALL_OPS if op.linear)


# -- helpers ----------------------------------------------------------------------------------------
def unbroadcast(t: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``t`` over the axes that numpy broadcasting added to reach ``t.shape`` from ``shape``."""
    if t.shape == shape:
        return t
    lead = t.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + k for k, n in enumerate(shape) if n == 1 and t.shape[lead + k] != 1)
    return t.sum(axis=axes).reshape(shape)


def _scatter(shape: tuple[int, ...], index: tuple[slice, ...], part: Array) -> Array:
    """Zeros of ``shape`` with ``part`` written at ``index``."""
    out = np.zeros(shape, dtype=part.dtype)
    out[index] = part
    return out


def _slices(start: tuple[int, ...], stop: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(a, b) for a, b in zip(start, stop, strict=True))


def _as3(t: tuple[int, ...], fill: int) -> tuple[int, ...]:
    return tuple(t) + (fill,) * (3 - len(t))


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


@rule(Elementwise, "exec.value")
def _eval_elementwise(op: Elementwise, xs: list[Array], shape: tuple[int, ...], dtype: np.dtype) -> tuple[Array, Any]:
    prog = compile_lambda(op.fn)
    V = _stack(prog, xs, shape, dtype)
    K.program_forward(prog.code, prog.ia, prog.ib, prog.constants(dtype), prog.nargs, V)
    return V[prog.root].reshape(shape), V


def _owned(t: Array, ct: Array) -> Array:
    """``t``, copied if it is the cotangent ``ct`` itself or a view (never hand out an alias of ``ct``)."""
    return t.copy() if t is ct or not t.flags.owndata else t


def _scaled(a: float, t: Array) -> Array:
    return t if a == 1.0 else -t if a == -1.0 else a * t


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


@rule(Elementwise, "exec.vjp")
def _vjp_elementwise(op: Elementwise, xs: list[Array], y: Array, V: Array, ct: Array, needs: list[bool]) -> list[Maybe]:
    # x_i_bar = unbroadcast((df/dx_i) y_bar), swept backwards through the scalar program
    coefs = affine_coefficients(op.fn)
    if coefs is not None:  # constant partials: scale and reduce the cotangent, no per-element sweep
        return [
            _owned(unbroadcast(_scaled(a, ct), x.shape), ct) if need else None
            for a, x, need in zip(coefs, xs, needs, strict=True)
        ]
    prog = compile_lambda(op.fn)
    G = np.zeros(V.shape, dtype=V.dtype)
    G[prog.root].reshape(y.shape)[...] = ct
    active = np.zeros(prog.nslots, dtype=np.bool_)
    active[: prog.nargs] = needs
    K.program_vjp(prog.code, prog.ia, prog.ib, prog.constants(V.dtype), prog.nargs, V, G, active)
    return [
        unbroadcast(G[k].reshape(y.shape), x.shape) if need else None
        for k, (x, need) in enumerate(zip(xs, needs, strict=True))
    ]


# -- Einsum ------------------------------------------------------------------------------------------
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


@rule(Einsum, "exec.vjp")
def _vjp_einsum(op: Einsum, xs: list[Array], y: Array, aux: Any, ct: Array, needs: list[bool]) -> list[Maybe]:
    # A_bar = einsum(y_bar, B, ... -> A's subscripts), broadcast over indices only A carries
    res: list[Maybe] = []
    for k, x in enumerate(xs):
        if not needs[k]:
            res.append(None)
            continue
        spec, others, missing = _einsum_transpose(op.spec, k)
        r = einsum(spec, ct, *(xs[j] for j in others))
        res.append(np.broadcast_to(np.expand_dims(r, missing), x.shape) if missing else r)
    return res


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
@rule(LogSumExp, "exec.value")
def _eval_logsumexp(op: LogSumExp, xs: list[Array], shape: tuple[int, ...], dtype: np.dtype) -> tuple[Array, Any]:
    # lse(x) = m + log(sum(exp(x - m))), m = max(x) (0 where the max is infinite, so -inf stays -inf)
    x = xs[0]
    m = np.max(x, axis=op.axis, keepdims=True)
    if not np.isfinite(m).all():
        m = np.where(np.isfinite(m), m, 0.0).astype(x.dtype)
    s = np.sum(np.exp(x - m), axis=op.axis, keepdims=True)
    return np.squeeze(np.log(s) + m, axis=op.axis), None


@rule(LogSumExp, "exec.jvp")
def _jvp_logsumexp(op: LogSumExp, xs: list[Array], y: Array, aux: Any, ts: list[Maybe]) -> Maybe:
    # d lse(x) = sum_axis softmax(x) dx
    return np.sum(_softmax(xs[0], y, op.axis) * ts[0], axis=op.axis)


@rule(LogSumExp, "exec.vjp")
def _vjp_logsumexp(op: LogSumExp, xs: list[Array], y: Array, aux: Any, ct: Array, needs: list[bool]) -> list[Maybe]:
    # x_bar = softmax(x) y_bar (broadcast along the axis)
    return [_softmax(xs[0], y, op.axis) * np.expand_dims(ct, op.axis)]
