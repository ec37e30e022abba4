"""The pytest plugin of symnn: a ``check_gradients`` fixture for users' own test suites.

Installed with symnn (entry point ``pytest11``), so in any project::

    from symnn.layers import MLP
    from symnn.trace import trace

    def test_my_model_gradients(check_gradients):
        check_gradients(trace(MLP((3, 5, 1), "tanh"), "mse", {"x": (4, 3)}))

``check_gradients(model, point=None, **kwargs)`` takes a Graph or anything with ``.graph()``
(a zoo ``Model``), runs ``verify.gradcheck`` with ``kwargs`` and fails the test with the
report table unless every path agrees with every oracle; it returns the report. Command-line
options: ``--symnn-seed N`` (the seed of points and directions, default 0) and
``--symnn-paths symbolic,executor`` (leave out the generated kernel to skip its compilation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from verify.gradients import gradcheck


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("symnn", "symnn gradient checks")
    group.addoption("--symnn-seed", type=int, default=0, help="seed of the check_gradients fixture (default 0)")
    group.addoption(
        "--symnn-paths",
        default=None,
        help="comma-separated derivative implementations for check_gradients (default: symbolic,kernel,executor)",
    )


@pytest.fixture
def check_gradients(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``check_gradients(graph_or_model, point=None, **gradcheck_kwargs)``: fail the test unless all oracles agree."""
    seed = request.config.getoption("symnn_seed")
    paths = request.config.getoption("symnn_paths")

    def check(model: Any, point: Any = None, **kwargs: Any) -> Any:
        graph = model.graph() if callable(getattr(model, "graph", None)) else model
        kwargs.setdefault("seed", seed)
        kwargs.setdefault("name", request.node.name)
        if paths:
            kwargs.setdefault("paths", tuple(p.strip() for p in paths.split(",") if p.strip()))
        report = gradcheck(graph, point, **kwargs)
        if not report.ok:
            pytest.fail(report.table(), pytrace=False)
        return report

    return check
