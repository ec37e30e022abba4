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


# -- issue 17's remaining layers: groups, masks, the full-width attention, instance norm ------------
@needs_torch
def test_grouped_convolutions_equal_torch():
    from torch import nn

    wb = {"W": "weight", "b": "bias"}
    _compare(L.Conv2d(4, 6, 3, padding=1, groups=2), nn.Conv2d(4, 6, 3, padding=1, groups=2), (2, 4, 4, 5), wb)
    _compare(
        L.Conv1d(3, 3, 2, groups=3, bias=False), nn.Conv1d(3, 3, 2, groups=3, bias=False), (2, 3, 6), {"W": "weight"}
    )
    _compare(
        L.Conv3d(2, 4, 2, groups=2, dilation=(1, 2, 1)),
        nn.Conv3d(2, 4, 2, groups=2, dilation=(1, 2, 1)),
        (1, 2, 3, 4, 3),
        wb,
    )


def test_groups_must_divide_the_channels():
    with pytest.raises(GraphError, match="groups=2 must divide in_channels 3"):
        L.Conv2d(3, 4, 3, groups=2)
    g = trace(L.Conv2d(4, 6, 3, groups=2), shapes={"x": (1, 4, 3, 3)})
    assert g.params["W"] == (6, 2, 3, 3)


@needs_torch
def test_instance_norm_equals_torch():
    import torch
    from torch import nn

    torch.manual_seed(7)
    inorm = nn.InstanceNorm2d(3, affine=True)
    with torch.no_grad():
        inorm.weight.uniform_(0.5, 1.5)
        inorm.bias.uniform_(-0.5, 0.5)
    _compare(L.InstanceNorm(3, affine=True), inorm, (2, 3, 2, 3), {"weight": "weight", "bias": "bias"})
    _compare(L.InstanceNorm(2), nn.InstanceNorm1d(2), (3, 2, 4), {})
    _compare(L.Normalize("instance"), nn.InstanceNorm3d(2), (2, 2, 2, 1, 3), {})
    tracked = nn.InstanceNorm1d(2, track_running_stats=True).double()
    with torch.no_grad():
        tracked.running_mean.uniform_(-1, 1)
        tracked.running_var.uniform_(0.5, 2)
    tracked.eval()
    ours = L.InstanceNorm(2, running_mean=tracked.running_mean.tolist(), running_var=tracked.running_var.tolist())
    _compare(ours, tracked, (3, 2, 4), {})


def test_instance_norm_needs_spatial_positions():
    with pytest.raises(ShapeError, match="at least 2"):
        trace(L.InstanceNorm(2), shapes={"x": (3, 2, 1)})
    with pytest.raises(ShapeError, match="rank 2"):
        trace(L.Normalize("instance"), shapes={"x": (3, 2)})
    with pytest.raises(GraphError, match="'instance'"):
        L.Normalize("group")


def _torch_attention(full_width, mask=None, is_causal=False, bias=True):
    """nn.MultiheadAttention (batch first) as a one-input module, with a mask given at each call."""
    import torch
    from torch import nn

    class Wrap(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(4, 2, bias=bias, batch_first=True)
            with torch.no_grad():
                if bias:  # torch initializes the biases to 0: make them count
                    self.attn.in_proj_bias.uniform_(-0.5, 0.5)
                    self.attn.out_proj.bias.uniform_(-0.5, 0.5)

        def forward(self, x):
            return self.attn(x, x, x, attn_mask=mask, need_weights=False, is_causal=is_causal)[0]

    return Wrap()


MHA_PARAMS = {n: f"attn.{n}" for n in ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")}


@needs_torch
@pytest.mark.parametrize("case", ["plain", "causal", "bool", "additive", "nobias"])
def test_full_width_attention_equals_torch(case):
    import torch

    torch.manual_seed(11)
    inf = float("-inf")
    bool_mask = torch.tensor([[False, True, False], [True, False, False], [False, False, True]])
    additive = torch.tensor([[0.0, inf, 0.5], [-1.0, 0.0, inf], [0.25, 0.0, 0.0]], dtype=torch.float64)
    causal = torch.triu(torch.full((3, 3), inf, dtype=torch.float64), diagonal=1)
    ours, theirs = {
        "plain": ({}, {}),
        "causal": ({"causal": True}, {"mask": causal, "is_causal": True}),
        "bool": ({"mask": bool_mask.numpy()}, {"mask": bool_mask}),
        "additive": ({"mask": additive.tolist()}, {"mask": additive}),
        "nobias": ({"bias": False}, {"bias": False}),
    }[case]
    params = {k: v for k, v in MHA_PARAMS.items() if case != "nobias" or "bias" not in k}
    _compare(L.MultiHeadAttention(4, 2, full_width=True, **ours), _torch_attention(True, **theirs), (2, 3, 4), params)


@needs_torch
def test_full_width_cross_attention_equals_torch():
    import torch
    from torch import nn

    torch.manual_seed(12)
    attn = nn.MultiheadAttention(4, 2, batch_first=True).double()
    with torch.no_grad():
        attn.in_proj_bias.uniform_(-0.5, 0.5)
    pad = torch.tensor([[False, False, False, False, True], [False, True, False, False, False]])
    q = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    kv = torch.randn(2, 5, 4, dtype=torch.float64, requires_grad=True)
    out = attn(q, kv, kv, key_padding_mask=pad)[0]
    (out**2).sum().backward()
    layer = L.MultiHeadAttention(4, 2, full_width=True, mask=pad.numpy()[:, None, None, :])
    g = trace(layer, shapes={"x": (2, 3, 4), "kv": (2, 5, 4)})
    b = Builder()
    o = load(b, g)[g.outputs[0]]
    s = b.build((o * o).sum(), names=["s"])
    named = {k: v for k, v in attn.named_parameters()}
    arrays = {"x": q.detach().numpy(), "kv": kv.detach().numpy(), **{k: named[k].detach().numpy() for k in g.params}}
    value, grads = Executor(s).grad(arrays, wrt=["x", "kv", *g.params])
    sym = Executor(grad(s, wrt=["x", "kv", *g.params])).forward(arrays)
    assert abs(value - float((out**2).sum())) < 1e-10
    expected = {"x": q.grad.numpy(), "kv": kv.grad.numpy(), **{k: named[k].grad.numpy() for k in g.params}}
    for name, e in expected.items():
        assert np.max(np.abs(grads[name] - e)) < 1e-10, name
        assert np.max(np.abs(sym[f"grad:{name}"] - e)) < 1e-10, name


@needs_torch
def test_sliced_attention_with_a_mask_equals_the_heads_written_in_torch():
    import torch

    torch.manual_seed(13)
    inf = float("-inf")
    mask = np.array([[0.0, inf, 0.5], [-1.0, 0.0, 0.0], [inf, inf, 0.0]])
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    g = trace(L.MultiHeadAttention(4, 2, mask=mask, causal=True), shapes={"x": (2, 3, 4)})
    params = {k: torch.randn(*shape, dtype=torch.float64) for k, shape in g.params.items()}
    allowed = torch.tril(torch.ones(3, 3, dtype=torch.bool)) & torch.tensor(mask != -np.inf)
    add = torch.where(
        allowed, torch.tensor(np.where(np.isinf(mask), 0.0, mask)), torch.tensor(inf, dtype=torch.float64)
    )
    heads = []
    for i in range(2):
        xi = x[..., 2 * i : 2 * i + 2]
        q, k, v = (xi @ params[f"head{i}.W{c}"] for c in "qkv")
        heads.append(torch.softmax(q @ k.transpose(1, 2) / 2**0.5 + add, -1) @ v)
    expected = torch.cat(heads, -1) @ params["out.W"].T + params["out.b"]
    got = Executor(g).forward({"x": x.numpy(), **{k: v.numpy() for k, v in params.items()}})["out"]
    assert np.max(np.abs(got - expected.numpy())) < 1e-12


def test_masks_are_checked_when_the_layer_is_made_and_traced():
    with pytest.raises(GraphError, match="NaN or \\+inf"):
        L.SelfAttention(2, mask=[[0.0, float("inf")]])
    with pytest.raises(GraphError, match=r"shape \(T, S\)"):
        L.SelfAttention(2, mask=[0.0, 1.0])
    with pytest.raises(ShapeError, match="does not fit"):
        trace(L.SelfAttention(2, mask=np.zeros((3, 3))), shapes={"x": (1, 2, 2)})
    with pytest.raises(GraphError, match="every key from query"):
        trace(L.SelfAttention(2, mask=[[True, True], [False, True]]), shapes={"x": (1, 2, 2)})


def test_masked_keys_get_exactly_zero_weight_and_no_gradient():
    # a -inf key far larger than the rest: the softmax of the allowed keys is unaffected, exactly
    inf = float("-inf")
    layer = L.SelfAttention(1, mask=[[0.0, inf], [0.0, 0.0]])
    g = trace(layer, shapes={"x": (1, 2, 1)})
    xs = np.array([[[1.0], [800.0]]])
    arrays = {"x": xs, "Wq": np.ones((1, 1)), "Wk": np.ones((1, 1)), "Wv": np.ones((1, 1))}
    out = Executor(g).forward(arrays)["out"]
    assert out[0, 0, 0] == 1.0  # query 0 sees only key 0, whose value is 1
    assert np.isfinite(out).all()
    b = Builder()
    s = b.build(load(b, g)[g.outputs[0]].take(1, 0, 1).sum(), names=["s"])  # query 0's output alone
    _, ex = Executor(s).grad(arrays, wrt=["x"])
    sym = Executor(grad(s, wrt=["x"])).forward(arrays)["grad:x"]
    # query 0's output is x[0] itself (Wv = 1, one allowed key): d/dx = (1, 0), the masked key gets nothing
    assert ex["x"].tolist() == [[[1.0], [0.0]]] and sym.tolist() == [[[1.0], [0.0]]]


def test_trace_passes_extra_inputs_by_keyword_and_names_unknown_ones():
    g = trace(L.SelfAttention(2, 1), shapes={"x": (1, 2, 2), "kv": (1, 4, 2)})
    assert g.inputs == {"x": (1, 2, 2), "kv": (1, 4, 2)} and g.shape(g.outputs[0]) == (1, 2, 1)
    with pytest.raises(ShapeError, match=r"unknown keys \['memory'\]"):
        trace(L.SelfAttention(2, 1), shapes={"x": (1, 2, 2), "memory": (1, 4, 2)})
    with pytest.raises(ShapeError, match="kv of shape"):
        trace(L.SelfAttention(2, 1), shapes={"x": (1, 2, 2), "kv": (2, 4, 2)})


@needs_torch
def test_embedding_padding_idx_equals_torch():
    import torch
    from torch import nn

    torch.manual_seed(6)
    table = nn.Embedding(5, 3, padding_idx=-2).double()  # row 3, zeros as torch initializes it
    idx = torch.tensor([[0, 3, 4], [3, 1, 0]])
    out = table(idx)
    c = torch.randn(*out.shape, dtype=torch.float64)
    (out * c).sum().backward()
    b = Builder()
    y = L.Embedding(5, 3, padding_idx=-2)(b.input("x", (2, 3, 5)), L.Params(b))
    g = b.build((y * b.const(c.tolist(), (2, 3, 3))).sum(), names=["s"])
    rows = np.array(one_hot(idx.flatten().tolist(), 5)).reshape(2, 3, 5)
    sym = Executor(grad(g)).forward({"x": rows, "weight": table.weight.detach().numpy()})
    assert abs(float(sym["s"]) - float((out * c).sum().detach())) < 1e-12
    assert np.max(np.abs(sym["grad:weight"] - table.weight.grad.numpy())) < 1e-12
    assert not sym["grad:weight"][3].any()
    with pytest.raises(GraphError, match="padding_idx"):
        L.Embedding(5, 3, padding_idx=5)


@needs_torch
def test_reduction_none_equals_torch():
    import torch

    torch.manual_seed(8)
    z, t = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    labels = torch.tensor([2, 0, 1, 1])
    b = Builder()
    zs, ys, hs = b.input("z", (4, 3)), b.input("y", (4, 3)), b.input("h", (4, 3))
    g = b.build(mse(zs, ys, "none"), cross_entropy(zs, hs, "none"), names=["m", "c"])
    out = Executor(g).forward({"z": z.numpy(), "y": t.numpy(), "h": np.array(one_hot(labels.tolist(), 3))})
    assert np.max(np.abs(out["m"] - torch.nn.functional.mse_loss(z, t, reduction="none").numpy())) < 1e-14
    expected = torch.nn.functional.cross_entropy(z, labels, reduction="none").numpy()
    assert out["c"].shape == (4,) and np.max(np.abs(out["c"] - expected)) < 1e-14


def test_the_new_layers_pass_gradcheck_on_every_path_including_the_kernel():
    from symnn.ir import einsum
    from verify import CheckOptions, gradcheck

    inf = float("-inf")
    conv, norm = L.Conv1d(4, 4, 1, groups=2), L.InstanceNorm(4, affine=True)
    attn = L.MultiHeadAttention(4, 2, full_width=True, causal=True, mask=[[0, inf, 0], [0.5, 0, 0], [1, 0, inf]])

    def net(x, p):  # (N, C, L) -> grouped conv -> instance norm -> (N, L, C) -> masked causal attention
        h = norm(conv(x, p.child("conv")), p.child("norm"))
        return attn(einsum("ncl->nlc", h), p.child("attn"))

    g = trace(net, "mse", shapes={"x": (1, 4, 3)})
    report = gradcheck(g, None, CheckOptions(paths=("symbolic", "executor", "kernel")))
    assert report.ok, report.table()
