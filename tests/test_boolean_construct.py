"""Construction (item 1) and the exhaustive kernel (item 2), each against independent evaluations.

The references: pure-Python integer arithmetic of the formula (``SignNetwork.__call__``), numpy
matrix products over the whole cube, and symnn's own graph executor on the network's Graph.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import symnn
from symnn.executor import Executor
from verify.boolean import SignNetwork, Symmetric, boolean_function, construct, cube, evaluate, outputs, verify
from verify.boolean.errors import NetworkError, TooLargeError
from verify.boolean.exhaustive import estimate_seconds, random_network


def numpy_outputs(net: SignNetwork) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sign(W2 sign(W1 x + b1) + b2) over the whole cube with int64 (or float64) numpy: outputs, h, o."""
    X = cube(net.d).astype(net.W1.dtype)
    h = X @ net.W1.T + net.b1
    o = np.sign(h) @ net.W2 + net.b2
    return np.sign(o).astype(np.int8), h, o


# -- construction ---------------------------------------------------------------------------------------------
def test_every_function_of_three_variables():
    X = cube(3).tolist()
    for value in range(256):
        table = [1 if (value >> i) & 1 else -1 for i in range(8)]
        f = boolean_function(table)
        net = construct(f)
        assert net.integral and net.k == min(table.count(1), table.count(-1))
        # pure-Python exact arithmetic, point by point
        assert [net(x) for x in X] == table
        # margins: no hidden or output pre-activation is ever 0
        _, h, o = numpy_outputs(net)
        assert np.all(h != 0) and np.all(o != 0)


@pytest.mark.parametrize("seed", range(5))
def test_random_functions_of_six_variables(seed):
    f = boolean_function(f"random:6:{seed}")
    net = construct(f)
    out, h, o = numpy_outputs(net)
    assert np.array_equal(out, f.table)
    assert net.k == min(f.n_true, f.n_false) and net.k <= 32
    assert np.abs(h).min() >= 1 and np.abs(o).min() == 1


def test_constant_functions_have_no_hidden_units():
    for v in (0, 1):
        net = construct(f"const:3:{v}")
        assert net.k == 0 and net.b2 == (1 if v else -1)
        assert [net(x) for x in cube(3).tolist()] == [1 if v else -1] * 8


def test_literal_reading_has_zero_output_bias():
    for spec in ("parity:3", "and:3", "const:2:0", "majority:3"):
        f = boolean_function(spec)
        net = construct(f, literal=True)
        assert net.b2 == 0 and net.k == min(f.n_true, f.n_false) + 1
        # with b2 = 0 the notes' literal sign(W2 sign(W1 x + b1)) + b2 is the same function
        out, _, _ = numpy_outputs(net)
        assert np.array_equal(out, f.table)


def test_graph_evaluates_like_the_formula_in_symnn_executor():
    f = boolean_function("x0 & ~x1 | x2 ^ x3")
    net = construct(f)
    g = net.graph(batch=16)
    assert g.inputs == {"x": (16, 4)}
    assert g.params == {"b2": (), "W1": (net.k, 4), "b1": (net.k,), "W2": (net.k,)}
    got = Executor(g).forward({"x": cube(4).astype(float), **net.params()})["out"]
    assert got.tolist() == f.table.tolist()
    # symbolic derivation applies (the derivative of sign is 0 by symnn's convention)
    j = symnn.jvp(g)
    assert "tangent:out" in j.output_names


def test_graph_of_constant_network():
    net = construct("const:2:1")
    got = Executor(net.graph(4)).forward({"x": cube(2).astype(float), **net.params()})["out"]
    assert got.tolist() == [1.0] * 4


def test_generated_kernel_agrees_when_available():
    codegen = pytest.importorskip("symnn.codegen", reason="symnn.codegen (the generated kernel) is not installed")
    net = construct("majority:3")
    k = codegen.compile(net.graph(8))
    got = k(x=cube(3).astype(float), **net.params())
    got = got["out"] if isinstance(got, dict) else got
    assert np.asarray(got).ravel().tolist() == boolean_function("majority:3").table.tolist()


def test_network_json_round_trip():
    net = construct("parity:3")
    again = SignNetwork.from_json(net.to_json())
    assert np.array_equal(again.W1, net.W1) and again.b2 == net.b2
    empty = SignNetwork.from_json(construct("const:3:0").to_json())
    assert empty.k == 0 and empty.d == 3


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"W1": [[1, 2]], "b1": [1, 2], "W2": [1], "b2": 0}, "shapes"),
        ({"W1": [[1.0, np.inf]], "b1": [1], "W2": [1], "b2": 0}, "non-finite"),
        ({"W1": [["a", "b"]], "b1": [1], "W2": [1], "b2": 0}, "real numbers"),
        ({"W1": [[2**63 - 1, 1]], "b1": [1], "W2": [1], "b2": 0}, "2\\^62"),
    ],
)
def test_bad_networks(kwargs, words):
    with pytest.raises(NetworkError, match=words):
        SignNetwork(np.array(kwargs["W1"]), np.array(kwargs["b1"]), np.array(kwargs["W2"]), kwargs["b2"])


# -- the exhaustive kernel ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("d, k, seed", [(1, 1, 0), (5, 3, 1), (10, 6, 2), (13, 7, 3), (14, 2, 4)])
def test_kernel_matches_numpy_and_executor(d, k, seed):
    # tiny weights: many exact zeros, so the sign(0) = 0 convention is exercised on both sides
    net = random_network(d, k, seed=seed, scale=1)
    ref, h, o = numpy_outputs(net)
    target = boolean_function(f"random:{d}:{seed}")
    ev, out = evaluate(net, target, outputs=True)
    assert ev.exact
    assert np.array_equal(out, ref)
    assert ev.positives == int((ref > 0).sum())
    assert ev.output_zero == int((o == 0).sum())
    assert ev.hidden_zero == int((h == 0).sum())
    assert ev.hidden_margin == np.abs(h).min() and ev.output_margin == np.abs(o).min()
    bad = np.flatnonzero(ref != target.table)
    assert ev.mismatches == bad.size and ev.first_mismatch == (int(bad[0]) if bad.size else -1)
    # symnn's own graph evaluation, on the first 256 inputs
    n = min(256, 2**d)
    got = Executor(net.graph(n)).forward({"x": cube(d)[:n].astype(float), **net.params()})["out"]
    assert got.astype(np.int8).tolist() == ref[:n].tolist()


def test_symmetric_target_equals_table_target():
    net = construct("parity:9")
    for fam in ("parity", "majority", "and", "or"):
        a = verify(net, Symmetric.named(fam, 9))
        b = verify(net, boolean_function(f"{fam}:9"))
        assert (a.mismatches, a.first_mismatch) == (b.mismatches, b.first_mismatch)
    assert verify(net, Symmetric.named("parity", 9)).ok


def test_constructed_networks_verify_at_moderate_d():
    for spec in ("parity:12", "majority:11", "random:12:3"):
        f = boolean_function(spec)
        ev = verify(construct(f), f)
        assert ev.ok and ev.inputs == 2**f.d and ev.hidden_margin >= 1 and ev.output_margin == 1


def test_float_weights():
    rng = np.random.default_rng(5)
    W1, b1, W2 = rng.normal(size=(6, 9)), rng.normal(size=6), rng.normal(size=6)
    net = SignNetwork(W1, b1, W2, 0.3)
    ev, out = evaluate(net, outputs=True)
    assert not ev.exact  # not binary fractions of modest range: float64
    ref, _, _ = numpy_outputs(net)
    assert np.array_equal(out, ref)  # generic weights: no rounding tie decides a sign
    # dyadic weights are rescaled exactly: sign(0.5 x0 - 0.25 x1 + 0.25) has exact zeros
    half = SignNetwork(np.array([[0.5, -0.25]]), np.array([0.25]), np.array([1.0]), 0.0)
    ev, out = evaluate(half, outputs=True)
    assert ev.exact and ev.hidden_zero == 1 and ev.hidden_margin == 0.0
    assert out.tolist() == [0, 1, -1, 1]  # h = 0, 1, -0.5, 0.5 at inputs 0..3


def test_too_large_is_refused_with_an_estimate():
    net = random_network(44, 44)
    with pytest.raises(TooLargeError, match=r"would take about .*(days|years)"):
        evaluate(net)
    assert estimate_seconds(28, 28) < estimate_seconds(29, 28)


def test_outputs_helper_and_index_order():
    net = construct("x0 & ~x1")
    assert outputs(net).tolist() == [-1, 1, -1, -1]


def test_all_small_networks_of_one_unit_agree():
    # every unit with weights in {-1, 0, 1}^2, bias in {-1, 0, 1}: outputs vs pure Python, zeros included
    for w0, w1, b, v in itertools.product((-1, 0, 1), (-1, 0, 1), (-1, 0, 1), (-1, 1)):
        net = SignNetwork(np.array([[w0, w1]]), np.array([b]), np.array([v]), 0)
        assert outputs(net).tolist() == [net(x) for x in cube(2).tolist()]


def test_construction_too_large_is_refused_with_an_estimate(monkeypatch):
    import importlib

    module = importlib.import_module("verify.boolean.construct")  # the package re-exports the function
    monkeypatch.setattr(module, "MAX_CONSTRUCT_WEIGHTS", 100)
    with pytest.raises(TooLargeError, match=r"128 hidden units .* would take about"):
        construct("parity:8")
