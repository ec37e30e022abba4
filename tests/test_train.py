"""The SGD trainer: the notes' update rule against a NumPy reference, schedules, momentum and weight
decay, reproducibility, resume from an atomic checkpoint, bad input and divergence."""

import json
import math

import numpy as np
import pytest

from symnn.ir import Builder
from symnn.train import (
    CheckpointError,
    DataError,
    DivergenceError,
    SGDConfig,
    Trainer,
    TrainingConfigError,
    schedule,
)

N, D, B = 40, 3, 4


def least_squares_graph(batch=B, d=D):
    """loss = mean_b (x_b . w + c - y_b)^2 / 2, with the gradient known in closed form."""
    b = Builder()
    x, y = b.input("x", (batch, d)), b.input("y", (batch, 1))
    w, c = b.param("w", (d,)), b.param("c", (1,))
    r = x @ w.reshape((d, 1)) + c.reshape((1, 1)) - y
    return b.build(b.elementwise(lambda a: a * a / 2, r).mean(), names=["loss"])


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, D))
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3)[:, None] + 0.1 * rng.standard_normal((N, 1))
    return {"x": x, "y": y}


@pytest.fixture(scope="module")
def graph():
    return least_squares_graph()


@pytest.fixture(scope="module")
def kernel(graph):
    from symnn import codegen, diff

    return codegen.compile(diff.grad(graph))


def start():
    return {"w": np.array([0.1, 0.2, -0.3]), "c": np.array([0.05])}


def numpy_sgd(data, config, params, steps):
    """The notes' rule written out: same sampling (a permutation per epoch), hand-derived gradient."""
    rng = np.random.default_rng(config.seed)
    w, c = params["w"].copy(), params["c"].copy()
    vw, vc = np.zeros_like(w), np.zeros_like(c)
    order, pos = np.empty(0, dtype=np.int64), 0
    for t in range(1, steps + 1):
        if pos + config.batch > order.size:
            order, pos = rng.permutation(N), 0
        idx = order[pos : pos + config.batch]
        pos += config.batch
        x, y = data["x"][idx], data["y"][idx, 0]
        r = x @ w + c[0] - y
        gw, gc = x.T @ r / len(idx), np.array([r.mean()])  # (1/|B|) sum_i grad loss_i
        gw, gc = gw + config.weight_decay * w, gc + config.weight_decay * c
        if config.momentum:
            vw, vc = config.momentum * vw + gw, config.momentum * vc + gc
            gw, gc = vw, vc
        a = {"constant": config.lr, "sqrt": config.lr / math.sqrt(t)}[config.schedule]
        w, c = w - a * gw, c - a * gc
    return w, c


@pytest.mark.parametrize(
    "config",
    [
        SGDConfig(lr=0.1, steps=25, batch=B),
        SGDConfig(lr=0.2, steps=25, batch=B, schedule="sqrt", momentum=0.9, weight_decay=0.01, seed=7),
    ],
)
def test_update_rule_matches_numpy(problem, graph, kernel, config):
    result = Trainer(graph, problem, config, params=start(), kernel=kernel).run()
    w, c = numpy_sgd(problem, config, start(), config.steps)
    np.testing.assert_allclose(result.params["w"], w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.params["c"], c, rtol=1e-12, atol=1e-12)


def test_schedules():
    assert schedule("constant", 0.3)(100) == 0.3
    assert schedule("sqrt", 2.0)(16) == 0.5
    assert schedule("inverse", 3.0, lam=0.5)(4) == 1.5
    with pytest.raises(TrainingConfigError, match="lambda"):
        schedule("inverse", 1.0)
    with pytest.raises(TrainingConfigError, match="unknown schedule"):
        schedule("cosine", 1.0)


def test_reproducible_and_seed_dependent(problem, graph, kernel):
    config = SGDConfig(lr=0.05, steps=30, batch=B, seed=3)
    a = Trainer(graph, problem, config, params=start(), kernel=kernel).run()
    b = Trainer(graph, problem, config, params=start(), kernel=kernel).run()
    other = SGDConfig(lr=0.05, steps=30, batch=B, seed=4)
    c = Trainer(graph, problem, other, params=start(), kernel=kernel).run()
    assert np.array_equal(a.params["w"], b.params["w"])
    assert not np.array_equal(a.params["w"], c.params["w"])


def test_resume_continues_bit_for_bit(problem, graph, kernel, tmp_path):
    path = tmp_path / "ckpt.npz"
    full = Trainer(graph, problem, SGDConfig(lr=0.05, steps=23, batch=B, momentum=0.5), params=start(), kernel=kernel)
    whole = full.run()
    first = Trainer(graph, problem, SGDConfig(lr=0.05, steps=11, batch=B, momentum=0.5), params=start(), kernel=kernel)
    first.run(checkpoint=path)
    assert path.exists() and not list(tmp_path.glob("*.tmp"))  # written atomically, no leftovers
    second = Trainer(graph, problem, SGDConfig(lr=0.05, steps=23, batch=B, momentum=0.5), kernel=kernel)
    second.resume(path)
    assert second.step == 11
    seen = []
    resumed = second.run(on_step=seen.append)
    assert np.array_equal(resumed.params["w"], whole.params["w"])
    assert np.array_equal(resumed.params["c"], whole.params["c"])
    # the rate counts this run's 12 steps, not the 11 before the checkpoint
    assert [s.step for s in seen] == list(range(12, 24)) and {s.start for s in seen} == {11}
    assert resumed.start == 11 and resumed.rate == pytest.approx(12 / resumed.seconds)


def test_checkpoint_from_another_model_is_rejected(problem, graph, kernel, tmp_path):
    path = tmp_path / "ckpt.npz"
    Trainer(graph, problem, SGDConfig(lr=0.05, steps=3, batch=B), params=start(), kernel=kernel).run(checkpoint=path)
    other = least_squares_graph(batch=2)  # another model (batch 2): another fingerprint
    t = Trainer(other, problem, SGDConfig(lr=0.05, steps=3, batch=2))
    with pytest.raises(CheckpointError, match="another model"):
        t.resume(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        t.resume(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match="unreadable"):
        t.resume(tmp_path / "junk.npz")


@pytest.mark.parametrize(
    ("config", "match"),
    [
        (SGDConfig(lr=0.0, steps=5, batch=B), "learning rate must be a positive"),
        (SGDConfig(lr=-0.1, steps=5, batch=B), "learning rate must be a positive"),
        (SGDConfig(lr=float("nan"), steps=5, batch=B), "learning rate must be a positive"),
        (SGDConfig(lr=0.1, steps=5, batch=N + 1), f"batch size {N + 1} is larger than the {N} training"),
        (SGDConfig(lr=0.1, steps=0, batch=B), "steps must be a positive"),
        (SGDConfig(lr=0.1, steps=5, batch=B, momentum=1.0), "momentum"),
    ],
)
def test_bad_settings_are_rejected_before_training(problem, graph, config, match):
    with pytest.raises(TrainingConfigError, match=match):
        Trainer(graph, problem, config)


def test_nan_in_data_is_rejected(problem, graph):
    bad = {k: v.copy() for k, v in problem.items()}
    bad["x"][5, 1] = np.nan
    with pytest.raises(DataError, match=r"'x' holds nan at index \(5, 1\)"):
        Trainer(graph, bad, SGDConfig(lr=0.1, steps=5, batch=B))


def test_divergence_stops_at_the_first_nan(problem, graph, kernel):
    t = Trainer(graph, problem, SGDConfig(lr=50.0, steps=500, batch=B), params=start(), kernel=kernel)
    with pytest.raises(DivergenceError, match=r"loss became .* at step \d+") as info:
        t.run()
    assert 1 < info.value.step < 500
    assert t.step == info.value.step - 1  # the parameters are those before the bad step


def test_history_json_and_csv(problem, graph, kernel, tmp_path):
    def metrics(params):
        r = problem["x"] @ params["w"] + params["c"][0] - problem["y"][:, 0]
        return {"train_loss": float(np.mean(r * r) / 2)}

    config = SGDConfig(lr=0.1, steps=40, batch=B, eval_every=10)
    result = Trainer(graph, problem, config, params=start(), kernel=kernel, metrics=metrics).run()
    assert [row["step"] for row in result.history] == [0, 10, 20, 30, 40]
    assert result.history[-1]["train_loss"] < 0.5 * result.history[0]["train_loss"]
    rows = json.loads(result.write_history(tmp_path / "h.json").read_text())
    assert rows[-1]["step"] == 40
    lines = result.write_history(tmp_path / "h.csv").read_text().splitlines()
    assert lines[0] == "step,train_loss,batch_loss" and len(lines) == 6


def test_on_step_sees_every_step_and_the_library_prints_nothing(problem, graph, kernel, capsys):
    seen = []
    config = SGDConfig(lr=0.1, steps=10, batch=B, eval_every=4)
    result = Trainer(graph, problem, config, params=start(), kernel=kernel).run(on_step=seen.append)
    assert [s.step for s in seen] == list(range(1, 11)) and {s.steps for s in seen} == {10}
    # evaluations at every 4th step and at the end, the same rows as the history's (after its step-0 row)
    assert [s.step for s in seen if s.record is not None] == [4, 8, 10]
    assert [s.record for s in seen if s.record is not None] == result.history[1:]
    # step 1's loss is the minibatch loss at the start, from the same sampling written out in NumPy
    idx = np.random.default_rng(config.seed).permutation(N)[:B]
    w, c = start()["w"], start()["c"]
    r = problem["x"][idx] @ w + c[0] - problem["y"][idx, 0]
    assert seen[0].loss == pytest.approx(np.mean(r * r / 2), rel=1e-12)
    assert all(s.seconds >= 0 and s.rate >= 0 for s in seen)
    assert capsys.readouterr() == ("", "")


def test_plot_without_matplotlib_says_so(monkeypatch, tmp_path):
    import sys

    from symnn.cli.train import plot

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert plot([{"step": 0, "train_loss": 1.0}], tmp_path / "p.png") is None
    assert not (tmp_path / "p.png").exists()
