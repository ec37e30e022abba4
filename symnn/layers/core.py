"""The parameter-carrying building blocks: Linear, Embedding and Conv1d/2d/3d."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import GraphError
from ..ir import Tensor, einsum
from ..ops import Window
from .base import Params, check_rank, check_size, check_tensor, shape_error

# letters for leading (batch-like) axes; 'i' and 'o' are the feature indices
_LEAD = "abcdefghjklmnpqrstuvwxyz"


@dataclass(frozen=True)
class Linear:
    """Affine map over the last axis: y = x W^T + b with W of shape (out, in), b of shape (out,).

    The notes' f(x) = W x + b for a column vector x; with batch-first rows this is x W^T + b,
    one Einsum node ("bi,oi->bo") for any number of leading axes.

    >>> from symnn.trace import trace
    >>> trace(Linear(3, 2), shapes={"x": (5, 3)}).params
    {'W': (2, 3), 'b': (2,)}
    """

    in_features: int
    out_features: int
    bias: bool = True

    def __post_init__(self) -> None:
        check_size("Linear", in_features=self.in_features, out_features=self.out_features)

    def __str__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        check_rank(self, x, 1, "(..., in_features)", at_least=True)
        if x.shape[-1] != self.in_features:
            raise shape_error(self, x, f"last axis {x.shape[-1]} != in_features {self.in_features}")
        if x.ndim - 1 > len(_LEAD):
            raise shape_error(self, x, f"more than {len(_LEAD)} leading axes")
        with x.builder.scope(str(self)):
            w = p.param("W", (self.out_features, self.in_features))
            lead = _LEAD[: x.ndim - 1]
            y = einsum(f"{lead}i,oi->{lead}o", x, w)
            if self.bias:
                y = y + p.param("b", (self.out_features,))
            return y


@dataclass(frozen=True)
class Embedding:
    """A lookup table as PyTorch's Embedding, on one-hot inputs: (..., num_embeddings) -> (..., embedding_dim).

    y[..., d] = sum_v x[..., v] weight[v, d] with weight (num_embeddings, embedding_dim): for a one-hot
    row x = e_i this is row i of the table, and the gradient reaches only the rows used. Class
    indices become one-hot rows with ``symnn.losses.one_hot`` (``from_torch`` does it for integer inputs).
    ``padding_idx`` (negative counts from the end, as in PyTorch) is a row that gets no gradient
    and reads as zeros: PyTorch initializes it to zeros and never updates it.

    >>> from symnn.trace import trace
    >>> trace(Embedding(5, 2), shapes={"x": (3, 4, 5)}).params
    {'weight': (5, 2)}
    """

    num_embeddings: int
    embedding_dim: int
    padding_idx: int | None = None

    def __post_init__(self) -> None:
        check_size("Embedding", num_embeddings=self.num_embeddings, embedding_dim=self.embedding_dim)
        v, i = self.num_embeddings, self.padding_idx
        if i is not None:
            if isinstance(i, bool) or not isinstance(i, int) or not -v <= i < v:
                raise GraphError(f"Embedding: padding_idx must be an int in [-{v}, {v}) or None, got {i!r}")
            object.__setattr__(self, "padding_idx", i % v)

    def __str__(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"Embedding({self.num_embeddings}, {self.embedding_dim}{pad})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        check_rank(self, x, 1, "(..., num_embeddings) one-hot rows", at_least=True)
        if x.shape[-1] != self.num_embeddings:
            raise shape_error(
                self, x, f"last axis {x.shape[-1]} != num_embeddings {self.num_embeddings} (one-hot rows)"
            )
        if x.ndim - 1 > len(_LEAD):
            raise shape_error(self, x, f"more than {len(_LEAD)} leading axes")
        with x.builder.scope(str(self)):
            lead = _LEAD[: x.ndim - 1]
            table = embedding_table(p.param("weight", (self.num_embeddings, self.embedding_dim)), self.padding_idx)
            return einsum(f"{lead}i,io->{lead}o", x, table)


def embedding_table(weight: Tensor, padding_idx: int | None) -> Tensor:
    """``weight`` with row ``padding_idx`` multiplied by a constant 0: it reads as zeros and passes no gradient."""
    if padding_idx is None:
        return weight
    keep = [[0.0 if r == padding_idx else 1.0] for r in range(weight.shape[0])]
    return weight * weight.builder.const(keep, (weight.shape[0], 1))


def _tuple(owner: str, name: str, value: int | tuple[int, ...], d: int, least: int) -> tuple[int, ...]:
    vals = (value,) * d if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        not isinstance(vals, tuple)
        or len(vals) != d
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= least for v in vals)
    ):
        raise GraphError(f"{owner}: {name} must be an int >= {least} or a tuple of {d} such ints, got {value!r}")
    return vals


def _as_tuple(v: int | tuple[int, ...]) -> tuple[int, ...]:
    return v if isinstance(v, tuple) else (v,)


def _show(v: int | tuple[int, ...]) -> str:
    t = _as_tuple(v)
    return str(t[0]) if len(set(t)) == 1 else str(t)


def dilate(w: Tensor, axis: int, dilation: int) -> Tensor:
    """``w`` with ``dilation - 1`` zeros between neighbours along ``axis`` (size k -> (k - 1) * dilation + 1)."""
    if dilation == 1:
        return w
    shape, k = w.shape, w.shape[axis]
    t = w.reshape((*shape[: axis + 1], 1, *shape[axis + 1 :]))
    after = [0] * t.ndim
    after[axis + 1] = dilation - 1
    t = t.pad([0] * t.ndim, after).reshape((*shape[:axis], k * dilation, *shape[axis + 1 :]))
    return t.take(axis, 0, (k - 1) * dilation + 1)


def same_padding(kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """PyTorch's ``padding="same"`` (stride 1): dilation (k - 1) zeros per axis, the odd one on the right."""
    total = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
    return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)


def conv(
    x: Tensor,
    w: Tensor,
    bias: Tensor | None,
    stride: tuple[int, ...],
    before: tuple[int, ...],
    after: tuple[int, ...] | None = None,
    dilation: tuple[int, ...] | None = None,
    groups: int = 1,
) -> Tensor:
    """y[n, o, i] = bias[o] + sum_{c, k} w[o, c, k] x_pad[n, g(o) C/G + c, stride i + dilation k] (cross-correlation).

    ``x`` is (N, C, *S), ``w`` (O, C/G, *K) for ``groups`` G, with g(o) = o // (O/G) the group of
    output channel o (PyTorch's layout); ``before``/``after`` zero padding per spatial axis
    (``after`` defaults to ``before``). A dilated kernel is the kernel with zeros between its
    entries (``dilate``), so one Window op and one Einsum serve every case; groups split the
    channel axes of the windows and the kernel into (G, C/G) and (G, O/G).
    """
    d = w.ndim - 2
    after = before if after is None else after
    dilation = (1,) * d if dilation is None else dilation
    for a, dil in enumerate(dilation):
        w = dilate(w, 2 + a, dil)
    kernel = w.shape[2:]
    if before == after:
        win = x.builder.add(Window(kernel, stride, before), x)
    else:
        x = x.pad((0, 0, *before), (0, 0, *after))
        win = x.builder.add(Window(kernel, stride, (0,) * d), x)
    ks, os = "pqr"[:d], "xyz"[:d]
    if groups == 1:
        y = einsum(f"nc{ks}{os},fc{ks}->nf{os}", win, w)
    else:
        n, c, o = win.shape[0], win.shape[1], w.shape[0]
        win = win.reshape((n, groups, c // groups, *win.shape[2:]))
        wg = w.reshape((groups, o // groups, *w.shape[1:]))
        y = einsum(f"ngc{ks}{os},gfc{ks}->ngf{os}", win, wg)
        y = y.reshape((n, o, *y.shape[3:]))
    if bias is not None:
        y = y + bias.reshape((w.shape[0],) + (1,) * d)
    return y


@dataclass(frozen=True)
class _ConvNd:
    """Shared body of Conv1d/2d/3d (``dims`` spatial axes).

    ``padding`` is zeros per spatial axis, or ``"same"`` (stride 1: the output keeps the input's
    size, PyTorch's split with the odd zero on the right) or ``"valid"`` (no padding); ``dilation``
    spaces the kernel's entries as in PyTorch; ``groups`` G splits the channels into G independent
    convolutions (weight (O, C/G, *K); G = C = O is a depthwise convolution).
    """

    in_channels: int
    out_channels: int
    kernel_size: int | tuple[int, ...]
    stride: int | tuple[int, ...] = 1
    padding: int | tuple[int, ...] | str = 0
    bias: bool = True
    dilation: int | tuple[int, ...] = 1
    groups: int = 1
    dims: ClassVar[int] = 0

    def __post_init__(self) -> None:
        name = type(self).__name__
        check_size(name, in_channels=self.in_channels, out_channels=self.out_channels, groups=self.groups)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise GraphError(
                f"{name}: groups={self.groups} must divide in_channels {self.in_channels} and out_channels "
                f"{self.out_channels} (each group maps C/groups input channels to O/groups outputs)"
            )
        # normalized to tuples so that equal layers compare equal
        object.__setattr__(self, "kernel_size", _tuple(name, "kernel_size", self.kernel_size, self.dims, 1))
        object.__setattr__(self, "stride", _tuple(name, "stride", self.stride, self.dims, 1))
        object.__setattr__(self, "dilation", _tuple(name, "dilation", self.dilation, self.dims, 1))
        if self.padding == "valid":
            object.__setattr__(self, "padding", (0,) * self.dims)
        elif self.padding == "same":
            if set(_as_tuple(self.stride)) != {1}:  # type: ignore[arg-type]
                raise GraphError(f"{name}: padding='same' needs stride 1 (as in PyTorch), got stride {self.stride}")
        else:
            object.__setattr__(self, "padding", _tuple(name, "padding", self.padding, self.dims, 0))  # type: ignore[arg-type]

    def __str__(self) -> str:
        parts = [str(self.in_channels), str(self.out_channels), _show(self.kernel_size)]
        if set(_as_tuple(self.stride)) != {1}:
            parts.append(f"stride={_show(self.stride)}")
        if isinstance(self.padding, str):
            parts.append(f"padding={self.padding!r}")
        elif set(_as_tuple(self.padding)) != {0}:
            parts.append(f"padding={_show(self.padding)}")
        if set(_as_tuple(self.dilation)) != {1}:
            parts.append(f"dilation={_show(self.dilation)}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __call__(self, x: Tensor, p: Params) -> Tensor:
        check_tensor(self, x)
        d = self.dims
        spatial = "(N, C" + "".join(f", {a}" for a in "DHW"[3 - d :]) + ")"
        check_rank(self, x, d + 2, spatial)
        if x.shape[1] != self.in_channels:
            raise shape_error(self, x, f"channel axis 1 is {x.shape[1]} != in_channels {self.in_channels}")
        kernel, stride, dilation = _as_tuple(self.kernel_size), _as_tuple(self.stride), _as_tuple(self.dilation)
        if isinstance(self.padding, str):
            before, after = same_padding(kernel, dilation)
        else:
            before = after = _as_tuple(self.padding)
        axes = zip(x.shape[2:], kernel, stride, before, after, dilation, strict=True)
        for ax, (s, k, st, lo, hi, dl) in enumerate(axes):
            span = dl * (k - 1) + 1
            if (s + lo + hi - span) // st + 1 < 1:
                raise shape_error(
                    self, x, f"spatial axis {ax + 2} of size {s} (+{lo}+{hi} padding) is smaller than the kernel {span}"
                )
        with x.builder.scope(str(self)):
            w = p.param("W", (self.out_channels, self.in_channels // self.groups, *kernel))
            y = conv(x, w, None, stride, before, after, dilation, self.groups)
            if self.bias:  # created after the windows, so the node order of existing graphs stays the same
                y = y + p.param("b", (self.out_channels,)).reshape((self.out_channels,) + (1,) * d)
            return y


@dataclass(frozen=True)
class Conv1d(_ConvNd):
    """1-d convolution: input (N, C, L), weight W (O, C, K), bias b (O,), output (N, O, L').

    Cross-correlation as in PyTorch, with zero padding ``pad`` and stride ``s``:
    y[n, o, i] = b[o] + sum_{c, k} W[o, c, k] x[n, c, s*i + k - pad],
    built from one Window op (the sliding windows), one Einsum and the bias.

    The notes' convolution f(x)_i = sum_k w_k x_{i-k} flips the kernel: with W[k] = w[K-1-k]
    (stride 1, no padding) y_i = f(x)_{i+K-1}, so both conventions describe the same function
    class and differ only in how the kernel is stored.

    >>> from symnn.trace import trace
    >>> g = trace(Conv1d(2, 3, 3), shapes={"x": (1, 2, 5)})
    >>> g.shape(g.outputs[0])
    (1, 3, 3)
    """

    dims: ClassVar[int] = 1


@dataclass(frozen=True)
class Conv2d(_ConvNd):
    """2-d convolution: input (N, C, H, W), weight (O, C, KH, KW), output (N, O, H', W').

    y[n, o, i, j] = b[o] + sum_{c, k, l} W[o, c, k, l] x[n, c, s*i + k - pad, s*j + l - pad]
    (cross-correlation as in PyTorch; the notes' f(x)_ij = sum_kl w_kl x_{i-k, j-l} is the same
    with the kernel flipped along both axes, see ``Conv1d``).

    >>> from symnn.trace import trace
    >>> g = trace(Conv2d(1, 2, 3, padding=1), shapes={"x": (1, 1, 4, 4)})
    >>> g.shape(g.outputs[0])
    (1, 2, 4, 4)
    """

    dims: ClassVar[int] = 2


@dataclass(frozen=True)
class Conv3d(_ConvNd):
    """3-d convolution: input (N, C, D, H, W), weight (O, C, KD, KH, KW), output (N, O, D', H', W').

    Cross-correlation as in PyTorch; the notes' convolution flips the kernel along every axis
    (see ``Conv1d``).
    """

    dims: ClassVar[int] = 3
