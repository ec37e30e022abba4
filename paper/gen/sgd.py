"""Measured SGD rates on the digits against the notes' O(1/sqrt(t)) (convex) and O(1/t) (strongly convex).

Both problems are finite sums over the 1,797 digits, trained by ``symnn.train.Trainer`` on the
compiled gradient kernel of the batch loss, with minibatches drawn i.i.d. (with replacement), as
in the convergence theorems. The optimum of each comes from an independent solver, and the
risk F from plain NumPy, never from the generated kernels:

- convex, Lipschitz, not strongly convex: the coordinate-wise median of the images,
  F(theta) = (1/n) sum_i ||theta - x_i||_1; theta* = np.median; step c/sqrt(t); averaged iterate.
  Pixel values are integers 0..16, so each coordinate's minimum is a kink, and F is not strongly
  convex. The averaged iterate keeps a bias of order c/sqrt(t) around an asymmetric kink, which
  is the worst case of the bound, once the steps are short against the kinks' spacing (1) and the
  walk has settled, after about 1/s^2 steps for a kink of one-sided slope s. Pixels whose median is
  balanced to within s < MARGIN (nearly flat on one side) would need far longer runs than ours:
  they are left out.
- strongly convex: ridge regression of a +-1 label (odd digit) on the images scaled to unit norm,
  F(theta) = (1/2n) ||X theta - y||^2 + (lam/2) ||theta||^2; theta* by np.linalg.lstsq of the
  stacked system; step 1/(mu t) with mu the smallest Hessian eigenvalue (np.linalg.eigvalsh).
  With unit rows and lam = 1 every example's curvature is at most 2 mu, so the first steps of
  1/(mu t) do not overshoot.

The rate is the least-squares slope of log(F(theta_t) - F*) against log t over the last decades
of the run, per seed and for the mean gap over seeds. The minibatch experiment fixes the number of
steps and varies |B| on the strongly convex problem: the gap scales like sigma^2 / (mu |B| t).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symnn.train import SGDConfig, Trainer, load_digits
from symnn.train.data import Convex
from symnn.train.tasks import convex_graph

from .common import write_dat, write_macros, write_table

#: the ridge penalty (with unit-norm rows, mu = LAM: constant pixels give X^T X a zero eigenvalue)
LAM = 1.0
#: c in the convex problem's step c / sqrt(t) (pixels 0..16: the kinks are 1 apart)
C_SQRT = 0.5
#: the convex problem keeps the pixels whose median is a kink of slope >= MARGIN on both sides
MARGIN = 0.1
#: the slope matches the theory when it lies within this distance of the theoretical exponent
SLOPE_TOL = 0.2


@dataclass(frozen=True)
class Setting:
    """Steps of the rate runs, decades fitted, points per curve, seeds; steps and batches of the batch runs."""

    steps: int
    decades: float
    points: int
    seeds: tuple[int, ...]
    batch_steps: int
    batches: tuple[int, ...]
    batch_seeds: tuple[int, ...]


QUICK = Setting(2_000, 1.5, 8, (0, 1), 500, (1, 8), (0, 1))
FULL = Setting(100_000, 2.5, 16, (0, 1, 2, 3, 4), 10_000, (1, 2, 4, 8, 16, 32, 64), (0, 1, 2, 3, 4))


def kink_slopes(z: np.ndarray, star: np.ndarray) -> np.ndarray:
    """Per coordinate, the smaller one-sided slope of mean_i |theta - z_i| at its minimizer ``star``.

    Right of the median the slope is P(z <= star) - P(z > star), left of it P(z >= star) - P(z < star).

    >>> kink_slopes(np.array([[0.0], [0.0], [1.0]]), np.array([0.0])).round(3).tolist()
    [0.333]
    """
    right = (z <= star).mean(axis=0) - (z > star).mean(axis=0)
    left = (z >= star).mean(axis=0) - (z < star).mean(axis=0)
    return np.minimum(left, right)


def min_kink_slope() -> float:
    """The smallest one-sided kink slope over all pixels: how nearly flat the flattest coordinate is."""
    x, _ = load_digits()
    return float(kink_slopes(x, np.median(x, axis=0)).min())


def median_problem(margin: float = MARGIN) -> Convex:
    """F(theta) = mean_i ||theta - x_i||_1 over the pixels (0..16) whose median is a kink of slope >= margin."""
    x, _ = load_digits()
    full = np.median(x, axis=0)  # n = 1797 is odd: every coordinate's median is a pixel value
    keep = kink_slopes(x, full) >= margin
    if not keep.any():
        raise ValueError(f"no pixel's median has a kink of slope >= {margin}; lower the margin")
    z, star = x[:, keep], full[keep]
    f_star = float(np.abs(star[None, :] - z).sum(axis=1).mean())
    return Convex("median", {"x": np.ones((len(z), 1)), "y": z}, star, f_star, 0.0, math.sqrt(z.shape[1]))


def ridge_problem(lam: float = LAM) -> Convex:
    """Ridge regression of y = +1 (odd digit) / -1 on unit-norm images; optimum from np.linalg.lstsq."""
    x, labels = load_digits(scale=True)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = np.where(labels % 2 == 1, 1.0, -1.0)
    n, d = x.shape
    # min (1/2n)||X t - y||^2 + (lam/2)||t||^2  ==  min (1/2)||[X/sqrt(n); sqrt(lam) I] t - [y/sqrt(n); 0]||^2
    a = np.vstack([x / math.sqrt(n), math.sqrt(lam) * np.eye(d)])
    star = np.linalg.lstsq(a, np.concatenate([y / math.sqrt(n), np.zeros(d)]), rcond=None)[0]
    mu = float(np.linalg.eigvalsh(x.T @ x / n + lam * np.eye(d))[0])
    p = Convex("ridge", {"x": x, "y": y[:, None]}, star, 0.0, mu, float("nan"), lam)
    return Convex("ridge", p.data, star, p.risk(star), mu, float("nan"), lam)


def loglog_slope(ts: np.ndarray, gaps: np.ndarray) -> float:
    """Least-squares slope of log(gap) against log(t).

    >>> round(loglog_slope(np.array([10, 100, 1000]), np.array([1.0, 0.1, 0.01])), 6)
    -1.0
    """
    return float(np.polyfit(np.log(ts), np.log(np.maximum(gaps, 1e-300)), 1)[0])


def config(problem: Convex, steps: int, batch: int, seed: int) -> SGDConfig:
    """The schedule the notes' rate needs: c/sqrt(t) with averaging (convex), 1/(mu t) (strongly convex)."""
    if problem.name == "median":
        return SGDConfig(C_SQRT, steps, batch, "sqrt", seed=seed, sampling="replace", average=True)
    return SGDConfig(1.0, steps, batch, "inverse", lam=problem.mu, seed=seed, sampling="replace")


def gap_path(problem: Convex, cfg: SGDConfig, ts: np.ndarray) -> np.ndarray:
    """F(theta_t) - F* at each t of ``ts`` (the averaged iterate if the config keeps one), one run from 0."""
    graph = convex_graph(problem, cfg.batch)
    data = {k: problem.data[k] for k in graph.inputs}
    trainer = Trainer(graph, data, cfg, params={"theta": np.zeros(graph.params["theta"])})
    gaps = []
    for t in ts:
        while trainer.step < t:
            trainer.sgd_step()
        theta = trainer.average["theta"] if trainer.average is not None else trainer.params["theta"]
        gaps.append(problem.risk(theta) - problem.f_star)
    return np.array(gaps)


def rate(problem: Convex, s: Setting) -> dict[str, object]:
    """Per-seed gap paths on a log grid over the last ``s.decades`` decades, their slopes and the mean path's."""
    ts = np.unique(np.round(np.geomspace(s.steps / 10**s.decades, s.steps, s.points)).astype(int))
    paths = np.array([gap_path(problem, config(problem, s.steps, 1, seed), ts) for seed in s.seeds])
    if (paths <= 0).any():
        raise ArithmeticError(f"{problem.name}: a suboptimality F - F* <= 0; the reference optimum is wrong")
    slopes = [loglog_slope(ts, p) for p in paths]
    mean_path = paths.mean(axis=0)
    return {
        "t": ts,
        "mean": mean_path,
        "slope": loglog_slope(ts, mean_path),
        "slopes": slopes,
        "lo": min(slopes),
        "hi": max(slopes),
        "scaled": mean_path * ts,  # t * gap: flat for O(1/t)
    }


def batch_effect(problem: Convex, s: Setting) -> dict[str, object]:
    """Mean gap after ``s.batch_steps`` steps per batch size, and the slope of log gap against log |B|."""
    ts = np.array([s.batch_steps])
    gaps = np.array(
        [
            np.mean([gap_path(problem, config(problem, s.batch_steps, b, seed), ts)[0] for seed in s.batch_seeds])
            for b in s.batches
        ]
    )
    return {"batch": np.array(s.batches, dtype=float), "gap": gaps, "slope": loglog_slope(np.array(s.batches), gaps)}


def generate(out: Path, quick: bool) -> None:
    """Measure both rates and the batch-size effect; write macros, two data files and a table."""
    s = QUICK if quick else FULL
    start = time.perf_counter()
    convex, strong = median_problem(), ridge_problem()
    rc, rs = rate(convex, s), rate(strong, s)
    rb = batch_effect(strong, s)
    seconds = time.perf_counter() - start
    theory_c, theory_s, theory_b = -0.5, -1.0, -1.0
    write_dat(
        out,
        "sgd_convex",
        {"t": rc["t"], "gap": rc["mean"], "ref": rc["mean"][-1] * (rc["t"] / rc["t"][-1]) ** theory_c},
    )
    write_dat(
        out,
        "sgd_strong",
        {"t": rs["t"], "gap": rs["mean"], "ref": rs["mean"][-1] * (rs["t"] / rs["t"][-1]) ** theory_s},
    )
    write_dat(out, "sgd_batch", {"batch": rb["batch"], "gap": rb["gap"]})

    def check(slope: float, theory: float) -> str:
        return "agrees" if abs(slope - theory) <= SLOPE_TOL else "disagrees"

    write_macros(
        out,
        "sgd",
        {
            "sgdExamples": len(convex.data["y"]),
            "sgdDim": strong.data["x"].shape[1],
            "sgdPixels": convex.data["y"].shape[1],
            "sgdPixelMax": int(convex.data["y"].max()),
            "sgdMinKinkSlope": min_kink_slope(),
            "sgdRateBatch": 1,
            "sgdMargin": MARGIN,
            "sgdSteps": s.steps,
            "sgdFirstFit": int(rc["t"][0]),
            "sgdDecades": s.decades,
            "sgdSeeds": len(s.seeds),
            "sgdCSqrt": C_SQRT,
            "sgdLambda": LAM,
            "sgdMu": round(strong.mu, 12),  # 1 - 6e-16 from eigvalsh would print as 1.000
            "sgdTol": SLOPE_TOL,
            "sgdSlopeConvexTheory": "$-1/2$",
            "sgdSlopeStrongTheory": "$-1$",
            "sgdSlopeConvex": rc["slope"],
            "sgdSlopeConvexLo": rc["lo"],
            "sgdSlopeConvexHi": rc["hi"],
            "sgdCheckConvex": check(rc["slope"], theory_c),
            "sgdSlopeStrong": rs["slope"],
            "sgdSlopeStrongLo": rs["lo"],
            "sgdSlopeStrongHi": rs["hi"],
            "sgdCheckStrong": check(rs["slope"], theory_s),
            "sgdGapConvexEnd": float(rc["mean"][-1]),
            "sgdGapStrongEnd": float(rs["mean"][-1]),
            "sgdBatchSteps": s.batch_steps,
            "sgdBatchMin": s.batches[0],
            "sgdBatchMax": s.batches[-1],
            "sgdBatchSeeds": len(s.batch_seeds),
            "sgdSlopeBatch": rb["slope"],
            "sgdCheckBatch": check(rb["slope"], theory_b),
            "sgdSeconds": seconds,
        },
    )
    rows = [
        ["convex", -0.5, rc["slope"], rc["lo"], rc["hi"]],
        ["strongly convex", -1.0, rs["slope"], rs["lo"], rs["hi"]],
    ]
    write_table(out, "sgd_table", ["problem", "theory", "measured", "seed min", "seed max"], rows)
