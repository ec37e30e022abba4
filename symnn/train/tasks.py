"""Graphs for training: a classifier's batch loss and full-data evaluation, and the synthetic convex risks.

``classifier(net, loss, train, test, batch)`` returns the batch loss graph for the trainer and a
``metrics`` function that evaluates loss and accuracy on the whole train and test sets with one
compiled forward kernel per set (outputs "loss" and "out", compiled on first use).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import codegen
from ..functions import relu
from ..ir import Builder, Graph
from ..layers.base import Layer, Params
from ..losses import get_loss
from ..trace import trace
from .data import Convex
from .errors import DataError


def loss_and_output(net: Layer, loss: Any, x_shape: tuple[int, ...], y_shape: tuple[int, ...]) -> Graph:
    """The graph with outputs ("loss", "out"): the loss of ``net`` on (x, y) and the network's output."""
    b = Builder()
    x = b.input("x", x_shape)
    out = net(x, Params(b))
    y = b.input("y", y_shape)
    return b.build(get_loss(loss)(out, y), out, names=["loss", "out"])


@dataclass
class Classifier:
    """A classification task: the batch loss graph and a metrics function over the full data sets."""

    graph: Graph
    train: dict[str, np.ndarray]
    test: dict[str, np.ndarray] | None
    net: Layer
    loss: Any
    kernels: dict[str, Any] = field(default_factory=dict)

    def kernel(self, split_name: str) -> Any:
        """The forward kernel (outputs "loss", "out") over the whole ``split_name`` set, compiled on first use."""
        if split_name not in self.kernels:
            data = self.train if split_name == "train" else self.test
            if data is None:
                raise DataError(f"there is no {split_name} set to evaluate")
            graph = loss_and_output(self.net, self.loss, data["x"].shape, data["y"].shape)
            self.kernels[split_name] = codegen.compile(graph)
        return self.kernels[split_name]

    def metrics(self, params: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Loss and accuracy (argmax of the output vs argmax of the one-hot target) on train and test."""
        row: dict[str, float] = {}
        for split_name, data in (("train", self.train), ("test", self.test)):
            if data is None:
                continue
            res = self.kernel(split_name).run({**params, **data})
            row[f"{split_name}_loss"] = float(res["loss"])
            row[f"{split_name}_accuracy"] = float(np.mean(res["out"].argmax(axis=1) == data["y"].argmax(axis=1)))
        return row


def classifier(
    net: Layer,
    loss: Any,
    train: Mapping[str, np.ndarray],
    test: Mapping[str, np.ndarray] | None,
    batch: int,
) -> Classifier:
    """The batch-``batch`` loss graph of ``net`` and full-data evaluation kernels for ``train`` / ``test``."""
    sets = {"train": dict(train), "test": dict(test) if test is not None else None}
    for name, data in sets.items():
        if data is not None and set(data) != {"x", "y"}:
            raise DataError(f"{name} data must have arrays 'x' and 'y', got {sorted(data)}")
    x, y = sets["train"]["x"], sets["train"]["y"]  # type: ignore[index]
    graph = trace(net, loss, {"x": (batch, *x.shape[1:]), "y": (batch, *y.shape[1:])})
    return Classifier(graph, sets["train"], sets["test"], net, loss)  # type: ignore[arg-type]


def convex_graph(problem: Convex, batch: int) -> Graph:
    """The batch loss of a synthetic convex problem as a Graph (parameter "theta").

    median: mean_b sum_j |theta_j - y_bj|, with |a| = relu(a) + relu(-a) (subgradient 0 at a = 0);
    ridge:  mean_b (x_b . theta - y_b)^2 / 2 + (lam / 2) ||theta||^2.
    """
    b = Builder()
    d = problem.data["y"].shape[1] if problem.name == "median" else problem.data["x"].shape[1]
    theta = b.param("theta", (d,))
    y = b.input("y", (batch, problem.data["y"].shape[1]))
    if problem.name == "median":  # the data input is y alone
        r = theta.reshape((1, d)) - y
        absolute = b.elementwise(lambda a: relu(a) + relu(-a), r)
        return b.build(absolute.sum(axis=1).mean(), names=["loss"])
    x = b.input("x", (batch, d))
    r = (x @ theta.reshape((d, 1))) - y
    sq = b.elementwise(lambda a: a * a / 2, r).mean()
    reg = b.elementwise(lambda a: problem.lam / 2 * a * a, theta).sum()
    return b.build(sq + reg, names=["loss"])
