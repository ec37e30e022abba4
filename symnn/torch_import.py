"""``from_torch``: a PyTorch module, traced by ``torch.fx``, as a symnn Graph with its parameters' values.

torch is optional: it is imported only when ``from_torch`` runs (or an object already is a torch
module). Each fx node becomes symnn nodes: parameters keep PyTorch's names (``"0.weight"``),
inputs the names of ``forward``'s arguments, and the optional loss adds the input ``"y"`` and the
output ``"loss"``. Kinks follow PyTorch: relu'(0) = 0, LeakyReLU'(0) = slope, ELU'(0) = alpha,
max pooling sends the gradient to the first maximal entry of a window. Anything else raises
``GraphError`` naming the node, its module or function, and the line of ``forward`` it came from.

Supported modules: Linear, Conv1d/2d/3d (zero padding, ``"same"``, dilation, groups),
MaxPool1d/2d/3d (no padding), AvgPool1d/2d/3d, AdaptiveAvgPool1d/2d/3d (sizes that divide),
ReLU, Sigmoid, Tanh, GELU, LeakyReLU, ELU, Softplus, Identity, Dropout (p=0 or eval mode),
Flatten, LayerNorm, BatchNorm1d/2d/3d (training and eval mode), InstanceNorm1d/2d/3d (affine or
not, running statistics in eval mode), Embedding (padding_idx too; an integer input becomes
one-hot rows, the graph input of that name), MultiheadAttention (self- and cross-attention,
``attn_mask``, ``key_padding_mask``, ``is_causal``), TransformerEncoderLayer and
TransformerEncoder (pre- or post-norm, relu or gelu, masks as for attention; dropout 0 or eval
mode); their functional forms (``F.max_pool2d``, ``F.leaky_relu``, ``F.linear``, ...); +, -, *,
/, @, neg, exp, relu, sigmoid, tanh, gelu, flatten, reshape/view, transpose/permute/t, cat,
mean/sum over dims, indexing with ints and unit-step slices; the losses MSELoss and
CrossEntropyLoss (class indices or probabilities; reduction "mean", "sum" or "none"). Every
parameter is a graph parameter (frozen ones too); buffers (BatchNorm's running statistics) are
constants. Masks are constants: buffers, or made in ``forward`` from sizes (``torch.full``,
``torch.triu``, ``generate_square_subsequent_mask``, ...), which torch itself evaluates (only
deterministic constructors are folded so); a masked key gets weight exactly 0, ``-inf`` included.
"""

from __future__ import annotations

import inspect
import math
import operator
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from .errors import GraphError, ModelError, ShapeError, SymnnError
from .functions import relu, sigmoid
from .ir import Builder, Graph, Tensor, concat, einsum
from .layers.activations import elu, exact_number, gelu, leaky_relu
from .layers.attention import mask_parts, multihead
from .layers.base import Params
from .layers.core import conv, embedding_table, same_padding
from .layers.norm import InstanceNorm, affine, normalize
from .layers.pooling import avg_pool, max_pool
from .losses import cross_entropy, mse, one_hot


def is_torch_module(obj: object) -> bool:
    """Whether ``obj`` is a ``torch.nn.Module``, without importing torch (a module object implies torch is loaded)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


@dataclass(frozen=True)
class TorchModel:
    """A traced torch module: ``graph()``, the parameters' current values ``params()`` and example ``inputs()``.

    Values are float64 numpy arrays keyed by the graph's leaf names.
    """

    name: str
    fixed: Graph = field(repr=False)
    values: dict[str, Any] = field(repr=False, hash=False, compare=False)
    examples: dict[str, Any] = field(repr=False, hash=False, compare=False)

    def graph(self) -> Graph:
        return self.fixed

    def params(self) -> dict[str, Any]:
        """The module's parameters by PyTorch's names, as float64 arrays."""
        return dict(self.values)

    def inputs(self) -> dict[str, Any]:
        """The example inputs (and the target ``"y"`` with a loss), as float64 arrays."""
        return dict(self.examples)

    def arrays(self) -> dict[str, Any]:
        """Inputs and parameters together: what ``Executor(graph).grad`` and compiled kernels take."""
        return {**self.examples, **self.values}


def _array(t: Any) -> Any:
    """A torch tensor's values as a float64 numpy array of its own (not sharing torch's memory)."""
    return t.detach().double().cpu().numpy().copy()


def _where(node: Any) -> str:
    """The user's source line that made ``node`` (fx records the stack when asked), or ''."""
    trace = getattr(node, "stack_trace", None) or node.meta.get("stack_trace") or ""
    lines = [ln.strip() for ln in trace.strip().splitlines() if ln.strip()]
    # the innermost frame outside torch itself: the line of forward (or of a helper it calls)
    frames = [i for i, ln in enumerate(lines) if ln.startswith("File ") and f"{os.sep}torch{os.sep}" not in ln]
    if not frames:
        return ""
    last = frames[-1]
    code = lines[last + 1] if last + 1 < len(lines) and not lines[last + 1].startswith("File ") else ""
    return f" at {lines[last]}" + (f": {code}" if code else "")


def _qual(prefix: str, attr: str) -> str:
    """PyTorch's qualified parameter name: ``"0.weight"``, or ``"weight"`` on the root module."""
    return f"{prefix}.{attr}" if prefix else attr


def _ints(v: Any, d: int) -> tuple[int, ...]:
    return tuple(int(a) for a in v) if isinstance(v, (tuple, list)) else (int(v),) * d


@dataclass(frozen=True)
class _Indices:
    """An integer input of ``forward``: its name, its values in C order and its shape."""

    name: str
    values: tuple[int, ...]
    shape: tuple[int, ...]


class _Importer:
    """One pass over an fx graph, building the symnn graph node by node."""

    def __init__(self, module: Any, gm: Any, builder: Builder) -> None:
        import torch

        self.torch, self.nn, self.F = torch, torch.nn, torch.nn.functional
        self.module, self.gm, self.b = module, gm, builder
        self.named = dict(module.named_parameters())
        self.values: dict[str, Any] = {}
        self.inputs: dict[str, Any] = {}

    # -- leaves ------------------------------------------------------------------------------------
    def param(self, name: str) -> Tensor:
        """The parameter ``name`` (PyTorch's qualified name) as a graph parameter, its value recorded."""
        p = self.named[name]
        self.values[name] = _array(p)
        return self.b.param(name, tuple(p.shape))

    def maybe(self, prefix: str, attr: str) -> Tensor | None:
        name = _qual(prefix, attr)
        return self.param(name) if name in self.named else None

    def const(self, t: Any) -> Tensor:
        values = _array(t)
        if not np.isfinite(values).all():
            raise GraphError(
                f"a constant of shape {tuple(t.shape)} holds inf or NaN; only the masks given to "
                "MultiheadAttention (attn_mask, key_padding_mask) may hold -inf"
            )
        return self.b.const(values.tolist(), tuple(t.shape))

    def lift(self, value: Any) -> Any:
        """Torch tensors inside ``value`` (constants: buffers, masks made in forward) as symnn constants."""
        if isinstance(value, self.torch.Tensor):
            return self.const(value)
        if isinstance(value, tuple):
            return tuple(self.lift(v) for v in value)
        if isinstance(value, list):
            return [self.lift(v) for v in value]
        return value

    def fold(self, node: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bool, Any]:
        """(True, value) when torch itself evaluates ``node``: a mask or constant built from sizes and buffers.

        Only deterministic constructors and tensor methods on constants are folded (never random
        ones), and only when no argument depends on the graph's inputs.
        """
        if _depends((*args, *kwargs.values())):
            return False, None
        if node.op == "call_function" and (
            node.target in _FOLD_OPERATORS or getattr(node.target, "__name__", "") in _FOLD_TORCH
        ):
            if node.target in _FOLD_OPERATORS or getattr(self.torch, node.target.__name__, None) is node.target:
                return True, node.target(*args, **kwargs)
        if node.op == "call_method" and isinstance(args[0], self.torch.Tensor) and node.target in _FOLD_METHODS:
            return True, getattr(args[0], node.target)(*args[1:], **kwargs)
        return False, None

    # -- modules -----------------------------------------------------------------------------------
    def call_module(self, target: str, m: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        nn = self.nn
        if isinstance(m, nn.MultiheadAttention):
            return self.attention(target, m, *args, **kwargs)
        if isinstance(m, (nn.TransformerEncoderLayer, nn.TransformerEncoder)):
            bound = inspect.signature(m.forward).bind(*args, **kwargs).arguments
            x = bound["src"]
            mask = bound.get("mask", bound.get("src_mask"))
            padding, causal = bound.get("src_key_padding_mask"), bool(bound.get("is_causal"))
            if not isinstance(x, Tensor):
                raise GraphError(f"the source of {type(m).__name__} must be a float tensor, got {type(x).__name__}")
            if isinstance(m, nn.TransformerEncoder):
                for i, layer in enumerate(m.layers):
                    x = self.encoder_layer(_qual(target, f"layers.{i}"), layer, x, mask, padding, causal)
                return x if m.norm is None else self.call_module(_qual(target, "norm"), m.norm, [x], {})
            return self.encoder_layer(target, m, x, mask, padding, causal)
        args, kwargs = self.lift(args), {k: self.lift(v) for k, v in kwargs.items()}
        if isinstance(m, nn.Embedding) and len(args) == 1 and not kwargs:
            return self.embedding(target, m, args[0])
        if any(isinstance(a, _Indices) for a in args):
            raise GraphError("integer inputs are supported only as the indices of an Embedding")
        if kwargs or len(args) != 1 or not isinstance(args[0], Tensor):
            raise GraphError("takes exactly one tensor argument here")
        (x,) = args
        if isinstance(m, nn.Linear):
            w = self.param(_qual(target, "weight"))
            lead = "abcdefghjklmn"[: x.ndim - 1]
            y = einsum(f"{lead}i,oi->{lead}o", x, w)
            bias = self.maybe(target, "bias")
            return y + bias if bias is not None else y
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            return self.conv(target, m, x)
        if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
            d = x.ndim - 2
            if m.ceil_mode or m.return_indices or set(_ints(m.dilation, d)) != {1} or set(_ints(m.padding, d)) != {0}:
                raise GraphError("max pooling supports padding=0, dilation=1, ceil_mode=False, return_indices=False")
            k = _ints(m.kernel_size, d)
            return max_pool(x, k, _ints(m.stride or k, d), str(m))
        if isinstance(m, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
            d = x.ndim - 2
            if m.ceil_mode or not m.count_include_pad or getattr(m, "divisor_override", None) is not None:
                raise GraphError(
                    "average pooling supports ceil_mode=False, count_include_pad=True, no divisor_override"
                )
            k = _ints(m.kernel_size, d)
            return avg_pool(x, k, _ints(m.stride or k, d), _ints(m.padding, d), str(m))
        if isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)):
            d = x.ndim - 2
            size = m.output_size
            sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * d
            out = tuple(s if o is None else int(o) for s, o in zip(x.shape[2:], sizes, strict=True))
            if any(s % o for s, o in zip(x.shape[2:], out, strict=True)):
                raise GraphError(f"adaptive pooling to {out} needs spatial sizes {x.shape[2:]} divisible by it")
            k = tuple(s // o for s, o in zip(x.shape[2:], out, strict=True))
            return avg_pool(x, k, k, (0,) * d, str(m))
        if isinstance(m, (nn.LayerNorm,)):
            n = len(m.normalized_shape)
            y = normalize(x, tuple(range(x.ndim - n, x.ndim)), exact_number("LayerNorm", "eps", m.eps, positive=True))
            shape = tuple(m.normalized_shape)
            return affine(y, self.maybe(target, "weight"), self.maybe(target, "bias"), shape)
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            return self.batch_norm(target, m, x)
        if isinstance(m, (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)):
            return self.instance_norm(target, m, x)
        if isinstance(m, nn.Flatten):
            return _flatten(x, m.start_dim, m.end_dim)
        if isinstance(m, nn.Dropout) and (m.p == 0 or not m.training):
            return x
        if isinstance(m, nn.Identity):
            return x
        fn = self.activation(m)
        if fn is not None:
            return x.map(fn)
        raise GraphError(f"the module type {type(m).__name__} is not supported")

    def embedding(self, target: str, m: Any, idx: Any) -> Tensor:
        """nn.Embedding: integer indices (N, ...) become the one-hot input (N, ..., num_embeddings) times the table."""
        if m.max_norm is not None or m.scale_grad_by_freq or m.sparse:
            raise GraphError("Embedding is supported without max_norm, scale_grad_by_freq and sparse")
        if not isinstance(idx, _Indices):
            raise GraphError("Embedding needs a forward argument of integer indices as its input")
        v = m.num_embeddings
        if not all(0 <= i < v for i in idx.values):
            raise GraphError(f"Embedding indices must lie in [0, {v}), got {sorted(set(idx.values))}")
        x = self.b.input(idx.name, (*idx.shape, v))
        rows = [[1.0 if k == i else 0.0 for k in range(v)] for i in idx.values]
        self.inputs[idx.name] = _array(self.torch.tensor(rows, dtype=self.torch.float64).reshape(*idx.shape, v))
        lead = "abcdefghjklmn"[: len(idx.shape)]
        weight = self.param(_qual(target, "weight"))
        table = embedding_table(weight, m.padding_idx)
        if m.padding_idx is not None and m.weight[m.padding_idx].count_nonzero():
            # torch reads the padding row as it is (no gradient): its current values as a constant row
            row = np.zeros(tuple(weight.shape))
            row[m.padding_idx] = _array(m.weight[m.padding_idx])
            table = table + self.b.const(row.tolist(), row.shape)
        return einsum(f"{lead}i,io->{lead}o", x, table)

    def attention(
        self,
        target: str,
        m: Any,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Any = None,
        need_weights: bool = True,
        attn_mask: Any = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """nn.MultiheadAttention: softmax(Q K^T / sqrt(d) + mask) V per head, then the output projection.

        Q = query W_q^T + b_q (and K, V likewise) with W_q, W_k, W_v the row blocks of
        ``in_proj_weight``; masks are constants (see ``attention_mask``); no bias_k/v, no zero
        attention, no dropout while training.
        """
        if not m._qkv_same_embed_dim or m.bias_k is not None or m.add_zero_attn:
            raise GraphError("MultiheadAttention needs kdim = vdim = embed_dim, add_bias_kv=False, add_zero_attn=False")
        if m.dropout and m.training:
            raise GraphError(f"MultiheadAttention with dropout {m.dropout} in training mode is random; call .eval()")
        if not m.batch_first:  # (L, N, E) -> (N, L, E)
            query, key, value = (_permute(t, [1, 0, 2]) for t in (query, key, value))
        h, n, length, s = m.num_heads, query.shape[0], query.shape[1], key.shape[1]
        parts = self.attention_mask(attn_mask, key_padding_mask, is_causal, (n, h, length, s))
        w = self.param(_qual(target, "in_proj_weight"))
        joined, weights = multihead(query, key, value, w, self.maybe(target, "in_proj_bias"), h, parts)
        out = self.call_module(_qual(target, "out_proj"), m.out_proj, [joined], {})
        if not m.batch_first:
            out = _permute(out, [1, 0, 2])
        if not need_weights:
            return out, None
        return out, weights.mean(1) if average_attn_weights else weights

    def attention_mask(
        self, attn_mask: Any, padding: Any, is_causal: bool, shape: tuple[int, int, int, int]
    ) -> tuple[Any, Any] | None:
        """torch's ``attn_mask`` ((L, S) or (N * heads, L, S)) and ``key_padding_mask`` (N, S) as one constant mask.

        Boolean masks hide the True entries; float masks are added, -inf hiding. ``is_causal`` is
        torch's hint that ``attn_mask`` is the causal mask: torch requires the mask then and may
        use either, so the mask must be the causal one.
        """
        n, _, length, s = shape
        total = np.zeros(shape)
        for name, mask, at in (("attn_mask", attn_mask, None), ("key_padding_mask", padding, (n, 1, 1, s))):
            if mask is None:
                continue
            if not isinstance(mask, self.torch.Tensor):
                raise GraphError(
                    f"{name} must be a constant tensor (a buffer, or made in forward from sizes), "
                    f"not computed from the inputs: got {type(mask).__name__}"
                )
            a = mask.detach().cpu().numpy()
            a = np.where(a, -np.inf, 0.0) if a.dtype == bool else a.astype(float)
            if at is not None:
                a = a.reshape(at) if a.size == math.prod(at) else a
            elif a.ndim == 3:
                a = a.reshape(shape) if a.size == math.prod(shape) else a
            try:
                total = total + np.broadcast_to(a, shape)
            except ValueError:
                raise ShapeError(
                    f"{name} of shape {tuple(mask.shape)} does not fit the attention scores {shape}"
                ) from None
        if is_causal:
            if attn_mask is None:
                raise GraphError(
                    "is_causal needs attn_mask as well (torch's hint), "
                    "e.g. nn.Transformer.generate_square_subsequent_mask(L)"
                )
            if padding is None and not (np.isfinite(total) == np.tril(np.ones((length, s), dtype=bool))).all():
                raise GraphError(
                    "is_causal is set but attn_mask is not the causal mask; torch may use either, so they must agree"
                )
        if attn_mask is None and padding is None:
            return None
        return mask_parts("MultiheadAttention", total, False, shape)

    def encoder_layer(self, target: str, m: Any, x: Tensor, mask: Any, padding: Any, causal: bool) -> Tensor:
        """nn.TransformerEncoderLayer: self-attention and feed-forward blocks with residuals, post- or pre-norm."""

        def sub(name: str, t: Tensor) -> Tensor:
            return self.call_module(_qual(target, name), getattr(m, name), [t], {})  # type: ignore[no-any-return]

        def attend(t: Tensor) -> Tensor:
            out = self.attention(
                _qual(target, "self_attn"), m.self_attn, t, t, t, padding, False, mask, is_causal=causal
            )[0]
            return sub("dropout1", out)

        def feed_forward(t: Tensor) -> Tensor:
            act = m.activation
            if act is self.F.relu:
                hidden = sub("linear1", t).map(relu)
            elif act is self.F.gelu:
                hidden = sub("linear1", t).map(gelu)
            else:
                fn = self.activation(act)
                if fn is None:
                    raise GraphError(f"the feed-forward activation {act!r} is not supported")
                hidden = sub("linear1", t).map(fn)
            return sub("dropout2", sub("linear2", sub("dropout", hidden)))

        if m.norm_first:
            x = x + attend(sub("norm1", x))
            return x + feed_forward(sub("norm2", x))
        x = sub("norm1", x + attend(x))
        return sub("norm2", x + feed_forward(x))

    def activation(self, m: Any) -> Callable[[sp.Expr], sp.Expr] | None:
        nn = self.nn
        if isinstance(m, nn.ReLU):
            return relu
        if isinstance(m, nn.Sigmoid):
            return sigmoid
        if isinstance(m, nn.Tanh):
            return sp.tanh
        if isinstance(m, nn.GELU):
            return lambda a: gelu(a, m.approximate)
        if isinstance(m, nn.LeakyReLU):
            slope = exact_number("LeakyReLU", "negative_slope", m.negative_slope)
            return lambda a: leaky_relu(a, slope)
        if isinstance(m, nn.ELU):
            alpha = exact_number("ELU", "alpha", m.alpha)
            return lambda a: elu(a, alpha)
        if isinstance(m, nn.Softplus):
            beta = exact_number("Softplus", "beta", m.beta, positive=True)
            return lambda a: sp.log(1 + sp.exp(beta * a)) / beta
        return None

    def conv(self, target: str, m: Any, x: Tensor) -> Tensor:
        d = x.ndim - 2
        if m.padding_mode != "zeros":
            raise GraphError(f"convolutions need padding_mode='zeros', got {m.padding_mode!r}")
        w = self.param(_qual(target, "weight"))
        kernel, dilation = _ints(m.kernel_size, d), _ints(m.dilation, d)
        if isinstance(m.padding, str):
            before, after = same_padding(kernel, dilation) if m.padding == "same" else ((0,) * d, (0,) * d)
        else:
            before = after = _ints(m.padding, d)
        return conv(x, w, self.maybe(target, "bias"), _ints(m.stride, d), before, after, dilation, m.groups)

    def batch_norm(self, target: str, m: Any, x: Tensor) -> Tensor:
        c = m.num_features
        shape = (1, c) + (1,) * (x.ndim - 2)
        axes = (0, *range(2, x.ndim))
        eps = exact_number("BatchNorm", "eps", m.eps, positive=True)
        if m.training or m.running_mean is None:
            y = normalize(x, axes, eps)
        else:
            y = normalize(
                x, axes, eps, self.const(m.running_mean).reshape(shape), self.const(m.running_var).reshape(shape)
            )
        return affine(y, self.maybe(target, "weight"), self.maybe(target, "bias"), shape)

    def instance_norm(self, target: str, m: Any, x: Tensor) -> Tensor:
        """InstanceNorm1d/2d/3d: statistics over the spatial axes per (n, c); running ones in eval mode if tracked."""
        d = {self.nn.InstanceNorm1d: 1, self.nn.InstanceNorm2d: 2, self.nn.InstanceNorm3d: 3}[type(m)]
        if x.ndim != d + 2:
            raise ShapeError(f"{type(m).__name__} needs a batched input of rank {d + 2}, got shape {x.shape}")
        eval_stats = m.track_running_stats and not m.training
        layer = InstanceNorm(
            m.num_features,
            exact_number("InstanceNorm", "eps", m.eps, positive=True),
            running_mean=m.running_mean.tolist() if eval_stats else None,
            running_var=m.running_var.tolist() if eval_stats else None,
        )
        y = layer(x, Params(self.b))  # no parameters: torch's affine weight and bias follow
        shape = (1, x.shape[1]) + (1,) * d
        return affine(y, self.maybe(target, "weight"), self.maybe(target, "bias"), shape)

    # -- functions and methods -----------------------------------------------------------------------
    def call_function(self, fn: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        torch, F = self.torch, self.F
        if kwargs.get("inplace") is False:  # functional activations' default: nothing to do
            del kwargs["inplace"]
        binary = {
            operator.add: operator.add,
            torch.add: operator.add,
            operator.sub: operator.sub,
            torch.sub: operator.sub,
            operator.mul: operator.mul,
            torch.mul: operator.mul,
            operator.truediv: operator.truediv,
            torch.div: operator.truediv,
        }
        if fn in binary and len(args) == 2 and not kwargs:
            return binary[fn](*args)  # Tensors and numbers (e.g. sizes from .size()) alike
        unary: dict[Any, Callable[[sp.Expr], sp.Expr]] = {
            torch.relu: relu,
            F.relu: relu,
            torch.sigmoid: sigmoid,
            F.sigmoid: sigmoid,
            torch.tanh: sp.tanh,
            F.tanh: sp.tanh,
            operator.neg: lambda a: -a,
            torch.neg: lambda a: -a,
            torch.exp: sp.exp,
        }
        if fn in unary and len(args) == 1 and isinstance(args[0], Tensor) and not kwargs:
            return args[0].map(unary[fn])
        if fn is F.gelu and isinstance(args[0], Tensor):
            approximate = kwargs.get("approximate", args[1] if len(args) > 1 else "none")
            return args[0].map(lambda a: gelu(a, approximate))
        if fn is torch.flatten:
            return _flatten(*args, **kwargs)
        if fn in (torch.cat, torch.transpose, torch.permute, torch.sum, torch.mean, torch.reshape):
            return self.method(fn.__name__, args, kwargs)
        if fn is operator.getitem:
            return _getitem(*args)
        if fn in (operator.matmul, torch.matmul):
            return _matmul(*args)
        if fn is F.linear:
            return self.linear(*args, **kwargs)
        layer = self.functional_layer(fn, args[1:], kwargs)
        if layer is not None and isinstance(args[0], Tensor):
            return self.call_module("", layer, [args[0]], {})
        raise GraphError(f"the function {getattr(fn, '__name__', fn)} is not supported")

    def linear(self, x: Tensor, w: Tensor, bias: Tensor | None = None) -> Tensor:
        """F.linear: x W^T + b over the last axis."""
        lead = "abcdefghjklmn"[: x.ndim - 1]
        y = einsum(f"{lead}i,oi->{lead}o", x, w)
        return y + bias if bias is not None else y

    def functional_layer(self, fn: Any, rest: list[Any], kwargs: dict[str, Any]) -> Any:
        """The torch layer that a functional call such as ``F.max_pool2d(x, 2)`` stands for, or None."""
        nn, F = self.nn, self.F
        pool = ("kernel_size", "stride", "padding")
        table: dict[Any, tuple[Any, tuple[str, ...]]] = {
            F.max_pool1d: (nn.MaxPool1d, (*pool, "dilation", "ceil_mode", "return_indices")),
            F.max_pool2d: (nn.MaxPool2d, (*pool, "dilation", "ceil_mode", "return_indices")),
            F.max_pool3d: (nn.MaxPool3d, (*pool, "dilation", "ceil_mode", "return_indices")),
            F.avg_pool1d: (nn.AvgPool1d, (*pool, "ceil_mode", "count_include_pad")),
            F.avg_pool2d: (nn.AvgPool2d, (*pool, "ceil_mode", "count_include_pad", "divisor_override")),
            F.avg_pool3d: (nn.AvgPool3d, (*pool, "ceil_mode", "count_include_pad", "divisor_override")),
            F.adaptive_avg_pool1d: (nn.AdaptiveAvgPool1d, ("output_size",)),
            F.adaptive_avg_pool2d: (nn.AdaptiveAvgPool2d, ("output_size",)),
            F.adaptive_avg_pool3d: (nn.AdaptiveAvgPool3d, ("output_size",)),
            F.leaky_relu: (nn.LeakyReLU, ("negative_slope",)),
            F.elu: (nn.ELU, ("alpha",)),
            F.softplus: (nn.Softplus, ("beta", "threshold")),
            F.dropout: (nn.Dropout, ("p", "training")),
        }
        if fn not in table:
            return None
        cls, names = table[fn]
        if len(rest) > len(names):
            raise GraphError(
                f"{fn.__name__} got {len(rest)} positional arguments after the input, at most {len(names)}"
            )
        bound = {**dict(zip(names, rest, strict=False)), **kwargs}
        training = bound.pop("training", True)
        layer = cls(**bound)
        if cls is nn.Dropout:
            layer.train(bool(training))
        return layer

    def method(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if name == "cat":
            tensors, axis = args[0], kwargs.get("dim", args[1] if len(args) > 1 else 0)
            return concat(list(tensors), axis % tensors[0].ndim)
        x, rest = args[0], args[1:]
        if not isinstance(x, Tensor):
            raise GraphError(f"the method .{name}() on a {type(x).__name__} is not supported")
        if name in ("view", "reshape"):
            shape = tuple(rest[0]) if len(rest) == 1 and isinstance(rest[0], (tuple, list)) else tuple(rest)
            return x.reshape(_infer_shape(x, shape))
        if name == "flatten":
            return _flatten(x, *rest, **kwargs)
        if name in ("relu", "sigmoid", "tanh", "exp"):
            return x.map({"relu": relu, "sigmoid": sigmoid, "tanh": sp.tanh, "exp": sp.exp}[name])
        if name in ("mean", "sum"):
            dim = kwargs.get("dim", rest[0] if rest else None)
            keep = bool(kwargs.get("keepdim", rest[1] if len(rest) > 1 else False))
            return getattr(x, name)(dim, keepdims=keep)
        if name == "transpose":
            a = int(kwargs.get("dim0", rest[0] if rest else 0))
            c = int(kwargs.get("dim1", rest[1] if len(rest) > 1 else 1))
            order = list(range(x.ndim))
            order[a], order[c] = order[c], order[a]
            return _permute(x, order)
        if name == "permute":
            dims = rest[0] if len(rest) == 1 and isinstance(rest[0], (tuple, list)) else rest
            return _permute(x, [int(d) % x.ndim for d in kwargs.get("dims", dims)])
        if name == "t" and x.ndim == 2:
            return _permute(x, [1, 0])
        if name == "size":
            dim = kwargs.get("dim", rest[0] if rest else None)
            return x.shape if dim is None else x.shape[dim]
        raise GraphError(f"the method .{name}() is not supported")


def _getitem(x: Any, index: Any) -> Any:
    """``x[index]``: an item of a tuple (a module's several outputs), or basic indexing of a Tensor.

    Tensor indices are ints and unit-step slices (and one ``...``); an int drops its axis.
    """
    if not isinstance(x, Tensor):
        return x[index]
    items = list(index) if isinstance(index, tuple) else [index]
    if any(it is Ellipsis for it in items):
        at = items.index(Ellipsis)
        items[at : at + 1] = [slice(None)] * (x.ndim - len(items) + 1)
    items += [slice(None)] * (x.ndim - len(items))
    if len(items) != x.ndim:
        raise GraphError(f"index {index!r} has more entries than the {x.ndim} axes of shape {x.shape}")
    start, stop, keep = [], [], []
    for axis, (it, n) in enumerate(zip(items, x.shape, strict=True)):
        if isinstance(it, slice):
            lo, hi, step = it.indices(n)
            if step != 1 or hi <= lo:
                raise GraphError(f"index {index!r}: axis {axis} needs a non-empty slice with step 1")
            start.append(lo)
            stop.append(hi)
            keep.append(hi - lo)
        elif isinstance(it, int) and not isinstance(it, bool) and -n <= it < n:
            start.append(it % n)
            stop.append(it % n + 1)
        else:
            raise GraphError(f"index {index!r}: axis {axis} takes ints in [-{n}, {n}) and slices, got {it!r}")
    return x.slice(start, stop).reshape(tuple(keep))


def _permute(x: Tensor, order: list[int]) -> Tensor:
    """torch.permute: axis k of the result is axis ``order[k]`` of ``x``."""
    letters = "abcdefghijklmnop"[: x.ndim]
    return einsum(f"{letters}->{''.join(letters[o % x.ndim] for o in order)}", x)


def _matmul(a: Any, c: Any) -> Tensor:
    """torch.matmul for a (..., n, k) @ (k, m) and equal-rank batched (..., n, k) @ (..., k, m)."""
    if not isinstance(a, Tensor) or not isinstance(c, Tensor) or a.ndim < 1 or c.ndim < 2:
        raise GraphError("matmul needs tensors a (..., k) and b (k, m) or equal-rank batched matrices")
    if c.ndim == 2:
        lead = "abcdefgh"[: a.ndim - 1]
        return einsum(f"{lead}k,km->{lead}m", a, c)
    if a.ndim != c.ndim:
        raise GraphError(f"matmul of ranks {a.ndim} and {c.ndim}: batched matmul needs equal ranks here")
    lead = "abcdefgh"[: a.ndim - 2]
    return einsum(f"{lead}nk,{lead}km->{lead}nm", a, c)


def _flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """torch.flatten: axes start_dim..end_dim merged into one."""
    s, e = start_dim % x.ndim, end_dim % x.ndim
    return x.reshape((*x.shape[:s], math.prod(x.shape[s : e + 1]), *x.shape[e + 1 :]))


def _infer_shape(x: Tensor, shape: tuple[Any, ...]) -> tuple[int, ...]:
    dims = [int(a) for a in shape]
    if dims.count(-1) == 1:
        known = math.prod(a for a in dims if a != -1)
        dims[dims.index(-1)] = x.size // known if known else 0
    return tuple(dims)


def _trace(module: Any) -> Any:
    import torch
    import torch.fx

    tracer = torch.fx.Tracer()
    tracer.record_stack_traces = True
    try:
        graph = tracer.trace(module)
    except Exception as e:
        raise GraphError(
            f"torch.fx could not trace {type(module).__name__}: {type(e).__name__}: {e}; "
            "from_torch needs a forward without data-dependent control flow"
        ) from e
    return torch.fx.GraphModule(tracer.root, graph)


def _target(loss: Any, target: Any, logits: Tensor, b: Builder) -> tuple[Tensor, Any]:
    """The input ``"y"`` for the loss, and its value (class indices become one-hot rows)."""
    import torch

    if not isinstance(target, torch.Tensor):
        raise GraphError(f"a loss needs target=<a torch tensor>, got {type(target).__name__}")
    if isinstance(loss, torch.nn.CrossEntropyLoss) and not target.is_floating_point():
        if logits.ndim != 2 or tuple(target.shape) != (logits.shape[0],):
            raise ShapeError(f"class-index targets need logits (N, C) and targets (N,), got {logits.shape}")
        value = one_hot([int(c) for c in target.tolist()], logits.shape[1])
        return b.input("y", logits.shape), [[float(v) for v in row] for row in value]
    if tuple(target.shape) != logits.shape:
        raise ShapeError(f"the target's shape {tuple(target.shape)} differs from the output's {logits.shape}")
    return b.input("y", logits.shape), _array(target)


def _loss(loss: Any, out: Tensor, y: Tensor) -> Tensor:
    import torch

    reduction = getattr(loss, "reduction", "mean")
    if isinstance(loss, torch.nn.MSELoss):
        return mse(out, y, reduction)
    if isinstance(loss, torch.nn.CrossEntropyLoss):
        if loss.weight is not None or loss.label_smoothing:
            raise GraphError("CrossEntropyLoss with class weights or label smoothing is not supported")
        return cross_entropy(out, y, reduction)
    raise GraphError(f"the loss {type(loss).__name__} is not supported; use MSELoss or CrossEntropyLoss")


def from_torch(
    module: Any, example_inputs: Any, loss: Any = None, target: Any = None, name: str | None = None
) -> TorchModel:
    """``module`` (a ``torch.nn.Module``) as a symnn Graph, traced with ``torch.fx``, at ``example_inputs``' shapes.

    ``example_inputs`` is a tensor or a tuple of them (one per ``forward`` argument). With
    ``loss`` (``nn.MSELoss()`` or ``nn.CrossEntropyLoss()``) and ``target`` (a tensor; class
    indices for cross-entropy become one-hot rows), the graph's output is ``"loss"`` with the
    extra input ``"y"``; otherwise its outputs are ``"out"`` (or ``"out0"``, ``"out1"``, ...).
    A single input is named ``"x"``, several keep the names of ``forward``'s arguments. A loss
    with ``reduction="none"`` gives the output ``"losses"``, one per example (and position).
    """
    try:
        import torch
    except ImportError as e:
        raise ModelError("from_torch needs PyTorch: pip install 'symnn[torch]' (or torch itself)") from e
    if not isinstance(module, torch.nn.Module):
        raise GraphError(f"from_torch needs a torch.nn.Module, got {type(module).__name__}")
    examples = (example_inputs,) if isinstance(example_inputs, torch.Tensor) else tuple(example_inputs)
    original = module
    single = type(module).__module__.startswith("torch.nn.") and not isinstance(module, torch.nn.Sequential)
    if single:  # one of torch's layers (a leaf to fx): tracing its own forward would give functional code
        module = _root(module, torch)
    gm = _trace(module)
    b = Builder()
    imp = _Importer(original, gm, b)
    env: dict[Any, Any] = {}
    inputs: dict[str, Any] = {}
    outputs: list[Tensor] = []
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != len(examples):
        raise GraphError(
            f"{type(module).__name__}.forward takes {len(placeholders)} inputs "
            f"({', '.join(n.name for n in placeholders)}), got {len(examples)} example inputs"
        )
    for node, example in zip(placeholders, examples, strict=True):
        if not isinstance(example, torch.Tensor):
            raise GraphError(f"example input {node.name!r} must be a torch tensor, got {type(example).__name__}")
        label = "x" if len(placeholders) == 1 else node.name  # one input is "x", as in symnn.trace
        if example.is_floating_point():
            env[node] = b.input(label, tuple(example.shape))
            inputs[label] = _array(example)
        else:  # indices: they become one-hot rows where an Embedding reads them
            env[node] = _Indices(label, tuple(int(i) for i in example.flatten().tolist()), tuple(example.shape))
    imp.inputs = inputs
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            continue
        args = torch.fx.node.map_arg(node.args, lambda n: env[n])
        kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: env[n])
        try:
            if node.op != "call_module" and any(isinstance(a, _Indices) for a in (*args, *kwargs.values())):
                raise GraphError("integer inputs are supported only as the indices of an Embedding")
            folded, value = imp.fold(node, args, kwargs)
            if folded:
                env[node] = value
            elif node.op == "call_module":
                prefix = "" if single else node.target  # the single layer's parameters keep their names
                env[node] = imp.call_module(prefix, gm.get_submodule(node.target), list(args), dict(kwargs))
            elif node.op == "call_function":
                lifted = {k: imp.lift(v) for k, v in kwargs.items()}
                env[node] = imp.call_function(node.target, list(imp.lift(tuple(args))), lifted)
            elif node.op == "call_method":
                lifted = {k: imp.lift(v) for k, v in kwargs.items()}
                env[node] = imp.method(node.target, list(imp.lift(tuple(args))), lifted)
            elif node.op == "get_attr":
                env[node] = _get_attr(imp, node.target)
            elif node.op == "output":
                result = args[0]
                outputs = list(result) if isinstance(result, (tuple, list)) else [result]
        except SymnnError as e:
            what = _describe(gm, node)
            raise type(e)(f"from_torch: node {node.name!r} ({what}){_where(node)}: {e}") from e
    if not outputs or not all(isinstance(t, Tensor) for t in outputs):
        raise GraphError(f"from_torch: {type(module).__name__}.forward must return tensors, got {outputs!r}")
    label = name or type(module).__name__
    if loss is None:
        names = ["out"] if len(outputs) == 1 else [f"out{i}" for i in range(len(outputs))]
        return TorchModel(label, b.build(*outputs, names=names), imp.values, inputs)
    if len(outputs) != 1:
        raise GraphError(f"from_torch: a loss needs one output, {type(module).__name__} returns {len(outputs)}")
    if "y" in inputs:
        raise GraphError("from_torch: with a loss the target is the input 'y'; rename forward's argument 'y'")
    y, value = _target(loss, target, outputs[0], b)
    inputs["y"] = value if not isinstance(value, list) else _array(torch.tensor(value, dtype=torch.float64))
    value = _loss(loss, outputs[0], y)
    # reduction="none": the per-example losses, a tensor (the name "loss" is kept for scalars)
    return TorchModel(label, b.build(value, names=["loss" if value.shape == () else "losses"]), imp.values, inputs)


def _root(layer: Any, torch: Any) -> Any:
    """``layer`` as the one child of a module whose parameters keep the layer's own names."""

    class Root(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = layer

        def forward(self, x: Any) -> Any:
            return self.layer(x)

    return Root()


def _get_attr(imp: _Importer, target: str) -> Any:
    """A parameter as a graph parameter; a buffer as the torch tensor (a constant, lifted where it meets the graph)."""
    if target in imp.named:
        return imp.param(target)
    value = imp.gm.get_buffer(target) if target in dict(imp.gm.named_buffers()) else None
    if value is None:
        raise GraphError(f"the attribute {target!r} is neither a parameter nor a buffer")
    return value.detach()


#: what torch itself evaluates when every argument is a constant (masks built in forward)
_FOLD_OPERATORS = frozenset(
    (operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv, operator.neg, operator.invert)
    + (operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge, operator.and_, operator.or_)
    + (operator.getitem,)
)
_FOLD_TORCH = frozenset(
    "full ones zeros triu tril arange eye where logical_not logical_or logical_and ones_like zeros_like full_like "
    "cat stack".split()
)
_FOLD_METHODS = frozenset(
    "bool float double to masked_fill logical_not t transpose unsqueeze expand view reshape triu tril "
    "__invert__".split()
)


def _depends(values: Any) -> bool:
    """Whether a graph value (a symnn Tensor or integer indices) is inside ``values``."""
    if isinstance(values, (Tensor, _Indices)):
        return True
    if isinstance(values, (list, tuple)):
        return any(_depends(v) for v in values)
    if isinstance(values, dict):
        return any(_depends(v) for v in values.values())
    return False


def _describe(gm: Any, node: Any) -> str:
    if node.op == "call_module":
        return f"module {node.target!r}: {type(gm.get_submodule(node.target)).__name__}"
    if node.op == "call_function":
        return f"function {getattr(node.target, '__name__', node.target)}"
    if node.op == "call_method":
        return f"method .{node.target}()"
    return node.op


def resolve_torch(spec: str, obj: Any, namespace: Any) -> TorchModel:
    """A torch module named on the command line, at ``example_inputs`` read from the module or its file.

    A ``loss`` and ``target`` are read the same way when present.
    """
    found = {}
    for key in ("example_inputs", "loss", "target"):
        value = getattr(obj, key, None)
        if value is None:
            value = getattr(namespace, key, None)
        found[key] = value
    if found["example_inputs"] is None:
        raise ModelError(
            f"{spec!r} is a torch module; define example_inputs (a tensor or a tuple of tensors, one per "
            "forward argument) next to it in the file, or as an attribute of the module"
        )
    return from_torch(obj, found["example_inputs"], found["loss"], found["target"], name=spec)
