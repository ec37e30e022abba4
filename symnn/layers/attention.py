"""Self-attention, the notes' multi-head attention and PyTorch's full-width form, with constant masks.

A mask is a constant known when the graph is built: a boolean array (True: this query may not
attend to this key, as in ``torch.nn.MultiheadAttention``), or an additive float array whose
``-inf`` entries mask and whose finite entries are added to the scores; ``causal`` masks key s
for query t when s > t. Masked keys get weight exactly 0 (``masked_softmax``), so ``-inf`` never
enters a computation. A query whose keys are all masked is refused when the graph is built:
PyTorch gives NaN there (or 0 on its fused path), and no exact value exists.

>>> from symnn.trace import trace
>>> g = trace(MultiHeadAttention(4, 2, full_width=True, causal=True), shapes={"x": (1, 3, 4)})
>>> sorted(g.params)
['in_proj_bias', 'in_proj_weight', 'out_proj.bias', 'out_proj.weight']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from ..errors import GraphError, ShapeError
from ..ir import Tensor, concat, einsum
from ..losses import softmax
from .base import Params, check_rank, check_size, check_tensor, shape_error
from .core import Linear


# -- masks ----------------------------------------------------------------------------------------
def _nested(a: np.ndarray) -> Any:
    """An array as nested tuples (hashable, so layers holding a mask stay frozen values)."""
    return tuple(_nested(r) for r in a) if a.ndim else a.item()


def check_mask(owner: str, mask: Any) -> Any:
    """``mask`` as nested tuples of bools or floats, after checking its values; None stays None."""
    if mask is None:
        return None
    try:
        a = np.asarray(mask)
    except (TypeError, ValueError, RuntimeError) as e:
        raise GraphError(f"{owner}: mask must be an array of bools or numbers, got {type(mask).__name__}") from e
    if a.dtype != bool:
        if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
            raise GraphError(f"{owner}: mask must hold bools or real numbers, got dtype {a.dtype}")
        a = a.astype(float)
        if np.isnan(a).any() or (a == np.inf).any():
            raise GraphError(f"{owner}: an additive mask holds finite numbers and -inf, got NaN or +inf")
    if not 2 <= a.ndim <= 4:
        raise GraphError(f"{owner}: mask must have shape (T, S), (B, T, S) or (B, H, T, S), got {a.shape}")
    return _nested(a)


def mask_parts(owner: str, mask: Any, causal: bool, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """(allowed, bias) broadcast to the scores' ``shape`` (..., T, S), or None when nothing is masked.

    ``allowed`` is False where a boolean mask is True, an additive mask is -inf, or (``causal``)
    the key comes after the query; ``bias`` holds the additive mask's finite entries (0 elsewhere).
    """
    if mask is None and not causal:
        return None
    t, s = shape[-2:]
    allowed = np.ones(shape, dtype=bool)
    bias = np.zeros(shape)
    if mask is not None:
        a = np.asarray(mask)
        try:
            a = np.broadcast_to(a, shape)
        except ValueError:
            raise ShapeError(f"{owner}: a mask of shape {a.shape} does not fit the attention scores {shape}") from None
        if a.dtype == bool:
            allowed &= ~a
        else:
            if np.isnan(a).any() or (a == np.inf).any():
                raise GraphError(f"{owner}: an additive mask holds finite numbers and -inf, got NaN or +inf")
            allowed &= a != -np.inf
            bias = np.where(allowed, a, 0.0)
    if causal:
        allowed &= np.tril(np.ones((t, s), dtype=bool))
    empty = np.argwhere(~allowed.any(axis=-1))
    if len(empty):
        raise GraphError(
            f"{owner}: the mask hides every key from query {tuple(int(i) for i in empty[0])} (index over the "
            "scores' leading axes); PyTorch gives NaN there (0 on its fused path), so symnn refuses it: "
            "leave at least one key per query unmasked"
        )
    return allowed, bias


def masked_softmax(z: Tensor, allowed: np.ndarray) -> Tensor:
    """softmax over the last axis of the allowed entries only: w = m e^(f - c) / sum(m e^(f - c)), m = allowed.

    f is z with each masked entry replaced by the row's first allowed entry, and the shift c is
    logsumexp(f), so max(allowed z) <= c <= max(allowed z) + log S: no term overflows and the sum
    is at least 1 / S. Masked entries are exactly 0 and pass no gradient, however large their score.
    """
    b = z.builder
    if allowed.all():
        return softmax(z, axis=-1)
    m = b.const(allowed.astype(float).tolist(), allowed.shape)
    first = np.zeros(allowed.shape)
    np.put_along_axis(first, allowed.argmax(axis=-1)[..., None], 1.0, axis=-1)
    pick = (z * b.const(first.tolist(), first.shape)).sum(-1, keepdims=True)  # the first allowed score per row
    filled = b.elementwise(lambda a, k, f: k * a + (1 - k) * f, z, m, pick)
    c = filled.logsumexp(-1).reshape((*z.shape[:-1], 1))
    # exp of the filled scores: a masked score may be large enough that its own exp overflows (0 * inf)
    e = b.elementwise(lambda a, k, cc: k * sp.exp(a - cc), filled, m, c)
    return e / e.sum(-1, keepdims=True)


def attend(scores: Tensor, parts: tuple[np.ndarray, np.ndarray] | None) -> Tensor:
    """The attention weights: softmax over the last axis of ``scores`` (plus the mask's finite part)."""
    if parts is None:
        return softmax(scores, axis=scores.ndim - 1)
    allowed, bias = parts
    if bias.any():
        scores = scores + scores.builder.const(bias.tolist(), bias.shape)
    return masked_softmax(scores, allowed)


def multihead(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    heads: int,
    mask: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[Tensor, Tensor]:
    """PyTorch's in-projection and attention per head: (heads concatenated (N, L, E), weights (N, H, L, S)).

    Q = query W_q^T + b_q, K = key W_k^T + b_k, V = value W_v^T + b_v with (W_q; W_k; W_v) the row
    blocks of ``weight`` (3E, E) and ``bias`` (3E,); each is split into ``heads`` slices of E / heads
    features, and head h is softmax(Q_h K_h^T / sqrt(E / heads)) V_h. Inputs are batch first.
    """
    e = weight.shape[1]
    d = e // heads
    projected = []
    for i, t in enumerate((query, key, value)):
        proj = einsum("nli,oi->nlo", t, weight.take(0, i * e, (i + 1) * e))
        if bias is not None:
            proj = proj + bias.take(0, i * e, (i + 1) * e)
        projected.append(proj.reshape((t.shape[0], t.shape[1], heads, d)))
    q, k, v = projected
    weights = attend(einsum("nlhd,nshd->nhls", q, k) * (1 / sp.sqrt(d)), mask)
    return einsum("nhls,nshd->nlhd", weights, v).reshape((q.shape[0], q.shape[1], e)), weights


def _check_kv(layer: object, x: Tensor, kv: Tensor | None, width: int) -> Tensor:
    """The keys' and values' source: ``kv`` (cross-attention, (B, S, width)) or ``x`` itself."""
    if kv is None:
        return x
    check_tensor(layer, kv)
    if kv.ndim != 3 or kv.shape[0] != x.shape[0] or kv.shape[2] != width:
        raise ShapeError(f"{layer} got kv of shape {kv.shape}: expected ({x.shape[0]}, S, {width}) for x {x.shape}")
    return kv


@dataclass(frozen=True)
class SelfAttention:
    """softmax(Q K^T / sqrt(d_k)) V with (Q, K, V) = (X Wq, X Wk, X Wv), for X of shape (B, T, d_model).

    Wq and Wk have shape (d_model, d_k), Wv (d_model, d_v); ``d_k`` defaults to ``d_model`` and
    ``d_v`` to ``d_k``. The softmax over the key axis is written stably as exp(s - logsumexp(s)),
    and the scale 1/sqrt(d_k) is an exact sympy number. Output shape (B, T, d_v). ``mask`` and
    ``causal`` mask keys (see the module); ``layer(x, p, kv=m)`` takes keys and values from ``m``
    (B, S, d_model) instead of ``x`` (cross-attention).

    >>> from symnn.trace import trace
    >>> g = trace(SelfAttention(4, 2), shapes={"x": (1, 3, 4)})
    >>> g.shape(g.outputs[0]), g.params["Wq"]
    ((1, 3, 2), (4, 2))
    """

    d_model: int
    d_k: int | None = None
    d_v: int | None = None
    mask: Any = None
    causal: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "d_k", self.d_model if self.d_k is None else self.d_k)
        object.__setattr__(self, "d_v", self.d_k if self.d_v is None else self.d_v)
        check_size("SelfAttention", d_model=self.d_model, d_k=self.d_k, d_v=self.d_v)
        object.__setattr__(self, "mask", check_mask("SelfAttention", self.mask))

    def __str__(self) -> str:
        extra = (", masked" if self.mask is not None else "") + (", causal" if self.causal else "")
        return f"SelfAttention({self.d_model}, d_k={self.d_k}{extra})"

    def __call__(self, x: Tensor, p: Params, kv: Tensor | None = None) -> Tensor:
        check_tensor(self, x)
        check_rank(self, x, 3, "(B, T, d_model)")
        if x.shape[2] != self.d_model:
            raise shape_error(self, x, f"last axis {x.shape[2]} != d_model {self.d_model}")
        src = _check_kv(self, x, kv, self.d_model)
        dk, dv = self.d_k, self.d_v
        if dk is None or dv is None:  # set in __post_init__
            raise GraphError(f"{self}: d_k and d_v are unset")
        with x.builder.scope(str(self)):
            q = einsum("bte,ek->btk", x, p.param("Wq", (self.d_model, dk)))
            k = einsum("bse,ek->bsk", src, p.param("Wk", (self.d_model, dk)))
            v = einsum("bse,ev->bsv", src, p.param("Wv", (self.d_model, dv)))
            scores = einsum("btk,bsk->bts", q, k) * (1 / sp.sqrt(dk))
            weights = attend(scores, mask_parts(str(self), self.mask, self.causal, scores.shape))
            return einsum("bts,bsv->btv", weights, v)


@dataclass(frozen=True)
class MultiHeadAttention:
    """Multi-head attention in the notes' sliced form (default) or PyTorch's full-width form.

    Sliced (``full_width=False``): Linear(Concat(SA_1(x_1), ..., SA_k(x_k))) where x_i is the i-th
    slice of d_model / heads features of x (B, T, d_model); SA_i is a ``SelfAttention(d_model /
    heads)`` with parameters ``head<i>.Wq`` etc., and the output ``Linear(d_model, d_model)`` has
    parameters ``out.W``, ``out.b``.

    Full width (``full_width=True``): torch.nn.MultiheadAttention with batch_first=True. Q, K, V
    are projections of the whole width, ``in_proj_weight`` (3 d_model, d_model) and
    ``in_proj_bias`` (3 d_model,), split into heads; the output projection is ``out_proj.weight``,
    ``out_proj.bias``. ``bias=False`` drops the biases (of the output Linear in the sliced form).

    ``mask`` ((T, S), (B, T, S) or (B, heads, T, S)) and ``causal`` mask keys (see the module);
    ``layer(x, p, kv=m)`` takes keys and values from ``m`` (B, S, d_model): cross-attention.

    >>> from symnn.trace import trace
    >>> sorted(trace(MultiHeadAttention(4, 2), shapes={"x": (1, 3, 4)}).params)[:3]
    ['head0.Wk', 'head0.Wq', 'head0.Wv']
    """

    d_model: int
    heads: int
    full_width: bool = False
    bias: bool = True
    mask: Any = None
    causal: bool = False

    def __post_init__(self) -> None:
        check_size("MultiHeadAttention", d_model=self.d_model, heads=self.heads)
        if self.d_model % self.heads:
            raise GraphError(
                f"MultiHeadAttention: d_model {self.d_model} is not divisible by heads {self.heads}; "
                "each head takes an equal slice of the features"
            )
        object.__setattr__(self, "mask", check_mask("MultiHeadAttention", self.mask))

    def __str__(self) -> str:
        extra = (", full_width" if self.full_width else "") + (", masked" if self.mask is not None else "")
        return f"MultiHeadAttention({self.d_model}, heads={self.heads}{extra}{', causal' if self.causal else ''})"

    def _mask(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray] | None:
        """The mask broadcast to scores of ``shape`` (B, heads, T, S); a (B, T, S) mask is the same for every head."""
        mask = self.mask
        if mask is not None and np.ndim(mask) == 3:
            mask = np.asarray(mask)[:, None]
        return mask_parts(str(self), mask, self.causal, shape)

    def __call__(self, x: Tensor, p: Params, kv: Tensor | None = None) -> Tensor:
        check_tensor(self, x)
        check_rank(self, x, 3, "(B, T, d_model)")
        if x.shape[2] != self.d_model:
            raise shape_error(self, x, f"last axis {x.shape[2]} != d_model {self.d_model}")
        src = _check_kv(self, x, kv, self.d_model)
        e, h = self.d_model, self.heads
        parts = self._mask((x.shape[0], h, x.shape[1], src.shape[1]))
        if self.full_width:
            with x.builder.scope(str(self)):
                w = p.param("in_proj_weight", (3 * e, e))
                b = p.param("in_proj_bias", (3 * e,)) if self.bias else None
                joined, _ = multihead(x, src, src, w, b, h, parts)
                out = p.child("out_proj")
                y = einsum("nli,oi->nlo", joined, out.param("weight", (e, e)))
                return y + out.param("bias", (e,)) if self.bias else y
        dh = e // h
        with x.builder.scope(str(self)):
            outs = []
            for i in range(h):
                # head i's slice of the mask, -inf where masked (causal included)
                mask = None if parts is None else np.where(parts[0][:, i], parts[1][:, i], -math.inf)
                head = SelfAttention(dh, mask=mask)
                sl = (i * dh, (i + 1) * dh)
                outs.append(head(x.take(2, *sl), p.child(f"head{i}"), None if kv is None else src.take(2, *sl)))
            joined = concat(outs, axis=2)
        return Linear(e, e, self.bias)(joined, p.child("out"))
