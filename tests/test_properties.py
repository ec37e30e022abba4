"""Property tests: random networks where every oracle agrees, every spec-table row, and the dot-product identity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verify import CheckOptions, gradcheck, spec
from verify import strategies as vs
from verify.gradients import Implementation, make_problem, random_directions
from verify.spec import OP_ROWS

PATHS = ("symbolic", "executor")  # the generated kernel compiles per graph: see test_gradcheck and symnn check
ORACLES = ("fd", "complex-step", "mpmath", "adjoint")
OPTIONS = CheckOptions(paths=PATHS, oracles=ORACLES)


@settings(max_examples=12, deadline=None)
@given(vs.networks(), st.integers(0, 2**16))
def test_every_oracle_agrees_on_random_networks(model, seed):
    report = gradcheck(model.graph(), None, OPTIONS, seed=seed, name=model.name)
    assert report.ok, report.table()


@settings(max_examples=8, deadline=None)
@given(vs.networks(smooth_only=True, max_blocks=2), st.integers(0, 2**16))
def test_smooth_networks_never_report_kinks(model, seed):
    report = gradcheck(model.graph(), paths=("executor",), seed=seed)
    assert report.ok, report.table()
    assert all(r.verdict == "pass" for r in report.rows)


def _fixed():
    from symnn.layers import MLP
    from symnn.trace import trace

    return trace(MLP((3, 4, 2), "relu"), "hinge", {"x": (2, 3)})


_FIXED = _fixed()


@settings(max_examples=10, deadline=None)
@given(st.data())
def test_hypothesis_points_on_a_fixed_network(data):
    # points drawn by Hypothesis include zeros and bounds, i.e. kinks: they must be reported, never fail
    graph = _FIXED
    point = data.draw(vs.points(graph))
    report = gradcheck(graph, point, OPTIONS)
    assert report.ok, report.table()


@pytest.mark.parametrize("row", OP_ROWS, ids=lambda r: r.name)
def test_every_op_row_passes_gradcheck(row):
    report = gradcheck(row.graph(), None, OPTIONS.replace(low=row.low, high=row.high), name=row.name)
    assert report.ok, report.table()
    assert report.compared > 0


LAYER_ROWS = spec.layer_rows() if hasattr(spec, "layer_rows") else []  # the layer table, where it exists


@pytest.mark.parametrize("row", LAYER_ROWS, ids=lambda r: r.name)
def test_every_layer_row_passes_gradcheck(row):
    report = gradcheck(row.make(), None, OPTIONS, name=row.name)
    assert report.ok, report.table()


@settings(max_examples=10, deadline=None)
@given(vs.networks(losses=(None,)), st.integers(0, 2**16))
def test_forward_and_reverse_mode_agree_through_the_dot_product_identity(model, seed):
    # <c, J v> from forward mode equals <J^T c, v> from reverse mode, for a random cotangent c
    graph = model.graph()
    rng = np.random.default_rng(seed)
    problem = make_problem(graph, rng=rng)
    assert problem.cotangent is not None  # no loss: a tensor output, contracted with c
    dirs = random_directions(problem, 2, rng)
    for impl in ("symbolic", "executor"):
        im = Implementation(impl, problem)
        forward = im.directional(dirs)
        g = im.gradient()
        for v, jv in zip(dirs, forward, strict=True):
            terms = np.concatenate([(g[k] * v[k]).ravel() for k in v])
            assert abs(jv - terms.sum()) <= 1e-10 * (np.abs(terms).sum() + 1e-300), (impl, model.name)
