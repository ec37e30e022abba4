"""examples/tour.ipynb runs in a real Jupyter kernel and shows equations, drawings and tables."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

TOUR = Path(__file__).resolve().parent.parent / "examples" / "tour.ipynb"


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.read(TOUR, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(TOUR.parent)}}
    )
    client.execute()
    return nb


def _mimes(cell) -> set[str]:
    return {m for o in cell.outputs for m in o.get("data", {})}


def test_the_tour_runs_without_errors(executed):
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, [f"{o.ename}: {o.evalue}" for o in errors]


def test_graphs_display_as_equations_and_drawings(executed):
    code = [c for c in executed.cells if c.cell_type == "code"]
    graph_cells = [c for c in code if c.source.rstrip().endswith(("\ngraph", "\nbackprop"))]
    assert len(graph_cells) == 2
    for cell in graph_cells:
        assert {"text/latex", "image/svg+xml"} <= _mimes(cell)
        (out,) = [o for o in cell.outputs if o.output_type == "execute_result"]
        assert out.data["text/latex"].startswith("$$\\begin{align*}")
        assert out.data["image/svg+xml"].lstrip().startswith(("<svg", "<?xml"))
    # the gradient's equations name the adjoints of the parameters, as the notes write them
    assert "\\bar{W}^{(0)}" in graph_cells[1].outputs[0].data["text/latex"]
    drawn = [c for c in code if c.source.startswith("graph.draw()")]
    assert drawn and "image/svg+xml" in _mimes(drawn[0])


def test_kernel_and_reports_display_as_html_tables(executed):
    code = [c for c in executed.cells if c.cell_type == "code"]
    html = {
        c.source.splitlines()[-1]: c.outputs[-1].data.get("text/html", "") for c in code if "text/html" in _mimes(c)
    }
    kernel = next(v for k, v in html.items() if k == "kernel")
    assert "signature" in kernel and "certified" in kernel
    report = next(v for k, v in html.items() if k.startswith("gradcheck("))
    assert "&#x2713;" in report and "pass" in report
    mine = next(v for k, v in html.items() if k == ")")  # check_implementation(...)
    assert "my backprop" in mine and "&#x2717;" not in mine
