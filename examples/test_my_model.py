"""A property-based test of a user's own model: run ``python -m pytest examples/test_my_model.py``.

The ``check_gradients`` fixture comes with symnn (a pytest plugin); ``verify.strategies`` draws
parameters, inputs and whole networks for Hypothesis.
"""

from hypothesis import HealthCheck, given, settings

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


@settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(strategies.networks(max_blocks=2, smooth_only=True, losses=("mse",)))
def test_random_smooth_networks(check_gradients, net):
    check_gradients(net, paths=("symbolic", "executor"))
