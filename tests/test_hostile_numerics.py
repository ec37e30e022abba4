"""Issue 19 items 5a, 6 and 7: reserved leaf names, numerics at the edges, work refused with an estimate."""

from __future__ import annotations

import re

import numpy as np
import pytest
import sympy as sp

from symnn.cli import main
from symnn.codegen import compile
from symnn.diff import grad, hvp, jvp
from symnn.errors import GraphError
from symnn.executor import Executor
from symnn.functions import sigmoid
from symnn.ir import Builder
from symnn.losses import softmax, softmax_cross_entropy
from verify.boolean.errors import TooLargeError
from verify.boolean.threshold import estimate_seconds, threshold
from verify.campaign import CampaignError
from verify.campaign.gradients import MAX_REPORT_BYTES, check_campaign, estimate


# -- 5a: a user's leaf never passes for a derivative's input -------------------------------------------------------
@pytest.mark.parametrize("name", ["tangent:w", "cotangent:loss", "grad:w", "hvp:w", "tangent2:w", "grad12:x"])
@pytest.mark.parametrize("kind", ["input", "param"])
def test_reserved_leaf_names_are_refused_at_build_time(name: str, kind: str) -> None:
    b = Builder()
    with pytest.raises(GraphError, match=f"leaf name '{name}' is reserved.*rename it"):
        getattr(b, kind)(name, (3,))


@pytest.mark.parametrize("name", ["tangents:w", "gradient:w", "probe:w", "tangent_w", "my tangent:w"])
def test_names_that_only_look_alike_are_fine(name: str) -> None:
    Builder().input(name, (3,))


def test_the_renamed_leaf_gives_the_tangent_by_hand() -> None:
    """loss = sum(w * v) with v an input: d loss along t is sum(t * v) = 2 * (1 + 2 + 3) = 12."""
    b = Builder()
    w, v = b.param("w", (3,)), b.input("tangent_w", (3,))
    out = compile(jvp(b.build((w * v).sum(), names=["loss"])))
    got = out(w=np.array([1.0, 2.0, 3.0]), tangent_w=np.full(3, 2.0), **{"tangent:w": np.array([1.0, 2.0, 3.0])})
    assert float(got["tangent:loss"]) == 12.0


# -- 6: the spellings of the logistic functions are stable everywhere --------------------------------------------
def _s(x: np.ndarray) -> np.ndarray:
    """The logistic function without overflow: exp(-|x|) never exceeds 1."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


X = sp.Symbol("x", real=True)
E = sp.exp
# spelling -> (value, first, second derivative), each a stable numpy reference written from calculus
SPELLINGS = {
    "exp(x)/(1+exp(x))": (E(X) / (1 + E(X)), _s, lambda x: _s(x) * _s(-x), lambda x: _s(x) * _s(-x) * (1 - 2 * _s(x))),
    "exp(x)/(exp(x)+1)": (E(X) / (E(X) + 1), _s, lambda x: _s(x) * _s(-x), lambda x: _s(x) * _s(-x) * (1 - 2 * _s(x))),
    "1/(1+exp(-x))": (1 / (1 + E(-X)), _s, lambda x: _s(x) * _s(-x), lambda x: _s(x) * _s(-x) * (1 - 2 * _s(x))),
    "exp(-x)/(1+exp(-x))": (E(-X) / (1 + E(-X)), lambda x: _s(-x), lambda x: -_s(x) * _s(-x), None),
    "log(1+exp(x))": (sp.log(1 + E(X)), _softplus, _s, lambda x: _s(x) * _s(-x)),
    "-log(1+exp(-x))": (-sp.log(1 + E(-X)), lambda x: -_softplus(-x), lambda x: _s(-x), lambda x: -_s(x) * _s(-x)),
    "log(exp(x)/(1+exp(x)))": (
        sp.log(E(X) / (1 + E(X))),
        lambda x: -_softplus(-x),
        lambda x: _s(-x),
        lambda x: -_s(x) * _s(-x),
    ),
    "log(1/(1+exp(-x)))": (sp.log(1 / (1 + E(-X))), lambda x: -_softplus(-x), lambda x: _s(-x), None),
    "x*exp(x)/(1+exp(x))": (X * E(X) / (1 + E(X)), lambda x: x * _s(x), lambda x: _s(x) + x * _s(x) * _s(-x), None),
}
POINTS = np.array([-1000.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0])


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_logistic_spellings_are_finite_and_right_in_every_path(spelling: str) -> None:
    body, value, first, second = SPELLINGS[spelling]
    b = Builder()
    w = b.param("w", POINTS.shape)
    g = b.build(w.map(sp.Lambda(X, body)).sum(), names=["f"])
    t = np.linspace(0.5, 2.0, POINTS.size)
    want = {"f": value(POINTS).sum(), "grad:w": first(POINTS), "tangent:f": (first(POINTS) * t).sum()}
    if second is not None:
        want["hvp:w"] = second(POINTS) * t
    graphs = [g, grad(g), jvp(g), hvp(g)]
    for run in ("kernel", "executor"):
        got: dict[str, np.ndarray] = {}
        for h in graphs:
            values = {"w": POINTS, **({"tangent:w": t} if "tangent:w" in h.inputs else {})}
            got.update(compile(h)(values) if run == "kernel" else Executor(h).forward(values))
        for name, expected in want.items():
            assert np.all(np.isfinite(got[name])), (run, name, got[name])
            # no atol: sigmoid' = s(x) s(-x) keeps 1.9e-22 at 50 (s (1 - s) rounded it to 0, as PyTorch's backward does)
            np.testing.assert_allclose(got[name], expected, rtol=1e-12, atol=0, err_msg=f"{run} {name}")


# -- 6: sigmoid' far in the tail ------------------------------------------------------------------------------
TAIL = np.array([40.0, 100.0, 700.0, -40.0, -100.0, -700.0, 1.5, 0.0])


def _sigmoid_derivatives_mp(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """s, s' and s'' at 60 digits, from s = 1 / (1 + exp(-x)): s' = e / (1 + e)^2, s'' = e (e - 1) / (1 + e)^3."""
    import mpmath

    with mpmath.workdps(60):
        rows = []
        for v in x:
            e = mpmath.exp(-mpmath.mpf(float(v)))
            rows.append([float(1 / (1 + e)), float(e / (1 + e) ** 2), float(e * (e - 1) / (1 + e) ** 3)])
    return tuple(np.array(col) for col in zip(*rows, strict=True))  # type: ignore[return-value]


def _relative_error(got: np.ndarray, exact: np.ndarray) -> float:
    scale = np.where(exact == 0, 1.0, np.abs(exact))
    return float(np.max(np.abs(got - exact) / scale))


@pytest.mark.parametrize("run", ["kernel", "executor"])
def test_sigmoid_derivatives_keep_their_value_far_in_the_tail(run: str) -> None:
    """sigmoid'(x) = s(x) s(-x): at x = 40 the old s (1 - s) gave 0 (1 - s rounds to 0 past x = 37), not 4.2e-18."""
    b = Builder()
    w = b.param("w", TAIL.shape)
    s = w.map(sigmoid)
    t = np.linspace(0.5, 2.0, TAIL.size)
    value, first, second = _sigmoid_derivatives_mp(TAIL)
    want = {"s": value, "tangent:s": first * t, "grad:w": first, "hvp:w": second * t}
    got: dict[str, np.ndarray] = {}
    vector, total = b.build(s, names=["s"]), b.build(s.sum(), names=["f"])
    for h in (jvp(vector), grad(total), hvp(total)):  # the JVP graph returns the values too
        values = {"w": TAIL, **({"tangent:w": t} if "tangent:w" in h.inputs else {})}
        got.update(compile(h)(values) if run == "kernel" else Executor(h).forward(values))
    for name, exact in want.items():
        assert _relative_error(got[name], exact) <= 1e-14, (run, name, got[name], exact)


def test_the_executors_own_sigmoid_rule_keeps_its_value_far_in_the_tail() -> None:
    b = Builder()
    g = b.build(b.param("w", TAIL.shape).map(sigmoid).sum(), names=["f"])
    _, first, _ = _sigmoid_derivatives_mp(TAIL)
    assert _relative_error(Executor(g).grad({"w": TAIL})[1]["w"], first) <= 1e-14


# -- 6: softmax probabilities exact at any logit scale ----------------------------------------------------------
def _exact_softmax_grad(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(softmax(z) - y) / batch in 60-digit arithmetic, from the logits as stored."""
    import mpmath

    with mpmath.workdps(60):
        out = np.empty(z.shape)
        for b, row in enumerate(z):
            x = [mpmath.mpf(float(v)) for v in row]
            e = [mpmath.exp(v - max(x)) for v in x]
            out[b] = [float((ek / sum(e) - float(yk)) / len(z)) for ek, yk in zip(e, y[b], strict=True)]
    return out


@pytest.mark.parametrize(("dtype", "scale"), [(np.float64, 1e12), (np.float32, 1e5), (np.float32, 1e3)])
def test_softmax_cross_entropy_gradient_is_exact_to_the_dtype_at_any_scale(dtype: type, scale: float) -> None:
    """Before: exp(z - lse) carried lse's rounding, 7e-6 at 1e12 (float64) and 7e-4 at 1e5 (float32)."""
    rng = np.random.default_rng(0)
    z = (scale * rng.standard_normal((4, 1)) + 2 * rng.standard_normal((4, 5))).astype(dtype)  # close rivals
    y = np.eye(5, dtype=dtype)[[0, 3, 1, 4]]
    b = Builder()
    g = b.build(softmax_cross_entropy(b.param("z", (4, 5)), b.input("y", (4, 5))), names=["loss"])
    exact = _exact_softmax_grad(z, y)
    bound = 2 * np.finfo(dtype).eps  # torch measures 1.1e-8 (float32) and 5.6e-17 (float64) on these
    assert np.max(np.abs(compile(grad(g), dtype)(z=z, y=y)["grad:z"] - exact)) <= bound
    assert np.max(np.abs(Executor(g, dtype).grad({"z": z, "y": y})[1]["z"] - exact)) <= bound


def test_softmax_sums_to_one_at_any_scale() -> None:
    b = Builder()
    z = np.array([[1e12, 1e12 + 1.0, 1e12 - 3.0]])
    p = Executor(b.build(softmax(b.input("z", (1, 3))))).forward({"z": z})["out"]
    e = np.exp(np.array([-1.0, 0.0, -4.0]))
    np.testing.assert_allclose(p[0], e / e.sum(), rtol=4 * np.finfo(float).eps)


# -- 7: work with no estimate is refused with the numbers -----------------------------------------------------
def test_threshold_past_the_time_bound_is_refused_before_any_work() -> None:
    with pytest.raises(TooLargeError, match=r"d = 16 may take up to about 4\.5 h.*use d <= 13"):
        threshold("majority:16")
    with pytest.raises(TooLargeError, match="positive number"):
        threshold("majority:3", max_seconds=float("nan"))
    # the bound covers the slowest function measured (and:12, 63 s on the project's machine)
    assert estimate_seconds(12) >= 60.0


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["check", "--campaign", "1000000000"], [r"about 6e\+03 GB of report", "years", r"limit of 1\.07 GB"]),
        (["check", "mlp", "--directions", "100000000"], ["at least about 1,000,000 s", "--directions 360000"]),
        (["check", "--directions", "100000000", "mlp", "mlp"], ["over 2 model", "--directions 180000"]),
        (["check", "--campaign", "2", "--directions", "100000000"], ["per network", "--directions 360000"]),
        (["derive", "transformer", "--scalar"], ["would hold about 1.9e\\+14 terms", "--max-terms"]),
        (
            ["derive", "transformer", "--scalar", "--max-terms", "1e30"],
            ["about 239 s to simplify and print", "limit of 120 s"],
        ),
    ],
)
def test_checks_with_no_end_in_sight_are_refused_with_the_numbers(argv, words, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if not line.startswith("[")]  # "[1] ..." is a progress line
    assert len(errors) == 1 and errors[0].startswith("symnn: error: ") and "Traceback" not in err
    for word in words:
        assert re.search(word, err), (word, err)
    assert not list(tmp_path.iterdir())  # refused before anything ran or was written


def test_the_campaign_estimate_is_linear_in_the_networks() -> None:
    assert estimate(10) == (100.0, 60_000)
    largest = MAX_REPORT_BYTES // 6_000
    assert check_campaign(largest).chunks == largest
    with pytest.raises(CampaignError, match="run several campaigns"):
        check_campaign(largest + 1)
