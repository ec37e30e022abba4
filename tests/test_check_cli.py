"""`symnn check`: the table, JSON, progress, exit status, and bad input."""

from __future__ import annotations

import json

from symnn import registry
from symnn.cli import main
from symnn.ops import Einsum
from verify.check import check_models

FAST = ["--paths", "symbolic", "executor", "--oracles", "fd", "complex-step", "mpmath", "adjoint", "--quiet"]


def test_check_prints_one_row_per_model_path_and_oracle(capsys):
    assert main(["check", "mlp:2-3-1", "signnet:2-2", *FAST]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:3] == ["model", "path", "oracle"] and "verdict" in header
    rows = [line.split() for line in out.splitlines() if line.startswith(("mlp:", "signnet:"))]
    rows = [r for r in rows if len(r) > 4 and r[1] in ("symbolic", "executor")]
    assert len(rows) == 2 * 4 * 4  # models x paths (2 implementations x 2 modes) x oracles
    assert {r[-1] for r in rows} == {"pass"}
    assert "all checks passed" in out


def test_check_json(capsys):
    assert main(["check", "mlp:2-3-1", "--json", *FAST]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True
    (model,) = doc["models"]
    assert model["name"] == "mlp:2-3-1" and model["compared"] == 4 * 4 * 3
    assert {(r["path"], r["oracle"]) for r in model["rows"]} >= {("executor reverse", "mpmath")}


def test_check_reports_progress_on_stderr(capsys):
    args = [a for a in FAST if a != "--quiet"]
    assert main(["check", "mlp:2-3-1", *args]) == 0
    assert "[1/1] checking mlp:2-3-1" in capsys.readouterr().err


def test_check_fails_on_a_wrong_rule(capsys):
    with registry.override(Einsum, "vjp", lambda wrong: lambda *a: [None if t is None else -t for t in wrong(*a)]):
        assert main(["check", "mlp:2-3-1", *FAST]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "disagreements:" in out and "SOME CHECKS FAILED" in out


def test_exact_reference_runs_on_small_graphs_and_says_when_it_does_not():
    ((_, small),) = check_models(["mlp:2-2-1"], paths=("symbolic",), oracles=("exact",), jobs=0)
    rows = {r.path: r for r in small.rows}
    assert rows["symbolic reverse"].verdict == "pass" and rows["symbolic reverse"].compared == 9
    assert rows["symbolic forward"].verdict == "pass"
    ((_, big),) = check_models(["mlp:2-2-1"], paths=("symbolic",), oracles=("exact", "fd"), exact_max_scalars=5)
    exact = [r for r in big.rows if r.oracle == "exact"]
    assert exact and all(r.verdict == "skip" and "exact_max_scalars=5" in r.note for r in exact)
    assert big.ok  # the fd rows compared


def test_exact_reference_in_a_worker_process():
    ((_, rep),) = check_models(["signnet:2-2"], paths=("symbolic",), oracles=("exact",), jobs=1)
    assert {r.verdict for r in rep.rows} == {"pass"}


def test_generated_kernel_path_through_the_cli(capsys):
    assert main(["check", "mlp:2-2-1", "--paths", "kernel", "--oracles", "fd", "adjoint", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "kernel reverse" in out and "kernel forward" in out


def test_unknown_model_is_a_clear_error(capsys):
    assert main(["check", "no-such-model", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'no-such-model'" in err and "mlp" in err


def test_model_without_parameters_is_a_clear_error(tmp_path, capsys):
    model = tmp_path / "noparams.py"
    model.write_text(
        "from symnn.ir import Builder\nb = Builder()\nx = b.input('x', (2,))\ngraph = b.build((x * x).sum())\n"
    )
    assert main(["check", f"{model}:graph", "--quiet"]) == 2
    assert "no parameters" in capsys.readouterr().err


def test_bad_option_values_are_errors(capsys):
    assert main(["check", "mlp:2-2-1", "--directions", "0", "--quiet"]) == 2
    assert "directions" in capsys.readouterr().err
    assert main(["check", "mlp:2-2-1", "--oracles", "astrology"]) == 2


# -- symnn check --impl: a user's own function ---------------------------------------------------------------
MINE = """
import numpy as np

def loss_and_grads(params, data):
    r = data["x"] @ params["W"].T + params["b"] - data["y"]
    return np.mean(r**2), {"W": 2 * r.T @ data["x"] / r.size, "b": 2 * r.sum(axis=0) / r.size}

def forgot_the_two(params, data):
    r = data["x"] @ params["W"].T + params["b"] - data["y"]
    return np.mean(r**2), {"W": 2 * r.T @ data["x"] / r.size, "b": r.sum(axis=0) / r.size}

def cube(values):
    return np.sum(values["w"] ** 3), {"w": 3 * values["w"] ** 2}

def cube_hvp(values, v):
    return {"w": 6 * values["w"] * v["w"]}
"""


def test_check_impl_against_a_model(tmp_path, capsys):
    (tmp_path / "mine.py").write_text(MINE)
    impl = f"{tmp_path / 'mine.py'}:loss_and_grads"
    rename = ["--rename", "W=0.W", "b=0.b"]
    assert main(["check", "--impl", impl, "--model", "mlp:3-2", *rename, "--examples", "5", "--quiet"]) == 0
    assert "agrees with mlp:3-2 at 5 drawn points" in capsys.readouterr().out
    bad = f"{tmp_path / 'mine.py'}:forgot_the_two"
    assert main(["check", "--impl", bad, "--model", "mlp:3-2", *rename, "--examples", "5", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "grad b[0]: got " in out and "smallest failing example" in out


def test_check_impl_without_a_model_and_second_order(tmp_path, capsys):
    (tmp_path / "mine.py").write_text(MINE)
    impl, hvp = f"{tmp_path / 'mine.py'}:cube", f"{tmp_path / 'mine.py'}:cube_hvp"
    assert main(["check", "--impl", impl, "--shapes", "w=3", "--examples", "3"]) == 0
    assert "agrees with its own finite differences" in capsys.readouterr().out
    assert main(["check", "--impl", impl, "--shapes", "w=3", "--order", "2", "--hvp", hvp, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and {r["path"] for r in doc["rows"]} >= {"impl hvp"}


def test_check_impl_bad_input(tmp_path, capsys):
    (tmp_path / "mine.py").write_text(MINE)
    assert main(["check", "--impl", f"{tmp_path / 'mine.py'}:nothing", "--model", "mlp"]) == 2
    assert "has no attribute 'nothing'" in capsys.readouterr().err
    assert main(["check", "--impl", f"{tmp_path / 'mine.py'}:cube"]) == 2
    assert "--shapes" in capsys.readouterr().err
