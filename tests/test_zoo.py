"""The model zoo and ``resolve``: every built-in traces; files and modules load; each error is clear."""

from __future__ import annotations

import math
import sys
import textwrap

import numpy as np
import pytest

from symnn import ModelError
from symnn.ir import Graph
from symnn.ops import Input
from symnn.zoo import ZOO, Model, list_models, resolve

try:
    from tests._numpy_eval import random_values, run
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from _numpy_eval import random_values, run


@pytest.mark.parametrize("name", list(ZOO))
def test_every_builtin_resolves_traces_and_evaluates(name):
    m = resolve(name)
    assert isinstance(m, Model) and m.name.startswith(name)
    g = m.graph()
    assert g.output_names == ("loss",) and g.shape(g.outputs[0]) == ()
    assert g.inputs["x"] == tuple(m.shapes["x"]) and g.inputs["y"] == tuple(m.shapes["y"])
    # tiny on purpose: the exact reference expands these to scalar sympy expressions
    assert sum(math.prod(s) for s in g.params.values()) <= 200
    assert max(math.prod(n.shape) for n in g.nodes) <= 400  # the largest are convolution windows
    loss = float(run(g, random_values(g, seed=3))["loss"])
    assert np.isfinite(loss)


def test_list_models_names_the_zoo():
    assert set(list_models()) == set(ZOO) >= {"mlp", "conv", "attention", "transformer", "resnet", "signnet", "mha"}


def test_mlp_sizes():
    m = resolve("mlp:3-5-2-1")
    g = m.graph()
    assert g.params == {"0.W": (5, 3), "0.b": (5,), "2.W": (2, 5), "2.b": (2,), "4.W": (1, 2), "4.b": (1,)}
    assert m.shapes == {"x": (2, 3), "y": (2, 1)} and m.name == "mlp:3-5-2-1"
    assert resolve("mlp").name == "mlp:4-8-1"


def test_mlp_default_is_sigmoid_mse():
    g = resolve("mlp:2-3-1").graph()
    v = random_values(g, seed=4)
    h = 1 / (1 + np.exp(-(v["x"] @ v["0.W"].T + v["0.b"])))
    expected = np.mean((h @ v["2.W"].T + v["2.b"] - v["y"]) ** 2)
    assert float(run(g, v)["loss"]) == pytest.approx(expected, rel=1e-12)


def test_signnet_is_the_notes_sign_network():
    g = resolve("signnet:2-3").graph()
    v = random_values(g, seed=5)
    out = np.sign(np.sign(v["x"] @ v["0.W"].T + v["0.b"]) @ v["2.W"].T + v["2.b"])
    assert float(run(g, v)["loss"]) == pytest.approx(np.mean((out - v["y"]) ** 2), rel=1e-12)


def test_other_sizes():
    assert resolve("conv:5-5-1-2-4").graph().params["3.W"] == (4, 16)
    assert resolve("attention:4-3").shapes["x"] == (2, 4, 3)
    assert resolve("transformer:2-4-2-3-2").graph().params["0.1.ff.3.W"] == (4, 3)
    assert resolve("resnet:4-4-2-2-3").graph().params["4.W"] == (3, 32)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("lenet", r"unknown model 'lenet'; known models: mlp, conv"),
        ("mlp:4-x-1", r"malformed sizes '4-x-1' for 'mlp'"),
        ("mlp:4", r"at least an input and an output size"),
        ("mlp:4-0-1", r"every size must be >= 1"),
        ("mlp:", r"malformed sizes ''"),
        ("conv:6-6", r"'conv' takes 5 sizes"),
        ("mha:2-5-2", r"not divisible by heads"),
        ("", r"non-empty string"),
        ("no/such/file.py:model", r"'no/such/file.py' does not exist"),
        ("model.py", r"name the object to load"),
        ("no_such_module_xyz:model", r"importing module 'no_such_module_xyz' failed"),
    ],
)
def test_errors(spec, message):
    with pytest.raises(ModelError, match=message):
        resolve(spec)


MODEL_FILE = textwrap.dedent(
    """
    from symnn.layers import Linear, ReLU, Sequential
    from symnn.trace import trace
    from symnn.zoo import Model

    net = Sequential(Linear(3, 2), ReLU(), Linear(2, 1))
    graph = trace(net, "mse", shapes={"x": (4, 3)})
    model = Model("mine", net, "hinge", {"x": (5, 3)})
    number = 42

    def make():
        return model

    def make_graph():
        return graph

    class Holder:
        def graph(self):
            return graph

    holder = Holder()

    def make_holder():
        return holder

    def needs_args(a):
        return model

    def wrong():
        return 3
    """
)


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "my_models.py"
    path.write_text(MODEL_FILE)
    return path


def test_file_attr_loading(model_file):
    g = resolve(f"{model_file}:graph").graph()
    assert isinstance(g, Graph) and g.inputs["x"] == (4, 3)
    m = resolve(f"{model_file}:model")
    assert m.name == "mine" and m.graph().inputs["x"] == (5, 3)
    assert resolve(f"{model_file}:make").name == "mine"
    assert resolve(f"{model_file}:make_graph").graph().inputs["x"] == (4, 3)
    held = resolve(f"{model_file}:holder").graph()
    assert held.fingerprint() == resolve(f"{model_file}:make_holder").graph().fingerprint() == g.fingerprint()


def test_file_attr_errors(model_file, tmp_path):
    with pytest.raises(ModelError, match=r"has no attribute 'nope'; it defines: .*graph"):
        resolve(f"{model_file}:nope")
    with pytest.raises(ModelError, match=r"is a int; expected a Graph, a Model"):
        resolve(f"{model_file}:number")
    with pytest.raises(ModelError, match="needs arguments"):
        resolve(f"{model_file}:needs_args")
    with pytest.raises(ModelError, match="returned a int"):
        resolve(f"{model_file}:wrong")
    with pytest.raises(ModelError, match="needs arguments"):
        resolve(f"{model_file}:net")  # a layer is not a model: it needs (x, p)
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ModelError, match=r"running .* failed: RuntimeError: boom"):
        resolve(f"{broken}:x")


def test_module_attr_loading(tmp_path, monkeypatch):
    name = "symnn_zoo_test_models"  # unique: other tests load their own modules
    (tmp_path / f"{name}.py").write_text(MODEL_FILE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    try:
        m = resolve(f"{name}:model")
        assert m.name == "mine"
        with pytest.raises(ModelError, match="has no attribute 'missing'"):
            resolve(f"{name}:missing")
        assert resolve(f"{name}:graph").graph().leaves()[0].op == Input("x", "input")
    finally:
        sys.modules.pop(name, None)


def test_objects_with_a_graph_method_load(tmp_path):
    """A constructed sign network (verify.boolean) names itself by its .graph() method."""
    path = tmp_path / "signnets.py"
    path.write_text(
        "from verify.boolean import boolean_function, construct\n"
        "net = construct(boolean_function('parity:3'))\n"
        "class NeedsBatch:\n"
        "    def graph(self, batch):\n"
        "        raise AssertionError('never called')\n"
        "odd = NeedsBatch()\n"
    )
    g = resolve(f"{path}:net").graph()
    assert isinstance(g, Graph) and {"W1", "b1", "W2", "b2"} <= set(g.params) and g.inputs["x"][1] == 3
    with pytest.raises(ModelError, match=r"\.graph\(\) method needs arguments"):
        resolve(f"{path}:odd")
