"""Losses (a scalar: the mean over the batch, or the sum with ``reduction="sum"``; ``"none"``: per entry) and softmax.

>>> from symnn.ir import Builder
>>> b = Builder()
>>> z, y = b.input("z", (4, 3)), b.input("y", (4, 3))
>>> softmax_cross_entropy(z, y).shape
()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sympy as sp

from .errors import GraphError, ShapeError
from .functions import relu, softplus
from .ir import Tensor, einsum

Loss = Callable[[Tensor, Tensor], Tensor]


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """softmax(x)_i = e_i / sum(e), e = exp(x - logsumexp(x)) along ``axis``: finite for any finite x.

    Dividing by the sum cancels the rounding of logsumexp (a common factor of e), so the
    probabilities are exact to the dtype's precision at any logit scale.
    """
    if not -x.ndim <= axis < x.ndim:
        raise ShapeError(f"softmax axis {axis} is outside a tensor of shape {x.shape}")
    axis %= x.ndim
    kept = x.shape[:axis] + (1,) + x.shape[axis + 1 :]
    e = x.builder.elementwise(lambda a, m: sp.exp(a - m), x, x.logsumexp(axis).reshape(kept))
    return x.builder.elementwise(lambda a, s: a / s, e, e.sum(axis).reshape(kept))


def _check_pair(name: str, pred: Tensor, y: Tensor) -> None:
    for what, t in (("prediction", pred), ("target", y)):
        if not isinstance(t, Tensor):
            raise GraphError(f"{name}: the {what} must be a symnn Tensor, got {type(t).__name__}")
    if pred.shape != y.shape:
        raise ShapeError(f"{name}: prediction of shape {pred.shape} and target of shape {y.shape} differ")


REDUCTIONS = ("mean", "sum", "none")


def reduce(t: Tensor, reduction: str, name: str) -> Tensor:
    """The mean (PyTorch's default) or the sum of all entries of ``t``, or ``t`` itself (``"none"``, per entry)."""
    if reduction not in REDUCTIONS:
        raise GraphError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if reduction == "none":
        return t
    return t.mean() if reduction == "mean" else t.sum()


def mse(pred: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error: mean (or sum) over all entries of (pred - y)^2."""
    _check_pair("mse", pred, y)
    return reduce(pred.builder.elementwise(lambda a, b: (a - b) ** 2, pred, y), reduction, "mse")


def logistic(pred: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
    """Logistic loss for labels y in {-1, +1}: mean (or ``reduction``) of softplus(-y pred) = log(1 + exp(-y pred))."""
    _check_pair("logistic", pred, y)
    return reduce(pred.builder.elementwise(lambda a, b: softplus(-b * a), pred, y), reduction, "logistic")


def hinge(pred: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
    """Hinge loss for labels y in {-1, +1}: the mean (or ``reduction``) of max(0, 1 - y pred)."""
    _check_pair("hinge", pred, y)
    return reduce(pred.builder.elementwise(lambda a, b: relu(1 - b * a), pred, y), reduction, "hinge")


def softmax_cross_entropy(logits: Tensor, y_onehot: Tensor) -> Tensor:
    """mean_b(logsumexp(z_b) - sum_k y_bk z_bk) over classes on the last axis (stable; y may be soft labels)."""
    _check_pair("softmax_cross_entropy", logits, y_onehot)
    if logits.ndim < 1:
        raise ShapeError("softmax_cross_entropy needs logits with a class axis, got a scalar")
    lead = "abcdefgh"[: logits.ndim - 1]
    picked = einsum(f"{lead}k,{lead}k->{lead}", y_onehot, logits)
    per_example = logits.logsumexp(-1) - picked
    return per_example.mean()


def cross_entropy(logits: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """PyTorch's CrossEntropyLoss: logits (N, C) or (N, C, *d), target of the same shape (one-hot or probabilities).

    Per example and position, logsumexp_c(z) - sum_c y_c z_c over the class axis 1, then the mean
    (or sum) over the N * prod(d) of them. Class-index targets are one-hot rows: ``one_hot``.
    """
    _check_pair("cross_entropy", logits, target)
    if logits.ndim < 2:
        raise ShapeError(f"cross_entropy needs logits (N, C, ...), got shape {logits.shape}")
    rest = "abcdefgh"[: logits.ndim - 2]
    picked = einsum(f"nk{rest},nk{rest}->n{rest}", target, logits)
    return reduce(logits.logsumexp(1) - picked, reduction, "cross_entropy")


def one_hot(labels: Sequence[int], classes: int) -> list[list[float]]:
    """Class indices as one-hot rows: ``one_hot([2, 0], 3) == [[0, 0, 1], [1, 0, 0]]``."""
    rows = []
    for i, c in enumerate(labels):
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < classes:
            raise GraphError(f"one_hot: label {i} is {c!r}; class indices are ints in [0, {classes})")
        rows.append([1.0 if k == c else 0.0 for k in range(classes)])
    return rows


LOSSES: dict[str, Loss] = {
    "mse": mse,
    "logistic": logistic,
    "hinge": hinge,
    "softmax_cross_entropy": softmax_cross_entropy,
}


def get_loss(loss: str | Loss) -> Loss:
    """A loss function from its name in ``LOSSES`` or the function itself."""
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise GraphError(f"unknown loss {loss!r}; use one of {sorted(LOSSES)} or a function (pred, y) -> Tensor")
        return LOSSES[loss]
    if not callable(loss):
        raise GraphError(f"a loss must be a name in {sorted(LOSSES)} or a function (pred, y) -> Tensor, got {loss!r}")
    return loss
