"""The op spec table: one row per op (and per elementwise function), consumed by the tests.

Each row builds a small graph whose only leaves are parameters, so every derivative path
applies to it, and says where its inputs may lie (``low``/``high``, e.g. positive for
``log``) and where its kinks are. Each op's rows are registered as its ``"spec"`` part in
``symnn.registry``: adding an op to ``symnn.ops.ALL_OPS`` without a row here fails
``tests/test_registries.py``.

>>> sorted(OP_SPECS)[:3]
['BroadcastTo', 'Concat', 'Einsum']
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import sympy as sp

from symnn import layers as L
from symnn.functions import maximum, relu, sgn, sigmoid, softplus, step
from symnn.ir import Builder, Graph, Tensor, concat, einsum
from symnn.losses import Loss, cross_entropy
from symnn.ops import ALL_OPS, Fold, Op, Window
from symnn.registry import RegistryError, register
from symnn.trace import trace


@dataclass(frozen=True)
class OpSpec:
    """How to exercise one op: a graph builder, the input domain, and its kinks."""

    name: str
    build: Callable[[Builder], Tensor]
    low: float = -2.0
    high: float = 2.0
    kinks: str = ""
    #: the line of verify/spec.py that defines the row (``symnn ops`` shows an op's first row)
    line: int = field(default_factory=lambda: sys._getframe(2).f_lineno, compare=False, repr=False)

    def graph(self) -> Graph:
        b = Builder()
        return b.build(self.build(b))


def _window(b: Builder) -> Tensor:
    x = b.param("x", (1, 2, 3, 3))
    return b.add(Window((2, 2), (1, 1), (1, 1)), x) * b.param("w", (1, 2, 2, 2, 4, 4))


def _window3(b: Builder) -> Tensor:
    x = b.param("x", (1, 1, 3, 2, 2))
    return b.add(Window((2, 1, 2), (2, 1, 1), (0, 1, 0)), x)


def _fold(b: Builder) -> Tensor:
    # 1-d, padded: 4 windows of size 2 over 3 positions plus one zero on each side
    return b.add(Fold((3,), (2,), (1,), (1,)), b.param("c", (1, 2, 2, 4)))


def _fold2(b: Builder) -> Tensor:
    cols = b.param("c", (1, 1, 2, 2, 2, 2))
    return b.add(Fold((3, 3), (2, 2), (1, 1), (0, 0)), cols)


def _unary(fn: Callable[[sp.Expr], sp.Expr]) -> Callable[[Builder], Tensor]:
    def build(b: Builder) -> Tensor:
        return b.param("x", (2, 3)).map(fn)

    return build


def _binary(fn: Callable[[sp.Expr, sp.Expr], sp.Expr]) -> Callable[[Builder], Tensor]:
    def build(b: Builder) -> Tensor:
        return b.elementwise(fn, b.param("x", (2, 3)), b.param("y", (3,)))

    return build


OP_ROWS: list[OpSpec] = [
    OpSpec("Elementwise", _binary(lambda a, c: a * c + a / (2 + c * c) - 3 * a**3)),
    OpSpec("Elementwise:exp", _unary(sp.exp)),
    OpSpec("Elementwise:log", _unary(sp.log), low=0.1, high=3.0),
    OpSpec("Elementwise:sqrt", _unary(sp.sqrt), low=0.1, high=3.0),
    OpSpec("Elementwise:pow", _binary(lambda a, c: (a * a + 1) ** c)),
    OpSpec("Elementwise:tanh", _unary(sp.tanh)),
    OpSpec("Elementwise:sinh", _unary(sp.sinh)),
    OpSpec("Elementwise:cosh", _unary(sp.cosh)),
    OpSpec("Elementwise:sin", _unary(sp.sin)),
    OpSpec("Elementwise:cos", _unary(sp.cos)),
    OpSpec("Elementwise:tan", _unary(sp.tan), low=-1.0, high=1.0),
    OpSpec("Elementwise:atan", _unary(sp.atan)),
    OpSpec("Elementwise:erf", _unary(sp.erf)),
    OpSpec("Elementwise:abs", _unary(sp.Abs), kinks="abs at 0: derivative sign(0) = 0"),
    OpSpec("Elementwise:sigmoid", _unary(sigmoid)),
    OpSpec("Elementwise:softplus", _unary(softplus)),
    OpSpec("Elementwise:relu", _unary(relu), kinks="relu at 0: derivative 0"),
    OpSpec("Elementwise:step", _unary(lambda a: step(a) * a), kinks="step at 0: value 0, derivative 0"),
    OpSpec("Elementwise:sgn", _unary(lambda a: sgn(a) * a * a), kinks="sign at 0: value 0, derivative 0"),
    OpSpec("Elementwise:maximum", _binary(maximum), kinks="ties: the first argument"),
    OpSpec("Einsum", lambda b: einsum("bi,oi->bo", b.param("x", (2, 3)), b.param("W", (4, 3)))),
    OpSpec("Einsum:reduce", lambda b: einsum("abc->b", b.param("x", (2, 3, 2)))),
    OpSpec("Einsum:outer", lambda b: einsum("a,b->ab", b.param("u", (2,)), b.param("v", (3,)))),
    OpSpec("Einsum:batched", lambda b: einsum("bts,bsd->btd", b.param("a", (2, 2, 3)), b.param("v", (2, 3, 2)))),
    OpSpec("Window", _window),
    OpSpec("Window:3d", _window3),
    OpSpec("Fold", _fold2),
    OpSpec("Fold:1d", _fold),
    OpSpec("Reshape", lambda b: b.param("x", (2, 3)).reshape((3, 2)) * b.param("y", (3, 2))),
    OpSpec("Slice", lambda b: b.param("x", (3, 4)).slice((1, 0), (3, 3)).map(sp.tanh)),
    OpSpec("Pad", lambda b: b.param("x", (2, 2)).pad((1, 0), (0, 2)) * b.param("y", (3, 4))),
    OpSpec("Concat", lambda b: concat([b.param("x", (2, 2)), b.param("y", (2, 1)) ** 2], 1)),
    OpSpec("BroadcastTo", lambda b: b.param("x", (3, 1)).broadcast_to((2, 3, 4)) * b.param("y", (4,))),
    OpSpec("LogSumExp", lambda b: b.param("x", (2, 3)).logsumexp(1)),
]

#: Rows keyed by name; the part before ':' is the op class the row exercises.
OP_SPECS: dict[str, OpSpec] = {row.name: row for row in OP_ROWS}


def _rows_by_op(rows: list[OpSpec]) -> dict[type[Op], tuple[OpSpec, ...]]:
    """The rows grouped by the op class they exercise (the part of the name before ':')."""
    ops = {op.__name__: op for op in ALL_OPS}
    out: dict[type[Op], tuple[OpSpec, ...]] = {}
    for row in rows:
        name = row.name.split(":")[0]
        if name not in ops:
            raise RegistryError(f"spec row {row.name!r} names no op; the part before ':' must be one of {sorted(ops)}")
        out[ops[name]] = (*out.get(ops[name], ()), row)
    return out


for _op, _rows in _rows_by_op(OP_ROWS).items():  # each op's rows are its "spec" part
    register(_op, "spec", _rows, line=_rows[0].line)


@dataclass(frozen=True)
class LayerSpec:
    """One layer, loss or architecture at shapes small enough for exact expansion."""

    name: str
    make: Callable[[], Graph]
    #: why the exact reference is not run on this row (too slow to expand symbolically), or ""
    inexact: str = ""


def _layer_rows() -> list[LayerSpec]:
    def t(net: object, loss: str | Loss | None, **shapes: tuple[int, ...]) -> Callable[[], Graph]:
        return lambda: trace(net, loss, shapes)  # type: ignore[arg-type]

    x = sp.Symbol("x", real=True)
    lin = L.Linear(3, 2)

    def pooled(conv: object, pool: object, x: tuple[int, ...]) -> Callable[[], Graph]:
        return t(L.Sequential(conv, pool, L.Flatten()), "mse", x=x)  # type: ignore[arg-type]

    return [
        LayerSpec("Linear", t(lin, "mse", x=(2, 3))),
        LayerSpec("Linear:nobias", t(L.Linear(3, 2, bias=False), "mse", x=(2, 3))),
        LayerSpec("Conv1d", t(L.Sequential(L.Conv1d(1, 2, 2, stride=2, padding=1), L.Flatten()), "mse", x=(1, 1, 4))),
        LayerSpec("Conv2d", t(L.Sequential(L.Conv2d(1, 1, 2, padding=1), L.Flatten()), "mse", x=(1, 1, 2, 2))),
        LayerSpec(
            "Conv3d",
            t(L.Sequential(L.Conv3d(1, 1, (2, 1, 2), stride=(1, 1, 2)), L.Flatten()), "mse", x=(1, 1, 2, 2, 3)),
        ),
        LayerSpec("SelfAttention", t(L.SelfAttention(2, 1), "mse", x=(1, 2, 2))),
        LayerSpec("MultiHeadAttention", t(L.MultiHeadAttention(2, 2), "mse", x=(1, 2, 2))),
        LayerSpec("Sigmoid", t(L.Sequential(lin, L.Sigmoid()), "mse", x=(2, 3))),
        LayerSpec("ReLU", t(L.Sequential(lin, L.ReLU()), "mse", x=(2, 3))),
        LayerSpec("Tanh", t(L.Sequential(lin, L.Tanh()), "mse", x=(2, 3))),
        LayerSpec("Sign", t(L.Sequential(lin, L.Sign(), L.Linear(2, 1)), "mse", x=(2, 3))),
        LayerSpec("Activation", t(L.Sequential(lin, L.Activation(x**3 / 3 + sp.sin(x), x)), "mse", x=(2, 3))),
        LayerSpec(
            "Activation:piecewise",
            t(L.Sequential(lin, L.Activation(sp.Piecewise((x, x > 0), (sp.exp(x) - 1, True)), x)), "mse", x=(2, 3)),
        ),
        LayerSpec("Normalize:layer", t(L.Sequential(lin, L.Normalize("layer")), "mse", x=(2, 3))),
        LayerSpec("Normalize:batch", t(L.Sequential(lin, L.Normalize("batch")), "mse", x=(3, 3))),
        LayerSpec("Residual", t(L.Residual(L.Sequential(L.Linear(2, 2), L.Tanh())), "mse", x=(2, 2))),
        LayerSpec("Sequential", t(L.Sequential(lin, L.Tanh(), L.Linear(2, 2), L.ReLU()), "mse", x=(2, 3))),
        LayerSpec("MLP", t(L.MLP((3, 4, 2), "sigmoid"), "mse", x=(2, 3))),
        LayerSpec("ResNet", t(L.ResNet(1, 1, 1, 2, (2, 2)), "softmax_cross_entropy", x=(2, 1, 2, 2))),
        LayerSpec("TransformerBlock", t(L.TransformerBlock(2, 1, 1), "mse", x=(1, 2, 2))),
        LayerSpec(
            "Transformer",
            t(L.Transformer(2, 1, 1, depth=2), "mse", x=(1, 2, 2)),
            inexact="two stacked blocks expand symbolically in ~50 s; each block is exact-checked as "
            "TransformerBlock, the stack by gradcheck's mpmath and executor oracles",
        ),
        LayerSpec("loss:mse", t(lin, "mse", x=(2, 3))),
        LayerSpec("loss:logistic", t(L.Linear(3, 1), "logistic", x=(2, 3))),
        LayerSpec("loss:hinge", t(L.Linear(3, 1), "hinge", x=(2, 3))),
        LayerSpec("loss:softmax_cross_entropy", t(lin, "softmax_cross_entropy", x=(2, 3))),
        # PyTorch's layers (issue 17): kinks as in PyTorch, max pooling's ties to the first maximum
        LayerSpec("GELU", t(L.Sequential(lin, L.GELU()), "mse", x=(2, 3))),
        LayerSpec("GELU:tanh", t(L.Sequential(lin, L.GELU("tanh")), "mse", x=(2, 3))),
        LayerSpec("LeakyReLU", t(L.Sequential(lin, L.LeakyReLU(0.2)), "mse", x=(2, 3))),
        LayerSpec("ELU", t(L.Sequential(lin, L.ELU(0.5)), "mse", x=(2, 3))),
        LayerSpec("Softplus", t(L.Sequential(lin, L.Softplus(2)), "mse", x=(2, 3))),
        LayerSpec("MaxPool1d", pooled(L.Conv1d(1, 1, 2), L.MaxPool1d(2), (1, 1, 5))),
        LayerSpec("MaxPool2d", pooled(L.Conv2d(1, 1, 1), L.MaxPool2d(2, stride=1), (1, 1, 3, 3))),
        LayerSpec("MaxPool3d", pooled(L.Conv3d(1, 1, 1), L.MaxPool3d(2), (1, 1, 2, 2, 2))),
        LayerSpec("AvgPool1d", pooled(L.Conv1d(1, 1, 2), L.AvgPool1d(2), (1, 1, 5))),
        LayerSpec("AvgPool2d", pooled(L.Conv2d(1, 1, 1), L.AvgPool2d(2, padding=1), (1, 1, 2, 2))),
        LayerSpec("AvgPool3d", pooled(L.Conv3d(1, 1, 1), L.AvgPool3d(2), (1, 1, 2, 2, 2))),
        LayerSpec(
            "Conv2d:same_dilated",
            t(L.Sequential(L.Conv2d(1, 1, 2, padding="same", dilation=2), L.Flatten()), "mse", x=(1, 1, 3, 3)),
        ),
        LayerSpec("Embedding", t(L.Sequential(L.Embedding(3, 2), L.Tanh()), "mse", x=(2, 3))),
        LayerSpec("LayerNorm", t(L.Sequential(lin, L.LayerNorm(2)), "mse", x=(2, 3))),
        LayerSpec("BatchNorm", t(L.Sequential(L.Conv2d(1, 2, 1), L.BatchNorm(2)), "mse", x=(2, 1, 1, 2))),
        LayerSpec(
            "BatchNorm:eval",
            t(L.Sequential(lin, L.BatchNorm(2, running_mean=(0.5, -1), running_var=(2, 0.25))), "mse", x=(2, 3)),
        ),
        LayerSpec("loss:cross_entropy_sum", t(lin, lambda z, y: cross_entropy(z, y, "sum"), x=(2, 3))),
        # issue 17's remaining layers: groups, masks (-inf and causal), the full-width attention, instance norm
        LayerSpec(
            "Conv2d:groups", t(L.Sequential(L.Conv2d(2, 2, (1, 2), groups=2), L.Flatten()), "mse", x=(1, 2, 2, 2))
        ),
        LayerSpec("Conv1d:depthwise", t(L.Sequential(L.Conv1d(2, 4, 2, groups=2), L.Flatten()), "mse", x=(1, 2, 3))),
        LayerSpec("SelfAttention:causal", t(L.SelfAttention(2, 1, causal=True), "mse", x=(1, 3, 2))),
        LayerSpec(
            "SelfAttention:mask",
            t(L.SelfAttention(2, 1, mask=[[0.0, -math.inf], [0.5, -1.0]]), "mse", x=(1, 2, 2)),
        ),
        LayerSpec("MultiHeadAttention:full_width", t(L.MultiHeadAttention(2, 2, full_width=True), "mse", x=(1, 2, 2))),
        LayerSpec(
            "MultiHeadAttention:cross_masked",
            t(
                L.MultiHeadAttention(2, 1, full_width=True, mask=[[False, True, False]]),
                "mse",
                x=(1, 1, 2),
                kv=(1, 3, 2),
            ),
        ),
        LayerSpec("InstanceNorm", t(L.Sequential(L.InstanceNorm(2, affine=True), L.Flatten()), "mse", x=(1, 2, 3))),
        LayerSpec(
            "InstanceNorm:eval",
            t(
                L.Sequential(
                    L.Conv1d(1, 2, 1), L.InstanceNorm(2, running_mean=[0.5, -1], running_var=[2, 0.25]), L.Flatten()
                ),
                "mse",
                x=(1, 1, 2),
            ),
        ),
        LayerSpec(
            "Normalize:instance",
            t(L.Sequential(L.Conv1d(1, 2, 1), L.Normalize("instance"), L.Flatten()), "mse", x=(1, 1, 3)),
        ),
        LayerSpec(
            "Embedding:padding_idx", t(L.Sequential(L.Embedding(3, 2, padding_idx=1), L.Tanh()), "mse", x=(2, 3))
        ),
    ]


def layer_rows() -> list[LayerSpec]:
    """The layer table (built lazily: layers import more of symnn than the op table)."""
    return _layer_rows()
