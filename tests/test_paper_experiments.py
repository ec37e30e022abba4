"""The paper's experiment generators (double descent, SGD rates, forward vs reverse mode) in quick mode.

Each generator runs once into a temporary directory; the tests check that every macro, table and
data file the sections use exists and parses, and the properties the sections claim, against
expectations that do not come from the generators' own summaries.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "paper"
sys.path.insert(0, str(PAPER))

from gen import autodiff, double_descent, sgd  # noqa: E402

GENERATORS = {"double_descent": double_descent, "sgd": sgd, "autodiff": autodiff}
PREFIX = {"double_descent": "dd", "sgd": "sgd", "autodiff": "ad"}


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("generated")
    for module in GENERATORS.values():
        module.generate(path, quick=True)
    return path


def defined_macros(path: Path) -> dict[str, str]:
    return dict(re.findall(r"^\\newcommand\{\\([A-Za-z]+)\}\{(.*)\}$", path.read_text(), flags=re.M))


def read_dat(path: Path) -> dict[str, np.ndarray]:
    lines = path.read_text().strip().splitlines()
    header = lines[0].split()
    rows = [line.split() for line in lines[1:]]
    assert rows, f"{path.name} has no data rows"
    assert all(len(r) == len(header) for r in rows), f"{path.name}: rows with a column count other than {len(header)}"
    table = np.array([[float(v) for v in r] for r in rows])
    return {name: table[:, i] for i, name in enumerate(header)}


@pytest.mark.parametrize("name", list(GENERATORS))
def test_section_uses_only_generated_macros_and_files(out: Path, name: str) -> None:
    section = (PAPER / "sections" / f"{name}.tex").read_text()
    macros = defined_macros(out / f"{name}.tex")
    assert macros and all(k.startswith(PREFIX[name]) for k in macros)
    used = set(re.findall(rf"\\({PREFIX[name]}[A-Z][A-Za-z]*)", section))
    assert used, f"sections/{name}.tex uses none of its macros"
    assert used <= set(macros), f"undefined in generated/{name}.tex: {sorted(used - set(macros))}"
    for fname in re.findall(r"\\input\{generated/([^}]+)\}", section):
        text = (out / fname).read_text()
        assert "\\begin{tabular}" in text and "\\bottomrule" in text
    for options, fname in re.findall(r"table\[([^\]]*)\]\s*\{generated/([^}]+)\}", section):
        columns = read_dat(out / fname)
        wanted = re.findall(r"[xy]=(\w+)", options) + re.findall(r"\\thisrow\{(\w+)\}", options)
        assert wanted and set(wanted) <= set(columns), f"{fname} lacks columns {set(wanted) - set(columns)}"


def test_every_data_file_parses(out: Path) -> None:
    files = sorted(out.glob("*.dat"))
    assert {f.stem for f in files} >= {"double_descent", "sgd_convex", "sgd_strong", "sgd_batch", "autodiff"}
    for f in files:
        assert all(np.isfinite(v).all() for v in read_dat(f).values()), f.name


def test_double_descent_peaks_at_the_interpolation_threshold(out: Path) -> None:
    d = read_dat(out / "double_descent.dat")
    n_train = double_descent.QUICK.n_train
    thr = int(np.flatnonzero(d["N"] == n_train)[0])
    under = int(np.argmin(np.abs(d["N"] - n_train / 5)))  # clearly under-parameterized
    assert d["N"][under] <= n_train / 3
    assert d["test_mse"][thr] > 5 * d["test_mse"][-1]
    assert d["test_mse"][thr] > 5 * d["test_mse"][under]
    assert d["test_err"][thr] > d["test_err"][-1] and d["test_err"][thr] > d["test_err"][under]
    # beyond the threshold the minimum-norm solution interpolates: zero training error up to rounding
    assert np.all(d["train_mse"][d["N"] > n_train] < 1e-12)
    assert np.all(d["train_mse"][d["N"] < n_train / 2] > 0.05)
    macros = defined_macros(out / "double_descent.tex")
    assert macros["ddPeakFeatures"] == str(n_train) and macros["ddPeakCheck"] == "passed"


def test_feature_grid_contains_the_threshold() -> None:
    grid = double_descent.feature_grid(123, 7.0, 9)
    assert 123 in grid and grid == sorted(set(grid)) and grid[-1] == 861


def test_sgd_reference_optima_are_optimal() -> None:
    p = sgd.ridge_problem()
    x, y = p.data["x"], p.data["y"][:, 0]
    gradient = x.T @ (x @ p.theta_star - y) / len(y) + p.lam * p.theta_star
    assert np.max(np.abs(gradient)) < 1e-12
    assert abs(p.mu - p.lam) < 1e-9  # constant zero pixels: X^T X is singular
    m = sgd.median_problem()
    rng = np.random.default_rng(0)
    for _ in range(20):  # no nearby point is better than the coordinate-wise median
        assert m.risk(m.theta_star + 0.01 * rng.standard_normal(m.theta_star.shape)) >= m.f_star - 1e-12


def test_sgd_rates(out: Path) -> None:
    convex, strong, batch = (read_dat(out / f"sgd_{k}.dat") for k in ("convex", "strong", "batch"))
    for d in (convex, strong):
        assert np.all(d["gap"] > 0) and np.all(np.diff(d["t"]) > 0)
    decades = np.log10(convex["t"][-1] / convex["t"][0])
    assert convex["gap"][-1] < convex["gap"][0] * 10 ** (-0.3 * decades)  # at least t^-0.3
    assert strong["gap"][-1] < strong["gap"][0] * 10 ** (-0.6 * decades)  # at least t^-0.6
    slope = np.polyfit(np.log(convex["t"]), np.log(convex["gap"]), 1)[0]
    assert -0.8 < slope < -0.35
    assert np.all(np.diff(batch["gap"]) < 0), "a larger batch must give a smaller gap after the same steps"


def test_autodiff_costs(out: Path) -> None:
    d = read_dat(out / "autodiff.dat")
    widths = np.array(autodiff.QUICK.widths)
    # independent count: x @ W1^T (batch * d * h) and h @ W2^T (batch * h) multiply-adds
    assert np.array_equal(d["macs_fwd"], autodiff.BATCH * (autodiff.D_IN * widths + widths))
    assert np.array_equal(d["n"], (autodiff.D_IN + 2) * widths + 1)
    assert np.all(d["rev_ratio"] < 4) and np.all(d["rev_ratio"] >= 1)
    assert np.all(d["us_fwd"] > 0)  # timings are reported, never compared (shared, noisy machine)
    assert np.all(np.diff(d["fm_ratio"]) > 0) and np.all(d["fm_ratio"] >= d["n"])
    per_input = d["fm_ratio"] / d["n"]  # n JVPs, each a small constant times the forward pass
    assert np.allclose(per_input, per_input[0], rtol=0.1)
    assert defined_macros(out / "autodiff.tex")["adAgree"] == "agree"


def test_autodiff_raises_on_a_gradient_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(autodiff, "RTOL", -1.0)  # no difference passes: the comparison must be live
    with pytest.raises(autodiff.GradientMismatch, match="differ"):
        autodiff.measure(autodiff.QUICK.widths[0], repeats=1)
