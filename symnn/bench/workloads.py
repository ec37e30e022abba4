"""The gradient workloads W1-W5 of BENCHMARKS.md as symnn graphs (loss and all parameters), and S3's chain."""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from ..ir import Builder, Graph
from ..layers import MLP, Conv2d, Flatten, Linear, MeanPool, ReLU, SelfAttention, Sequential
from ..trace import trace


def w1() -> Graph:
    """MLP 4-8-1, sigmoid hidden, MSE, batch 1."""
    return trace(MLP((4, 8, 1), "sigmoid"), "mse", {"x": (1, 4), "y": (1, 1)})


def w2() -> Graph:
    """MLP 64-128-10, tanh hidden, softmax cross-entropy, batch 64."""
    return trace(MLP((64, 128, 10), "tanh"), "softmax_cross_entropy", {"x": (64, 64), "y": (64, 10)})


def w3() -> Graph:
    """MLP 784-256-256-10, ReLU, softmax cross-entropy, batch 128."""
    return trace(MLP((784, 256, 256, 10), "relu"), "softmax_cross_entropy", {"x": (128, 784), "y": (128, 10)})


def w4() -> Graph:
    """1x8x8 input, Conv2d 8 filters 3x3 valid + bias, ReLU, flatten, Linear to 10, cross-entropy, batch 64."""
    net = Sequential(Conv2d(1, 8, 3), ReLU(), Flatten(), Linear(8 * 6 * 6, 10))
    return trace(net, "softmax_cross_entropy", {"x": (64, 1, 8, 8), "y": (64, 10)})


def w5() -> Graph:
    """Single-head self-attention, seq 16, d 32, mean-pool, Linear to 1, MSE, batch 8."""
    net = Sequential(SelfAttention(32), MeanPool(1), Linear(32, 1))
    return trace(net, "mse", {"x": (8, 16, 32), "y": (8, 1)})


WORKLOADS: dict[str, Callable[[], Graph]] = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5}


def tanh_chain(depth: int) -> Graph:
    """Width-2 tanh chain of the given depth: h <- tanh(W_l h), output h_0 + h_1 (S3)."""
    b = Builder()
    h = b.input("x", (2,))
    for layer in range(depth):
        h = (b.param(f"W{layer}", (2, 2)) @ h.reshape((2, 1))).reshape((2,)).map(sp.tanh)
    return b.build(h.sum())
