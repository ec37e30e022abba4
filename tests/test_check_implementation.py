"""check_implementation: users' own gradient code against symnn, planted faults in hand-written backprops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

import verify.implementation as vi
from symnn.codegen import compile as compile_kernel
from symnn.diff import grad as symbolic_grad
from symnn.formula import formula
from symnn.ir import Builder
from symnn.layers import Linear, Sequential, Tanh
from symnn.trace import trace
from verify import CheckOptions, VerificationError, assert_implementation, check_implementation
from verify.implementation import ImplementationError, to_numpy
from verify.strategies import one_hot

RENAME = {"W1": "0.W", "b1": "0.b", "W2": "2.W", "b2": "2.b"}
SIZES = {"batch": (1, 4), "inputs": (1, 4), "hidden": (1, 5), "classes": (2, 10)}


def reference(batch, inputs, hidden, classes):
    net = Sequential(Linear(inputs, hidden), Tanh(), Linear(hidden, classes))
    return trace(net, "softmax_cross_entropy", {"x": (batch, inputs), "y": (batch, classes)})


def backprop(params, batch, fault=None):
    """The two-layer classifier's loss and gradients by hand, with one planted ``fault``."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    x, y = batch["x"], batch["y"]
    n, k = y.shape
    z1 = x @ W1.T + b1
    a1 = np.tanh(z1)
    z2 = a1 @ W2.T + b2
    s = z2 - z2.max(axis=1, keepdims=True)
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    loss = -(y * np.log(p)).sum() / n
    if fault == "softmax-off-above-3":  # a fault that fires only for more than 3 classes
        p = p + (1e-7 if k > 3 else 0.0)
    dz2 = (p - y) / n
    if fault == "wrong-sign":
        dz2 = (y - p) / n
    if fault == "batch-sum":  # the sum over the batch where the loss takes the mean
        dz2 = p - y
    if fault == "softmax-jacobian-diagonal":  # d softmax taken as diag(p (1 - p)): the cross terms dropped
        dz2 = p * (1 - p) * (-y / p) / n
    da1 = dz2 @ W2
    dphi = 1 - a1**2
    if fault == "activation-derivative":
        dphi = 1 - a1
    if fault == "broadcasting":  # the derivative averaged over the batch, then broadcast back
        dphi = (1 - a1**2).mean(axis=0)
    dz1 = da1 * dphi
    grads = {"W1": dz1.T @ x, "b1": dz1.sum(axis=0), "W2": dz2.T @ a1, "b2": dz2.sum(axis=0)}
    if fault == "missing-transpose":
        grads["W1"] = x.T @ dz1  # (inputs, hidden) where W1 is (hidden, inputs)
    if fault == "forgotten-bias":
        grads["b1"] = np.zeros_like(b1)
    if fault == "off-by-one":  # the batch loop starts at 1
        grads["b2"] = dz2[1:].sum(axis=0)
    if fault == "pre-activation":  # W2's gradient from z1 instead of tanh(z1)
        grads["W2"] = dz2.T @ z1
    if fault == "squeeze-batch-1":  # np.squeeze drops the batch axis of a batch of one
        grads["b2"] = np.squeeze(dz2).sum(axis=0)
    return loss, grads


FAULTS = [
    "wrong-sign",
    "missing-transpose",
    "activation-derivative",
    "forgotten-bias",
    "batch-sum",
    "off-by-one",
    "broadcasting",
    "softmax-jacobian-diagonal",
    "pre-activation",
    "softmax-off-above-3",
    "squeeze-batch-1",
]


def check(fault, examples=20, **kwargs):
    return check_implementation(
        lambda params, batch: backprop(params, batch, fault),
        reference,
        sizes=SIZES,
        leaves={"y": one_hot},
        rename=RENAME,
        examples=examples,
        **kwargs,
    )


def test_the_correct_backprop_passes():
    report = check(None)
    assert report.ok, report.table()
    assert report.info["examples"] == 20 and report.info["first"] == ""
    assert {r.path for r in report.rows} >= {"impl loss", "impl gradient"}


@pytest.mark.parametrize("fault", FAULTS)
def test_every_planted_fault_is_caught(fault):
    report = check(fault)
    assert not report.ok, f"{fault} survived:\n{report.table()}"
    first = report.info["first"]
    # the message names a parameter (by the implementation's own names) and, for a value, its index
    assert any(f"grad {p}" in first for p in RENAME), first


def test_a_conditional_fault_is_shrunk_to_its_smallest_trigger():
    report = check("softmax-off-above-3")
    assert report.info["sizes"]["classes"] == 4  # the smallest class count where it fires
    report = check("squeeze-batch-1")
    assert report.info["sizes"]["batch"] == 1
    assert report.info["first"] == "grad b2: shape (), expected (2,) (symbolic)"


def test_the_message_names_parameter_and_index():
    with pytest.raises(VerificationError, match=r"grad b1\[0\]: got .*, expected "):
        assert_implementation(
            lambda params, batch: backprop(params, batch, "activation-derivative"),
            reference,
            sizes=SIZES,
            leaves={"y": one_hot},
            rename=RENAME,
            examples=10,
        )


# -- protocols ---------------------------------------------------------------------------------------------
W, X = sp.symbols("w x")
TANH = formula(sp.tanh(W * X), params=[W], inputs=[X])


def test_loss_and_separate_gradient_functions():
    def loss(values):
        return math.tanh((values["w"] * values["x"]).item())

    def grad(values):
        t = np.tanh(values["w"] * values["x"])
        return {"w": (1 - t**2) * values["x"]}

    report = check_implementation(loss, TANH, grad=grad, examples=5)
    assert report.ok, report.table()
    # math.tanh rejects complex input: the complex step says so instead of failing
    assert {r.oracle: r.verdict for r in report.rows}["complex-step"] == "skip"


def test_a_sympy_formula_reference_and_a_sequence_of_gradients():
    a, b = sp.symbols("a b")
    impl = lambda v: (v["a"] ** 2 * v["b"], [2 * v["a"] * v["b"], v["a"] ** 2])  # noqa: E731
    assert check_implementation(impl, a**2 * b, examples=5).ok
    wrong = lambda v: (v["a"] ** 2 * v["b"], [2 * v["a"] * v["b"], 2 * v["a"]])  # noqa: E731
    assert check_implementation(wrong, a**2 * b, examples=5).info["first"].startswith("grad b")


def test_without_a_reference_finite_differences_and_complex_step():
    def impl(values):
        w = values["w"]
        return np.sum(np.sin(w) * w), {"w": np.cos(w) * w + np.sin(w)}

    report = check_implementation(impl, shapes={"w": (3,)}, examples=5)
    assert report.ok, report.table()
    assert {r.oracle for r in report.rows if r.verdict == "pass"} == {"fd", "complex-step"}

    def wrong(values):
        w = values["w"]
        return np.sum(np.sin(w) * w), {"w": np.cos(w) * w}

    report = check_implementation(wrong, point={"w": np.array([0.5, -0.3, 0.9])})
    assert not report.ok
    assert report.info["first"].startswith("grad w[0]")


def test_jvp_and_vjp_by_the_dot_product_identity():
    def impl(values):
        w = values["w"]
        return np.sum(w**3), {"w": 3 * w**2}

    good = check_implementation(
        impl,
        shapes={"w": (4,)},
        jvp=lambda v, t: np.sum(3 * v["w"] ** 2 * t["w"]),
        vjp=lambda v, c: {"w": c * 3 * v["w"] ** 2},
    )
    assert good.ok, good.table()
    # shrinking keeps one failing example, where one fault may hide the other: one fault at a time
    bad_jvp = check_implementation(impl, shapes={"w": (4,)}, jvp=lambda v, t: np.sum(3 * v["w"] * t["w"]))
    assert {r.path: r.verdict for r in bad_jvp.rows}["impl jvp"] == "FAIL"
    bad_vjp = check_implementation(impl, shapes={"w": (4,)}, vjp=lambda v, c: {"w": 3 * v["w"] ** 2})
    assert {r.path: r.verdict for r in bad_vjp.rows}["impl vjp"] == "FAIL"
    assert bad_vjp.info["first"].startswith("vjp w[0]")


def test_second_order_against_differences_of_gradients_and_the_symbolic_hvp():
    b = Builder()
    w = b.param("w", (3,))
    g = b.build((w * w * w).sum())
    impl = lambda v: (np.sum(v["w"] ** 3), {"w": 3 * v["w"] ** 2})  # noqa: E731
    good = check_implementation(impl, g, order=2, hvp=lambda v, t: {"w": 6 * v["w"] * t["w"]}, examples=5)
    assert good.ok, good.table()
    assert {("impl hvp", "fd"), ("impl hvp", "symbolic")} <= {(r.path, r.oracle) for r in good.rows}
    bad = check_implementation(impl, g, order=2, hvp=lambda v, t: {"w": 3 * v["w"] * t["w"]}, examples=5)
    assert not bad.ok and bad.info["first"].startswith("hvp w[")


def test_torch_tensors_out():
    torch = pytest.importorskip("torch")

    def impl(values):
        w = torch.tensor(values["w"], requires_grad=True)
        loss = (w * values["x"][()]).tanh().sum()
        loss.backward()
        return loss, {"w": w.grad}

    assert check_implementation(impl, TANH, examples=5).ok
    assert to_numpy(torch.ones(2)).tolist() == [1.0, 1.0]


def test_protocol_errors_are_reported():
    report = check_implementation(lambda v: 1.0, TANH, examples=2)
    assert not report.ok and "return (loss, grads)" in report.info["first"]
    report = check_implementation(lambda v: (1.0, {"q": 1.0}), TANH, examples=2)
    assert "has no entries for ['w']" in report.info["first"]
    with pytest.raises(ImplementationError.__mro__[1], match="point="):
        check_implementation(lambda v: (0.0, {}))


def test_options_record():
    report = check_implementation(
        lambda v: (np.sum(v["w"] ** 2), {"w": 2 * v["w"]}), shapes={"w": (2,)}, options=CheckOptions(examples=3)
    )
    assert report.ok and report.info["examples"] == 3


def test_the_reference_is_confirmed_by_sympy_diff_when_exact_is_asked(monkeypatch):
    calls = []
    real = vi.check_exact
    monkeypatch.setattr(vi, "check_exact", lambda g, **kw: calls.append(g) or real(g, **kw))
    b = Builder()
    w, x = b.param("w", (2,)), b.input("x", (2,))
    graph = b.build((w * x).map(sp.tanh).sum())
    impl = lambda v: (np.tanh(v["w"] * v["x"]).sum(), {"w": (1 - np.tanh(v["w"] * v["x"]) ** 2) * v["x"]})  # noqa: E731
    oracles = ("fd", "executor", "exact")
    assert check_implementation(impl, graph, oracles=oracles, examples=5).ok
    assert len(calls) == 1  # once per reference graph, not per point
    assert check_implementation(impl, graph, examples=5).ok and len(calls) == 1  # not among the default oracles


def test_a_compiled_symnn_kernel_is_an_implementation():
    graph = reference(2, 3, 2, 4)
    kernel = compile_kernel(symbolic_grad(graph))
    report = check_implementation(kernel, graph, leaves={"y": one_hot}, examples=5)
    assert report.ok, report.table()


# -- the pytest fixture ------------------------------------------------------------------------------------------
pytest_plugins = ["pytester"]


def test_the_fixture_in_a_user_suite_inside_given(pytester):
    pytester.makepyfile(
        """
        import numpy as np
        from hypothesis import given, settings, strategies as st
        from symnn.ir import Builder

        b = Builder()
        w = b.param("w", (3,))
        CUBE = b.build((w * w * w).sum())

        def test_good(check_implementation):
            check_implementation(lambda v: (np.sum(v["w"] ** 3), {"w": 3 * v["w"] ** 2}), CUBE, examples=3)

        def test_bad(check_implementation):
            check_implementation(lambda v: (np.sum(v["w"] ** 3), {"w": 2 * v["w"] ** 2}), CUBE, examples=3)

        @settings(max_examples=3, deadline=None)
        @given(st.integers(2, 3), st.data())
        def test_inside_given_without_health_check_suppression(check_implementation, power, data):
            impl = lambda v: (np.sum(v["w"] ** power), {"w": power * v["w"] ** (power - 1)})
            check_implementation(impl, shapes={"w": (2,)}, data=data)
        """
    )
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*grad w[[]*]: got *, expected *"])
