"""Hypothesis strategies for symnn: layers, whole networks, parameters and inputs.

Networks are random compositions of the lecture's building blocks with consistent shapes:
a shape is carried from block to block (vectors ``(B, d)``, sequences ``(B, T, d)``,
signals ``(B, C, L)``, images ``(B, C, H, W)``), and each block is drawn among those that
accept it -- Linear, activations (sigmoid, tanh, ReLU, sign and random user activations),
normalization, residual blocks, self- and multi-head attention, Transformer blocks, Conv1d and
Conv2d (kernels 1-4, strides 1-3, padding, and stacks of two convolutions), pooling and
flattening -- then a loss (a cross-entropy over 2-10 classes). Sizes stay small so that every
oracle is cheap, but cover what shape-dependent code branches on: batch 1, odd and even
lengths, strided windows larger than 2, softmax axes longer than 3.

>>> from hypothesis import given, settings
>>> @settings(max_examples=3, derandomize=True, deadline=None)
... @given(networks(max_blocks=2))
... def test(model):
...     assert model.graph().params or True
>>> test()
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy as sp
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from symnn import layers as L
from symnn.functions import sigmoid, softplus
from symnn.ir import Graph
from symnn.zoo import Model

from .oracles import kink_distance
from .spec import OP_ROWS

Shape = tuple[int, ...]
#: The variable of activation expressions: ``activation_exprs()`` draws expressions in ``X``, and a
#: user's own activation built from it is ``symnn.layers.Activation(expr, X)``.
X = sp.Symbol("x", real=True)
_X = X

#: Smooth scalar functions random activations are composed of (all finite on the reals).
SMOOTH: tuple[Callable[[sp.Expr], sp.Expr], ...] = (
    sp.tanh,
    sigmoid,
    softplus,
    sp.sin,
    sp.cos,
    sp.atan,
    sp.erf,
    lambda x: x**2,
    lambda x: x**3 / 3,
    lambda x: sp.exp(-(x**2)),
)
LOSSES = ("mse", "logistic", "hinge", "softmax_cross_entropy", None)


# -- numbers, arrays, points ---------------------------------------------------------------------------
def bounded_floats(low: float = -1.0, high: float = 1.0) -> st.SearchStrategy[float]:
    """Finite floats in [low, high] (no NaN, no infinity, no subnormals)."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def arrays(shape: Shape, low: float = -1.0, high: float = 1.0) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of ``shape`` with entries in [low, high]."""
    return hnp.arrays(np.float64, shape, elements=bounded_floats(low, high))


def one_hot(shape: Shape) -> st.SearchStrategy[np.ndarray]:
    """One-hot rows of ``shape`` ``(..., classes)``: labels for a cross-entropy whose gradient formula assumes them."""
    *lead, k = shape
    rows = int(np.prod(lead)) if lead else 1

    def make(labels: list[int]) -> np.ndarray:
        out = np.zeros((rows, k))
        out[np.arange(rows), labels] = 1.0
        return out.reshape(shape)

    return st.lists(st.integers(0, k - 1), min_size=rows, max_size=rows).map(make)


def positive(shape: Shape, low: float = 0.1, high: float = 2.0) -> st.SearchStrategy[np.ndarray]:
    """Arrays with entries in [low, high], low > 0: variances, scales, arguments of log and sqrt."""
    return arrays(shape, low, high)


def _seeded(shape: Shape, low: float, high: float) -> st.SearchStrategy[np.ndarray]:
    """A large array drawn by NumPy from a Hypothesis-drawn seed (entries are not shrunk one by one)."""
    return st.integers(0, 2**32 - 1).map(lambda s: np.random.default_rng(s).uniform(low, high, size=shape))


def leaf_points(
    shapes: dict[str, Shape],
    low: float = -1.0,
    high: float = 1.0,
    leaves: dict[str, st.SearchStrategy[np.ndarray]] | None = None,
    max_scalars: int | None = None,
) -> st.SearchStrategy[dict[str, np.ndarray]]:
    """Values for leaves of ``shapes``: ``leaves[name]`` where given, else uniform in [low, high].

    A leaf of more than ``max_scalars`` scalars is drawn by NumPy from a drawn seed, so that large
    layers stay fast (its entries then shrink as one).
    """
    own = dict(leaves or {})
    unknown = sorted(set(own) - set(shapes))
    if unknown:
        raise ValueError(f"strategies given for unknown leaves {unknown}; the leaves are {sorted(shapes)}")

    def default(s: Shape) -> st.SearchStrategy[np.ndarray]:
        big = max_scalars is not None and math.prod(s) > max_scalars
        return _seeded(s, low, high) if big else arrays(s, low, high)

    return st.fixed_dictionaries({k: own[k] if k in own else default(s) for k, s in shapes.items()})


def _leaf_values(shapes: dict[str, Shape], low: float, high: float) -> st.SearchStrategy[dict[str, np.ndarray]]:
    return leaf_points(shapes, low, high)


def parameters(graph: Graph, low: float = -1.0, high: float = 1.0) -> st.SearchStrategy[dict[str, np.ndarray]]:
    """Values for every parameter of ``graph``."""
    return _leaf_values(graph.params, low, high)


def inputs(graph: Graph, low: float = -1.0, high: float = 1.0) -> st.SearchStrategy[dict[str, np.ndarray]]:
    """Values for every data input of ``graph``."""
    return _leaf_values(graph.inputs, low, high)


def points(
    graph: Graph,
    low: float = -1.0,
    high: float = 1.0,
    away_from_kinks: float | None = None,
    leaves: dict[str, st.SearchStrategy[np.ndarray]] | None = None,
) -> st.SearchStrategy[dict[str, np.ndarray]]:
    """Values for every leaf; ``leaves={"y": one_hot((2, 5))}`` gives single leaves their own strategy.

    With ``away_from_kinks=m`` every kink argument is at least m from its kink: the margin is
    measured on the arguments of relu, step, sign, abs and maximum inside the graph
    (``verify.oracles.kink_distance``), so finite differences with steps below m never straddle
    one.
    """
    shapes = {n.op.name: n.shape for n in graph.leaves()}  # type: ignore[attr-defined]
    strategy = leaf_points(shapes, low, high, leaves)
    if away_from_kinks is None:
        return strategy
    margin = float(away_from_kinks)
    return strategy.filter(lambda p: kink_distance(graph, p) > margin)


# -- scalar activations ---------------------------------------------------------------------------------
@st.composite
def activation_exprs(draw: st.DrawFn, depth: int = 2) -> sp.Expr:
    """A random smooth activation in the public symbol ``X``: compositions, sums and products of ``SMOOTH``."""
    expr: sp.Expr = _X
    for _ in range(draw(st.integers(1, depth))):
        f = draw(st.sampled_from(SMOOTH))
        combine = draw(st.sampled_from(("compose", "add", "mul")))
        c = sp.Rational(draw(st.integers(-3, 3)) or 1, draw(st.integers(1, 3)))
        if combine == "compose":
            expr = f(expr)
        elif combine == "add":
            expr = expr + c * f(_X)
        else:
            expr = expr * f(c * _X)
    if expr.free_symbols != {_X}:
        expr = expr + _X
    return expr


def activations(smooth_only: bool = False) -> st.SearchStrategy[Any]:
    """Activation layers: Sigmoid, Tanh, ReLU, Sign, or a random ``Activation`` (smooth only: no ReLU, Sign)."""
    fixed = [L.Sigmoid(), L.Tanh()] + ([] if smooth_only else [L.ReLU(), L.Sign()])
    user = activation_exprs().map(lambda e: L.Activation(e, _X))
    return st.one_of(st.sampled_from(fixed), user)


# -- blocks: (layer, output shape, output kind) for a given input shape -----------------------------------
Block = tuple[Any, Shape, str]


@st.composite
def blocks(draw: st.DrawFn, kind: str, shape: Shape, smooth_only: bool = False) -> Block:
    """One building block that accepts ``shape`` (of ``kind``), with its output shape and kind."""
    act = activations(smooth_only)
    small = st.integers(1, 3)
    options: list[str]
    if kind == "vector":
        options = ["linear", "act", "residual"]
        if shape[-1] >= 2:
            options.append("layernorm")
        if shape[0] >= 2:
            options.append("batchnorm")
        choice = draw(st.sampled_from(options))
        d = shape[-1]
        if choice == "linear":
            out = draw(small)
            return L.Linear(d, out, bias=draw(st.booleans())), (shape[0], out), kind
        if choice == "act":
            return draw(act), shape, kind
        if choice == "residual":
            return L.Residual(L.Sequential(L.Linear(d, d), draw(act))), shape, kind
        return L.Normalize("layer" if choice == "layernorm" else "batch"), shape, kind
    if kind == "sequence":
        b, t, d = shape
        options = ["attention", "residual-attention", "linear", "act", "pool"]
        heads = [h for h in (2,) if d % h == 0 and d >= 2]
        if heads:
            # the Transformer block's feed-forward part holds a ReLU: not for smooth networks
            options += ["mha"] if smooth_only else ["mha", "transformer"]
        choice = draw(st.sampled_from(options))
        if choice == "attention":
            dk = draw(small)
            return L.SelfAttention(d, dk), (b, t, dk), kind
        if choice == "residual-attention":
            return L.Residual(L.SelfAttention(d)), shape, kind
        if choice == "linear":
            out = draw(small)
            return L.Linear(d, out), (b, t, out), kind
        if choice == "act":
            return draw(act), shape, kind
        if choice == "pool":
            return L.MeanPool(1), (b, d), "vector"
        if choice == "mha":
            return L.MultiHeadAttention(d, heads[0]), shape, kind
        return L.TransformerBlock(d, heads[0], draw(small)), shape, kind
    if kind in ("image", "signal"):
        dims = 2 if kind == "image" else 1
        b, c, *space = shape
        choice = draw(st.sampled_from(["conv", "conv-stack", "act", "residual", "flatten"]))
        conv = L.Conv2d if dims == 2 else L.Conv1d
        if choice in ("conv", "conv-stack"):
            first, shape1 = _conv(draw, conv, c, tuple(space))
            if choice == "conv":
                return first, (b, *shape1), kind
            # a convolution after a convolution: the second one's input has a gradient, so its
            # window transpose (strided, kernel up to 4) is exercised
            second, shape2 = _conv(draw, conv, shape1[0], shape1[1:])
            return L.Sequential(first, draw(act), second), (b, *shape2), kind
        if choice == "act":
            return draw(act), shape, kind
        if choice == "residual":
            return L.Residual(L.Sequential(conv(c, c, 3, padding=1), draw(act))), shape, kind
        return L.Flatten(), (b, math.prod(shape[1:])), "vector"
    raise ValueError(f"unknown tensor kind {kind!r}")


def _conv(draw: st.DrawFn, conv: Any, c: int, space: Shape) -> tuple[Any, Shape]:
    """A convolution of ``c`` channels on ``space`` with kernel 1-4, stride 1-3, padding 0-1: (layer, (C, *out))."""
    k = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    pad = draw(st.integers(0, 1))
    if min(space) + 2 * pad < k:  # the kernel must fit the padded input
        k = min(space) + 2 * pad
    out_space = tuple((s + 2 * pad - k) // stride + 1 for s in space)
    co = draw(st.integers(1, 2))
    return conv(c, co, k, stride=stride, padding=pad), (co, *out_space)


#: Input shapes per kind: batch 1 included, odd and even lengths, sizes that let a strided kernel of 4 fit.
_SHAPES: dict[str, Callable[[st.DrawFn], Shape]] = {
    "vector": lambda draw: (draw(st.integers(1, 3)), draw(st.integers(1, 5))),
    "sequence": lambda draw: (1, draw(st.integers(1, 4)), draw(st.integers(1, 4))),
    "signal": lambda draw: (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(2, 9))),
    "image": lambda draw: (1, draw(st.integers(1, 2)), draw(st.integers(2, 6)), draw(st.integers(2, 6))),
}
#: Class counts of a softmax cross-entropy head: 2-10, so code special-casing short softmax axes is reached.
CLASSES = (2, 10)
KINDS = tuple(_SHAPES)


@st.composite
def networks(
    draw: st.DrawFn,
    max_blocks: int = 3,
    kinds: Sequence[str] = KINDS,
    losses: Sequence[str | None] = LOSSES,
    smooth_only: bool = False,
) -> Any:
    """A ``symnn.zoo.Model``: a random Sequential of building blocks, a Linear head, and a loss.

    ``smooth_only`` leaves out ReLU and Sign (and hinge loss), so the network is analytic.
    Without a loss (``None`` in ``losses``) the graph's output is the network's output itself.
    """
    kind = draw(st.sampled_from(list(kinds)))
    shape0 = shape = _SHAPES[kind](draw)
    layers = []
    for _ in range(draw(st.integers(1, max_blocks))):
        layer, shape, kind = draw(blocks(kind, shape, smooth_only))
        layers.append(layer)
    allowed = [loss for loss in losses if not (smooth_only and loss == "hinge")]
    loss = draw(st.sampled_from(allowed))
    # a Linear head on the last axis: every network has parameters, and its own output size
    width = st.integers(*CLASSES) if loss == "softmax_cross_entropy" else st.integers(1, 3)
    layers.append(L.Linear(shape[-1], draw(width)))
    name = " -> ".join(str(x) for x in layers) + (f" | {loss}" if loss else "")
    return Model(name, L.Sequential(*layers), loss, {"x": shape0})


def layers(smooth_only: bool = False) -> st.SearchStrategy[tuple[Any, Shape]]:
    """A single building block with an input shape it accepts: ``(layer, input shape)``."""

    @st.composite
    def one(draw: st.DrawFn) -> tuple[Any, Shape]:
        kind = draw(st.sampled_from(KINDS))
        shape = _SHAPES[kind](draw)
        layer, _, _ = draw(blocks(kind, shape, smooth_only))
        return layer, shape

    return one()


def graphs(max_blocks: int = 3, **kwargs: Any) -> st.SearchStrategy[Graph]:
    """The traced Graph of ``networks(...)``."""
    return networks(max_blocks, **kwargs).map(lambda m: m.graph())


def op_rows() -> st.SearchStrategy[Any]:
    """Rows of the op spec table ``verify.spec.OP_ROWS``."""
    return st.sampled_from(OP_ROWS)


# -- profiles -----------------------------------------------------------------------------------------------
#: The settings profile for property tests of gradients, registered on import: derandomized (reproducible),
#: no deadline (Numba compiles on first use), slow examples and filtered draws allowed.
PROFILE = "symnn"
settings.register_profile(
    PROFILE,
    derandomize=True,
    deadline=None,
    max_examples=25,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


def register_profiles(ci: str = "ci", dev: str = "dev", max_examples: int = 25) -> None:
    """Register a derandomized CI profile and a dev profile (load one with ``settings.load_profile``).

    The CI profile is reproducible (``derandomize=True``) and has no deadline (Numba compiles
    on first use).
    """
    settings.register_profile(
        ci,
        derandomize=True,
        deadline=None,
        max_examples=max_examples,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    settings.register_profile(dev, deadline=None, max_examples=2 * max_examples)


__all__ = [
    "CLASSES",
    "KINDS",
    "LOSSES",
    "PROFILE",
    "SMOOTH",
    "X",
    "activation_exprs",
    "activations",
    "arrays",
    "blocks",
    "bounded_floats",
    "graphs",
    "inputs",
    "layers",
    "leaf_points",
    "networks",
    "one_hot",
    "op_rows",
    "parameters",
    "points",
    "positive",
    "register_profiles",
]
