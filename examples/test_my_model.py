"""A property-based test of a user's own model: run ``python -m pytest examples/test_my_model.py``.

The ``check_gradients`` and ``check_implementation`` fixtures come with symnn (a pytest plugin);
``verify.strategies`` draws parameters, inputs and whole networks for Hypothesis, and registers
the settings profile ``"symnn"`` (derandomized, no deadline). The fixtures are session-scoped,
so they work inside ``@given`` without suppressing any health check.
"""

import numpy as np
from hypothesis import given, settings

from symnn.layers import MLP, Linear, Residual, Sequential, Tanh
from symnn.trace import trace
from verify import strategies


def my_model():
    return trace(
        Sequential(Linear(3, 4), Residual(Sequential(Linear(4, 4), Tanh())), Linear(4, 1)), "mse", {"x": (5, 3)}
    )


def test_my_model_gradients(check_gradients):
    check_gradients(my_model())


def test_an_mlp_gradients(check_gradients):
    check_gradients(trace(MLP((2, 3, 1), "sigmoid"), "mse", {"x": (4, 2)}), paths=("symbolic", "executor"))


@settings(settings.get_profile(strategies.PROFILE), max_examples=5)
@given(strategies.networks(max_blocks=2, smooth_only=True, losses=("mse",)))
def test_random_smooth_networks(check_gradients, net):
    check_gradients(net, paths=("symbolic", "executor"))


def my_linear_regression(params, data):
    """mean((x W^T + b - y)^2) and its gradient, by hand."""
    r = data["x"] @ params["W"].T + params["b"] - data["y"]
    n = r.size
    return np.mean(r**2), {"W": 2 * r.T @ data["x"] / n, "b": 2 * r.sum(axis=0) / n}


def test_my_hand_written_gradient(check_implementation):
    reference = trace(Linear(3, 2), "mse", {"x": (4, 3)})  # parameters W (2, 3) and b (2,), inputs x, y
    check_implementation(my_linear_regression, reference, examples=10)
