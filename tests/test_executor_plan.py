"""The executor's planned sweeps: staged rules, fused elementwise chains, and no state kept between calls.

An executor plans its sweeps once (``symnn.executor.plan``) and reuses the plan on every call, so a
fault here would show as one call's arrays leaking into the next, as a plan made for one shape used
with another, or as a fused chain differing from its nodes run one by one. Each test compares with
hand-written NumPy backprop or with the unfused rules.
"""

from __future__ import annotations

import contextlib
import pickle

import numpy as np
import pytest
import sympy as sp

from symnn import registry
from symnn.executor import Executor
from symnn.executor.plan import plan
from symnn.functions import sigmoid
from symnn.ir import Builder, einsum
from symnn.ops import Einsum, Elementwise
from symnn.registry import lookup


def _mlp(batch: int, width: int = 5):
    """x (batch, 4) -> tanh(x W1^T + b1) -> sigmoid(h W2^T + b2) -> mean squared error against y; also
    outputs the logits h W2^T + b2."""
    b = Builder()
    x, y = b.input("x", (batch, 4)), b.input("y", (batch, 2))
    w1, b1 = b.param("W1", (width, 4)), b.param("b1", (width,))
    w2, b2 = b.param("W2", (2, width)), b.param("b2", (2,))
    h = (x @ w1.T + b1).map(sp.tanh)
    logits = h @ w2.T + b2
    z = logits.map(sigmoid)
    return b.build(((z - y) * (z - y)).mean(), logits, names=["loss", "logits"])


def _mlp_numpy(v: dict) -> tuple[float, dict]:
    """Loss and parameter gradients of ``_mlp`` by hand-written backprop."""
    x, y = v["x"], v["y"]
    a1 = x @ v["W1"].T + v["b1"]
    h = np.tanh(a1)
    a2 = h @ v["W2"].T + v["b2"]
    z = 1.0 / (1.0 + np.exp(-a2))
    loss = np.mean((z - y) ** 2)
    dz = 2.0 * (z - y) / z.size
    da2 = dz * z * (1.0 - z)
    dh = da2 @ v["W2"]
    da1 = dh * (1.0 - h * h)
    return float(loss), {"W1": da1.T @ x, "b1": da1.sum(0), "W2": da2.T @ h, "b2": da2.sum(0)}


def _values(batch: int, seed: int, width: int = 5) -> dict:
    rng = np.random.default_rng(seed)
    shapes = {"x": (batch, 4), "y": (batch, 2), "W1": (width, 4), "b1": (width,), "W2": (2, width), "b2": (2,)}
    return {k: rng.standard_normal(s) for k, s in shapes.items()}


def _assert_matches_numpy(result: tuple[float, dict], v: dict) -> None:
    loss, grads = _mlp_numpy(v)
    assert result[0] == pytest.approx(loss, rel=1e-13)
    assert set(result[1]) == set(grads)
    for k, ref in grads.items():
        np.testing.assert_allclose(result[1][k], ref, rtol=1e-12, atol=1e-15, err_msg=k)


def _results(ex: Executor, v: dict) -> dict:
    """Every array the executor hands out for ``v``: outputs, gradients, and a VJP's outputs and cotangents."""
    value, grads = ex.grad(v)
    outs = ex.forward(v)
    vouts, cts = ex.vjp(v, {"logits": np.ones(outs["logits"].shape)})
    res = {"loss": np.asarray(value), **{f"grad {k}": g for k, g in grads.items()}}
    res |= {f"forward {k}": o for k, o in outs.items()} | {f"vjp {k}": o for k, o in vouts.items()}
    return res | {f"cotangent {k}": c for k, c in cts.items()}


def test_interleaved_calls_on_two_shapes_keep_nothing_between_calls():
    """Batch 1 and batch 7 executors called in turn, each result held and checked after the later calls."""
    ex1, ex7 = Executor(_mlp(1)), Executor(_mlp(7))
    held = []
    for seed in range(4):
        for batch, ex in ((1, ex1), (7, ex7)):
            v = _values(batch, seed)
            res = _results(ex, v)
            held.append((batch, v, res, {k: a.copy() for k, a in res.items()}))
            _assert_matches_numpy(ex.grad(v), v)
    for batch, v, res, copies in held:
        for k in res:  # no later call wrote into an array handed out before
            np.testing.assert_array_equal(res[k], copies[k], err_msg=f"batch {batch}: {k}")
        fresh = _results(Executor(_mlp(batch)), v)
        for k in res:  # the plan of a used executor computes what a fresh one computes, to the bit
            np.testing.assert_array_equal(fresh[k], res[k], err_msg=f"batch {batch}: {k}")
    arrays = [a for *_, res, _ in held for a in res.values()]
    assert not any(np.shares_memory(p, q) for k, p in enumerate(arrays) for q in arrays[k + 1 :])


def test_strided_and_transposed_inputs_give_the_contiguous_results():
    v = _values(7, 11)
    base = Executor(_mlp(7)).grad(v)
    assert base[0] == pytest.approx(_mlp_numpy(v)[0], rel=1e-13)
    wide = np.zeros((7, 8))
    wide[:, ::2] = v["x"]  # a strided view
    odd = dict(v, x=wide[:, ::2], W1=np.asfortranarray(v["W1"]), W2=v["W2"].T.copy().T)
    assert not odd["x"].flags.c_contiguous and not odd["W1"].flags.c_contiguous
    ex = Executor(_mlp(7))
    for _ in range(2):
        value, grads = ex.grad(odd)
        assert value == base[0]
        for k in grads:
            np.testing.assert_array_equal(grads[k], base[1][k])


@pytest.mark.parametrize("batch", [1, 7])
def test_float32_plan_is_its_own(batch):
    """The same graph planned for float32 beside float64: each dtype's arrays, float64 unaffected."""
    g = _mlp(batch)
    v = _values(batch, 3)
    e64, e32 = Executor(g), Executor(g, dtype=np.float32)
    r64 = e64.grad(v)
    r32 = e32.grad(v)
    again = e64.grad(v)
    assert all(a.dtype == np.float32 for a in r32[1].values())
    for k in r64[1]:
        np.testing.assert_array_equal(again[1][k], r64[1][k])
        np.testing.assert_allclose(r32[1][k], r64[1][k], rtol=2e-4, atol=1e-6)


def _chains():
    """Elementwise chains of every kind the planner meets: fused, not fused, three long, broadcast."""
    b = Builder()
    x, bias = b.input("x", (3, 6, 5)), b.param("bias", (5,))
    s = b.param("s", (6, 1))
    a = x + bias  # affine, fused into the tanh below
    t = a.map(sp.tanh).map(sigmoid)  # a chain of three: add -> tanh -> sigmoid
    shared = x * s  # used twice: never fused
    u = b.elementwise(lambda p, q: p * sp.exp(-q), shared, shared.map(sp.sin))
    scaled = (x * 0.3) * 0.7  # two scalings of the same node into one non-affine consumer
    w = b.elementwise(lambda p, q: p * sp.atan(q), scaled, x)  # x is also an argument: not fused
    x2 = b.input("x2", (3, 6, 5))
    r = b.elementwise(lambda p, q: sp.sin(p) * q**3, x2, x - s)  # fused as the second argument
    return b.build((t * u).sum() + w.sum() + (scaled * bias).map(sp.cos).sum() + r.sum())


def _unfused(rule):
    def call(*args):
        return rule(*args)

    return call


@contextlib.contextmanager
def _rules_overridden():
    """Every Elementwise and Einsum executor rule replaced by a wrapper: the planner stages and fuses none."""
    with contextlib.ExitStack() as stack:
        for op in (Elementwise, Einsum):
            for part in ("exec.value", "exec.vjp"):
                stack.enter_context(registry.override(op, part, _unfused))
        yield


def test_fused_chains_equal_their_nodes_run_one_by_one():
    g = _chains()
    rng = np.random.default_rng(5)
    v = {"x": rng.standard_normal((3, 6, 5)), "bias": rng.standard_normal(5), "s": rng.standard_normal((6, 1))}
    v["x2"] = rng.standard_normal((3, 6, 5))
    value_rules = [lookup(type(n.op), "exec.value") if n.args else None for n in g.nodes]
    vjp_rules = [lookup(type(n.op), "exec.vjp") if n.args else None for n in g.nodes]
    fused = plan(g, np.dtype(np.float64), value_rules, vjp_rules, fuse=True)
    unfused = plan(g, np.dtype(np.float64), value_rules, vjp_rules, fuse=False)
    assert len(fused) < len(unfused)
    x, bias, scale = g.leaf("x"), g.leaf("bias"), g.leaf("s")
    run = {s.node for s in fused}
    chain = [i for i, n in enumerate(g.nodes) if isinstance(n.op, Elementwise) and n.op.fn.expr.has(sp.tanh, sigmoid)]
    assert len(chain) == 2 and not run & set(chain)  # tanh and sigmoid run inside a later step ...
    (end,) = [s for s in fused if s.args[:2] == (x, bias)]  # ... with the bias add: t * u, on the add's arguments
    assert len(end.args) == 3
    shared = next(i for i, n in enumerate(g.nodes) if n.args == (x, scale))
    assert shared in run  # used twice: its own step
    assert (x, scale, g.leaf("x2")) in [s.args for s in fused]  # x - s inside sin(x2) (x - s)^3
    value, grads = Executor(g).grad(v)
    outs = Executor(g).forward(v)
    with _rules_overridden():
        ex = Executor(g)
        assert len(ex._plan(fuse=True)) == len(unfused)
        ref_value, ref_grads = ex.grad(v)
        ref_outs = ex.forward(v)
    assert value == pytest.approx(ref_value, rel=1e-14)
    np.testing.assert_allclose(outs["out"], ref_outs["out"], rtol=1e-14)
    for k in grads:
        np.testing.assert_allclose(grads[k], ref_grads[k], rtol=1e-13, atol=1e-15, err_msg=k)


def test_fusion_never_bypasses_an_overridden_rule():
    """A wrapped Elementwise cotangent rule (as a mutant is) runs for every elementwise node: none is fused away."""
    g = _mlp(7)
    v = _values(7, 2)
    called = []

    def counted(rule):
        def call(op, *args):
            called.append(op)
            return rule(op, *args)

        return call

    with registry.override(Elementwise, "exec.vjp", counted):
        value, grads = Executor(g).grad(v)
    assert len(called) == sum(isinstance(n.op, Elementwise) for n in g.nodes) >= 4
    _assert_matches_numpy((value, grads), v)


def test_jvp_and_vjp_of_a_fused_graph_agree():
    """<J t, c> = <t, J^T c>: forward mode runs unfused, reverse mode fused."""
    g = _chains()
    rng = np.random.default_rng(8)
    v = {"x": rng.standard_normal((3, 6, 5)), "bias": rng.standard_normal(5), "s": rng.standard_normal((6, 1))}
    v["x2"] = rng.standard_normal((3, 6, 5))
    t = {k: rng.standard_normal(a.shape) for k, a in v.items()}
    ex = Executor(g)
    _, tans = ex.jvp(v, t)
    _, cts = ex.vjp(v, {"out": np.array(1.5)})
    lhs = 1.5 * float(tans["out"])
    rhs = sum(float(np.sum(t[k] * cts[k])) for k in v)
    assert lhs == pytest.approx(rhs, rel=1e-11)


def test_einsum_plans_per_shape_with_batch_axes_and_broadcast_cotangents():
    """Batched contractions (batch 1 and 5, an axis of length > 3), and an operand index summed out."""
    for batch in (1, 5):
        b = Builder()
        q, k = b.param("q", (batch, 4, 6)), b.param("k", (batch, 7, 6))
        m = b.param("m", (3, 7))
        s = einsum("bqd,bkd->bqk", q, k)
        r = einsum("bqk,jk->bq", s, m)  # j only in m: summed out of m before the product
        g = b.build((r * r).sum())
        rng = np.random.default_rng(batch)
        v = {"q": rng.standard_normal((batch, 4, 6)), "k": rng.standard_normal((batch, 7, 6))}
        v["m"] = rng.standard_normal((3, 7))
        value, grads = Executor(g).grad(v)
        s_ = np.einsum("bqd,bkd->bqk", v["q"], v["k"])
        msum = v["m"].sum(0)
        r_ = s_ @ msum
        dr = 2 * r_
        ds = dr[:, :, None] * msum[None, None, :]
        assert value == pytest.approx(float((r_ * r_).sum()), rel=1e-13)
        np.testing.assert_allclose(grads["q"], np.einsum("bqk,bkd->bqd", ds, v["k"]), rtol=1e-12)
        np.testing.assert_allclose(grads["k"], np.einsum("bqk,bqd->bkd", ds, v["q"]), rtol=1e-12)
        dm = np.broadcast_to(np.einsum("bq,bqk->k", dr, s_), (3, 7))
        np.testing.assert_allclose(grads["m"], dm, rtol=1e-12)
        assert grads["m"].flags.writeable and grads["m"].flags.c_contiguous


def test_a_used_executor_pickles_and_plans_again():
    """The plans hold closures; a pickled executor drops them and computes the same on its first call."""
    ex = Executor(_mlp(7))
    v = _values(7, 4)
    value, grads = ex.grad(v)
    copy = pickle.loads(pickle.dumps(ex))
    again = copy.grad(v)
    assert again[0] == value
    for k in grads:
        np.testing.assert_array_equal(again[1][k], grads[k])
