"""A hand-written NumPy backprop for a 2-layer network, checked against symnn: ``python examples/check_my_backprop.py``.

The network is the lecture's two-layer classifier, logits = W2 tanh(W1 x + b1) + b2, with the
mean softmax cross-entropy over a batch of one-hot labels. ``loss_and_grads`` is the backprop
of the exercise sheet; ``verify.check_implementation`` compares it, coordinate by coordinate,
with symnn's symbolic gradient of the same network at Hypothesis-drawn sizes (batch, input
width, hidden width, classes) and points, and shrinks any failure to the smallest example.
The second run plants a bug (a forgotten square in tanh's derivative) and shows the message:
the parameter and the index of the first wrong gradient entry.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from symnn.layers import Linear, Sequential, Tanh
from symnn.trace import trace
from verify import check_implementation
from verify.strategies import one_hot


def loss_and_grads(params, batch, buggy=False):
    """Mean softmax cross-entropy of W2 tanh(W1 x + b1) + b2 and its gradients, by hand."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    x, y = batch["x"], batch["y"]
    n = x.shape[0]
    z1 = x @ W1.T + b1  # (n, h)
    a1 = np.tanh(z1)
    z2 = a1 @ W2.T + b2  # (n, k) logits
    shifted = z2 - z2.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -(y * logp).sum() / n
    dz2 = (np.exp(logp) - y) / n  # softmax minus one-hot, per example
    da1 = dz2 @ W2
    dz1 = da1 * (1 - a1 if buggy else 1 - a1**2)  # the bug: tanh' = 1 - tanh^2, not 1 - tanh
    grads = {"W1": dz1.T @ x, "b1": dz1.sum(axis=0), "W2": dz2.T @ a1, "b2": dz2.sum(axis=0)}
    return loss, grads


def reference(batch, inputs, hidden, classes):
    """The same network in symnn (parameters 0.W, 0.b, 2.W, 2.b), for any sizes."""
    net = Sequential(Linear(inputs, hidden), Tanh(), Linear(hidden, classes))
    return trace(net, "softmax_cross_entropy", {"x": (batch, inputs), "y": (batch, classes)})


RENAME = {"W1": "0.W", "b1": "0.b", "W2": "2.W", "b2": "2.b"}


def check(buggy: bool, examples: int):
    sizes = {"batch": (1, 4), "inputs": (1, 4), "hidden": (1, 5), "classes": (2, 10)}
    return check_implementation(
        lambda params, batch: loss_and_grads(params, batch, buggy),
        reference,
        sizes=sizes,
        # labels are one-hot: the backprop's softmax - y formula assumes rows of y summing to 1
        leaves={"y": lambda shape: one_hot(shape)},
        rename=RENAME,
        examples=examples,
        name="buggy backprop" if buggy else "backprop",
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer examples (CI)")
    args = p.parse_args()
    examples = 10 if args.quick else 50
    t = time.perf_counter()
    good = check(False, examples)
    print(good.table())
    print(f"checked at {good.info['examples']} drawn examples in {time.perf_counter() - t:.1f} s\n")
    bad = check(True, examples)
    print(f"with the planted bug: {bad.info['first']}")
    print(f"smallest failing sizes: {bad.info['sizes']}")
    if not good.ok or bad.ok:
        print("UNEXPECTED: the correct backprop must pass and the buggy one must fail")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
