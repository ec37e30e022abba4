"""verify.convergence verdicts (small T, few seeds; `python -m verify.convergence` runs the full set)
and the `symnn train` command."""

import json

import numpy as np
import pytest

from symnn.cli import main
from symnn.train import median_problem, ridge_problem
from verify.convergence import (
    grad_norm_decreases,
    interpolates,
    loglog_slope,
    loss_decreases,
    rate,
    t_interval,
)


def test_independent_optima():
    m = median_problem(n=501, dim=2, seed=1)
    assert np.array_equal(m.theta_star, [0.0, 0.0])
    grid = np.linspace(-1.5, 1.5, 301)  # F is minimal at 0 on a grid, and sharp there
    values = [m.risk(np.array([g, 0.0])) for g in grid]
    assert grid[int(np.argmin(values))] == 0.0 and min(values) == pytest.approx(m.f_star)
    r = ridge_problem(seed=2)
    grad = r.data["x"].T @ (r.data["x"] @ r.theta_star - r.data["y"][:, 0]) / len(r.data["y"]) + r.lam * r.theta_star
    assert np.linalg.norm(grad) < 1e-12
    assert r.risk(r.theta_star + 1e-3) > r.f_star


def test_slope_fit_and_interval():
    ts = [10, 100, 1000, 10000]
    assert loglog_slope(ts, [3.0 * t**-0.5 for t in ts]) == pytest.approx(-0.5)
    m, lo, hi = t_interval([-0.4, -0.5, -0.6])
    assert m == pytest.approx(-0.5) and lo < -0.5 < hi
    assert hi - lo == pytest.approx(2 * 4.303 * 0.1 / np.sqrt(3), rel=1e-3)


def test_convex_lipschitz_rate_is_one_over_sqrt_t():
    v = rate("convex", t_max=10_000, decades=2.0, seeds=(0, 1, 2, 3, 4))
    assert v.ok, v.line()
    lo, hi = v.figures["ci95"]
    assert lo < v.figures["slope"] < hi and -0.75 < v.figures["slope"] < -0.3
    gaps = v.figures["median_gap"]
    assert gaps[-1] < gaps[0] / 5  # two decades of T: a factor ~10 for T^(-1/2)


def test_strongly_convex_rate_is_one_over_t():
    v = rate("strongly_convex", t_max=10_000, decades=2.5, seeds=(0, 1, 2, 3, 4))
    assert v.ok, v.line()
    assert -1.25 < v.figures["slope"] < -0.75


def test_gradient_norm_decreases_on_a_smooth_problem():
    v = grad_norm_decreases(steps=3000)
    assert v.ok, v.line()


def test_overparameterized_mlp_fits_the_digits():
    v = interpolates(n=100, hidden=16, steps=800, batch=32, lr=0.5)
    assert v.ok, v.line()
    assert v.figures["params"] > v.figures["n"]


def test_loss_decreases_verdict_can_fail():
    assert loss_decreases([{"train_loss": 2.0}, {"train_loss": 0.5}]).ok
    assert not loss_decreases([{"train_loss": 2.0}, {"train_loss": 1.5}]).ok
    assert not loss_decreases([{"train_loss": 2.0}, {"train_loss": float("nan")}]).ok


def test_train_command(tmp_path, capsys):
    hist, ckpt = tmp_path / "h.json", tmp_path / "c.npz"
    args = ["train", "mlp:64-16-10", "--steps", "300", "--batch", "32", "--lr", "0.5", "--quiet"]
    args += ["--loss", "softmax_cross_entropy", "--history", str(hist), "--checkpoint", str(ckpt)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "PASS  loss_decreases" in out and "test: loss" in out
    rows = json.loads(hist.read_text())
    assert rows[0]["step"] == 0 and rows[-1]["step"] == 300
    assert rows[-1]["train_accuracy"] > 0.8
    # resume to 400 steps from the checkpoint at 300
    assert main([*args[:3], "400", *args[4:], "--resume"]) == 0
    assert json.loads(hist.read_text())[-1]["step"] == 400


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--lr", "0"], "learning rate must be a positive"),
        (["--batch", "5000"], "larger than the 1438 training examples"),
        (["--resume"], "--resume needs --checkpoint"),
    ],
)
def test_train_command_bad_input(extra, message, capsys):
    assert main(["train", "mlp:64-16-10", "--quiet", *extra]) == 2
    assert message in capsys.readouterr().err


def test_labels_out_of_range_for_the_model(capsys):
    assert main(["train", "mlp:64-16-5", "--quiet"]) == 2
    assert "out of range 0..4" in capsys.readouterr().err


def test_checkpoint_of_another_model(tmp_path, capsys):
    ckpt = str(tmp_path / "c.npz")
    opts = ["--steps", "5", "--batch", "32", "--quiet", "--checkpoint", ckpt]
    assert main(["train", "mlp:64-16-10", *opts]) in (0, 1)  # 5 steps: the verdict may go either way
    assert main(["train", "mlp:64-4-10", *opts, "--resume"]) == 2
    assert "another model" in capsys.readouterr().err
