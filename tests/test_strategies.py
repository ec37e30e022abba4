"""verify.strategies: the drawn networks, layers and points are what they claim to be."""

from __future__ import annotations

import numpy as np
import sympy as sp
from hypothesis import find, given, settings
from hypothesis import strategies as st

from symnn.functions import maximum, relu, sgn, step
from symnn.ir import Builder, Graph
from symnn.layers import Activation, Conv1d, Conv2d, Params, Sequential
from symnn.ops import Elementwise
from verify import strategies as vs
from verify.oracles import kink_distance


def _bodies(graph: Graph) -> list[sp.Expr]:
    return [n.op.fn.expr for n in graph.nodes if isinstance(n.op, Elementwise)]


@settings(max_examples=15, deadline=None)
@given(vs.networks())
def test_networks_trace_to_graphs_with_parameters(model):
    graph = model.graph()
    assert graph.params, model.name
    assert set(graph.inputs) <= {"x", "y"}
    out = graph.shape(graph.outputs[0])
    assert out == () if model.loss else len(out) >= 1


@settings(max_examples=10, deadline=None)
@given(vs.networks(smooth_only=True))
def test_smooth_networks_hold_no_kinks(model):
    for body in _bodies(model.graph()):
        assert not body.has(relu, step, sgn, maximum, sp.Abs), body


@settings(max_examples=10, deadline=None)
@given(vs.networks(kinds=("sequence",), losses=(None,), max_blocks=2))
def test_network_kinds_and_losses_are_respected(model):
    assert len(model.shapes["x"]) == 3
    assert model.graph().output_names == ("out",)


@settings(max_examples=15, deadline=None)
@given(vs.layers())
def test_each_layer_accepts_its_shape(drawn):
    layer, shape = drawn
    b = Builder()
    y = layer(b.input("x", shape), Params(b))
    assert y.ndim >= 2 and y.shape[0] == shape[0]  # batch first, kept


@settings(max_examples=20, deadline=None)
@given(vs.activation_exprs())
def test_activation_exprs_are_functions_of_x(expr):
    assert {s.name for s in expr.free_symbols} == {"x"}
    value = sp.N(expr.subs(next(iter(expr.free_symbols)), sp.Rational(1, 3)))
    assert value.is_finite


def _relu_net() -> Graph:
    b = Builder()
    x = b.input("x", (2, 3))
    w = b.param("W", (3, 3))
    return b.build((x @ w).map(relu).sum())


@settings(max_examples=15, deadline=None)
@given(st.data())
def test_points_away_from_kinks_keep_their_margin(data):
    graph = _relu_net()
    point = data.draw(vs.points(graph, away_from_kinks=1e-3))
    assert set(point) == {"x", "W"}
    z = point["x"] @ point["W"]
    assert np.abs(z).min() > 1e-3  # the relu arguments, computed independently
    assert kink_distance(graph, point) > 1e-3


@settings(max_examples=10, deadline=None)
@given(st.data())
def test_parameters_and_inputs_are_bounded_and_shaped(data):
    graph = _relu_net()
    params = data.draw(vs.parameters(graph, low=-0.5, high=0.25))
    inputs = data.draw(vs.inputs(graph))
    assert set(params) == {"W"} and params["W"].shape == (3, 3)
    assert set(inputs) == {"x"} and inputs["x"].shape == (2, 3)
    assert params["W"].min() >= -0.5 and params["W"].max() <= 0.25
    assert np.isfinite(inputs["x"]).all() and np.abs(inputs["x"]).max() <= 1.0


def test_register_profiles_makes_a_derandomized_profile():
    vs.register_profiles(ci="symnn-test-ci", dev="symnn-test-dev", max_examples=7)
    ci = settings.get_profile("symnn-test-ci")
    assert ci.derandomize and ci.deadline is None and ci.max_examples == 7
    assert settings.get_profile("symnn-test-dev").max_examples == 14


# -- the shapes shape-dependent code branches on are drawn ------------------------------------------------------
def _convs(layer):
    if isinstance(layer, Sequential):
        return [c for sub in layer.layers for c in _convs(sub)]
    return [layer] if isinstance(layer, (Conv1d, Conv2d)) else []


def _find(condition, **kwargs):
    return find(vs.networks(**kwargs), condition, settings=settings(max_examples=2000, database=None))


def test_networks_reach_the_shapes_conditional_faults_need():
    # a strided convolution with a kernel larger than 2 right after another convolution
    def strided_after_conv(block):
        convs = _convs(block)
        return len(convs) >= 2 and max(convs[1].kernel_size) > 2 and max(convs[1].stride) > 1

    stacked = _find(lambda m: any(strided_after_conv(b) for b in m.net.layers))
    assert stacked is not None
    # a cross-entropy over more than 3 classes
    wide = _find(lambda m: m.loss == "softmax_cross_entropy" and m.shapes["x"] and m.net.layers[-1].out_features > 3)
    assert wide.net.layers[-1].out_features == 4  # shrunk to the smallest such count
    # batch 1 and odd lengths
    assert _find(lambda m: m.shapes["x"][0] == 1).shapes["x"][0] == 1
    odd = _find(
        lambda m: len(m.shapes["x"]) == 3 and m.shapes["x"][2] % 2 == 1 and m.shapes["x"][2] > 2, kinds=("signal",)
    )
    assert odd.shapes["x"][2] == 3
    # class counts up to 10
    assert _find(lambda m: m.net.layers[-1].out_features == 10, losses=("softmax_cross_entropy",)) is not None


def test_activation_expressions_use_the_public_variable():
    expr = find(vs.activation_exprs(), lambda e: True)
    assert expr.free_symbols == {vs.X}
    assert Activation(expr, vs.X) is not None


@settings(max_examples=10, deadline=None)
@given(st.data())
def test_points_take_a_strategy_per_leaf(data):
    b = Builder()
    logits, y = b.param("z", (3, 5)), b.input("y", (3, 5))
    graph = b.build((logits * y).sum())
    point = data.draw(vs.points(graph, leaves={"y": vs.one_hot((3, 5))}))
    assert point["y"].sum(axis=1).tolist() == [1.0, 1.0, 1.0] and set(np.unique(point["y"])) <= {0.0, 1.0}
    assert np.abs(point["z"]).max() <= 1.0
    var = data.draw(vs.positive((4,)))
    assert var.min() >= 0.1


def test_the_symnn_profile_is_registered():
    profile = settings.get_profile(vs.PROFILE)
    assert profile.derandomize and profile.deadline is None
