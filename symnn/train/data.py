"""Training data: the 8x8 digits shipped with symnn, splits, one-hot labels, synthetic convex problems.

The digits are the UCI "Optical Recognition of Handwritten Digits" test set (1,797 images,
CC BY 4.0), copied from scikit-learn; see ``symnn/data/README.md`` for the source and license.

>>> x, labels = load_digits()
>>> x.shape, labels.shape, int(x.max()), sorted(set(labels.tolist())) == list(range(10))
((1797, 64), (1797,), 16, True)
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources

import numpy as np

from .errors import DataError

DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"


def load_digits(scale: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits as (images (1797, 64) float64 in 0..16, labels (1797,) int64 in 0..9).

    ``scale=True`` divides the pixels by 16 (values in [0, 1]). The file's SHA-256 is checked first.
    """
    raw = resources.files("symnn").joinpath("data/digits.csv.gz").read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != DIGITS_SHA256:
        raise DataError(
            f"symnn/data/digits.csv.gz has SHA-256 {digest}, expected {DIGITS_SHA256}; "
            "the file is damaged: reinstall symnn"
        )
    table = np.loadtxt(gzip.decompress(raw).decode("ascii").splitlines(), delimiter=",")
    x, labels = table[:, :64].astype(np.float64), table[:, 64].astype(np.int64)
    return (x / 16.0 if scale else x), labels


def one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    """Rows e_{label}: (n,) ints in 0..classes-1 -> (n, classes) float64; other labels raise DataError.

    >>> one_hot(np.array([2, 0]), 3).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"labels must be a 1-D integer array, got dtype {labels.dtype} and shape {labels.shape}")
    bad = (labels < 0) | (labels >= classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"label {int(labels[i])} at row {i} is out of range 0..{classes - 1} for a model with {classes} "
            "outputs; fix the labels or the model's output size"
        )
    out = np.zeros((labels.size, classes))
    out[np.arange(labels.size), labels] = 1.0
    return out


def split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of range(n) into (train indices, test indices), both sorted."""
    if not 0.0 <= test_fraction < 1.0:
        raise DataError(f"test_fraction must be in [0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    k = round(n * test_fraction)
    return np.sort(order[k:]), np.sort(order[:k])


def check_arrays(arrays: dict[str, np.ndarray], what: str) -> int:
    """The common number of rows of ``arrays``; NaN or inf, or different row counts, raise DataError."""
    rows = {name: np.shape(a)[0] if np.ndim(a) else None for name, a in arrays.items()}
    if None in rows.values() or len(set(rows.values())) != 1:
        raise DataError(f"{what}: every array needs the same number of rows (axis 0), got {rows}")
    for name, a in arrays.items():
        finite = np.isfinite(a)
        if not finite.all():
            where = tuple(int(i) for i in np.argwhere(~finite)[0])
            raise DataError(f"{what}: {name!r} holds {a[where]} at index {where}; remove or impute non-finite values")
    return int(next(iter(rows.values())) or 0)


# -- synthetic convex problems ------------------------------------------------------------------------
@dataclass(frozen=True)
class Convex:
    """A finite-sum convex problem: data arrays, the risk F(theta) in NumPy and its optimum (computed apart)."""

    name: str
    data: dict[str, np.ndarray]
    theta_star: np.ndarray
    f_star: float
    mu: float  # strong convexity constant (0: none)
    lipschitz: float  # bound on the per-example gradient norm near the optimum (nan: not Lipschitz)
    lam: float = 0.0  # the ridge penalty

    def risk(self, theta: np.ndarray) -> float:
        """F(theta), the full-data objective, in plain NumPy (independent of the generated kernels)."""
        x, y = self.data["x"], self.data["y"]
        if self.name == "median":
            return float(np.abs(theta[None, :] - y).sum(axis=1).mean())
        r = x @ theta - y[:, 0]
        return float(0.5 * np.mean(r * r) + 0.5 * self.lam * theta @ theta)


def median_problem(n: int = 999, dim: int = 2, seed: int = 0) -> Convex:
    """Convex, 1-Lipschitz per coordinate, not strongly convex: F(theta) = mean_i sum_j |theta_j - z_ij|.

    Each coordinate's z takes the values -1, 0, +1 in unequal proportions with the median at an atom
    0, so F has a sharp, asymmetric minimum at theta* = 0: SGD with step c/sqrt(t) keeps its averaged
    iterate at a bias of order c/sqrt(T), which is the O(1/sqrt(T)) of the notes. The optimum is the
    coordinate-wise sample median (checked with np.median), F* = mean_i sum_j |z_ij|.
    """
    rng = np.random.default_rng(seed)
    probs = np.array([0.15, 0.45, 0.40])  # P(-1), P(0), P(+1): median 0, slopes 0.45-0.25 vs 0.45+0.25 -> asymmetric
    z = rng.choice(np.array([-1.0, 0.0, 1.0]), size=(n, dim), p=probs)
    star = np.median(z, axis=0)
    f_star = float(np.abs(star[None, :] - z).sum(axis=1).mean())
    return Convex("median", {"x": np.ones((n, 1)), "y": z}, star, f_star, 0.0, float(np.sqrt(dim)))


def ridge_problem(n: int = 512, dim: int = 3, lam: float = 1.0, noise: float = 0.5, seed: int = 0) -> Convex:
    """Strongly convex least squares: F(theta) = (1/2n) ||X theta - y||^2 + (lam/2) ||theta||^2.

    The rows of X lie on the unit sphere, so every example's curvature (||x||^2 + lam) stays below
    twice mu: the first steps of alpha_t = 1/(mu t) do not overshoot, and the O(1/t) regime starts early.

    The optimum solves (X^T X / n + lam I) theta = X^T y / n (np.linalg.solve); mu is the smallest
    eigenvalue of that matrix (np.linalg.eigvalsh).
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = x @ rng.standard_normal(dim) + noise * rng.standard_normal(n)
    h = x.T @ x / n + lam * np.eye(dim)
    star = np.linalg.solve(h, x.T @ y / n)
    p = Convex("ridge", {"x": x, "y": y[:, None]}, star, 0.0, 0.0, float("nan"), lam)
    mu = float(np.linalg.eigvalsh(h)[0])
    return Convex("ridge", p.data, star, p.risk(star), mu, float("nan"), lam)
