"""Layers, losses and trace: output shapes, shape errors, and forward values against NumPy.

Every expected value is computed here with plain NumPy from the layer's mathematical definition;
the traced graph is run by the independent interpreter in ``_numpy_eval``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import sympy as sp

from symnn import GraphError, ShapeError, UnsupportedFunctionError
from symnn.ir import Builder
from symnn.layers import (
    MLP,
    Activation,
    Conv1d,
    Conv2d,
    Conv3d,
    Flatten,
    Linear,
    MeanPool,
    MultiHeadAttention,
    Normalize,
    Params,
    ReLU,
    Residual,
    ResNet,
    SelfAttention,
    Sequential,
    Sigmoid,
    Sign,
    Tanh,
    Transformer,
    TransformerBlock,
)
from symnn.losses import hinge, logistic, mse, softmax, softmax_cross_entropy
from symnn.ops import Einsum, Elementwise, Window
from symnn.trace import trace

try:
    from tests._numpy_eval import random_values, run
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from _numpy_eval import random_values, run


def forward(net, x, seed=0):
    """Trace ``net`` for ``x``, fill the parameters with random values; (graph, params, output)."""
    g = trace(net, shapes={"x": x.shape})
    vals = random_values(g, seed)
    vals["x"] = x
    return g, vals, run(g, vals)["out"]


def rand(*shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


# -- numpy references ------------------------------------------------------------------------------
def np_conv(x, w, b, stride, pad):
    """Direct-loop cross-correlation (PyTorch's conv), any number of spatial axes."""
    d = w.ndim - 2
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pad, pad)] * d)
    out_sp = [(s + 2 * pad - k) // stride + 1 for s, k in zip(x.shape[2:], w.shape[2:], strict=True)]
    y = np.zeros((x.shape[0], w.shape[0], *out_sp))
    for n, o in itertools.product(range(x.shape[0]), range(w.shape[0])):
        for pos in itertools.product(*(range(m) for m in out_sp)):
            patch = xp[
                (n, slice(None), *(slice(p * stride, p * stride + k) for p, k in zip(pos, w.shape[2:], strict=True)))
            ]
            y[(n, o, *pos)] = np.sum(patch * w[o]) + (b[o] if b is not None else 0.0)
    return y


def np_softmax(s, axis=-1):
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_attention(x, wq, wk, wv):
    q, k, v = x @ wq, x @ wk, x @ wv
    return np_softmax(q @ np.swapaxes(k, 1, 2) / np.sqrt(wq.shape[1])) @ v


def np_layernorm(x, eps=1e-5, axis=-1):
    mu = x.mean(axis=axis, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=axis, keepdims=True) + eps)


# -- the module convention --------------------------------------------------------------------------
def test_params_are_named_hierarchically():
    net = Sequential(Linear(3, 4), ReLU(), Sequential(Linear(4, 2), Linear(2, 1, bias=False)))
    g = trace(net, shapes={"x": (2, 3)})
    assert g.params == {"0.W": (4, 3), "0.b": (4,), "2.0.W": (2, 4), "2.0.b": (2,), "2.1.W": (1, 2)}
    b = Builder()
    assert Params(b).child("a").child(3).param("W", (2,)).shape == (2,)
    assert b.nodes[-1].op.name == "a.3.W"


def test_sequential_is_composition_and_accepts_a_list():
    x = rand(2, 3)
    _, vals, y1 = forward(Sequential(Linear(3, 4), Tanh(), Linear(4, 2)), x)
    y2 = run(trace(Sequential([Linear(3, 4), Tanh(), Linear(4, 2)]), shapes={"x": (2, 3)}), vals)["out"]
    expected = np.tanh(x @ vals["0.W"].T + vals["0.b"]) @ vals["2.W"].T + vals["2.b"]
    np.testing.assert_allclose(y1, expected, rtol=1e-12)
    np.testing.assert_allclose(y2, expected, rtol=1e-12)
    with pytest.raises(GraphError, match="not a layer"):
        Sequential(Linear(3, 4), 5)


def test_deeper_errors_name_the_layer():
    with pytest.raises(ShapeError, match=r"Linear\(5, 2\) got input of shape \(2, 4\).*4 != in_features 5"):
        trace(Sequential(Linear(3, 4), Linear(5, 2)), shapes={"x": (2, 3)})


# -- Linear -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3), (3,)])
def test_linear_matches_numpy_for_any_leading_axes(shape):
    x = rand(*shape)
    g, vals, y = forward(Linear(3, 2), x)
    assert y.shape == shape[:-1] + (2,)
    np.testing.assert_allclose(y, x @ vals["W"].T + vals["b"], rtol=1e-12)
    assert sum(isinstance(n.op, Einsum) for n in g.nodes) == 1


def test_linear_without_bias_and_its_errors():
    x = rand(4, 3)
    g, vals, y = forward(Linear(3, 2, bias=False), x)
    assert set(g.params) == {"W"}
    np.testing.assert_allclose(y, x @ vals["W"].T, rtol=1e-12)
    with pytest.raises(ShapeError) as err:
        trace(Linear(8, 4), shapes={"x": (2, 5)})
    assert str(err.value) == "Linear(8, 4) got input of shape (2, 5): last axis 5 != in_features 8"
    with pytest.raises(GraphError, match="in_features must be a positive int"):
        Linear(0, 3)


# -- convolutions -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "layer, shape",
    [
        (Conv1d(2, 3, 3), (2, 2, 7)),
        (Conv1d(1, 2, 2, stride=2, padding=1), (1, 1, 6)),
        (Conv2d(2, 3, 3), (2, 2, 5, 5)),
        (Conv2d(1, 2, 3, stride=2, padding=1), (1, 1, 5, 6)),
        (Conv3d(1, 2, 2, padding=1), (1, 1, 3, 3, 2)),
    ],
)
def test_conv_matches_direct_loops(layer, shape):
    x = rand(*shape)
    g, vals, y = forward(layer, x)
    expected = np_conv(x, vals["W"], vals["b"], layer.stride[0], layer.padding[0])
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    assert sum(isinstance(n.op, Window) for n in g.nodes) == 1
    assert sum(isinstance(n.op, Einsum) for n in g.nodes) == 1


def test_conv1d_is_the_notes_convolution_with_a_flipped_kernel():
    # notes: f(x)_i = sum_k w_k x_{i-k}, i.e. numpy's full convolution; 'valid' part = cross-correlation
    x, w = rand(1, 1, 9), rand(4, seed=2)
    g = trace(Conv1d(1, 1, 4, bias=False), shapes={"x": x.shape})
    y = run(g, {"x": x, "W": w[::-1].reshape(1, 1, 4)})["out"]
    np.testing.assert_allclose(y[0, 0], np.convolve(x[0, 0], w, mode="valid"), rtol=1e-12)


def test_conv_shape_errors_name_both_sizes():
    with pytest.raises(ShapeError, match=r"Conv2d\(3, 4, 3\) got input of shape \(1, 2, 5, 5\).*2 != in_channels 3"):
        trace(Conv2d(3, 4, 3), shapes={"x": (1, 2, 5, 5)})
    with pytest.raises(ShapeError, match=r"rank 3 != 4"):
        trace(Conv2d(3, 4, 3), shapes={"x": (1, 3, 5)})
    with pytest.raises(ShapeError, match=r"size 2 .* smaller than the kernel 3"):
        trace(Conv1d(1, 1, 3), shapes={"x": (1, 1, 2)})
    with pytest.raises(GraphError, match="kernel_size"):
        Conv2d(1, 1, (3, 3, 3))
    assert Conv2d(1, 2, 3) == Conv2d(1, 2, (3, 3))


# -- attention -------------------------------------------------------------------------------------
def test_self_attention_matches_numpy():
    x = rand(2, 4, 3)
    _, vals, y = forward(SelfAttention(3, d_k=2), x)
    assert y.shape == (2, 4, 2)
    np.testing.assert_allclose(y, np_attention(x, vals["Wq"], vals["Wk"], vals["Wv"]), rtol=1e-10)


def test_self_attention_softmax_is_stable_for_huge_scores():
    x = 300.0 * rand(1, 3, 2)
    g = trace(SelfAttention(2), shapes={"x": x.shape})
    vals = {"x": x, "Wq": 10 * np.eye(2), "Wk": 10 * np.eye(2), "Wv": np.eye(2)}
    y = run(g, vals)["out"]
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, np_attention(x, vals["Wq"], vals["Wk"], vals["Wv"]), rtol=1e-9)


def test_self_attention_scale_is_exact():
    g = trace(SelfAttention(3), shapes={"x": (1, 2, 3)})
    bodies = [n.op.fn.expr for n in g.nodes if isinstance(n.op, Elementwise)]
    assert any(b.has(sp.sqrt(3)) for b in bodies), bodies


def test_multi_head_attention_is_the_notes_formula():
    x = rand(2, 3, 4)
    _, vals, y = forward(MultiHeadAttention(4, 2), x)
    heads = [
        np_attention(x[..., 2 * i : 2 * i + 2], vals[f"head{i}.Wq"], vals[f"head{i}.Wk"], vals[f"head{i}.Wv"])
        for i in range(2)
    ]
    expected = np.concatenate(heads, axis=-1) @ vals["out.W"].T + vals["out.b"]
    np.testing.assert_allclose(y, expected, rtol=1e-10)


def test_attention_errors():
    with pytest.raises(ShapeError, match=r"last axis 5 != d_model 4"):
        trace(SelfAttention(4), shapes={"x": (1, 3, 5)})
    with pytest.raises(ShapeError, match=r"rank 2 != 3"):
        trace(MultiHeadAttention(4, 2), shapes={"x": (3, 4)})
    with pytest.raises(GraphError, match="not divisible by heads 3"):
        MultiHeadAttention(4, 3)


# -- activations -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "layer, reference",
    [
        (Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
        (ReLU(), lambda x: np.maximum(x, 0)),
        (Tanh(), np.tanh),
        (Sign(), np.sign),
    ],
)
def test_activations(layer, reference):
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]])
    _, _, y = forward(layer, x)
    np.testing.assert_allclose(y, reference(x), rtol=1e-12)


def test_sign_and_relu_at_zero_follow_the_conventions():
    x = np.zeros((1, 2))
    assert np.all(forward(Sign(), x)[2] == 0) and np.all(forward(ReLU(), x)[2] == 0)


def test_sigmoid_is_finite_far_out():
    x = np.array([[-1000.0, 1000.0]])
    np.testing.assert_allclose(forward(Sigmoid(), x)[2], [[0.0, 1.0]], atol=1e-300)


def test_user_activation():
    t = sp.Symbol("t")
    x = np.array([[-2.0, -0.5, 0.5, 3.0]])
    _, _, y = forward(Activation(t * sp.tanh(t) + sp.Max(0, t), t), x)
    np.testing.assert_allclose(y, x * np.tanh(x) + np.maximum(x, 0), rtol=1e-12)
    assert "relu" in str(Activation(sp.Max(0, t), t).fn)


def test_user_activation_errors():
    t, u = sp.symbols("t u")
    with pytest.raises(GraphError, match=r"exactly the variable t.*\['t', 'u'\]"):
        Activation(t * u, t)
    with pytest.raises(GraphError, match="exactly the variable"):
        Activation(sp.Integer(3), t)
    with pytest.raises(UnsupportedFunctionError, match="gamma"):
        Activation(sp.gamma(t), t)
    with pytest.raises(UnsupportedFunctionError, match="myact"):
        Activation(sp.Function("myact")(t), t)
    with pytest.raises(GraphError, match="var must be a sympy Symbol"):
        Activation(t, "t")


# -- normalization, residual, flatten --------------------------------------------------------------
def test_layer_norm():
    x = rand(2, 3, 4)
    _, _, y = forward(Normalize("layer"), x)
    np.testing.assert_allclose(y, np_layernorm(x), rtol=1e-10)


def test_batch_norm_uses_batch_statistics():
    x = rand(3, 2, 2)
    _, _, y = forward(Normalize("batch", eps=sp.Rational(1, 100)), x)
    np.testing.assert_allclose(y, np_layernorm(x, 1e-2, axis=0), rtol=1e-10)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-12)


def test_normalize_errors():
    with pytest.raises(ShapeError, match=r"batch axis 0 has size 1"):
        trace(Normalize("batch"), shapes={"x": (1, 3)})
    with pytest.raises(GraphError, match="kind must be"):
        Normalize("group")
    with pytest.raises(GraphError, match="eps must be a positive number"):
        Normalize(eps=0)


def test_residual():
    x = rand(2, 3)
    _, vals, y = forward(Residual(Sequential(Linear(3, 3), ReLU())), x)
    np.testing.assert_allclose(y, x + np.maximum(x @ vals["0.W"].T + vals["0.b"], 0), rtol=1e-12)
    with pytest.raises(ShapeError, match=r"shape \(2, 3\).*shape \(2, 4\)"):
        trace(Residual(Linear(3, 4)), shapes={"x": (2, 3)})


def test_flatten_and_mean_pool():
    x = rand(2, 3, 4)
    np.testing.assert_array_equal(forward(Flatten(), x)[2], x.reshape(2, 12))
    np.testing.assert_allclose(forward(MeanPool(), x)[2], x.mean(axis=1), rtol=1e-12)
    with pytest.raises(ShapeError, match="axis 3"):
        trace(MeanPool(3), shapes={"x": (2, 3)})


# -- architectures ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "activation, f",
    [("relu", lambda z: np.maximum(z, 0)), ("sigmoid", lambda z: 1 / (1 + np.exp(-z))), ("tanh", np.tanh)],
)
def test_mlp(activation, f):
    x = rand(3, 4)
    _, v, y = forward(MLP((4, 5, 3, 2), activation), x)
    h = f(f(x @ v["0.W"].T + v["0.b"]) @ v["2.W"].T + v["2.b"])
    np.testing.assert_allclose(y, h @ v["4.W"].T + v["4.b"], rtol=1e-11)  # no activation at the end


def test_mlp_with_sympy_activation_and_errors():
    s = sp.Symbol("s")
    x = rand(2, 2)
    _, v, y = forward(MLP([2, 3, 1], s**3), x)
    np.testing.assert_allclose(y, (x @ v["0.W"].T + v["0.b"]) ** 3 @ v["2.W"].T + v["2.b"], rtol=1e-11)
    with pytest.raises(GraphError, match="at least an input and an output"):
        MLP((3,))
    with pytest.raises(GraphError, match="unknown activation 'swish'"):
        MLP((3, 2), "swish")


def test_resnet_matches_numpy():
    x = rand(2, 1, 4, 4)
    _, v, y = forward(ResNet(1, 2, 1, 3, (4, 4)), x)
    assert y.shape == (2, 3)
    h = np_conv(x, v["0.W"], v["0.b"], 1, 1)
    g_x = np_conv(
        np.maximum(np_layernorm(np_conv(h, v["1.0.W"], v["1.0.b"], 1, 1), axis=0), 0), v["1.3.W"], v["1.3.b"], 1, 1
    )
    h = h + g_x
    np.testing.assert_allclose(y, h.reshape(2, -1) @ v["3.W"].T + v["3.b"], rtol=1e-9)
    with pytest.raises(ShapeError, match=r"\(1, 5, 5\) != \(1, 4, 4\)"):
        trace(ResNet(1, 2, 1, 3, (4, 4)), shapes={"x": (2, 1, 5, 5)})
    with pytest.raises(GraphError, match="odd"):
        ResNet(1, 2, 1, 3, (4, 4), kernel_size=2)


def np_mha(x, v, pre):
    heads = [
        np_attention(x[..., 2 * i : 2 * i + 2], v[f"{pre}head{i}.Wq"], v[f"{pre}head{i}.Wk"], v[f"{pre}head{i}.Wv"])
        for i in range(2)
    ]
    return np.concatenate(heads, axis=-1) @ v[f"{pre}out.W"].T + v[f"{pre}out.b"]


def np_block(x, v, pre=""):
    x = x + np_mha(np_layernorm(x), v, f"{pre}attn.1.")
    h = np.maximum(np_layernorm(x) @ v[f"{pre}ff.1.W"].T + v[f"{pre}ff.1.b"], 0)
    return x + h @ v[f"{pre}ff.3.W"].T + v[f"{pre}ff.3.b"]


def test_transformer_block_matches_numpy():
    x = rand(2, 3, 4)
    _, v, y = forward(TransformerBlock(4, 2, 5), x)
    np.testing.assert_allclose(y, np_block(x, v), rtol=1e-9)


def test_transformer_repeats_the_block():
    x = rand(1, 3, 4)
    _, v, y = forward(Transformer(4, 2, 3, depth=2), x)
    np.testing.assert_allclose(y, np_block(np_block(x, v, "0."), v, "1."), rtol=1e-9)
    with pytest.raises(ShapeError, match="last axis 5 != d_model 4"):
        trace(Transformer(4, 2, 3), shapes={"x": (1, 3, 5)})


# -- losses ----------------------------------------------------------------------------------------
def loss_graph(fn, shape):
    b = Builder()
    z, y = b.input("z", shape), b.input("y", shape)
    return b.build(fn(z, y))


def test_losses_match_numpy():
    z = rand(4, 3)
    y = rand(4, 3, seed=5)
    labels = np.sign(rand(4, 3, seed=6))
    onehot = np.eye(3)[[0, 2, 1, 1]]
    ev = lambda fn, t: float(run(loss_graph(fn, z.shape), {"z": z, "y": t})["out"])  # noqa: E731
    assert ev(mse, y) == pytest.approx(np.mean((z - y) ** 2), rel=1e-12)
    assert ev(logistic, labels) == pytest.approx(np.mean(np.log1p(np.exp(-labels * z))), rel=1e-12)
    assert ev(hinge, labels) == pytest.approx(np.mean(np.maximum(0, 1 - labels * z)), rel=1e-12)
    ce = -np.mean(np.sum(onehot * np.log(np_softmax(z)), axis=1))
    assert ev(softmax_cross_entropy, onehot) == pytest.approx(ce, rel=1e-12)


def test_losses_are_stable_far_out():
    z = np.array([[1000.0, -1000.0, 0.0]])
    onehot = np.array([[0.0, 1.0, 0.0]])
    assert float(run(loss_graph(softmax_cross_entropy, z.shape), {"z": z, "y": onehot})["out"]) == pytest.approx(2000)
    assert float(run(loss_graph(logistic, z.shape), {"z": z, "y": -np.ones_like(z)})["out"]) == pytest.approx(
        (1000 + np.log(2)) / 3
    )


def test_softmax_helper():
    b = Builder()
    x = b.input("x", (2, 3))
    g = b.build(softmax(x, axis=0))
    z = np.array([[1.0, 800.0, -3.0], [2.0, -800.0, 5.0]])
    np.testing.assert_allclose(run(g, {"x": z})["out"], np_softmax(z, axis=0), rtol=1e-12)


def test_loss_shape_mismatch():
    with pytest.raises(ShapeError, match=r"mse: prediction of shape \(2, 1\) and target of shape \(2,\)"):
        b = Builder()
        mse(b.input("p", (2, 1)), b.input("y", (2,)))


# -- trace -----------------------------------------------------------------------------------------
def test_trace_with_loss():
    x, yv = rand(3, 4), rand(3, 2, seed=3)
    g = trace(MLP((4, 2), "relu"), "mse", shapes={"x": (3, 4)})
    assert g.output_names == ("loss",) and g.inputs == {"x": (3, 4), "y": (3, 2)} and g.shape(g.outputs[0]) == ()
    v = random_values(g)
    v.update(x=x, y=yv)
    assert float(run(g, v)["loss"]) == pytest.approx(np.mean((x @ v["0.W"].T + v["0.b"] - yv) ** 2), rel=1e-12)
    g2 = trace(Linear(4, 3), softmax_cross_entropy, shapes={"x": (2, 4), "y": (2, 3)})
    assert g2.inputs["y"] == (2, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "needs the input shape"),
        ({"shapes": [(2, 3)]}, "must be a dict"),
        ({"shapes": {"y": (2, 1)}}, 'under "x"'),
        ({"shapes": {"x": (2, 3), "z": (1,)}}, "unknown keys"),
        ({"shapes": {"x": (2, 3), "y": (2, 1)}}, "there is no loss"),
        ({"shapes": {"x": (2, 0)}}, "positive ints"),
        ({"shapes": {"x": 3}}, "tuple of sizes"),
    ],
)
def test_trace_validates_shapes(kwargs, message):
    with pytest.raises(ShapeError, match=message):
        trace(Linear(3, 1), **kwargs)


def test_trace_errors():
    with pytest.raises(GraphError, match="unknown loss 'l1'"):
        trace(Linear(3, 1), "l1", shapes={"x": (2, 3)})
    with pytest.raises(ShapeError, match="mse"):
        trace(Linear(3, 1), "mse", shapes={"x": (2, 3), "y": (2, 2)})
    with pytest.raises(GraphError, match="needs a layer"):
        trace(3, shapes={"x": (2, 3)})
    with pytest.raises(GraphError, match="scalar Tensor"):
        trace(Linear(3, 2), lambda p, y: p - y, shapes={"x": (2, 3)})
