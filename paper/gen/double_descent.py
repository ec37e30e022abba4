"""Double descent of random-features regression on the digits (Belkin et al., PNAS 2019, Figure 1).

A fixed random first layer phi(x) = relu(W x + b) with N features, and an output layer fit by the
minimum-norm least-squares solution (``np.linalg.lstsq``, which returns the minimum-norm solution
when the system is underdetermined) to one-hot targets. Sweeping N through the interpolation
threshold N = n_train, the test error rises to a peak there and falls again beyond it. Every
figure is a mean over a few seeds (each seed draws a new train/test split and new features).

Writes ``double_descent.tex`` (macros ``\\dd...``), ``double_descent.dat`` (one row per N) and
``double_descent_table.tex`` (a few rows of the sweep).
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symnn.train.data import load_digits, one_hot, split

from .common import write_dat, write_macros, write_table

#: a peak counts as "at the threshold" when N_peak / n_train lies in [1 / PEAK_FACTOR, PEAK_FACTOR]
PEAK_FACTOR = 1.5
#: standard deviation of the random first-layer weights times sqrt(64) (pixels in [0, 1])
WEIGHT_SCALE = 3.0
#: the biases are uniform in [-BIAS_SCALE, BIAS_SCALE]
BIAS_SCALE = 1.0


@dataclass(frozen=True)
class Setting:
    """The size of one sweep: training examples, the N grid's extent and density, the seeds."""

    n_train: int
    n_max_factor: float
    points: int
    seeds: tuple[int, ...]


QUICK = Setting(n_train=100, n_max_factor=10.0, points=16, seeds=(0, 1, 2))
FULL = Setting(n_train=400, n_max_factor=20.0, points=40, seeds=(0, 1, 2, 3, 4))


def one_blas_thread() -> AbstractContextManager[object]:
    """Limit BLAS to one thread if threadpoolctl is installed: on a shared 2-core machine, LAPACK's
    threads fighting other processes make lstsq about 10x slower than on one thread."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: the results are the same, only slower
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def feature_grid(n_train: int, n_max_factor: float, points: int) -> list[int]:
    """A log-spaced grid of feature counts from 5 to n_max_factor * n_train that contains n_train itself.

    >>> g = feature_grid(100, 10.0, 8)
    >>> g[0], g[-1], 100 in g
    (5, 1000, True)
    """
    grid = np.round(np.geomspace(5, n_max_factor * n_train, points)).astype(int)
    return sorted({*grid.tolist(), n_train})


def sweep(setting: Setting) -> dict[str, np.ndarray]:
    """Train MSE, test MSE and test 0-1 error per N (rows of the grid), averaged over the seeds."""
    x, labels = load_digits(scale=True)
    grid = feature_grid(setting.n_train, setting.n_max_factor, setting.points)
    n_max = grid[-1]
    per_seed = []
    for seed in setting.seeds:
        train, test = split(len(labels), 1.0 - setting.n_train / len(labels), seed)
        train = train[: setting.n_train]
        rng = np.random.default_rng(10_000 + seed)
        w = rng.standard_normal((x.shape[1], n_max)) * (WEIGHT_SCALE / np.sqrt(x.shape[1]))
        b = rng.uniform(-BIAS_SCALE, BIAS_SCALE, n_max)
        # the features of the first N units do not depend on the later ones: compute them once
        f_train = np.maximum(x[train] @ w + b, 0.0)
        f_test = np.maximum(x[test] @ w + b, 0.0)
        y_train, y_test = one_hot(labels[train], 10), one_hot(labels[test], 10)
        rows = []
        for n in grid:
            coef = np.linalg.lstsq(f_train[:, :n], y_train, rcond=None)[0]  # minimum-norm least squares
            p_train, p_test = f_train[:, :n] @ coef, f_test[:, :n] @ coef
            rows.append(
                (
                    np.mean(np.sum((p_train - y_train) ** 2, axis=1)),
                    np.mean(np.sum((p_test - y_test) ** 2, axis=1)),
                    np.mean(p_test.argmax(axis=1) != labels[test]),
                    float(np.linalg.norm(coef)),
                )
            )
        per_seed.append(rows)
    arr = np.array(per_seed)  # (seeds, N, 4)
    mean = arr.mean(axis=0)
    return {
        "N": np.array(grid, dtype=float),
        "ratio": np.array(grid, dtype=float) / setting.n_train,
        "train_mse": mean[:, 0],
        "test_mse": mean[:, 1],
        "test_err": mean[:, 2],
        "norm": mean[:, 3],
        "test_mse_median": np.median(arr[:, :, 1], axis=0),
        "test_err_median": np.median(arr[:, :, 2], axis=0),
    }


def summarize(res: dict[str, np.ndarray], n_train: int) -> dict[str, object]:
    """The headline figures: where the test MSE peaks, its height and the errors on either side."""
    n = res["N"]
    peak = int(np.argmax(res["test_mse"]))
    under = n < n_train / 2  # clearly under-parameterized
    best_under = int(np.flatnonzero(under)[np.argmin(res["test_mse"][under])])
    best_under_err = int(np.flatnonzero(under)[np.argmin(res["test_err"][under])])
    thr = int(np.flatnonzero(n == n_train)[0])
    ratio = float(n[peak] / n_train)
    within = 1.0 / PEAK_FACTOR <= ratio <= PEAK_FACTOR
    interp = n >= n_train
    after = n >= n[best_under_err]  # the error's second rise: its maximum beyond the under-parameterized optimum
    err_peak = int(np.flatnonzero(after)[np.argmax(res["test_err"][after])])
    return {
        "peak_n": int(n[peak]),
        "peak_ratio": ratio,
        "within": within,
        "peak_mse": float(res["test_mse"][peak]),
        "peak_err": float(res["test_err"][peak]),
        "peak_mse_median": float(res["test_mse_median"][peak]),
        "err_peak_n": int(n[err_peak]),
        "err_peak": float(res["test_err"][err_peak]),
        "thr_mse": float(res["test_mse"][thr]),
        "thr_err": float(res["test_err"][thr]),
        "best_under_n": int(n[best_under]),
        "best_under_mse": float(res["test_mse"][best_under]),
        "best_under_err": float(res["test_err"][best_under_err]),
        "best_under_err_n": int(n[best_under_err]),
        "last_n": int(n[-1]),
        "last_mse": float(res["test_mse"][-1]),
        "last_err": float(res["test_err"][-1]),
        "max_train_mse_interp": float(res["train_mse"][interp].max()),
        "last_beats_under": bool(res["test_mse"][-1] < res["test_mse"][best_under]),
        "thr_norm": float(res["norm"][thr]),
        "last_norm": float(res["norm"][-1]),
        "best_under_norm": float(res["norm"][best_under]),
        "norm_decreasing": bool(np.all(np.diff(res["norm"][n >= n_train]) < 0)),
    }


def generate(out: Path, quick: bool) -> None:
    """Run the sweep (quick: n_train 100, full: 400) and write macros, the data file and a table."""
    setting = QUICK if quick else FULL
    start = time.perf_counter()
    with one_blas_thread():
        res = sweep(setting)
    seconds = time.perf_counter() - start
    s = summarize(res, setting.n_train)
    x, labels = load_digits()
    write_dat(
        out,
        "double_descent",
        {k: res[k] for k in ("N", "ratio", "train_mse", "test_mse", "test_mse_median", "test_err", "norm")},
    )
    pct = 100.0
    write_macros(
        out,
        "double_descent",
        {
            "ddNTrain": setting.n_train,
            "ddPixels": x.shape[1],
            "ddClasses": len(np.unique(labels)),
            "ddNTest": len(labels) - setting.n_train,
            "ddSeeds": len(setting.seeds),
            "ddGridPoints": len(res["N"]),
            "ddMinFeatures": int(res["N"][0]),
            "ddMaxFeatures": s["last_n"],
            "ddWeightScale": WEIGHT_SCALE,
            "ddBiasScale": BIAS_SCALE,
            "ddPeakFeatures": s["peak_n"],
            "ddPeakRatio": s["peak_ratio"],
            "ddPeakFactor": PEAK_FACTOR,
            "ddPeakCheck": "passed" if s["within"] else "failed",
            "ddPeakMSE": s["peak_mse"],
            "ddPeakErr": pct * s["peak_err"],
            "ddPeakMSEMedian": s["peak_mse_median"],
            "ddErrPeakFeatures": s["err_peak_n"],
            "ddErrPeak": pct * s["err_peak"],
            "ddThresholdMSE": s["thr_mse"],
            "ddThresholdErr": pct * s["thr_err"],
            "ddBestUnderFeatures": s["best_under_n"],
            "ddBestUnderMSE": s["best_under_mse"],
            "ddBestUnderErr": pct * s["best_under_err"],
            "ddBestUnderErrFeatures": s["best_under_err_n"],
            "ddLastMSE": s["last_mse"],
            "ddLastErr": pct * s["last_err"],
            "ddMaxTrainMSEInterp": s["max_train_mse_interp"],
            "ddLastBeatsUnder": "lower" if s["last_beats_under"] else "not lower",
            "ddThresholdNorm": s["thr_norm"],
            "ddLastNorm": s["last_norm"],
            "ddBestUnderNorm": s["best_under_norm"],
            "ddNormTrend": "decreases" if s["norm_decreasing"] else "does not decrease monotonically",
            "ddSeconds": seconds,
        },
    )
    keep = sorted({0, int(np.argmin(np.abs(res["N"] - s["best_under_n"]))), int(np.argmax(res["test_mse"]))})
    keep = sorted({*keep, len(res["N"]) - 1, *np.flatnonzero(res["N"] == setting.n_train).tolist()})
    rows = [
        [int(res["N"][i]), res["train_mse"][i], res["test_mse"][i], pct * res["test_err"][i], res["norm"][i]]
        for i in keep
    ]
    write_table(out, "double_descent_table", ["features N", "train MSE", "test MSE", "test error (%)", "norm"], rows)
