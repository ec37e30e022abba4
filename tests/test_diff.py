"""Structure of the derivative graphs: minimal reverse mode, pruning, naming, errors.

The values of the derivatives are checked against sympy.diff in test_exact.py.
"""

from __future__ import annotations

import itertools
import math

import pytest
import sympy as sp

from symnn.cost import cost, gradient_ratio
from symnn.diff import grad, hvp, jvp, vjp
from symnn.errors import GraphError
from symnn.ir import Builder
from symnn.ops import Einsum, Input


def mlp(sizes, batch, act):
    b = Builder()
    x, y = b.input("x", (batch, sizes[0])), b.input("y", (batch, sizes[-1]))
    h = x
    for i, (m, n) in enumerate(itertools.pairwise(sizes)):
        h = h @ b.param(f"{i}.W", (n, m)).T + b.param(f"{i}.b", (n,))
        if i < len(sizes) - 2:
            h = h.map(act)
    return b.build((h.logsumexp(1) - (y * h).sum(1)).mean())


def expected_ratio(sizes, batch):
    # forward: one B x m x n product per layer; reverse adds dW for every layer (same cost)
    # and dh for every layer but the first (no gradient for the data x)
    fwd = sum(batch * m * n for m, n in itertools.pairwise(sizes))
    back = fwd + sum(batch * m * n for m, n in list(itertools.pairwise(sizes))[1:])
    return (fwd + back) / fwd


@pytest.mark.parametrize(("sizes", "batch", "target"), [([64, 128, 10], 64, 2.14), ([784, 256, 256, 10], 128, 2.25)])
def test_reverse_mode_costs_the_minimum(sizes, batch, target):
    g = mlp(sizes, batch, sp.tanh)
    ratio = gradient_ratio(g, grad(g))
    assert ratio == pytest.approx(expected_ratio(sizes, batch))
    assert round(ratio, 2) == target
    assert ratio < 3


def test_no_gradient_flows_into_data_inputs():
    g = mlp([3, 4, 2], 2, sp.tanh)
    gg = grad(g)
    x = gg.leaf("x")
    # nothing of shape (batch, 3) is computed except x itself
    assert [i for i, n in enumerate(gg.nodes) if n.shape == (2, 3)] == [x]
    assert gg.output_names == ("out", "grad:0.W", "grad:0.b", "grad:1.W", "grad:1.b")


def test_nothing_is_computed_twice():
    g = mlp([3, 4, 2], 2, sp.tanh)
    gg = grad(g)
    keys = [(n.op, n.args) for n in gg.nodes if not isinstance(n.op, Input)]
    assert len(keys) == len(set(keys))


def test_gradient_wrt_data_when_asked():
    g = mlp([3, 4, 2], 2, sp.tanh)
    gx = grad(g, wrt=["x"])
    assert gx.output_names == ("out", "grad:x")
    assert gx.shape(gx.outputs[1]) == (2, 3)


def test_jvp_vjp_hvp_interfaces():
    g = mlp([3, 4, 2], 2, sp.tanh)
    j = jvp(g)
    assert "tangent:0.W" in j.inputs and j.output_names == ("out", "tangent:out")
    v = vjp(g)
    assert "cotangent:out" in v.inputs
    h = hvp(g)
    assert h.output_names[-4:] == ("hvp:0.W", "hvp:0.b", "hvp:1.W", "hvp:1.b")
    assert all(h.shape(o) == g.params[n[4:]] for o, n in zip(h.outputs[-4:], h.output_names[-4:], strict=True))


def test_unused_parameter_gets_a_zero_gradient():
    b = Builder()
    w, _ = b.param("w", (2,)), b.param("unused", (3,))
    gg = grad(b.build((w * w).sum()))
    assert gg.nodes[gg.outputs[2]].op.values == (0,)


def test_grad_needs_a_scalar_and_parameters():
    b = Builder()
    x = b.input("x", (2,))
    with pytest.raises(GraphError, match="no parameters"):
        grad(b.build(x.sum()))
    w = b.param("w", (2,))
    with pytest.raises(GraphError, match="scalar output"):
        grad(b.build(x * w))
    with pytest.raises(GraphError, match="no input or parameter named"):
        grad(b.build((x * w).sum()), wrt=["nope"])


def test_tanh_chain_derivative_grows_linearly():
    def chain(depth):
        b = Builder()
        h = b.input("x", (2,))
        for i in range(depth):
            h = (b.param(f"W{i}", (2, 2)) @ h.reshape((2, 1))).reshape((2,)).map(sp.tanh)
        return grad(b.build(h.sum()))

    sizes = [len(chain(d)) for d in (10, 20, 40)]
    assert sizes[2] - sizes[1] == 2 * (sizes[1] - sizes[0])  # exactly linear in depth


def test_contractions_in_the_gradient_are_binary():
    g = mlp([3, 4, 2], 2, sp.tanh)
    for n in grad(g).nodes:
        if isinstance(n.op, Einsum):
            assert len(n.args) <= 2
    assert math.isclose(cost(g).macs, 2 * 3 * 4 + 2 * 4 * 2)


# -- derivatives of derivative graphs -----------------------------------------------------------------------
def _cube():
    b = Builder()
    w = b.param("w", (2,))
    return b.build((w * w * w).sum())


def test_vjp_of_a_gradient_graph_has_distinct_names():
    gg = grad(_cube())
    second = vjp(gg)
    assert second.output_names == ("out", "grad:w", "grad2:w")
    assert set(second.inputs) == {"cotangent:out", "cotangent:grad:w"}
    assert grad(gg, output="out").output_names == ("out", "grad2:w")


def test_jvp_of_a_jvp_graph_gets_new_tangent_inputs():
    import numpy as np

    from symnn.executor import Executor

    j = jvp(_cube(), ["w"])
    jj = jvp(j, ["w"])
    # a new input, not the first tangent reused: d/dt d/ds f(w + s u + t v) = sum 6 w u v
    assert set(jj.inputs) == {"tangent:w", "tangent2:w"}
    assert jj.output_names == ("out", "tangent:out", "tangent2:out", "tangent2:tangent:out")
    w, u, v = np.array([0.5, -2.0]), np.array([1.0, 3.0]), np.array([-1.0, 0.25])
    out = Executor(jj).forward({"w": w, "tangent:w": u, "tangent2:w": v})
    assert math.isclose(float(out["tangent2:tangent:out"]), float(np.sum(6 * w * u * v)))


def test_hvp_of_a_gradient_graph_names_its_outputs_apart():
    gg = grad(_cube())
    h = hvp(gg, output="out")
    assert len(set(h.output_names)) == len(h.output_names)
