"""from_torch against torch itself: imported modules' losses and gradients equal torch.autograd's (float64).

Each case is a torch module, an example input, a loss and a target. symnn's loss and gradients
(w.r.t. every parameter and the input) come from two independent paths: the numeric executor
(its own reverse mode) and symnn's symbolic gradient graph run forward; both must equal
torch.autograd's to 1e-10. Skipped without torch.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from symnn import from_torch, grad  # noqa: E402
from symnn.errors import GraphError, ModelError  # noqa: E402
from symnn.executor import Executor  # noqa: E402
from symnn.zoo import resolve  # noqa: E402

TOL = 1e-10


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4))
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        h = x + self.inner(x)
        return self.head(torch.relu(h))


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(3, 2), nn.Linear(5, 2)

    def forward(self, u, v):
        return torch.sigmoid(self.a(u)) * self.b(v) - u.mean(1, keepdim=True)


def _fcnn():
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3, padding=1)
            self.pool = nn.AvgPool2d(2)
            self.fc = nn.Linear(3 * 2 * 2, 3)

        def forward(self, x):
            h = nn.functional.gelu(nn.functional.relu(self.conv(x)))
            h = self.pool(h)
            return self.fc(h.view(h.size(0), -1))

    return M()


def _functional():
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(2, 3, 2)
            self.w = nn.Parameter(torch.randn(2, 3))
            self.b = nn.Parameter(torch.randn(2))

        def forward(self, x):
            h = nn.functional.leaky_relu(self.conv(x), 0.1)  # (N, 3, 7)
            h = nn.functional.max_pool1d(h, 2) + nn.functional.avg_pool1d(h, 2, stride=2)  # (N, 3, 3)
            h = nn.functional.elu(h.transpose(1, 2), alpha=0.5)  # (N, 3, 3)
            h = nn.functional.softplus(h @ self.w.t(), beta=2.0)  # (N, 3, 2)
            h = nn.functional.linear(h.permute(0, 2, 1), self.w, self.b)  # (N, 2, 2)
            h = nn.functional.dropout(h, 0.5, training=False)
            return torch.sum(h, 1) - torch.mean(nn.functional.adaptive_avg_pool1d(h, 1), dim=2)

    return M()


class Attention(nn.Module):
    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 2, batch_first=batch_first)
        self.head = nn.Linear(4, 1)
        self.batch_first = batch_first

    def forward(self, x):
        out, weights = self.attn(x, x, x)  # weights (N, L, S), averaged over the heads
        w = weights.sum(-1) * weights[:, :, 0]
        return self.head(out)[..., 0] + (w if self.batch_first else w.t())


class CrossAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 4, bias=False, batch_first=True)

    def forward(self, q, kv):
        return self.attn(q, kv, kv, need_weights=False)[0][:, 1:, 2]


class Encoder(nn.Module):
    def __init__(self, norm_first: bool, activation: str, layers: int = 1) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, activation=activation, norm_first=norm_first)
        self.enc = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(4), enable_nested_tensor=False)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        return self.head(self.enc(x)[:, 0])  # (L, N, E) -> batch element 0 at every position: (L, 3)


class Bag(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(6, 4)
        self.enc = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True)
        self.head = nn.Linear(4, 3)

    def forward(self, tokens):
        return self.head(self.enc(self.emb(tokens)).mean(1))


def _bn_eval():
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        m[1].running_mean.uniform_(-0.5, 0.5)
        m[1].running_var.uniform_(0.5, 2.0)
    return m.eval()


def _bn_affine():
    m = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ELU(), nn.Flatten(), nn.Linear(3 * 4, 2))
    with torch.no_grad():
        m[1].weight.uniform_(0.5, 1.5)
        m[1].bias.uniform_(-0.5, 0.5)
    return m


def _ln():
    m = nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.GELU(), nn.Linear(6, 2))
    with torch.no_grad():
        m[1].weight.uniform_(0.5, 1.5)
        m[1].bias.uniform_(-0.5, 0.5)
    return m


class MaskedAttention(nn.Module):
    """nn.MultiheadAttention with the masks a user builds: in forward from sizes, or as buffers."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.attn = nn.MultiheadAttention(4, 2, batch_first=True)
        self.register_buffer("hide", torch.tensor([[False, True, True], [False, False, True], [True, False, False]]))
        self.register_buffer("padding", torch.tensor([[False, False, True], [False, False, False]]))
        inf = float("-inf")
        base = torch.tensor([[0.5, inf, -1.0], [0.0, 0.25, inf], [inf, 1.0, 0.0]], dtype=torch.float64)
        self.register_buffer("additive", torch.stack([base + k / 10 for k in range(4)]))

    def forward(self, x):
        if self.kind == "causal":
            mask = nn.Transformer.generate_square_subsequent_mask(x.size(1), dtype=torch.float64)
            return self.attn(x, x, x, attn_mask=mask)[0]
        if self.kind == "is_causal":
            mask = torch.triu(torch.full((x.size(1), x.size(1)), float("-inf"), dtype=torch.float64), diagonal=1)
            return self.attn(x, x, x, attn_mask=mask, is_causal=True, need_weights=False)[0]
        if self.kind == "bool":
            return self.attn(x, x, x, attn_mask=self.hide, need_weights=False)[0]
        if self.kind == "additive":  # (N * heads, L, S), finite entries and -inf
            return self.attn(x, x, x, attn_mask=self.additive)[0]
        return self.attn(x, x, x, key_padding_mask=self.padding)[0]


class CausalEncoder(nn.Module):
    def __init__(self, padding: bool) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        inf = float("-inf")  # a float padding mask, as the float causal mask (torch deprecates mixing them)
        self.register_buffer("pad", torch.tensor([[0.0, 0.0, 0.0, inf], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64))
        self.padding = padding

    def forward(self, x):
        mask = nn.Transformer.generate_square_subsequent_mask(x.size(1), dtype=torch.float64)
        if self.padding:
            return self.enc(x, mask=mask, src_key_padding_mask=self.pad)
        return self.enc(x, mask=mask, is_causal=True)


def _instance_eval():
    m = nn.Sequential(nn.Conv3d(1, 2, 1), nn.InstanceNorm3d(2, affine=True, track_running_stats=True), nn.Flatten())
    with torch.no_grad():
        m[1].running_mean.uniform_(-0.5, 0.5)
        m[1].running_var.uniform_(0.5, 2.0)
        m[1].weight.uniform_(0.5, 1.5)
    return m.eval()


def _padded_embedding():
    m = nn.Sequential(nn.Embedding(6, 3, padding_idx=2), nn.Flatten(), nn.Linear(15, 3))
    with torch.no_grad():
        m[0].weight[2] = torch.tensor([0.5, -1.0, 0.25])  # torch reads the padding row as it is
    return m


def _mse(shape):
    return nn.MSELoss(), torch.randn(*shape, dtype=torch.float64)


def _ce(n, c, reduction="mean"):
    return nn.CrossEntropyLoss(reduction=reduction), torch.randint(0, c, (n,))


# name -> (module factory, example inputs shapes, loss and target factory)
CASES = {
    "linear": (lambda: nn.Linear(3, 2), [(4, 3)], lambda: _mse((4, 2))),
    "mlp_relu": (lambda: nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 1)), [(6, 3)], lambda: _mse((6, 1))),
    "mlp_sigmoid_tanh": (
        lambda: nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2)),
        [(5, 3)],
        lambda: _ce(5, 2),
    ),
    "gelu": (lambda: nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2)), [(4, 3)], lambda: _mse((4, 2))),
    "gelu_tanh": (
        lambda: nn.Sequential(nn.Linear(3, 4), nn.GELU(approximate="tanh"), nn.Linear(4, 2)),
        [(4, 3)],
        lambda: _mse((4, 2)),
    ),
    "leaky_relu": (
        lambda: nn.Sequential(nn.Linear(3, 6), nn.LeakyReLU(0.2), nn.Linear(6, 3)),
        [(5, 3)],
        lambda: _ce(5, 3),
    ),
    "elu": (lambda: nn.Sequential(nn.Linear(3, 6), nn.ELU(0.7), nn.Linear(6, 2)), [(5, 3)], lambda: _mse((5, 2))),
    "softplus": (
        lambda: nn.Sequential(nn.Linear(3, 4), nn.Softplus(beta=2.0), nn.Linear(4, 1)),
        [(4, 3)],
        lambda: _mse((4, 1)),
    ),
    "conv1d": (
        lambda: nn.Sequential(nn.Conv1d(2, 3, 3, stride=2, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(9, 2)),
        [(2, 2, 5)],
        lambda: _mse((2, 2)),
    ),
    "conv2d_maxpool_ce": (
        lambda: nn.Sequential(
            nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 4)
        ),
        [(3, 1, 4, 4)],
        lambda: _ce(3, 4),
    ),
    "conv2d_same_dilated": (
        lambda: nn.Sequential(nn.Conv2d(2, 2, 3, padding="same", dilation=2), nn.Sigmoid(), nn.Flatten()),
        [(2, 2, 5, 4)],
        lambda: _mse((2, 40)),
    ),
    "conv2d_same_even_kernel": (
        lambda: nn.Sequential(nn.Conv2d(1, 2, (2, 4), padding="same"), nn.Flatten()),
        [(2, 1, 3, 5)],
        lambda: _mse((2, 30)),
    ),
    "conv3d": (
        lambda: nn.Sequential(nn.Conv3d(1, 2, 2), nn.ReLU(), nn.Flatten(), nn.Linear(16, 2)),
        [(2, 1, 3, 3, 3)],
        lambda: _mse((2, 2)),
    ),
    "maxpool1d": (
        lambda: nn.Sequential(nn.Conv1d(1, 2, 2), nn.MaxPool1d(3, stride=2), nn.Flatten()),
        [(3, 1, 8)],
        lambda: _mse((3, 6)),
    ),
    "maxpool3d": (
        lambda: nn.Sequential(nn.Conv3d(1, 2, 1), nn.MaxPool3d(2), nn.Flatten()),
        [(2, 1, 4, 4, 2)],
        lambda: _mse((2, 8)),
    ),
    "avgpool2d_padded": (
        lambda: nn.Sequential(nn.Conv2d(1, 2, 2), nn.AvgPool2d(2, stride=1, padding=1), nn.Flatten()),
        [(2, 1, 4, 4)],
        lambda: _mse((2, 32)),
    ),
    "avgpool1d": (
        lambda: nn.Sequential(nn.Conv1d(2, 2, 3), nn.AvgPool1d(2), nn.Flatten()),
        [(2, 2, 7)],
        lambda: _mse((2, 4)),
    ),
    "adaptive_avgpool": (
        lambda: nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)),
        [(3, 2, 4, 4)],
        lambda: _ce(3, 3),
    ),
    "layernorm_gelu": (_ln, [(5, 4)], lambda: _mse((5, 2))),
    "batchnorm2d_train": (_bn_affine, [(4, 2, 4, 4)], lambda: _mse((4, 2))),
    "batchnorm1d_eval": (_bn_eval, [(5, 3)], lambda: _mse((5, 2))),
    "residual": (Residual, [(3, 4)], lambda: _ce(3, 2)),
    "two_inputs": (TwoInputs, [(4, 3), (4, 5)], lambda: _mse((4, 2))),
    "functional_cnn": (_fcnn, [(2, 2, 4, 4)], lambda: _ce(2, 3)),
    "functional_forms": (_functional, [(3, 2, 8)], lambda: _mse((3, 2))),
    "adaptive_avgpool_none": (
        lambda: nn.Sequential(nn.Conv2d(1, 2, 1), nn.AdaptiveAvgPool2d((None, 2)), nn.Flatten()),
        [(2, 1, 3, 4)],
        lambda: _mse((2, 12)),
    ),
    "mha_seq_first": (lambda: Attention(False), [(3, 2, 4)], lambda: _mse((3, 2))),
    "mha_batch_first": (lambda: Attention(True), [(2, 3, 4)], lambda: _mse((2, 3))),
    "cross_attention": (CrossAttention, [(2, 3, 4), (2, 5, 4)], lambda: _mse((2, 2))),
    "transformer_post_norm": (lambda: Encoder(False, "relu"), [(3, 2, 4)], lambda: _ce(3, 3)),
    "transformer_pre_norm_gelu": (lambda: Encoder(True, "gelu", 2), [(3, 2, 4)], lambda: _ce(3, 3)),
    "transformer_layer": (
        lambda: nn.TransformerEncoderLayer(4, 2, 5, dropout=0.0, batch_first=True),
        [(2, 3, 4)],
        lambda: _mse((2, 3, 4)),
    ),
    "embedding_transformer": (Bag, [(2, 5)], lambda: _ce(2, 3)),
    "ce_sum": (
        lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 3)),
        [(6, 3)],
        lambda: _ce(6, 3, "sum"),
    ),
    "mse_sum": (
        lambda: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)),
        [(3, 3)],
        lambda: (nn.MSELoss(reduction="sum"), torch.randn(3, 2, dtype=torch.float64)),
    ),
    # issue 17's remaining layers
    "conv2d_groups": (
        lambda: nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, groups=2), nn.Tanh(), nn.Flatten()),
        [(2, 4, 3, 3)],
        lambda: _mse((2, 54)),
    ),
    "conv1d_depthwise": (
        lambda: nn.Sequential(nn.Conv1d(3, 6, 2, groups=3, dilation=2), nn.ReLU(), nn.Flatten(), nn.Linear(18, 2)),
        [(2, 3, 5)],
        lambda: _ce(2, 2),
    ),
    "conv3d_groups": (
        lambda: nn.Sequential(nn.Conv3d(2, 2, 2, groups=2, padding="same"), nn.Flatten()),
        [(1, 2, 2, 3, 2)],
        lambda: _mse((1, 24)),
    ),
    "mha_causal_mask": (lambda: MaskedAttention("causal"), [(2, 3, 4)], lambda: _mse((2, 3, 4))),
    "mha_is_causal": (lambda: MaskedAttention("is_causal"), [(2, 3, 4)], lambda: _mse((2, 3, 4))),
    "mha_bool_mask": (lambda: MaskedAttention("bool"), [(2, 3, 4)], lambda: _mse((2, 3, 4))),
    "mha_additive_mask": (lambda: MaskedAttention("additive"), [(2, 3, 4)], lambda: _mse((2, 3, 4))),
    "mha_key_padding": (lambda: MaskedAttention("padding"), [(2, 3, 4)], lambda: _mse((2, 3, 4))),
    "transformer_causal": (lambda: CausalEncoder(False), [(2, 4, 4)], lambda: _mse((2, 4, 4))),
    "transformer_key_padding": (lambda: CausalEncoder(True), [(2, 4, 4)], lambda: _mse((2, 4, 4))),
    "instance_norm1d": (lambda: nn.Sequential(nn.InstanceNorm1d(3), nn.Flatten()), [(2, 3, 4)], lambda: _mse((2, 12))),
    "instance_norm2d_affine": (
        lambda: nn.Sequential(nn.Conv2d(1, 2, 2), nn.InstanceNorm2d(2, affine=True), nn.ELU(), nn.Flatten()),
        [(2, 1, 3, 4)],
        lambda: _mse((2, 12)),
    ),
    "instance_norm3d_eval": (_instance_eval, [(2, 1, 2, 2, 2)], lambda: _mse((2, 16))),
    "embedding_padding_idx": (_padded_embedding, [(2, 5)], lambda: _ce(2, 3)),
    "ce_probabilities": (
        lambda: nn.Linear(3, 4),
        [(5, 3)],
        lambda: (nn.CrossEntropyLoss(), torch.softmax(torch.randn(5, 4, dtype=torch.float64), 1)),
    ),
}


def _torch_reference(module, inputs, loss, target):
    inputs = [t.clone().requires_grad_(t.is_floating_point()) for t in inputs]
    module.zero_grad()
    value = loss(module(*inputs), target)
    value.backward()
    grads = {name: p.grad.numpy() for name, p in module.named_parameters()}
    return value.item(), grads, [t.grad.numpy() if t.grad is not None else None for t in inputs]


@pytest.mark.parametrize("case", sorted(CASES))
def test_loss_and_gradients_equal_torch_autograd(case):
    make, shapes, make_loss = CASES[case]
    torch.manual_seed(sum(map(ord, case)))
    module = make().double()
    inputs = [torch.randn(*s, dtype=torch.float64) for s in shapes]
    if case.startswith("embedding"):
        inputs = [torch.randint(0, 6, shapes[0])]  # token indices
    loss, target = make_loss()
    model = from_torch(module, tuple(inputs), loss, target)
    graph, arrays = model.graph(), model.arrays()
    assert set(model.params()) == {name for name, _ in module.named_parameters()}
    value, grads, input_grads = _torch_reference(module, inputs, loss, target)
    names = [n for n, t in zip(graph.inputs, inputs, strict=False) if n != "y" and t.is_floating_point()]
    wrt = [*graph.params, *names]

    ex_value, ex_grads = Executor(graph).grad(arrays, wrt=wrt)  # numeric reverse mode
    sym = Executor(grad(graph, wrt=wrt)).forward(arrays)  # symnn's symbolic gradient graph
    assert abs(ex_value - value) <= TOL * max(1.0, abs(value))
    assert abs(float(sym["loss"]) - value) <= TOL * max(1.0, abs(value))
    expected = {**grads, **dict(zip(names, [g for g in input_grads if g is not None], strict=True))}
    for name, g in expected.items():
        assert np.max(np.abs(ex_grads[name] - g)) <= TOL, (name, "executor")
        assert np.max(np.abs(sym[f"grad:{name}"] - g)) <= TOL, (name, "symbolic")


def test_there_are_at_least_twenty_modules():
    assert len(CASES) >= 20


def test_without_a_loss_the_output_matches_the_forward_pass():
    torch.manual_seed(1)
    module = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ELU(), nn.MaxPool2d(2)).double()
    x = torch.randn(2, 1, 6, 6, dtype=torch.float64)
    model = from_torch(module, x)
    assert model.graph().output_names == ("out",)
    out = Executor(model.graph()).forward(model.arrays())["out"]
    assert np.max(np.abs(out - module(x).detach().numpy())) <= TOL


def test_max_pooling_ties_send_the_gradient_to_the_first_maximum():
    module = nn.MaxPool1d(2)
    x = torch.tensor([[[1.0, 1.0, 2.0, 2.0]]], dtype=torch.float64, requires_grad=True)
    module(x).sum().backward()
    model = from_torch(module, x.detach())
    g = model.graph()
    scalar = grad(_sum_output(g), wrt=["x"])
    sym = Executor(scalar).forward(model.arrays())["grad:x"]
    _, ex = Executor(_sum_output(g)).grad(model.arrays(), wrt=["x"])
    expected = x.grad.numpy()
    assert expected.tolist() == [[[1.0, 0.0, 1.0, 0.0]]]  # torch: the first of equal entries
    assert sym.tolist() == expected.tolist() and ex["x"].tolist() == expected.tolist()


def _sum_output(g):
    from symnn.ir import Builder, load

    b = Builder()
    out = load(b, g)[g.outputs[0]]
    return b.build(out.sum(), names=["s"])


def test_kinks_follow_torch_at_zero():
    for module in (nn.ReLU(), nn.LeakyReLU(0.3), nn.ELU(0.5)):
        x = torch.tensor([[0.0, -1.0, 2.0]], dtype=torch.float64, requires_grad=True)
        module(x).sum().backward()
        model = from_torch(module, x.detach())
        _, ex = Executor(_sum_output(model.graph())).grad(model.arrays(), wrt=["x"])
        sym = Executor(grad(_sum_output(model.graph()), wrt=["x"])).forward(model.arrays())["grad:x"]
        assert np.max(np.abs(ex["x"] - x.grad.numpy())) <= TOL, module
        assert np.max(np.abs(sym - x.grad.numpy())) <= TOL, module


def test_unsupported_modules_name_the_node_and_the_source_line():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.rnn = nn.Softmax(dim=1)

        def forward(self, x):
            return self.rnn(self.fc(x))

    with pytest.raises(GraphError) as info:
        from_torch(Net(), torch.randn(2, 3))
    text = str(info.value)
    assert "'rnn'" in text and "Softmax" in text and "test_torch_import.py" in text and "self.rnn(" in text


def test_unsupported_functions_are_named():
    class Net(nn.Module):
        def forward(self, x):
            return torch.sin(x)

    with pytest.raises(GraphError, match="sin"):
        from_torch(Net(), torch.randn(2, 3))


def test_data_dependent_control_flow_is_a_clear_error():
    class Net(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with pytest.raises(GraphError, match=r"torch\.fx could not trace"):
        from_torch(Net(), torch.randn(2, 3))


def test_from_torch_rejects_non_modules():
    with pytest.raises(GraphError, match=r"torch\.nn\.Module"):
        from_torch(lambda x: x, torch.randn(2))


def test_the_command_line_loader_accepts_a_torch_module(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(
        "import torch\n"
        "from torch import nn\n"
        "torch.manual_seed(0)\n"
        "model = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2)).double()\n"
        "example_inputs = (torch.randn(5, 3, dtype=torch.float64),)\n"
        "loss = nn.MSELoss()\n"
        "target = torch.randn(5, 2, dtype=torch.float64)\n"
        "bare = nn.Linear(2, 2)\n"
    )
    model = resolve(f"{path}:model")
    g = model.graph()
    assert g.output_names == ("loss",) and set(g.params) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    bare = tmp_path / "bare.py"
    bare.write_text("from torch import nn\nmodel = nn.Linear(2, 2)\n")
    with pytest.raises(ModelError, match="example_inputs"):
        resolve(f"{bare}:model")


def test_symnn_derive_and_check_read_a_torch_module_from_a_file(tmp_path, capsys):
    from symnn.cli.main import main

    path = tmp_path / "net.py"
    path.write_text(
        "import torch\n"
        "from torch import nn\n"
        "torch.manual_seed(0)\n"
        "model = nn.Sequential(nn.Conv1d(1, 2, 3), nn.ELU(), nn.MaxPool1d(2), nn.Flatten(), nn.Linear(4, 1)).double()\n"
        "example_inputs = torch.randn(2, 1, 6, dtype=torch.float64)\n"
        "loss = nn.MSELoss()\n"
        "target = torch.randn(2, 1, dtype=torch.float64)\n"
    )
    assert main(["derive", f"{path}:model", "--mode", "grad"]) == 0
    assert "0.weight" in capsys.readouterr().out
    assert main(["check", f"{path}:model"]) == 0
    assert "every path agrees with every oracle" in capsys.readouterr().out


class _Attend(nn.Module):
    def __init__(self, mask, is_causal: bool = False) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(2, 1, batch_first=True)
        self.register_buffer("mask", mask)
        self.is_causal = is_causal

    def forward(self, x):
        return self.attn(x, x, x, attn_mask=self.mask, is_causal=self.is_causal, need_weights=False)[0]


def test_a_query_with_every_key_masked_is_refused_naming_it():
    # torch: NaN with need_weights=True, 0 with need_weights=False; symnn refuses the mask
    mask = torch.tensor([[False, False], [True, True]])
    with pytest.raises(GraphError, match=r"every key from query \(0, 0, 1\)"):
        from_torch(_Attend(mask).double(), torch.randn(1, 2, 2, dtype=torch.float64))


def test_is_causal_needs_the_causal_mask():
    anti = torch.tensor([[0.0, 0.0], [float("-inf"), 0.0]], dtype=torch.float64)
    with pytest.raises(GraphError, match="not the causal mask"):
        from_torch(_Attend(anti, is_causal=True).double(), torch.randn(1, 2, 2, dtype=torch.float64))


def test_masks_computed_from_the_inputs_are_refused():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(2, 1, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x, attn_mask=x[0] * 0.0)[0]

    with pytest.raises(GraphError, match="constant tensor"):
        from_torch(Net().double(), torch.randn(1, 2, 2, dtype=torch.float64))


def test_an_infinite_buffer_outside_a_mask_is_refused():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("shift", torch.tensor([0.0, float("-inf")]))

        def forward(self, x):
            return x + self.shift

    with pytest.raises(GraphError, match="inf or NaN"):
        from_torch(Net(), torch.randn(3, 2))


def test_random_constructors_are_not_folded():
    class Net(nn.Module):
        def forward(self, x):
            return x + torch.randn(x.size(0), x.size(1))

    with pytest.raises(GraphError, match="randn"):
        from_torch(Net(), torch.randn(3, 2))


@pytest.mark.parametrize("loss", [nn.MSELoss(reduction="none"), nn.CrossEntropyLoss(reduction="none")])
def test_reduction_none_gives_the_per_example_losses(loss):
    torch.manual_seed(4)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    target = torch.randint(0, 3, (5,)) if isinstance(loss, nn.CrossEntropyLoss) else torch.randn(5, 3).double()
    model = from_torch(net, x, loss, target)
    assert model.graph().output_names == ("losses",)
    got = Executor(model.graph()).forward(model.arrays())["losses"]
    expected = loss(net(x), target).detach().numpy()
    assert got.shape == expected.shape and np.max(np.abs(got - expected)) <= TOL


def test_symnn_check_of_a_torch_file_checks_at_its_trained_weights(tmp_path, monkeypatch):
    # the user's model as it is now (trained weights, example inputs), not random values
    import verify.check as check

    path = tmp_path / "trained.py"
    path.write_text(
        "import torch\n"
        "from torch import nn\n"
        "torch.manual_seed(0)\n"
        "model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()\n"
        "with torch.no_grad():\n"
        "    model[0].weight.fill_(7.25)\n"
        "example_inputs = torch.randn(5, 3, dtype=torch.float64)\n"
    )
    seen = []
    real = check.gradcheck

    def spy(graph, point, *args, **kwargs):
        seen.append(point)
        return real(graph, point, *args, **kwargs)

    monkeypatch.setattr(check, "gradcheck", spy)
    [(_, report)] = check.check_models([f"{path}:model"], oracles=("fd",), paths=("executor",), jobs=0)
    assert report.ok and report.info["point"] == "the model's own values"
    [point] = seen
    np.testing.assert_array_equal(point["0.weight"], np.full((4, 3), 7.25))
    assert set(point) >= {"0.weight", "0.bias", "2.weight", "2.bias"} and len(point) == 5
