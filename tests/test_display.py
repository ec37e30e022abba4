"""Rich display: a Graph's equations and drawing, gradcheck reports, boolean results and kernels as HTML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
import sympy as sp

import symnn.printing
from symnn import draw
from symnn.ir import DISPLAY_MAX_NODES, Builder
from symnn.zoo import resolve
from verify.boolean import boolean_function
from verify.boolean.counts import CountResult
from verify.boolean.threshold import threshold
from verify.report import Report, Row

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def mlp():
    return resolve("mlp:3-4-1").graph()


def test_the_svg_draws_every_leaf_op_and_output_once(mlp):
    root = ET.fromstring(str(mlp.draw(engine="builtin")))
    kinds = [g.get("class") for g in root.iter(f"{SVG}g")]
    assert kinds.count("param") == len(mlp.params)
    assert kinds.count("input") == len(mlp.inputs)
    assert kinds.count("output") == len(mlp.outputs)
    assert kinds.count("op") + kinds.count("const") == len(mlp) - len(mlp.leaves())
    # one arrow per distinct argument of every node, and one into every output
    arrows = sum(len(set(n.args)) for n in mlp.nodes) + len(mlp.outputs)
    assert len(list(root.iter(f"{SVG}line"))) == arrows


def test_the_layout_puts_every_node_right_of_its_arguments(mlp):
    boxes, edges = draw.layout(mlp)
    column = {b.key: b.column for b in boxes}
    assert all(column[a] < column[b] for a, b in edges)
    assert {column[f"n{i}"] for i in mlp.leaf_ids()} == {0}


def test_drawn_names_are_the_equations_names(mlp):
    bindings = symnn.printing.equations(mlp)
    names = draw.node_names(mlp)
    computed = [names[i] for i, n in enumerate(mlp.nodes) if n.args]
    assert computed == [b.name for b in bindings if b.op != "alias"][: len(computed)]


def test_dot_text_has_a_node_per_value_and_output_and_an_edge_per_argument(mlp):
    dot = mlp.to_dot()
    assert dot.startswith("digraph G {") and dot.rstrip().endswith("}")
    assert sum(" [label=" in line for line in dot.splitlines()) == len(mlp) + len(mlp.outputs)
    assert sum(" -> " in line for line in dot.splitlines()) == sum(len(set(n.args)) for n in mlp.nodes) + len(
        mlp.outputs
    )


def test_labels_are_escaped_in_svg_and_dot():
    b = Builder()
    x = b.input("x", (2,))
    g = b.build(x * 2, names=['a"<b>&'])
    assert "&lt;b&gt;" in str(draw.to_svg(g, "builtin"))
    assert 'a\\"<b>&' in draw.to_dot(g)


def test_an_unknown_engine_is_refused(mlp):
    with pytest.raises(draw.DrawError, match="builtin"):
        mlp.draw(engine="png")


def test_graph_latex_is_the_equations(mlp):
    tex = mlp._repr_latex_()
    assert tex == "$$" + symnn.printing.to_latex(mlp) + "$$"
    assert tex.count("&=") == len(symnn.printing.equations(mlp))


def test_a_huge_graph_displays_as_its_repr():
    b = Builder()
    x = b.input("x", (2,))
    for _ in range(DISPLAY_MAX_NODES):
        x = x.map(sp.sin)
    g = b.build(x)
    assert g._repr_latex_() is None and g._repr_svg_() is None
    assert str(g.draw(engine="builtin")).startswith("<svg")


def test_report_html_marks_passing_and_failing_rows():
    rows = (
        Row("executor reverse", "fd", "pass", 3, 1e-12, 1e-6),
        Row("kernel", "mpmath", "FAIL", 3, 0.5, 1e-6),
        Row("kernel", "fd", "kink", 0),
    )
    html = Report("demo", rows)._repr_html_()
    lines = [line for line in html.splitlines() if line.startswith("<tr style")]
    assert len(lines) == 2  # the kink row is neither passed nor failed
    assert "#e6f4e6" in lines[0] and "\u2713" in lines[0]
    assert "#fbe3e3" in lines[1] and "\u2717" in lines[1] and "mpmath" in lines[1]
    assert "FAILED" in html and "&#x2717;" in html  # the caption is the summary, marked failed
    assert "<b>" not in Report("<b>", rows[:1])._repr_html_()


def test_boolean_results_as_html():
    counts = CountResult(n=3, counts={"lp": 104, "regions": 104}, seconds={"lp": 0.1, "regions": 0.2}, oeis=104)
    assert counts._repr_html_().count("\u2713") == 2
    wrong = CountResult(n=3, counts={"lp": 103}, seconds={}, oeis=104)._repr_html_()
    assert "\u2717" in wrong and "&#x2717;" in wrong
    xor = threshold(boolean_function(lambda x: x[0] * x[1] > 0, 2))
    assert not xor.is_threshold and "not a threshold function" in xor._repr_html_()
    conj = threshold(boolean_function(lambda x: x[0] > 0 and x[1] > 0, 2))
    assert conj.is_threshold and "weights" in conj._repr_html_()


def test_kernel_repr_and_html_name_signature_path_and_certification():
    from symnn.codegen import compile

    b = Builder()
    x, w = b.input("x", (2, 3)), b.param("W", (4, 3))
    k = compile(b.build(x @ w.T), np.float64)
    assert "kernel(x: float64[2, 3], W: float64[4, 3]) -> {out: float64[2, 4]}" in repr(k)
    assert f"path={k.path}" in repr(k) and "not certified" in repr(k)
    html = k._repr_html_()
    assert k.path in html and "certified" in html and "float64[4, 3]" in html


def test_an_exhaustive_evaluation_as_html():
    from verify.boolean import construct
    from verify.boolean.exhaustive import evaluate

    f = boolean_function(lambda x: x[0] * x[1] * x[2] > 0, 3)  # parity of 3 bits
    ev, _ = evaluate(construct(f), f)
    assert ev.ok and ev._repr_html_().count("\u2713") == 3 and "&#x2713;" in ev._repr_html_()


def test_the_text_table_names_coordinate_failures_as_coordinates():
    from verify.report import Comparison, render

    coord = Comparison("w[0,1]", 1.0, 2.0, 0.5, 1e-8, "fd")
    direction = Comparison("direction 2", 1.0, 2.0, 0.5, 1e-8, "fd")
    by_coords = Report("m", (Row("impl gradient", "fd", "FAIL", 6, 0.5, 1e-8, "1 of 6 disagree", (coord,)),))
    by_dirs = Report("m", (Row("kernel reverse", "fd", "FAIL", 3, 0.5, 1e-8, "", (direction,)),))
    assert "impl gradient vs fd: coordinates disagree; 1 of 6 disagree" in render([("m", by_coords)])
    assert "directions" not in render([("m", by_coords)]).split("disagreements:")[1]
    assert "kernel reverse vs fd: 1 of 3 directions disagree" in render([("m", by_dirs)])
