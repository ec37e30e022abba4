"""Plots are Figures made without pyplot: the caller's matplotlib backend is never changed."""

from __future__ import annotations

import pytest

from verify.convergence import Verdict, history_figure, plot_rates, rates_figure, save_figure

matplotlib = pytest.importorskip("matplotlib")

HISTORY = [{"step": s, "train_loss": 1.0 / (s + 1), "test_loss": 1.2 / (s + 1)} for s in range(0, 50, 10)]


@pytest.fixture
def backend():
    """The backend before the test, restored after it (the test sets a distinctive one)."""
    before = matplotlib.get_backend()
    matplotlib.use("svg")  # a backend no helper would pick for itself
    yield "svg"
    matplotlib.use(before)


def test_history_figure_is_a_figure_and_leaves_the_backend(backend, tmp_path):
    from matplotlib.figure import Figure

    fig = history_figure(HISTORY)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == ["train loss", "test loss"]
    assert list(ax.get_lines()[0].get_xdata()) == [0, 10, 20, 30, 40]
    assert matplotlib.get_backend().lower() == backend
    path = save_figure(fig, tmp_path / "loss.png")
    assert path.read_bytes().startswith(b"\x89PNG")
    assert matplotlib.get_backend().lower() == backend


def test_rates_figure_plots_each_rate_with_its_slope(backend, tmp_path):
    v = Verdict("convex", True, "", {"T": [10, 100, 1000], "median_gap": [1.0, 0.3, 0.1], "slope": -0.5})
    fig = rates_figure([v, Verdict("other", True, "", {})])
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == ["convex slope -0.50"]
    assert ax.get_xscale() == "log"
    assert plot_rates([v], str(tmp_path / "rates.svg")) == str(tmp_path / "rates.svg")
    assert (tmp_path / "rates.svg").read_text().lstrip().startswith("<?xml")
    assert matplotlib.get_backend().lower() == backend


def test_the_train_cli_saves_the_figure(tmp_path):
    from symnn.cli.train import plot

    assert plot(HISTORY, tmp_path / "p.pdf") == tmp_path / "p.pdf"
    assert (tmp_path / "p.pdf").read_bytes().startswith(b"%PDF")
