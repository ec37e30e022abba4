"""Convergence checks of SGD (notes, section 2.1), each a verdict with its figures.

- ``loss_decreases``: the training loss at the end is below the loss at the start.
- ``rate``: on a convex Lipschitz problem (``median_problem``) with alpha_t = c/sqrt(t), the
  averaged iterate's suboptimality F(theta_bar_T) - F* decays like T^(-1/2); on a strongly convex
  one (``ridge_problem``) with alpha_t = 1/(mu t) like T^(-1). The slope of log(F - F*) against
  log T is fitted per seed over several decades of T, and reported as the mean over seeds with a
  95 % Student-t interval. F* comes from an independent solver (the sample median; np.linalg.solve
  of the normal equations), F from plain NumPy, never from the generated kernels.
- ``grad_norm_decreases``: on the smooth ridge problem the full gradient's norm (NumPy) falls.
- ``interpolates``: an over-parameterized MLP drives the training error on digits to zero.

Run the full set with ``python -m verify.convergence`` (a few minutes; tests use small T and seeds).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from symnn.files import atomic_write
from symnn.layers import MLP
from symnn.train import SGDConfig, Trainer, load_digits, median_problem, one_hot, ridge_problem
from symnn.train.data import Convex
from symnn.train.tasks import classifier, convex_graph

# two-sided 95 % Student-t quantiles t_{0.975, df}
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


@dataclass(frozen=True)
class Verdict:
    """One check: its name, pass or fail, a one-line summary and the figures behind it."""

    name: str
    ok: bool
    summary: str
    figures: dict = field(default_factory=dict)

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.summary}"


def t_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high): the 95 % Student-t interval of the mean of ``values``.

    >>> m, lo, hi = t_interval([1.0, 2.0, 3.0])
    >>> m, round(hi - m, 3)
    (2.0, 2.484)
    """
    v = np.asarray(values, dtype=float)
    m = float(v.mean())
    if v.size < 2:
        return m, float("nan"), float("nan")
    half = _T975.get(v.size - 1, 1.96) * float(v.std(ddof=1)) / math.sqrt(v.size)
    return m, m - half, m + half


def loglog_slope(ts: Sequence[float], gaps: Sequence[float]) -> float:
    """Least-squares slope of log(gap) against log(T).

    >>> round(loglog_slope([10, 100, 1000], [1.0, 0.1, 0.01]), 6)
    -1.0
    """
    lt, lg = np.log(np.asarray(ts, float)), np.log(np.maximum(np.asarray(gaps, float), 1e-300))
    return float(np.polyfit(lt, lg, 1)[0])


def suboptimality_path(problem: Convex, config: SGDConfig, ts: Sequence[int], averaged: bool) -> list[float]:
    """F(theta_T) - F* (or of the running average) at each T in ``ts``, from one SGD run of max(ts) steps."""
    graph = convex_graph(problem, config.batch)
    data = {k: problem.data[k] for k in graph.inputs}
    theta0 = {"theta": np.ones(graph.params["theta"])}
    trainer = Trainer(graph, data, config, params=theta0)
    gaps = []
    for t in sorted(ts):
        while trainer.step < t:
            trainer.sgd_step()
        theta = trainer.average["theta"] if averaged else trainer.params["theta"]  # type: ignore[index]
        gaps.append(problem.risk(theta) - problem.f_star)
    return gaps


def rate(
    kind: str,
    t_max: int = 100_000,
    decades: float = 3.0,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    batch: int = 1,
    points: int = 10,
    tol: float = 0.2,
) -> Verdict:
    """The log-log slope of the suboptimality on ``kind`` = "convex" (expect -1/2) or "strongly_convex" (-1)."""
    ts = sorted({round(float(x)) for x in np.logspace(math.log10(t_max) - decades, math.log10(t_max), points)})
    slopes, paths = [], []
    for seed in seeds:
        if kind == "convex":
            problem = median_problem(seed=seed)
            config = SGDConfig(
                lr=0.5, steps=t_max, batch=batch, schedule="sqrt", seed=seed, sampling="replace", average=True
            )
            target = -0.5
            label = "averaged iterate, alpha_t = 0.5/sqrt(t), F(theta) = mean |theta - z| (sharp, not strongly convex)"
        else:
            problem = ridge_problem(seed=seed)
            config = SGDConfig(
                lr=1.0,
                steps=t_max,
                batch=batch,
                schedule="inverse",
                lam=problem.mu,
                seed=seed,
                sampling="replace",
                average=True,
                average_weights="linear",
            )
            target = -1.0
            label = "t-weighted average, alpha_t = 1/(mu t), ridge least squares"
        gaps = suboptimality_path(problem, config, ts, averaged=config.average)
        paths.append(gaps)
        slopes.append(loglog_slope(ts, gaps))
    mean, lo, hi = t_interval(slopes)
    ok = abs(mean - target) <= tol
    figures = {"T": ts, "slopes": slopes, "slope": mean, "ci95": [lo, hi], "target": target, "tol": tol}
    figures["median_gap"] = [float(x) for x in np.median(np.array(paths), axis=0)]
    summary = (
        f"slope {mean:.3f} (95% CI [{lo:.3f}, {hi:.3f}], {len(seeds)} seeds, T {ts[0]}..{ts[-1]}), "
        f"expected {target} +- {tol}; {label}"
    )
    return Verdict(f"rate:{kind}", ok, summary, figures)


def grad_norm_decreases(steps: int = 5000, seed: int = 0, factor: float = 0.1) -> Verdict:
    """On the smooth ridge problem, the full gradient norm (NumPy) falls by ``factor`` or more."""
    p = ridge_problem(seed=seed)
    x, y = p.data["x"], p.data["y"][:, 0]

    def norm(theta: np.ndarray) -> float:
        return float(np.linalg.norm(x.T @ (x @ theta - y) / len(y) + p.lam * theta))

    ts = [0, steps // 10, steps]
    graph = convex_graph(p, 8)
    config = SGDConfig(lr=1.0, steps=steps, batch=8, schedule="inverse", lam=p.mu, seed=seed, sampling="replace")
    trainer = Trainer(graph, p.data, config, params={"theta": np.ones(graph.params["theta"])})
    norms = []
    for t in ts:
        while trainer.step < t:
            trainer.sgd_step()
        norms.append(norm(trainer.params["theta"]))
    ok = norms[-1] <= factor * norms[0] and norms[-1] <= norms[1]
    return Verdict(
        "grad_norm_decreases",
        ok,
        f"||grad F|| {norms[0]:.3g} -> {norms[1]:.3g} -> {norms[2]:.3g} at steps {ts}",
        {"steps": ts, "norms": norms},
    )


def loss_decreases(history: Sequence[dict], key: str = "train_loss", fraction: float = 0.5) -> Verdict:
    """The last recorded ``key`` is below ``fraction`` times the first."""
    values = [row[key] for row in history if key in row]
    if len(values) < 2:
        return Verdict("loss_decreases", False, f"fewer than two values of {key} recorded", {})
    ok = math.isfinite(values[-1]) and values[-1] < fraction * values[0]
    return Verdict(
        "loss_decreases",
        ok,
        f"{key} {values[0]:.4g} -> {values[-1]:.4g} (needs < {fraction} x start)",
        {"first": values[0], "last": values[-1]},
    )


def interpolates(
    n: int = 300, hidden: int = 256, steps: int = 3000, batch: int = 32, lr: float = 0.5, seed: int = 0
) -> Verdict:
    """An MLP 64-hidden-10 (tanh, softmax cross-entropy) with more parameters than examples fits n digits exactly."""
    x, labels = load_digits(scale=True)
    x, y = x[:n], one_hot(labels[:n], 10)
    net = MLP((64, hidden, 10), "tanh")
    task = classifier(net, "softmax_cross_entropy", {"x": x, "y": y}, None, batch)
    config = SGDConfig(lr=lr, steps=steps, batch=batch, seed=seed, eval_every=max(1, steps // 10))
    result = Trainer(task.graph, task.train, config, metrics=task.metrics).run()
    final = result.history[-1]
    error = 1.0 - final["train_accuracy"]
    n_params = 64 * hidden + hidden + hidden * 10 + 10
    return Verdict(
        "interpolates",
        error == 0.0,
        f"training error {error:.4f} on {n} digits after {steps} steps ({n_params} parameters, "
        f"train loss {final['train_loss']:.3g})",
        {"train_error": error, "train_loss": final["train_loss"], "params": n_params, "n": n},
    )


def _figure(size: tuple[float, float]) -> Any:
    """A matplotlib Figure made directly: no pyplot, so the caller's backend (a notebook's) is left alone."""
    from matplotlib.figure import Figure

    return Figure(figsize=size, layout="tight")


def rates_figure(verdicts: Sequence[Verdict]) -> Any:
    """A log-log Figure of the suboptimality paths against T, with the fitted slopes (needs matplotlib)."""
    fig = _figure((5, 4))
    ax = fig.add_subplot()
    for v in verdicts:
        if "median_gap" in v.figures:
            ax.loglog(v.figures["T"], v.figures["median_gap"], "o-", label=f"{v.name} slope {v.figures['slope']:.2f}")
    ax.set_xlabel("T")
    ax.set_ylabel("F(theta_T) - F*  (median over seeds)")
    ax.legend(loc="best")
    return fig


def history_figure(history: Sequence[dict[str, Any]]) -> Any:
    """Train, test and batch loss against steps (log scale) as a Figure (needs matplotlib)."""
    fig = _figure((6, 4))
    ax = fig.add_subplot()
    for key in ("train_loss", "test_loss", "batch_loss"):
        rows = [r for r in history if key in r]
        if rows:
            ax.plot([r["step"] for r in rows], [r[key] for r in rows], label=key.replace("_", " "))
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend(loc="best")
    return fig


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` atomically, in the format of the path's suffix (png when there is none)."""
    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix[1:].lower() or "png")
    atomic_write(path, buf.getvalue())
    return path


def plot_rates(verdicts: Sequence[Verdict], path: str) -> str | None:
    """Save ``rates_figure(verdicts)`` at ``path``; None without matplotlib."""
    try:
        fig = rates_figure(verdicts)
    except ImportError:
        return None
    save_figure(fig, path)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m verify.convergence [--quick] [--json out.json] [--plot out.png]``: every verdict."""
    p = argparse.ArgumentParser(prog="python -m verify.convergence", description=main.__doc__)
    p.add_argument("--quick", action="store_true", help="small T and few seeds (as in the tests)")
    p.add_argument("--json", help="write the verdicts and figures here")
    p.add_argument("--plot", help="log-log figure of the rates (needs matplotlib)")
    args = p.parse_args(argv)
    if args.quick:
        verdicts = [rate("convex", 10_000, 2.0, (0, 1, 2)), rate("strongly_convex", 10_000, 2.0, (0, 1, 2))]
    else:
        verdicts = [rate("convex"), rate("strongly_convex")]
    verdicts += [grad_norm_decreases(), interpolates()]
    for v in verdicts:
        print(v.line())
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(v) for v in verdicts], f, indent=1)
    if args.plot:
        print(plot_rates(verdicts, args.plot) or "no plot: matplotlib is not installed (pip install matplotlib)")
    return 0 if all(v.ok for v in verdicts) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
