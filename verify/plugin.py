"""The pytest plugin of symnn: ``check_gradients`` and ``check_implementation`` fixtures for users' own suites.

Installed with symnn (entry point ``pytest11``), so in any project::

    from symnn.layers import MLP
    from symnn.trace import trace

    def test_my_model_gradients(check_gradients):
        check_gradients(trace(MLP((3, 5, 1), "tanh"), "mse", {"x": (4, 3)}))

    def test_my_backprop(check_implementation):
        check_implementation(my_loss_and_grads, "mlp:4-8-1", rename={"W1": "0.W", ...})

``check_gradients(model, point=None, options=None, **overrides)`` takes a Graph or anything
with ``.graph()`` (a zoo ``Model``), runs ``verify.gradcheck`` with ``options`` (a
``verify.CheckOptions``; default: the defaults with the command-line options below) changed by
``overrides`` and fails the test with the report table unless every path agrees with every
oracle; it returns the report. ``check_implementation(impl, reference=None, options=None,
**kwargs)`` does the same for a user's own gradient code (``verify.check_implementation``),
failing with the first disagreeing coordinate (``grad W1[2, 0]: got ..., expected ...``).
Command-line options: ``--symnn-seed N`` (the seed of points and directions, default 0) and
``--symnn-paths symbolic,executor`` (leave out the generated kernel to skip its compilation).

pytest loads this plugin at every start of any project where symnn is installed, so it imports
nothing heavy: ``verify``'s names (``verify.gradcheck``, ...) import their modules when a fixture
first uses them, and a test session that uses neither fixture never loads SymPy or Numba.

Both fixtures are session-scoped (they hold no state between calls), so they work inside
Hypothesis's ``@given`` without suppressing any health check::

    from hypothesis import given, settings
    from verify import strategies

    @settings(settings.get_profile("symnn"), max_examples=5)
    @given(strategies.networks(max_blocks=2, smooth_only=True))
    def test_random_networks(check_gradients, net):
        check_gradients(net, paths=("symbolic", "executor"))

``check_implementation`` runs a Hypothesis search of its own; inside ``@given`` give it the
test's ``st.data()`` (``check_implementation(impl, ref, data=data)``): it then draws one case
from it and the outer test does the searching and shrinking.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

import verify  # a lazy facade: the checks (SymPy, NumPy, Numba, Hypothesis) load when a fixture first runs

if TYPE_CHECKING:
    from verify.options import CheckOptions


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("symnn", "symnn gradient checks")
    group.addoption("--symnn-seed", type=int, default=0, help="seed of the check_gradients fixture (default 0)")
    group.addoption(
        "--symnn-paths",
        default=None,
        help="comma-separated derivative implementations for check_gradients (default: symbolic,kernel,executor)",
    )


def _current_test() -> str:
    """The name of the running test (pytest sets ``PYTEST_CURRENT_TEST``: ``path::name (call)``)."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    return current.rsplit("::", 1)[-1].split(" ")[0] or "check"


def _defaults(config: pytest.Config) -> CheckOptions:
    defaults = verify.CheckOptions(seed=config.getoption("symnn_seed"))
    paths = config.getoption("symnn_paths")
    if paths:
        defaults = defaults.replace(paths=tuple(p.strip() for p in paths.split(",") if p.strip()))
    return defaults


@pytest.fixture(scope="session")
def check_gradients(pytestconfig: pytest.Config) -> Callable[..., Any]:
    """``check_gradients(graph_or_model, point=None, options=None, **overrides)``: fail unless all oracles agree."""
    defaults = _defaults(pytestconfig)

    def check(model: Any, point: Any = None, options: CheckOptions | None = None, **overrides: Any) -> Any:
        graph = model.graph() if callable(getattr(model, "graph", None)) else model
        overrides.setdefault("name", _current_test())
        report = verify.gradcheck(graph, point, options if options is not None else defaults, **overrides)
        if not report.ok:
            pytest.fail(report.table(), pytrace=False)
        return report

    return check


@pytest.fixture(scope="session")
def check_implementation(pytestconfig: pytest.Config) -> Callable[..., Any]:
    """``check_implementation(impl, reference=None, options=None, **kwargs)``: fail naming the first bad coordinate."""
    defaults = _defaults(pytestconfig)

    def check(
        impl: Callable[..., Any], reference: Any = None, options: CheckOptions | None = None, **kwargs: Any
    ) -> Any:
        kwargs.setdefault("name", _current_test())
        report = verify.check_implementation(impl, reference, options if options is not None else defaults, **kwargs)
        if not report.ok:
            pytest.fail(f"{report.info['first']}\n\n{report.table()}", pytrace=False)
        return report

    return check
