"""The command line: ``symnn derive`` on a model file, every format, errors as one line and exit 2."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import textwrap

import pytest

import symnn
from symnn import cli, registry
from symnn.ops import ALL_OPS, Window

MODEL = """
import sympy as sp
from symnn.ir import Builder

b = Builder()
x = b.input("x", (2, 3))
w = b.param("W", (4, 3))
c = b.param("c", (4,))
net = b.build((x @ w.T + c).map(sp.tanh).sum())
vector = b.build((x @ w.T).map(sp.tanh))
b2 = Builder()
no_params = b2.build(b2.input("z", (2,)).map(sp.exp).sum())
number = 3
"""


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent(MODEL))
    return str(path)


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_derive_text_prints_the_primal_and_the_gradient_program(model, capsys):
    code, out, err = run(capsys, "derive", f"{model}:net")
    assert code == 0 and err == ""
    assert "# primal program" in out and "# reverse mode" in out
    assert "v1[i,j] = sum_k x[i,k] * W[j,k]" in out
    grads = [line for line in out.splitlines() if line.startswith(("grad:W", "grad:c"))]
    assert len(grads) == 2
    assert "tangent:" not in out


def test_derive_jvp_mode_prints_the_jvp_program(model, capsys):
    code, out, err = run(capsys, "derive", f"{model}:net", "--mode", "jvp")
    assert code == 0 and err == ""
    assert "tangent:out = " in out and "tangent:W[j,k]" in out and "grad:" not in out


def test_derive_hvp_mode_prints_gradient_and_hessian_vector_products(model, capsys):
    code, out, err = run(capsys, "derive", f"{model}:net", "--mode", "hvp", "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc["mode"] == "hvp" and set(doc["programs"]) == {"primal", "hvp"}
    outputs = [o["name"] for o in doc["programs"]["hvp"]["outputs"]]
    assert outputs == ["out", "grad:W", "grad:c", "hvp:W", "hvp:c"]
    assert {"tangent:W", "tangent:c"} <= set(doc["programs"]["hvp"]["inputs"])


@pytest.mark.parametrize(("old", "new"), [("reverse", "grad"), ("forward", "jvp")])
def test_derive_old_mode_spellings_still_work_with_a_note(model, capsys, old, new):
    code, out, err = run(capsys, "derive", f"{model}:net", "--mode", old, "--json")
    assert code == 0
    doc = json.loads(out)  # stdout stays the JSON document; the note is one line on stderr
    assert doc["mode"] == new and set(doc["programs"]) == {"primal", new}
    assert err.count("\n") == 1 and f"--mode {old} is now --mode {new}" in err
    code, new_out, _ = run(capsys, "derive", f"{model}:net", "--mode", new, "--json")
    assert new_out == out  # the same program under its new name


def test_derive_and_compile_share_one_mode_vocabulary(capsys):
    for command in ("derive", "compile"):
        assert cli.main([command, "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        for mode in ("grad", "jvp", "hvp"):
            assert mode in text, (command, mode)
    # a mode neither command knows fails cleanly, naming the choices
    assert cli.main(["derive", "mlp:2-2-1", "--mode", "sideways"]) == 2
    assert "choose from grad, jvp, hvp, both" in capsys.readouterr().err


def test_derive_latex(model, capsys):
    code, out, _ = run(capsys, "derive", f"{model}:net", "--format", "latex", "--mode", "both")
    assert code == 0
    assert out.count(r"\begin{align*}") == 3 and out.count(r"\end{align*}") == 3
    assert r"\bar{W}_{ij} &=" in out and r"\dot{\mathrm{out}} &=" in out
    assert out.count("{") == out.count("}")


@pytest.mark.parametrize("flag", [["--format", "json"], ["--json"]])
def test_derive_json_parses(model, capsys, flag):
    code, out, _ = run(capsys, "derive", f"{model}:net", "--mode", "both", *flag)
    assert code == 0
    doc = json.loads(out)
    assert doc["model"].endswith("model.py:net") and doc["mode"] == "both"
    assert set(doc["programs"]) == {"primal", "grad", "jvp"}
    reverse = doc["programs"]["grad"]
    assert [o["name"] for o in reverse["outputs"]] == ["out", "grad:W", "grad:c"]
    assert {o["name"]: o["shape"] for o in reverse["outputs"]}["grad:W"] == [4, 3]
    assert reverse["params"] == {"W": [4, 3], "c": [4]}
    assert "tangent:W" in doc["programs"]["jvp"]["inputs"]


def test_derive_a_module_attribute(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_models.py").write_text(textwrap.dedent(MODEL))
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, _ = run(capsys, "derive", "my_models:net")
    assert code == 0 and "grad:W[i,j] = " in out


def test_derive_wrt_an_input(model, capsys):
    code, out, _ = run(capsys, "derive", f"{model}:net", "--wrt", "x", "--json")
    assert code == 0
    names = [o["name"] for o in json.loads(out)["programs"]["grad"]["outputs"]]
    assert names == ["out", "grad:x"]


def test_derive_scalar(model, capsys):
    code, out, _ = run(capsys, "derive", f"{model}:net", "--scalar")
    assert code == 0
    assert "grad:W[3,2] = " in out and "x[1,2]" in out


@pytest.mark.parametrize(
    ("spec", "argv", "words"),
    [
        ("missing.py:net", [], ["missing.py", "does not exist"]),
        ("{model}:nope", [], ["no attribute 'nope'", "net"]),
        ("{model}:number", [], ["int", "Graph"]),
        ("{model}:vector", [], ["scalar output", "(2, 4)"]),
        ("{model}:no_params", [], ["no parameters", "--wrt"]),
        ("{model}:vector", ["--mode", "hvp"], ["--mode hvp needs a scalar output", "(2, 4)", "--mode jvp"]),
        ("{model}:no_params", ["--mode", "hvp"], ["no parameters", "--wrt"]),
        ("{model}:net", ["--mode", "backward"], ["invalid choice: 'backward'", "grad, jvp, hvp, both"]),
        ("{model}:net", ["--wrt", "nothing"], ["'nothing'", "W"]),
        ("{model}:net", ["--scalar", "--max-scalars", "10"], ["max_scalars=10", "--max-scalars"]),
    ],
)
def test_errors_are_one_line_and_exit_2(model, capsys, spec, argv, words):
    code, out, err = run(capsys, "derive", spec.format(model=model), *argv)
    assert code == 2 and out == ""
    assert err.startswith("symnn: error: ") and err.count("\n") == 1
    for w in words:
        assert w in err
    assert "Traceback" not in err


def test_a_model_file_that_fails_to_load(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("from symnn.ir import Builder\nb = Builder()\nx = b.input('x', (2,)) + b.input('y', (3,))\n")
    code, _, err = run(capsys, "derive", f"{bad}:x")
    assert code == 2 and "do not broadcast" in err and err.count("\n") == 1
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    code, _, err = run(capsys, "derive", f"{broken}:x")
    assert code == 2 and "RuntimeError: boom" in err


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"symnn {symnn.__version__}"


def test_usage_errors_exit_2(capsys):
    code, _, err = run(capsys, "derive", "m.py:x", "--format", "pdf")
    assert code == 2 and "invalid choice" in err
    assert run(capsys)[0] == 2


def test_subcommands_register_with_one_function(monkeypatch, capsys):
    def configure(p: argparse.ArgumentParser) -> None:
        p.add_argument("word")

    monkeypatch.setattr(importlib.import_module("symnn.cli.main"), "SUBCOMMANDS", {})  # registered for this test only
    cli.subcommand("echo", "print a word", configure)(lambda args: print(args.word) or 0)
    assert run(capsys, "echo", "hello")[:2] == (0, "hello\n")
    assert "print a word" in run(capsys, "--help")[1]


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["derive", "--help"]])
def test_help_and_version_load_no_numeric_library(argv):
    """Subcommands are configured lazily: the root's help and version import neither numba nor numpy."""
    code = (
        "import sys\n"
        "from symnn.cli import main\n"
        f"code = main({argv!r})\n"
        "print(sorted(m for m in ('numba', 'numpy') if m in sys.modules), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stderr.strip().splitlines()[-1]
    if argv[0] == "derive":  # a subcommand's own help configures it, and only it
        assert "usage: symnn derive" in proc.stdout and "--max-scalars" in proc.stdout
    else:
        assert loaded == "[]", f"symnn {argv[0]} imported {loaded}"


def test_the_console_entry_point(model):
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from symnn.cli import main; sys.exit(main())", "derive", "nowhere.py:m"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("symnn: error: ") and "Traceback" not in proc.stderr


def test_ops_lists_every_op_with_every_part(capsys):
    assert cli.main(["ops", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"]
    listed = {(e["op"], e["part"]): e["where"] for e in doc["entries"]}
    for op in ALL_OPS:
        for part in registry.required_parts(op):
            where = listed[op.__name__, part]
            assert where and ":" in where, (op.__name__, part, where)
    assert ("Window", "jvp") not in listed and ("Window", "transpose") in listed  # linear: the transpose only
    assert len({op for op, _ in listed}) == 10


def test_ops_names_a_missing_part_and_fails(capsys, monkeypatch):
    assert cli.main(["ops"]) == 0
    capsys.readouterr()
    monkeypatch.delitem(registry._ENTRIES, (Window, "transpose"))
    assert cli.main(["ops"]) == 1
    out = capsys.readouterr().out
    assert "transpose   MISSING" in out and "('Window', 'transpose')" in out


def test_python_dash_m_symnn_cli_is_the_same_command_line():
    ok = subprocess.run([sys.executable, "-m", "symnn.cli", "--version"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.startswith("symnn ")
    bad = subprocess.run([sys.executable, "-m", "symnn.cli", "derive", "nowhere.py:m"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("symnn: error: ") and "Traceback" not in bad.stderr


def test_a_ctrl_c_swallowed_by_a_c_callback_still_ends_with_exit_130(monkeypatch, capsys):
    # llvmlite calls back into Python while Numba compiles; ctypes cannot propagate an exception
    # from a callback and reports it as "Exception ignored", after which the command would go on
    import ctypes

    def interrupted() -> None:
        raise KeyboardInterrupt

    def spin(args) -> int:
        ctypes.CFUNCTYPE(None)(interrupted)()
        print("finished")
        return 0

    monkeypatch.setattr(importlib.import_module("symnn.cli.main"), "SUBCOMMANDS", {})
    cli.subcommand("spin", "call back into Python from C", lambda p: None)(spin)
    code, _, err = run(capsys, "spin")
    assert code == 130 and err.startswith("symnn: error: interrupted") and err.count("\n") == 1
    assert "Exception ignored" not in err
