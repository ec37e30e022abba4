"""symnn's own PyTorch-style layers (issue 17): errors, and values and gradients against torch when it is installed."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import sympy as sp

import symnn.layers as L
from symnn import grad
from symnn.errors import GraphError, ShapeError, UnsupportedFunctionError
from symnn.executor import Executor
from symnn.functions import piecewise_to_step, step
from symnn.ir import Builder, load
from symnn.losses import cross_entropy, mse, one_hot
from symnn.trace import trace

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
x = sp.Symbol("x", real=True)


# -- errors name the value and the fix -------------------------------------------------------------
def test_max_pooling_rejects_padding_and_says_why():
    with pytest.raises(GraphError, match="padding"):
        L.MaxPool2d(2, padding=1)


def test_pooling_needs_a_fitting_kernel():
    with pytest.raises(ShapeError, match="smaller than 3"):
        trace(L.MaxPool1d(3), shapes={"x": (1, 1, 2)})


def test_gelu_approximate_is_checked():
    with pytest.raises(GraphError, match="approximate"):
        L.GELU("fast")


def test_batchnorm_running_statistics_come_in_pairs_of_the_right_length():
    with pytest.raises(GraphError, match="both"):
        L.BatchNorm(2, running_mean=(0.0, 0.0))
    with pytest.raises(GraphError, match="2 numbers"):
        L.BatchNorm(2, running_mean=(0.0,), running_var=(1.0,))


def test_layernorm_checks_the_trailing_axes():
    with pytest.raises(ShapeError, match="normalized_shape"):
        trace(L.LayerNorm((2, 3)), shapes={"x": (4, 3, 2)})


def test_same_padding_needs_stride_one():
    with pytest.raises(GraphError, match="stride 1"):
        L.Conv2d(1, 1, 3, stride=2, padding="same")


def test_same_padding_keeps_the_size_and_dilation_widens_the_kernel():
    g = trace(L.Conv2d(1, 2, (2, 3), padding="same", dilation=2), shapes={"x": (1, 1, 5, 6)})
    assert g.shape(g.outputs[0]) == (1, 2, 5, 6)
    g = trace(L.Conv1d(1, 1, 3, dilation=3), shapes={"x": (1, 1, 9)})
    assert g.shape(g.outputs[0]) == (1, 1, 3)  # span 3 * (3 - 1) + 1 = 7


def test_losses_check_the_reduction_and_the_labels():
    b = Builder()
    z, y = b.input("z", (2, 3)), b.input("y", (2, 3))
    with pytest.raises(GraphError, match="reduction"):
        mse(z, y, "median")
    with pytest.raises(GraphError, match="label 1"):
        one_hot([0, 3], 3)
    assert one_hot([2, 0], 3) == [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    with pytest.raises(ShapeError, match=r"\(N, C"):
        cross_entropy(b.input("v", (3,)), b.input("w", (3,)))


def test_cross_entropy_sum_is_the_per_example_sum():
    b = Builder()
    z, y = b.input("z", (2, 3)), b.input("y", (2, 3))
    g = b.build(cross_entropy(z, y, "sum"), cross_entropy(z, y), names=["s", "m"])
    zs = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    ys = np.array(one_hot([1, 2], 3))
    out = Executor(g).forward({"z": zs, "y": ys})
    lse = np.log(np.exp(zs).sum(1))
    per = lse - (ys * zs).sum(1)
    assert abs(out["s"] - per.sum()) < 1e-14 and abs(out["m"] - per.mean()) < 1e-14


def test_piecewise_becomes_steps_with_the_selected_branch_at_the_boundary():
    assert piecewise_to_step(sp.Piecewise((x, x > 0), (2 * x, True))) == 2 * x + step(x) * (x - 2 * x)
    f = L.Activation(sp.Piecewise((x, x >= 1), (sp.Integer(0), True)), x).fn
    assert f(1) == 1 and f(sp.Rational(1, 2)) == 0  # x >= 1 holds at 1
    with pytest.raises(UnsupportedFunctionError, match="True"):
        L.Activation(sp.Piecewise((x, x > 0)), x)
    with pytest.raises(UnsupportedFunctionError, match="condition"):
        L.Activation(sp.Piecewise((x, sp.Eq(x, 0)), (x**2, True)), x)


def test_max_pooling_ties_go_to_the_first_entry_on_every_path():

    b = Builder()
    v = b.input("x", (1, 1, 2, 2))
    g = b.build(L.MaxPool2d(2)(v, L.Params(b)).sum(), names=["s"])
    ones = {"x": np.ones((1, 1, 2, 2))}
    _, ex = Executor(g).grad(ones, wrt=["x"])
    sym = Executor(grad(g, wrt=["x"])).forward(ones)["grad:x"]
    first = [[[[1.0, 0.0], [0.0, 0.0]]]]
    assert ex["x"].tolist() == first and sym.tolist() == first


# -- against torch ---------------------------------------------------------------------------------
def _compare(layer, torch_layer, shape, param_map, seed=0):
    """Forward values and input/parameter gradients of ``sum(layer(x) * c)`` against torch's, float64."""
    import torch

    torch.manual_seed(seed)
    torch_layer = torch_layer.double()
    xt = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    out = torch_layer(xt)
    c = torch.randn(*out.shape, dtype=torch.float64)
    (out * c).sum().backward()
    b = Builder()
    xs = b.input("x", shape)
    y = layer(xs, L.Params(b))
    g = b.build((y * b.const(c.tolist(), tuple(c.shape))).sum(), names=["s"])
    named = dict(torch_layer.named_parameters())
    arrays = {"x": xt.detach().numpy(), **{ours: named[theirs].detach().numpy() for ours, theirs in param_map.items()}}
    wrt = ["x", *param_map]
    value, grads = Executor(g).grad(arrays, wrt=wrt)
    sym = Executor(grad(g, wrt=wrt)).forward(arrays)
    assert abs(value - float((out * c).sum().detach())) < 1e-10
    expected = {"x": xt.grad.numpy(), **{ours: named[theirs].grad.numpy() for ours, theirs in param_map.items()}}
    for name, e in expected.items():
        assert np.max(np.abs(grads[name] - e)) < 1e-10, name
        assert np.max(np.abs(sym[f"grad:{name}"] - e)) < 1e-10, name


@needs_torch
def test_activations_equal_torch():
    from torch import nn

    for ours, theirs in [
        (L.GELU(), nn.GELU()),
        (L.GELU("tanh"), nn.GELU(approximate="tanh")),
        (L.LeakyReLU(0.2), nn.LeakyReLU(0.2)),
        (L.ELU(0.7), nn.ELU(0.7)),
        (L.Softplus(2), nn.Softplus(beta=2.0)),
        (L.Activation(sp.Piecewise((x, x > 0), (sp.Rational(7, 10) * (sp.exp(x) - 1), True)), x), nn.ELU(0.7)),
    ]:
        _compare(ours, theirs, (3, 4), {})


@needs_torch
def test_kinks_at_zero_equal_torch():
    import torch
    from torch import nn

    for ours, theirs in [
        (L.LeakyReLU(0.2), nn.LeakyReLU(0.2)),
        (L.ELU(0.7), nn.ELU(0.7)),
        (L.Activation(sp.Piecewise((x, x > 0), (x / 5, True)), x), nn.LeakyReLU(0.2)),
        (L.ReLU(), nn.ReLU()),
    ]:
        xt = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
        theirs(xt).sum().backward()
        g = trace(ours, shapes={"x": (1, 3)})
        b = Builder()
        s = b.build(load(b, g)[g.outputs[0]].sum(), names=["s"])
        got = Executor(grad(s, wrt=["x"])).forward({"x": np.zeros((1, 3))})["grad:x"]
        assert np.allclose(got, xt.grad.numpy(), rtol=0, atol=1e-15), ours


@needs_torch
def test_pooling_and_convolutions_equal_torch():
    from torch import nn

    _compare(L.MaxPool2d(2), nn.MaxPool2d(2), (2, 3, 4, 6), {})
    _compare(L.MaxPool1d(3, stride=2), nn.MaxPool1d(3, stride=2), (2, 2, 7), {})
    _compare(L.MaxPool3d(2), nn.MaxPool3d(2), (1, 2, 2, 4, 2), {})
    _compare(L.AvgPool2d(3, stride=2, padding=1), nn.AvgPool2d(3, stride=2, padding=1), (2, 1, 5, 5), {})
    _compare(L.AvgPool1d(2), nn.AvgPool1d(2), (2, 2, 6), {})
    _compare(L.AvgPool3d(2), nn.AvgPool3d(2), (1, 1, 2, 4, 4), {})
    wb = {"W": "weight", "b": "bias"}
    _compare(
        L.Conv2d(2, 3, 3, padding="same", dilation=2), nn.Conv2d(2, 3, 3, padding="same", dilation=2), (2, 2, 5, 6), wb
    )
    _compare(L.Conv1d(1, 2, 4, padding="same"), nn.Conv1d(1, 2, 4, padding="same"), (2, 1, 7), wb)
    _compare(L.Conv3d(1, 2, 2, dilation=(1, 2, 1)), nn.Conv3d(1, 2, 2, dilation=(1, 2, 1)), (1, 1, 3, 4, 3), wb)


@needs_torch
def test_normalizations_equal_torch():
    import torch
    from torch import nn

    torch.manual_seed(3)
    ln = nn.LayerNorm((2, 3))
    bn = nn.BatchNorm2d(3)
    with torch.no_grad():
        for p in (*ln.parameters(), *bn.parameters()):
            p.uniform_(0.5, 1.5)
    wb = {"weight": "weight", "bias": "bias"}
    _compare(L.LayerNorm((2, 3)), ln, (4, 2, 3), wb)
    _compare(L.BatchNorm(3), bn, (2, 3, 2, 2), wb)
    bn_eval = nn.BatchNorm1d(3).double()
    with torch.no_grad():
        bn_eval.running_mean.uniform_(-1, 1)
        bn_eval.running_var.uniform_(0.5, 2)
    bn_eval.eval()
    ours = L.BatchNorm(3, running_mean=bn_eval.running_mean.tolist(), running_var=bn_eval.running_var.tolist())
    _compare(ours, bn_eval, (4, 3), wb)


def test_meanpool_takes_a_tuple_of_axes_and_rejects_others_clearly():
    g = trace(L.MeanPool(axis=(2, 3)), shapes={"x": (2, 3, 2, 2)})
    xs = np.arange(24.0).reshape(2, 3, 2, 2)
    assert np.allclose(Executor(g).forward({"x": xs})["out"], xs.mean(axis=(2, 3)))
    with pytest.raises(GraphError, match="tuple of ints"):
        L.MeanPool(axis=(1.5,))
    with pytest.raises(ShapeError, match="outside rank"):
        trace(L.MeanPool(axis=(1, 4)), shapes={"x": (2, 3)})


@needs_torch
def test_embedding_on_one_hot_rows_equals_torch():
    import torch
    from torch import nn

    torch.manual_seed(5)
    table = nn.Embedding(5, 3).double()
    idx = torch.tensor([[0, 4, 4], [2, 1, 0]])
    out = table(idx)
    c = torch.randn(*out.shape, dtype=torch.float64)
    (out * c).sum().backward()
    b = Builder()
    onehot = b.input("x", (2, 3, 5))
    y = L.Embedding(5, 3)(onehot, L.Params(b))
    g = b.build((y * b.const(c.tolist(), (2, 3, 3))).sum(), names=["s"])
    rows = np.array(one_hot(idx.flatten().tolist(), 5)).reshape(2, 3, 5)
    arrays = {"x": rows, "weight": table.weight.detach().numpy()}
    sym = Executor(grad(g)).forward(arrays)
    assert abs(float(sym["s"]) - float((out * c).sum().detach())) < 1e-12
    assert np.max(np.abs(sym["grad:weight"] - table.weight.grad.numpy())) < 1e-12
