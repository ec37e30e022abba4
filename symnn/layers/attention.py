"""Self-attention and the notes' multi-head attention."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import GraphError
from ..ir import Tensor, concat, einsum
from ..losses import softmax
from .base import Params, check_rank, check_size, check_tensor, shape_error
from .core import Linear


@dataclass(frozen=True)
class SelfAttention:
    """softmax(Q K^T / sqrt(d_k)) V with (Q, K, V) = (X Wq, X Wk, X Wv), for X of shape (B, T, d_model).

    Wq and Wk have shape (d_model, d_k), Wv (d_model, d_v); ``d_k`` defaults to ``d_model`` and
    ``d_v`` to ``d_k``. The softmax over the key axis is written stably as exp(s - logsumexp(s)),
    and the scale 1/sqrt(d_k) is an exact sympy number. Output shape (B, T, d_v).

    >>> from symnn.trace import trace
    >>> g = trace(SelfAttention(4, 2), shapes={"x": (1, 3, 4)})
    >>> g.shape(g.outputs[0]), g.params["Wq"]
    ((1, 3, 2), (4, 2))
    """

    d_model: int
    d_k: int | None = None
    d_v: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "d_k", self.d_model if self.d_k is None else self.d_k)
        object.__setattr__(self, "d_v", self.d_k if self.d_v is None else self.d_v)
        check_size("SelfAttention", d_model=self.d_model, d_k=self.d_k, d_v=self.d_v)

    def __str__(self) -> str:
        return f"SelfAttention({self.d_model}, d_k={self.d_k})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        check_rank(self, x, 3, "(B, T, d_model)")
        if x.shape[2] != self.d_model:
            raise shape_error(self, x, f"last axis {x.shape[2]} != d_model {self.d_model}")
        dk, dv = self.d_k, self.d_v
        assert dk is not None and dv is not None  # set in __post_init__
        with x.builder.scope(str(self)):
            q = einsum("bte,ek->btk", x, p.param("Wq", (self.d_model, dk)))
            k = einsum("bse,ek->bsk", x, p.param("Wk", (self.d_model, dk)))
            v = einsum("bse,ev->bsv", x, p.param("Wv", (self.d_model, dv)))
            scores = einsum("btk,bsk->bts", q, k) * (1 / sp.sqrt(dk))
            weights = softmax(scores, axis=2)
            return einsum("bts,bsv->btv", weights, v)


@dataclass(frozen=True)
class MultiHeadAttention:
    """The notes' multi-head attention: Linear(Concat(SA_1(x_1), ..., SA_k(x_k))).

    x_i is the i-th slice of d_model / heads features of x (B, T, d_model); SA_i is a
    ``SelfAttention(d_model / heads)`` with parameters ``head<i>.Wq`` etc., and the output
    ``Linear(d_model, d_model)`` has parameters ``out.W``, ``out.b``.

    >>> from symnn.trace import trace
    >>> sorted(trace(MultiHeadAttention(4, 2), shapes={"x": (1, 3, 4)}).params)[:3]
    ['head0.Wk', 'head0.Wq', 'head0.Wv']
    """

    d_model: int
    heads: int

    def __post_init__(self) -> None:
        check_size("MultiHeadAttention", d_model=self.d_model, heads=self.heads)
        if self.d_model % self.heads:
            raise GraphError(
                f"MultiHeadAttention: d_model {self.d_model} is not divisible by heads {self.heads}; "
                "each head takes an equal slice of the features"
            )

    def __str__(self) -> str:
        return f"MultiHeadAttention({self.d_model}, heads={self.heads})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        check_rank(self, x, 3, "(B, T, d_model)")
        if x.shape[2] != self.d_model:
            raise shape_error(self, x, f"last axis {x.shape[2]} != d_model {self.d_model}")
        dh = self.d_model // self.heads
        with x.builder.scope(str(self)):
            outs = [SelfAttention(dh)(x.take(2, i * dh, (i + 1) * dh), p.child(f"head{i}")) for i in range(self.heads)]
            joined = concat(outs, axis=2)
        return Linear(self.d_model, self.d_model)(joined, p.child("out"))
