"""gradcheck: oracles vs hand-derived derivatives, faults caught and located, kinks, bad input, options."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import sympy as sp

import symnn.executor  # noqa: F401  (registers the "exec.*" parts that tests override)
import verify.gradients as gc
from symnn import registry
from symnn.errors import ShapeError, SymnnError
from symnn.functions import relu
from symnn.ir import Builder
from symnn.ops import Einsum
from verify import (
    TOLERANCES,
    CheckOptions,
    Comparison,
    GradcheckFailure,
    NonFiniteError,
    NoParametersError,
    Tolerance,
    ToleranceError,
    VerificationError,
    assert_gradients,
    check_jvp,
    check_vjp,
    gradcheck,
)
from verify.campaign.gradients import check_campaign
from verify.check import check_models
from verify.options import MODEL_CHECK, GradcheckError
from verify.oracles import complex_step, finite_differences, kink_distance, mp_reference
from verify.tolerance import ORACLES

NUMERIC = ("symbolic", "executor")


def tanh_graph():
    """f(W, b) = sum(tanh(x W^T + b)^2) with x an input."""
    b = Builder()
    x = b.input("x", (2, 3))
    w = b.param("W", (2, 3))
    bias = b.param("b", (2,))
    h = (x @ w.T + bias).map(sp.tanh)
    return b.build((h * h).sum(), names=["loss"])


def tanh_grad(x, w, bias):
    """The gradient written by hand: d/dz tanh(z)^2 = 2 tanh(z) (1 - tanh(z)^2)."""
    z = x @ w.T + bias
    dz = 2 * np.tanh(z) * (1 - np.tanh(z) ** 2)
    return dz.T @ x, dz.sum(axis=0)


POINT = {
    "x": np.array([[0.5, -1.0, 0.25], [1.5, 0.75, -0.5]]),
    "W": np.array([[0.1, -0.2, 0.3], [-0.4, 0.5, 0.6]]),
    "b": np.array([0.05, -0.1]),
}


# -- the oracles against a hand-derived gradient ------------------------------------------------------
@pytest.mark.parametrize("oracle", [finite_differences, complex_step, mp_reference])
def test_oracles_match_hand_derived_directional_derivatives(oracle):
    gw, gb = tanh_grad(POINT["x"], POINT["W"], POINT["b"])
    rng = np.random.default_rng(1)
    dirs = [{"W": rng.standard_normal((2, 3)), "b": rng.standard_normal(2)} for _ in range(2)]
    est = oracle(tanh_graph(), POINT, "loss", None, dirs)
    for e, v in zip(est, dirs, strict=True):
        expected = float(np.sum(gw * v["W"]) + np.sum(gb * v["b"]))
        assert e.status == "ok"
        assert e.value == pytest.approx(expected, rel=1e-9 if oracle is not finite_differences else 1e-7)


def test_oracles_contract_a_non_scalar_output_with_the_cotangent():
    b = Builder()
    w = b.param("w", (3,))
    g = b.build(w.map(sp.exp) * w)  # f_i = w_i exp(w_i), df_i/dw_i = (1 + w_i) exp(w_i)
    w0, c, v = np.array([0.1, -0.3, 0.7]), np.array([1.0, -2.0, 0.5]), np.array([0.2, 0.4, -1.0])
    expected = float(np.sum(c * (1 + w0) * np.exp(w0) * v))
    for oracle in (finite_differences, complex_step, mp_reference):
        assert oracle(g, {"w": w0}, "out", c, [{"w": v}])[0].value == pytest.approx(expected, rel=1e-8)


def test_mpmath_reference_is_far_more_precise_than_float64_differences():
    b = Builder()
    w = b.param("w", ())
    g = b.build(w.map(sp.exp))  # d exp = exp: known to every digit
    est = mp_reference(g, {"w": np.array(1.0)}, "out", None, [{"w": np.array(1.0)}])
    assert abs(est[0].value - math.e) <= 4e-16  # the float64 rounding of e, nothing more


# -- gradcheck on correct graphs ------------------------------------------------------------------------
def test_correct_graph_passes_every_path_and_oracle():
    report = gradcheck(tanh_graph(), POINT, paths=NUMERIC, name="tanh")
    assert report.ok, report.table()
    assert {r.path for r in report.rows} == {f"{p} {m}" for p in NUMERIC for m in ("forward", "reverse")}
    assert {r.oracle for r in report.rows} == {"fd", "complex-step", "mpmath", "adjoint", "executor"}
    assert all(r.verdict == "pass" and r.compared == 3 for r in report.rows)
    assert all(r.max_error <= r.tolerance for r in report.rows)


def test_report_renders_as_table_and_json():
    report = gradcheck(tanh_graph(), POINT, paths=NUMERIC, name="tanh")
    text = report.table()
    for column in ("path", "oracle", "max error", "tolerance", "verdict"):
        assert column in text.splitlines()[0]
    assert "tanh: OK" in text
    doc = json.loads(report.dumps())
    assert doc["ok"] is True and doc["name"] == "tanh"
    assert len(doc["rows"]) == 18 and doc["info"]["parameters"] == 8


def test_non_scalar_output_and_float32():
    b = Builder()
    w = b.param("w", (2, 3))
    g = b.build(w.map(sp.sin) * w)
    assert gradcheck(g, paths=NUMERIC).ok
    r32 = gradcheck(tanh_graph(), POINT, paths=NUMERIC, dtype="float32")
    assert r32.ok, r32.table()
    assert r32.info["dtype"] == "float32"
    assert max(r.tolerance for r in r32.rows) > 1e-4  # float32 tolerances, not float64 ones


def test_check_jvp_and_check_vjp_select_the_mode():
    fwd = check_jvp(tanh_graph(), POINT, paths=NUMERIC)
    rev = check_vjp(tanh_graph(), POINT, paths=NUMERIC)
    assert fwd.ok and rev.ok
    assert {r.path.split()[1] for r in fwd.rows} == {"forward"}
    assert {r.path.split()[1] for r in rev.rows} == {"reverse"}


def test_generated_kernel_path():
    b = Builder()
    w = b.param("w", (3,))
    report = gradcheck(b.build((w * w).map(sp.tanh).sum()), paths=("kernel",))
    assert report.ok, report.table()
    assert {r.path for r in report.rows} == {"kernel forward", "kernel reverse"}


# -- injected faults ---------------------------------------------------------------------------------------
def _scaled(rule, factor):
    def wrong(*args):
        out = rule(*args)
        if isinstance(out, list):
            return [None if t is None else t * factor for t in out]
        return None if out is None else out * factor

    return wrong


def test_a_wrong_symbolic_vjp_rule_is_caught_and_located():
    with registry.override(Einsum, "vjp", lambda rule: _scaled(rule, 1.01)):
        report = gradcheck(tanh_graph(), POINT, paths=NUMERIC)
    assert not report.ok
    verdicts = {(r.path, r.oracle): r.verdict for r in report.rows}
    for oracle in ("fd", "complex-step", "mpmath", "adjoint"):
        assert verdicts["symbolic reverse", oracle] == "FAIL"
        assert verdicts["executor reverse", oracle] == "pass"
    for oracle in ("fd", "complex-step", "mpmath"):
        assert verdicts["symbolic forward", oracle] == "pass"
    row = next(r for r in report.rows if (r.path, r.oracle) == ("symbolic reverse", "mpmath"))
    located = [c for c in row.failures if not c.where.startswith("direction")]
    # every gradient passes the sum's Einsum (x 1.01); W's also passes x W^T (x 1.01 again)
    assert {c.where for c in located} == {f"W[{i},{j}]" for i in range(2) for j in range(3)} | {"b[0]", "b[1]"}
    gw, gb = tanh_grad(POINT["x"], POINT["W"], POINT["b"])
    for c in located:
        name, idx = c.where[0], tuple(map(int, c.where[2:-1].split(",")))
        truth = gw[idx] if name == "W" else gb[idx]
        assert c.expected == pytest.approx(truth, rel=1e-9)
        assert c.got == pytest.approx((1.0201 if name == "W" else 1.01) * truth, rel=1e-9)
        assert c.error > c.tolerance
    assert "W[" in report.table() and "FAIL" in report.table()


def test_a_wrong_symbolic_jvp_rule_is_caught_in_forward_mode_only():
    with registry.override(Einsum, "jvp", lambda rule: _scaled(rule, -1.0)):
        report = gradcheck(tanh_graph(), POINT, paths=NUMERIC)
    verdicts = {(r.path, r.oracle): r.verdict for r in report.rows}
    assert verdicts["symbolic forward", "fd"] == "FAIL"
    assert verdicts["symbolic reverse", "fd"] == "pass"
    assert verdicts["symbolic reverse", "adjoint"] == "FAIL"  # the pair disagrees; fd says which side is wrong
    assert verdicts["executor forward", "fd"] == "pass"


def test_a_wrong_executor_rule_is_caught():
    with registry.override(Einsum, "exec.vjp", lambda rule: _scaled(rule, 0.5)):
        report = gradcheck(tanh_graph(), POINT, paths=NUMERIC)
        with pytest.raises(GradcheckFailure) as err:
            assert_gradients(tanh_graph(), POINT, paths=NUMERIC)
    bad = {(r.path, r.oracle) for r in report.rows if r.verdict == "FAIL"}
    assert ("executor reverse", "fd") in bad and ("executor reverse", "mpmath") in bad
    # the symbolic paths disagree only with the executor itself, never with an independent oracle
    assert {oracle for path, oracle in bad if path.startswith("symbolic")} == {"executor"}
    assert isinstance(err.value, AssertionError) and "executor reverse" in str(err.value)
    assert err.value.report is not None and not err.value.report.ok
    assert GradcheckFailure is VerificationError  # the former name of the one "disagrees with its oracles" error


def test_a_crashing_path_is_an_error_row_not_a_pass():
    def boom(*args):
        raise RuntimeError("rule exploded")

    with registry.override(Einsum, "exec.jvp", lambda rule: boom):
        report = gradcheck(tanh_graph(), POINT, paths=("executor",))
    row = next(r for r in report.rows if r.path == "executor forward")
    assert row.verdict == "error" and "rule exploded" in row.note
    assert not report.ok


# -- kinks ----------------------------------------------------------------------------------------------------
def relu_graph():
    b = Builder()
    w = b.param("w", (3,))
    return b.build((w.map(relu) * w).sum())


def test_a_point_on_a_kink_is_reported_not_compared():
    report = gradcheck(relu_graph(), {"w": np.array([0.0, 0.5, -0.5])}, paths=NUMERIC)
    verdicts = {(r.path, r.oracle): r.verdict for r in report.rows}
    for path in ("symbolic reverse", "executor forward"):
        for oracle in ("fd", "complex-step", "mpmath"):
            assert verdicts[path, oracle] == "kink"
        assert verdicts[path, "adjoint"] == "pass"  # both modes still agree on the convention
    assert verdicts["symbolic reverse", "executor"] == "pass"  # and both implementations do
    assert report.ok


def test_a_kink_inside_the_fd_step_does_not_stop_mpmath():
    w = np.array([1e-9, 0.5, -0.5])  # relu(w0) w0: kink 1e-9 away, below every float64 step
    report = gradcheck(relu_graph(), {"w": w}, paths=("executor",), directions=2)
    verdicts = {(r.path, r.oracle): r.verdict for r in report.rows}
    assert verdicts["executor reverse", "fd"] == "kink"
    assert verdicts["executor reverse", "mpmath"] == "pass"
    assert kink_distance(relu_graph(), {"w": w}) == pytest.approx(1e-9)


def test_fd_shrinks_its_step_near_a_kink():
    w = np.array([1e-4, 0.5, -0.5])  # inside h = 2^-10, outside h / 16
    est = finite_differences(relu_graph(), {"w": w}, "out", None, [{"w": np.array([1.0, 1.0, 1.0])}])
    assert est[0].status == "ok"
    assert est[0].value == pytest.approx(2 * 1e-4 + 1.0, rel=1e-8)  # d/dt of sum relu(w+t) (w+t)


def test_a_check_that_compared_nothing_fails():
    report = gradcheck(relu_graph(), {"w": np.array([0.0, 0.5, -0.5])}, paths=("executor",), oracles=("fd",))
    assert report.compared == 0
    assert not report.ok
    assert "nothing" in report.summary()


def test_piecewise_complex_step_compares_away_from_kinks():
    report = gradcheck(relu_graph(), {"w": np.array([0.3, 0.5, -0.5])}, paths=("executor",))
    row = next(r for r in report.rows if (r.path, r.oracle) == ("executor reverse", "complex-step"))
    assert row.verdict == "pass" and row.compared == 3


# -- bad input ----------------------------------------------------------------------------------------------------
def test_graph_without_parameters_is_an_error():
    b = Builder()
    x = b.input("x", (2,))
    with pytest.raises(NoParametersError, match="no parameters"):
        gradcheck(b.build((x * x).sum()))
    assert gradcheck(b.build((x * x).sum()), wrt=["x"], paths=NUMERIC).ok  # unless told what to differentiate


def test_non_finite_points_are_errors():
    with pytest.raises(NonFiniteError, match="'W'"):
        gradcheck(tanh_graph(), {**POINT, "W": np.array([[np.nan, 0, 0], [0, 0, 0]])})
    b = Builder()
    w = b.param("w", (2,))
    g = b.build(w.map(sp.log).sum())
    with pytest.raises(NonFiniteError, match="not finite"):
        gradcheck(g, {"w": np.array([1.0, -1.0])})  # log(-1) is not finite


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rtol": -1e-3},
        {"atol": "tiny"},
        {"rtol": float("nan")},
        {"rtol": True},
        {"tolerances": {"fd": (1e-6, -1.0)}},
        {"tolerances": {"fd": "loose"}},
        {"tolerances": {"nonsense": (1e-6, 0.0)}},
    ],
)
def test_bad_tolerances_are_errors(kwargs):
    with pytest.raises(ToleranceError) as err:
        gradcheck(tanh_graph(), POINT, paths=NUMERIC, **kwargs)
    assert isinstance(err.value, SymnnError) and isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"point": {"W": np.zeros((3, 2))}}, ShapeError),
        ({"point": {"nope": np.zeros(2)}}, gc.GradcheckError),
        ({"point": {"W": np.array([["a", "b", "c"], ["d", "e", "f"]])}}, gc.GradcheckError),
        ({"directions": 0}, gc.GradcheckError),
        ({"paths": ("magic",)}, gc.GradcheckError),
        ({"oracles": ()}, gc.GradcheckError),
        ({"wrt": ["W", "W"]}, gc.GradcheckError),
        ({"low": 1.0, "high": -1.0}, gc.GradcheckError),
        ({"seed": "zero"}, gc.GradcheckError),
        ({"dtype": "float16"}, ToleranceError),
        ({"max_locate": 0}, gc.GradcheckError),
        ({"exact_max_scalars": -1}, gc.GradcheckError),
        ({"locate": "yes"}, gc.GradcheckError),
        ({"direction": 3}, gc.GradcheckError),  # a misspelt option names the options there are
        ({"options": {"seed": 1}}, gc.GradcheckError),
    ],
)
def test_bad_arguments_are_errors(kwargs, error):
    with pytest.raises(error):
        gradcheck(tanh_graph(), **kwargs)


# -- the options -----------------------------------------------------------------------------------------------------
def test_options_and_keyword_overrides_run_the_same_check():
    fast = CheckOptions(paths=("executor",), oracles=("fd", "adjoint"), directions=2, seed=5)
    by_options = gradcheck(tanh_graph(), POINT, fast, name="t")
    by_keywords = gradcheck(tanh_graph(), POINT, paths=("executor",), oracles=("fd", "adjoint"), directions=2, seed=5)
    same = [(r.path, r.oracle, r.verdict, r.compared, r.max_error) for r in by_options.rows]
    assert same == [(r.path, r.oracle, r.verdict, r.compared, r.max_error) for r in by_keywords.rows]
    assert by_options.info["seed"] == 5 and by_options.info["directions"] == 2
    # a keyword overrides one option of the object, which stays as it was (frozen)
    reverse = gradcheck(tanh_graph(), POINT, fast, modes=("reverse",))
    assert {r.path for r in reverse.rows} == {"executor reverse"} and fast.modes == ("forward", "reverse")
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.seed = 1  # type: ignore[misc]


def test_options_are_checked_when_made_and_name_the_fix():
    with pytest.raises(GradcheckError, match=r"paths must be a non-empty selection of \['symbolic', 'kernel'"):
        CheckOptions(paths=("magic",))
    with pytest.raises(GradcheckError, match="low < high"):
        CheckOptions().replace(low=2.0)
    with pytest.raises(GradcheckError, match="unknown option 'seeds'; the options are paths, modes"):
        CheckOptions().replace(seeds=1)
    with pytest.raises(ToleranceError, match="unknown oracles"):
        CheckOptions(tolerances={"nonsense": (1e-6, 0.0)})
    with pytest.raises(GradcheckError, match="Generator"):
        CheckOptions(seed=np.random.default_rng(0)).to_mapping()
    assert CheckOptions(paths="executor").paths == ("executor",)  # one name or a selection
    assert CheckOptions(dtype=np.float32).dtype == "float32"


def test_options_go_through_json_and_give_each_oracle_its_tolerance():
    opts = CheckOptions(dtype="float32", rtol=1e-3, tolerances={"fd": (1e-4, 1e-9)}, oracles=("fd", "mpmath"))
    doc = json.loads(json.dumps(opts.to_mapping()))
    assert CheckOptions.from_mapping(doc) == opts and len({opts, CheckOptions.from_mapping(doc)}) == 1  # hashable too
    assert opts.tolerance("fd") == Tolerance(1e-3, 1e-9)  # the one oracle's pair, then the global rtol
    assert opts.tolerance("mpmath") == Tolerance(1e-3, TOLERANCES["mpmath", "float32"].atol)
    assert CheckOptions.from_mapping({"seed": 2}, MODEL_CHECK) == MODEL_CHECK.replace(seed=2)
    assert "exact" in MODEL_CHECK.oracles and "exact" not in CheckOptions().oracles  # symnn check runs every oracle


def test_check_models_and_campaigns_take_the_same_options():
    fast = CheckOptions(paths=("executor",), oracles=("fd", "adjoint"), modes=("reverse",), seed=3)
    ((name, by_options),) = check_models(["mlp:2-2-1"], fast, jobs=0)
    ((_, by_keywords),) = check_models(
        ["mlp:2-2-1"], paths=("executor",), oracles=("fd", "adjoint"), modes=("reverse",), seed=3, jobs=0
    )
    assert name == "mlp:2-2-1" and by_options.ok
    assert [r.to_json() for r in by_options.rows] == [r.to_json() for r in by_keywords.rows]
    plan = check_campaign(2, fast, chunks=1)
    assert CheckOptions.from_mapping(plan.params["options"]) == fast
    assert check_campaign(2, **fast.to_mapping()).params == plan.params


def test_comparison_is_one_record_for_every_check():
    c = Comparison.relative("grad:w vs executor", np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12]), 1e-9, "executor")
    assert c.ok and c.oracle == "executor" and c.error == pytest.approx(5e-13, rel=1e-3)
    assert not Comparison.relative("y", np.zeros(2), np.zeros(3), 1e-9).ok  # shapes differ: error inf
    assert not Comparison.relative("y", np.array([np.nan]), np.array([1.0]), 1e-9).ok  # NaN fails
    assert json.loads(json.dumps(Comparison("d", 1.0, math.inf, math.inf, 1e-6, "fd").to_json()))["error"] == "inf"


def test_tolerance_model_covers_every_oracle_and_dtype():
    for oracle in ORACLES:
        for dtype in ("float64", "float32"):
            tol = TOLERANCES[oracle, dtype]
            assert tol.rtol >= 0 and tol.atol >= 0
    assert TOLERANCES["fd", "float32"].rtol > TOLERANCES["fd", "float64"].rtol
    assert TOLERANCES["complex-step", "float64"].rtol < TOLERANCES["fd", "float64"].rtol


# -- the pytest plugin ----------------------------------------------------------------------------------------------
pytest_plugins = ["pytester"]


def test_check_gradients_fixture_in_a_user_suite(pytester):
    pytester.makepyfile(
        """
        from symnn import registry
        from symnn.layers import MLP
        from symnn.ops import Einsum
        from symnn.trace import trace

        def test_good(check_gradients):
            report = check_gradients(trace(MLP((3, 4, 1), "tanh"), "mse", {"x": (2, 3)}))
            assert report.ok

        def doubled(rule):
            return lambda *a: [None if t is None else 2 * t for t in rule(*a)]

        def test_wrong_rule(check_gradients):
            with registry.override(Einsum, "vjp", doubled):
                check_gradients(trace(MLP((3, 4, 1), "tanh"), "mse", {"x": (2, 3)}))
        """
    )
    result = pytester.runpytest_inprocess("--symnn-paths", "symbolic,executor", "-q")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*symbolic reverse*FAIL*", "*test_wrong_rule: FAILED*"])


# -- second order ----------------------------------------------------------------------------------------------
def test_gradcheck_of_a_gradient_graph():
    from symnn import zoo
    from symnn.diff import grad

    g = zoo.resolve("mlp:2-2-1").graph()
    report = gradcheck(grad(g), output="grad:0.W", paths=("symbolic", "executor"))
    assert report.ok, report.table()


def test_order_2_checks_hessian_vector_products():
    from symnn import registry, zoo
    from symnn.ops import Elementwise
    from verify.gradients import SECOND_ORDER_OUTPUT, second_order_graph

    g = zoo.resolve("classifier").graph()
    s = second_order_graph(g)
    assert s.output_names == (SECOND_ORDER_OUTPUT,) and {f"probe:{p}" for p in g.params} <= set(s.inputs)
    report = gradcheck(
        g, order=2, paths=("symbolic", "executor"), oracles=("fd", "complex-step", "adjoint", "executor")
    )
    assert report.ok and report.info["order"] == 2, report.table()

    def doubled(rule):
        return lambda *a: [None if t is None else 2 * t for t in rule(*a)]

    with registry.override(Elementwise, "vjp", doubled):
        bad = gradcheck(g, order=2, paths=("symbolic",), oracles=("fd", "executor"))
    assert not bad.ok


def test_order_must_be_1_or_2():
    with pytest.raises(GradcheckError, match="order must be 1"):
        CheckOptions(order=3)
