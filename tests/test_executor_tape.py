"""The compiled tape (``symnn.executor.tape``) against the planned sweeps it replaces in ``grad``.

The tape sums einsum terms in another order than BLAS and NumPy do, so it agrees with the planned
sweeps to rounding, not bit for bit. The tolerance is 4 ulp scaled by each graph's measured condition:
the reference is the planned sweeps in float64 on float32-representable inputs, and the condition (at
least 1) is the larger of how far the planned sweeps in float32 land from it and how far it moves when
every input moves by one float32 ulp in random directions (both in float32 ulps of the result's norm),
so a sum that cancels gets the room any other summation order would need. The tape in either dtype
must land within 4 such ulps of its dtype. Faults planted in the tape's lists
and in its compiled sweep's source show that this comparison catches wrong indices and transposes.
"""

from __future__ import annotations

import inspect
import pickle
import textwrap

import numpy as np
import pytest
import sympy as sp

from symnn import registry
from symnn.bench.workloads import WORKLOADS
from symnn.errors import GraphError, ShapeError
from symnn.executor import Executor
from symnn.executor import tape as tape_module
from symnn.functions import sigmoid
from symnn.ir import Builder, Graph
from symnn.ops import Einsum, Window
from verify.spec import OP_SPECS, layer_rows

ULPS = 4.0
LAYERS = {row.name: row for row in layer_rows()}


def _op_graph(name: str) -> Graph:
    """The op row's graph with its output weighted by an input ``ct`` and summed: the gradient is a VJP."""
    b = Builder()
    out = OP_SPECS[name].build(b)
    return b.build((out * b.input("ct", out.shape)).sum())


def _mlp(batch: int, width: int = 5, stride: int = 2) -> Graph:
    """A tanh MLP on a strided 1-d window of a length-9 signal, sigmoid output, mean squared error."""
    b = Builder()
    x, y = b.input("x", (batch, 1, 9)), b.input("y", (batch, 2))
    win = b.add(Window((3,), (stride,), (1,)), x)  # (batch, 1, 3, 5): zero padding and a stride
    feats = win.reshape((batch, 15))
    w1, b1 = b.param("W1", (width, 15)), b.param("b1", (width,))
    w2, b2 = b.param("W2", (2, width)), b.param("b2", (2,))
    h = (feats @ w1.T + b1).map(sp.tanh)
    z = (h @ w2.T + b2).map(sigmoid)
    return b.build(((z - y) * (z - y)).mean())


def _point(g: Graph, seed: int, low: float = -2.0, high: float = 2.0) -> dict[str, np.ndarray]:
    """Leaves drawn in [low, high], rounded to float32 so both dtypes see the same numbers."""
    rng = np.random.default_rng(seed)
    leaves = {**g.inputs, **g.params}
    return {n: rng.uniform(low, high, s).astype(np.float32).astype(np.float64) for n, s in leaves.items()}


def _flat(result: tuple[float, dict[str, np.ndarray]], names: list[str]) -> tuple[float, np.ndarray]:
    value, grads = result
    return float(value), np.concatenate([np.asarray(grads[n], dtype=np.float64).ravel() for n in names])


def _ulps(x: np.ndarray, ref: np.ndarray, dtype: type) -> float:
    """||x - ref|| in ulps of ``dtype`` of ||ref|| (0 when both are exactly zero)."""
    scale = np.linalg.norm(ref) * np.finfo(dtype).eps
    err = np.linalg.norm(x - ref)
    return 0.0 if err == 0.0 else float(err / scale) if scale > 0.0 else float("inf")


def _check_against_plan(g: Graph, point: dict[str, np.ndarray]) -> None:
    """The tape in float64 and float32 within ULPS condition-scaled ulps of the planned sweeps (see the module)."""
    names = sorted(point)
    runs = {}
    for dtype in (np.float64, np.float32):
        v = {n: x.astype(dtype) for n, x in point.items()}
        for use_tape in (True, False):
            ex = Executor(g, dtype, tape=use_tape)
            runs[dtype, use_tape] = _flat(ex.grad(v, wrt=names), names)
            if use_tape:
                assert ex._tape is not None, "the graph should run on the tape"
    ref_value, ref_grad = runs[np.float64, False]
    p_value, p_grad = runs[np.float32, False]
    cond_value = max(1.0, _ulps(np.array([p_value]), np.array([ref_value]), np.float32))
    cond_grad = max(1.0, _ulps(p_grad, ref_grad, np.float32))
    rng, plan64, eps = np.random.default_rng(99), Executor(g, tape=False), float(np.finfo(np.float32).eps)
    for _ in range(4):  # the float64 result's sensitivity to one float32 ulp of every input
        moved = {n: x * (1.0 + eps * rng.choice([-1.0, 1.0], x.shape)) for n, x in point.items()}
        m_value, m_grad = _flat(plan64.grad(moved, wrt=names), names)
        cond_value = max(cond_value, _ulps(np.array([m_value]), np.array([ref_value]), np.float32))
        cond_grad = max(cond_grad, _ulps(m_grad, ref_grad, np.float32))
    for dtype in (np.float64, np.float32):
        t_value, t_grad = runs[dtype, True]
        assert _ulps(np.array([t_value]), np.array([ref_value]), dtype) <= ULPS * cond_value, (dtype, "value")
        assert _ulps(t_grad, ref_grad, dtype) <= ULPS * cond_grad, (dtype, "gradient")


@pytest.fixture
def any_size(monkeypatch):
    """No size bound: the tape's arithmetic is checked on every row, also those the executor leaves to the plan."""
    monkeypatch.setattr(tape_module, "MAX_ENTRIES", 10**8)


def _tape_rows() -> list[str]:
    return sorted(OP_SPECS)


@pytest.mark.parametrize("name", _tape_rows())
def test_op_rows_agree_with_the_planned_sweeps(name, any_size):
    row = OP_SPECS[name]
    g = _op_graph(name)
    _check_against_plan(g, _point(g, 0, row.low, row.high))


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_rows_agree_with_the_planned_sweeps(name, any_size):
    g = LAYERS[name].make()
    _check_against_plan(g, _point(g, 1))


@pytest.mark.parametrize("batch", [1, 7])
def test_strided_window_mlp_agrees_at_batch_1_and_7(batch, any_size):
    g = _mlp(batch)
    _check_against_plan(g, _point(g, batch))


def test_w1_runs_on_the_tape_and_larger_workloads_do_not():
    g = WORKLOADS["W1"]()
    _check_against_plan(g, _point(g, 3))
    for name in ("W2", "W3", "W4", "W5"):  # every one has a product above MAX_ENTRIES terms
        ex = Executor(WORKLOADS[name]())
        assert tape_module.build(ex.graph, ex.dtype, ex._value_rules, ex._vjp_rules) is None, name


def test_a_leaf_output_and_an_input_gradient():
    b = Builder()
    w = b.param("w", (2, 3))
    x = b.input("x", (3,))
    g = b.build((w * x).sum(), w, names=["loss", "w"])
    v = {"w": np.arange(6.0).reshape(2, 3), "x": np.array([1.0, -2.0, 0.5])}
    value, grads = Executor(g).grad(v, wrt=["x", "w"])
    assert value == float((v["w"] * v["x"]).sum())
    np.testing.assert_array_equal(grads["x"], v["w"].sum(0))
    np.testing.assert_array_equal(grads["w"], np.broadcast_to(v["x"], (2, 3)))


def test_nan_and_inf_propagate_as_on_the_planned_sweeps():
    """log(0), inf inputs and 0 * inf give the same non-finite entries; a NaN behind another output
    (which gets no cotangent) never reaches the gradient."""
    b = Builder()
    x, w, z = b.input("x", (2, 3)), b.param("w", (3,)), b.input("z", (3,))
    lse = (x * w).logsumexp(1)
    logs = (x * w).map(sp.log)
    g = b.build(lse.sum() + logs.sum(), (w * z).map(sp.log).sum(), names=["loss", "other"])
    for xs in ([[1.0, np.inf, 0.0], [2.0, 1.0, -1.0]], [[np.nan, 1.0, 2.0], [0.0, 0.0, 0.0]], [[1.0, 2.0, 3.0]] * 2):
        v = {"x": np.array(xs), "w": np.array([0.5, 2.0, -1.0]), "z": np.zeros(3)}
        for wrt in (["w"], ["x", "w"]):
            got = Executor(g).grad(v, wrt=wrt)
            want = Executor(g, tape=False).grad(v, wrt=wrt)
            np.testing.assert_array_equal(got[0], want[0])
            for n in wrt:
                np.testing.assert_allclose(got[1][n], want[1][n], rtol=1e-14, atol=0.0, equal_nan=True, err_msg=n)


def test_errors_stay_those_of_the_planned_sweeps():
    g = WORKLOADS["W1"]()
    good = _point(g, 4)
    bad_shape = {**good, "x": np.ones((2, 4))}
    bad_dtype = {**good, "x": np.array([["a", "b", "c", "d"]])}
    for use_tape in (True, False):
        ex = Executor(g, tape=use_tape)
        with pytest.raises(ShapeError, match="has shape"):
            ex.grad(bad_shape)
        with pytest.raises(GraphError, match="dtype"):
            ex.grad(bad_dtype)
        with pytest.raises(GraphError, match="no value given"):
            ex.grad({"x": good["x"]})


def test_an_overridden_rule_keeps_the_graph_off_the_tape():
    g = _mlp(2)
    ex = Executor(g)
    assert tape_module.build(g, ex.dtype, ex._value_rules, ex._vjp_rules) is not None
    with registry.override(Einsum, "exec.vjp", lambda impl: lambda *a: impl(*a)):
        mutated = Executor(g)
        assert tape_module.build(g, mutated.dtype, mutated._value_rules, mutated._vjp_rules) is None


def test_calls_keep_nothing_between_them():
    g = _mlp(3)
    ex = Executor(g)
    v1, v2 = _point(g, 5), _point(g, 6)
    first = ex.grad(v1)
    second = ex.grad(v2)
    again = Executor(g, tape=False).grad(v1)
    assert first[0] == pytest.approx(again[0], rel=1e-14)
    for n in first[1]:
        np.testing.assert_allclose(first[1][n], again[1][n], rtol=1e-12, atol=1e-15)
        assert not np.shares_memory(first[1][n], second[1][n])


def test_a_pickled_executor_builds_its_tape_again():
    g = _mlp(2)
    ex = Executor(g)
    v = _point(g, 9)
    before = ex.grad(v)
    copy = pickle.loads(pickle.dumps(ex))
    assert copy._tape is None
    after = copy.grad(v)
    assert copy._tape is not None
    assert after[0] == before[0]
    for n in before[1]:
        np.testing.assert_array_equal(after[1][n], before[1][n])


# -- fault injection: each planted fault must make some graph disagree with the planned sweeps ----------
def _mutated_sweep(old: str, new: str):
    """The tape's sweep and its helpers with ``old`` replaced by ``new`` in their source, run as Python."""
    namespace = dict(vars(tape_module))
    found = 0
    for fn in (tape_module._lse_forward, tape_module._lse_reverse, tape_module.sweep):
        source = textwrap.dedent(inspect.getsource(fn.py_func))
        source = "\n".join(line for line in source.splitlines() if not line.startswith("@"))
        found += source.count(old)
        exec(source.replace(old, new), namespace)  # the test's own edit of the module's source
    assert found >= 1, old
    return namespace["sweep"]


SOURCE_FAULTS = {
    "none (the harness itself)": ("range(", "range("),
    "reverse einsum reads A for A's cotangent (swapped a/b)": ("grads[i] += g * vals[j]", "grads[i] += g * vals[i]"),
    "reverse einsum list off by one": ("bo + ix[l3 + t]\n", "bo + ix[l3 + t - 1]\n"),
    "gather's transpose overwrites (no scatter-add)": ("grads[m] += grads[oo + k]", "grads[m] = grads[oo + k]"),
    "einsum's transpose overwrites (no accumulation)": ("grads[j] += g * vals[i]", "grads[j] = g * vals[i]"),
    "program cotangent row off by one": ("+= G[k, e]", "+= G[k, e - 1]"),
    "log-sum-exp's transpose drops the cotangent": ("/ t * g", "/ t"),
}


def _fault_graphs() -> list[Graph]:
    return [_mlp(3), _op_graph("BroadcastTo"), LAYERS["loss:softmax_cross_entropy"].make()]


def _agrees(g: Graph, point: dict[str, np.ndarray]) -> bool:
    names = sorted(point)
    got = _flat(Executor(g).grad(point, wrt=names), names)
    want = _flat(Executor(g, tape=False).grad(point, wrt=names), names)
    return abs(got[0] - want[0]) <= 1e-12 * abs(want[0]) and _ulps(got[1], want[1], np.float64) <= 64.0


@pytest.mark.parametrize("fault", sorted(SOURCE_FAULTS))
def test_planted_faults_in_the_sweep_are_caught(fault, monkeypatch):
    old, new = SOURCE_FAULTS[fault]
    monkeypatch.setattr(tape_module, "sweep", _mutated_sweep(old, new))
    verdicts = [_agrees(g, _point(g, 7)) for g in _fault_graphs()]
    if old != new:
        assert not all(verdicts), f"the fault {fault!r} went unnoticed"
    else:
        assert all(verdicts)


@pytest.mark.parametrize(("kind", "column"), [("einsum", "out"), ("einsum", "a"), ("einsum", "b"), ("gather", "out")])
def test_a_wrong_index_planted_in_a_list_is_caught(kind, column, monkeypatch):
    """One entry of one index list of the first einsum (its y, A or B positions) or of the first gather map
    (column "out" only) moved by one."""
    build = tape_module.build
    wanted = tape_module.EINSUM if kind == "einsum" else tape_module.GATHER
    lo = {"out": tape_module._LO1, "a": tape_module._LO2, "b": tape_module._LO3}[column]

    def planted(*args):
        t = build(*args)
        s = next(s for s in range(len(t.steps)) if t.steps[s, tape_module._KIND] == wanted)
        n = t.steps[s, tape_module._N] if kind == "einsum" else t.steps[s, tape_module._SIZE]
        k = t.steps[s, lo] + n // 2
        t.ix[k] = t.ix[k] - 1 if t.ix[k] > 0 else t.ix[k] + 1
        return t

    monkeypatch.setattr("symnn.executor.run.build", planted)
    g = _mlp(3)
    assert not _agrees(g, _point(g, 8))
