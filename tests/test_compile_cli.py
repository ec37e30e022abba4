"""``symnn compile``: the saved module runs alone and agrees with hand-computed and executor values."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import verify.certify as certify
from symnn import zoo
from symnn.cli import main
from symnn.codegen import compile, program
from symnn.executor import Executor


def _import(path: Path):
    spec = importlib.util.spec_from_file_location(f"saved_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _mlp_by_hand(p: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
    """mlp:2-3-1 as the zoo documents it: sigmoid hidden layer, MSE (mean over entries), backprop by hand."""
    x, y = p["x"], p["y"]
    z = x @ p["0.W"].T + p["0.b"]
    h = 1 / (1 + np.exp(-z))
    o = h @ p["2.W"].T + p["2.b"]
    loss = float(np.mean((o - y) ** 2))
    do = 2 * (o - y) / o.size
    dz = (do @ p["2.W"]) * (h * (1 - h))
    return loss, {"2.W": do.T @ h, "2.b": do.sum(0), "0.W": dz.T @ x, "0.b": dz.sum(0)}


def test_compile_saves_a_module_that_agrees_with_the_executor(tmp_path, capsys):
    path = tmp_path / "kernel.py"
    assert main(["compile", "mlp:2-3-1", "-o", str(path)]) == 0
    assert "verify" not in capsys.readouterr().out
    mod = _import(path)
    rng = np.random.default_rng(7)
    point = {n: rng.standard_normal(s) for n, s in zip(mod.INPUT_NAMES, mod.INPUT_SHAPES, strict=True)}
    res = mod.run(point)
    loss, grads = Executor(zoo.resolve("mlp:2-3-1").graph()).grad(point)
    assert float(res["loss"]) == pytest.approx(loss, rel=1e-12)
    assert set(res) == {"loss", *(f"grad:{p}" for p in grads)}
    for p, g in grads.items():
        np.testing.assert_allclose(res[f"grad:{p}"], g, rtol=1e-10, atol=1e-14)


def test_compile_says_what_it_compiles_on_stderr_unless_quiet(tmp_path, capsys):
    assert main(["compile", "mlp:2-3-1", "-o", str(tmp_path / "a.py")]) == 0
    loud = capsys.readouterr()
    assert main(["compile", "mlp:2-3-1", "-o", str(tmp_path / "b.py"), "--quiet"]) == 0
    quiet = capsys.readouterr()
    assert "compiling the grad kernel of mlp:2-3-1" in loud.err and quiet.err == ""
    assert quiet.out.replace("b.py", "a.py") == loud.out  # the report itself is the same
    assert (tmp_path / "a.py").read_text() == (tmp_path / "b.py").read_text()


def test_saved_gradient_matches_backprop_by_hand(tmp_path):
    path = tmp_path / "kernel.py"
    assert main(["compile", "mlp:2-3-1", "-o", str(path)]) == 0
    mod = _import(path)
    rng = np.random.default_rng(3)
    point = {n: rng.standard_normal(s) for n, s in zip(mod.INPUT_NAMES, mod.INPUT_SHAPES, strict=True)}
    res = mod.run(point)
    loss, grads = _mlp_by_hand(point)
    assert float(res["loss"]) == pytest.approx(loss, rel=1e-12)
    for p, g in grads.items():
        np.testing.assert_allclose(res[f"grad:{p}"], g, rtol=1e-10, atol=1e-14)


def test_verify_reports_every_check(tmp_path, capsys):
    path = tmp_path / "k.py"
    assert main(["compile", "mlp:2-3-1", "-o", str(path), "--verify"]) == 0
    out = capsys.readouterr().out
    assert "fresh Python process" in out and "verify: ok" in out
    assert out.count("central differences") == 3 and "FAIL" not in out


def test_verify_fails_with_exit_1_when_the_saved_module_is_wrong(tmp_path, monkeypatch, capsys):
    def tampered(path, names, point, outputs):  # in this process (fast): the kernel, with one gradient 1 % off
        got = compile(program(zoo.resolve("mlp:2-3-1").graph(), "grad"))(dict(point))
        got["grad:0.b"] = got["grad:0.b"] * 1.01
        return got

    monkeypatch.setattr(certify, "run_saved", tampered)
    assert main(["compile", "mlp:2-3-1", "-o", str(tmp_path / "k.py"), "--verify"]) == 1
    out = capsys.readouterr().out
    assert "FAIL grad:0.b vs executor" in out and "verify: FAILED" in out


def test_module_that_cannot_import_fails_verify(tmp_path, capsys):
    path = tmp_path / "k.py"
    graph = zoo.resolve("mlp:2-3-1").graph()
    prog = program(graph, "grad")
    path.write_text("raise ImportError('broken on purpose')\n")
    with pytest.raises(RuntimeError, match="broken on purpose"):
        certify.check_saved(graph, prog, path, "grad", np.dtype(np.float64))


def test_hvp_float32_verifies(tmp_path, capsys):
    argv = ["compile", "mlp:2-3-1", "-o", str(tmp_path / "k.py"), "--mode", "hvp", "--dtype", "float32", "--verify"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "verify: ok" in out and out.count("hvp:") >= 8  # 4 outputs listed, 4 checked


def test_bad_model_is_one_error_line_exit_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "symnn.cli", "compile", "no_such_model:3", "-o", str(tmp_path / "k.py")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("symnn: error: ") and "no_such_model" in lines[0]
    assert not (tmp_path / "k.py").exists()


def test_mode_value_compiles_the_model_and_forward_is_its_old_spelling(tmp_path, capsys):
    graph = zoo.resolve("mlp:2-3-1").graph()
    new, old = tmp_path / "value.py", tmp_path / "forward.py"
    assert main(["compile", "mlp:2-3-1", "-o", str(new), "--mode", "value", "--verify"]) == 0
    assert "note:" not in capsys.readouterr().err
    assert main(["compile", "mlp:2-3-1", "-o", str(old), "--mode", "forward"]) == 0
    err = capsys.readouterr().err
    assert [ln for ln in err.splitlines() if "note:" in ln] == [
        "symnn compile: note: --mode forward is now --mode value (the same program); "
        "the old spelling will be removed in the next release"
    ]
    rng = np.random.default_rng(5)
    point = {n: rng.standard_normal(s) for n, s in {**graph.inputs, **graph.params}.items()}
    want = Executor(graph).forward(point)
    for path in (new, old):
        got = _import(path).run(point)
        assert set(got) == set(want) == {"loss"}
        np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-12)
    # a certificate written by an earlier release names the mode "forward": it still re-checks
    body, cert = certify.read(new)
    assert cert is not None and cert["mode"] == "value"
    new.write_text(certify.embed(body, {**cert, "mode": "forward"}))
    assert certify.recheck(new, "mlp:2-3-1").verdict == "verified"
    assert program(graph, "forward").fingerprint() == program(graph, "value").fingerprint() == graph.fingerprint()
