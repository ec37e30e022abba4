"""Verification certificates embedded in saved kernels, and ``symnn check kernel.py`` (issue 4, item 5)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import symnn
from symnn import zoo
from symnn.cli import main
from symnn.errors import GraphError
from verify import save_certified
from verify.certify import BEGIN, END, CertificateError, embed, recheck, split

MODEL = "mlp:3-4-1"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _replace_certificate(path: Path, **changes: object) -> None:
    """Rewrite the certificate block of ``path`` with some keys changed (a forger's edit)."""
    body, cert = split(path.read_text())
    assert cert is not None
    path.write_text(embed(body, {**cert, **changes}))


@pytest.fixture(scope="module")
def certified(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cert") / "kernel.py"
    assert main(["compile", MODEL, "-o", str(path), "--verify", "--seed", "3"]) == 0
    return path


@pytest.fixture
def kernel_copy(certified: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "kernel.py"
    shutil.copy(certified, dst)
    return dst


def test_block_records_hashes_oracles_and_versions(certified: Path) -> None:
    text = certified.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    before = text[: text.index(BEGIN)]
    body, cert = split(text)
    assert cert is not None
    # the hash covers exactly the code before the block (computed here with hashlib, not the library)
    assert cert["source_sha256"] == _sha(before.rstrip("\n") + "\n") == _sha(body)
    graph = zoo.resolve(MODEL).graph()
    assert cert["model_sha256"] == graph.fingerprint()
    assert cert["program_sha256"] == symnn.grad(graph).fingerprint()
    assert cert["model"] == MODEL and cert["mode"] == "grad" and cert["point"]["seed"] == 3
    oracles = {o["oracle"]: o for o in cert["oracles"]}
    assert set(oracles) == {"executor", "central differences"}
    assert oracles["central differences"]["checks"] == 3
    assert all(0 <= o["max_error"] <= o["tolerance"] for o in oracles.values())
    assert {"python", "symnn", "sympy", "numpy", "numba"} <= set(cert["versions"])
    # every parameter's gradient was compared with the executor
    whats = {c["what"] for c in cert["checks"]}
    assert {f"grad:{p} vs executor" for p in graph.params} <= whats


def test_saved_module_still_imports_and_exposes_the_certificate(certified: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("certified_kernel_module", certified)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.CERTIFICATE["source_sha256"] == split(certified.read_text())[1]["source_sha256"]  # type: ignore[index]


def test_check_confirms_an_intact_certificate(certified: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(certified), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (k,) = doc["kernels"]
    assert doc["ok"] and k["verdict"] == "verified" and len(k["checks"]) >= 5
    assert all(c["ok"] for c in k["checks"])


def test_edited_source_is_unverified_and_never_run(kernel_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = kernel_copy.read_text()
    marker = kernel_copy.parent / "executed"
    # code that would leave a trace if symnn check imported the module
    kernel_copy.write_text(f"open({str(marker)!r}, 'w').close()\n" + text)
    assert main(["check", str(kernel_copy)]) == 1
    out = capsys.readouterr().out
    assert ": UNVERIFIED\n" in out and "modified after certification" in out and ": VERIFIED" not in out
    assert not marker.exists()


def test_forged_hash_is_caught_by_rerunning_the_checks(kernel_copy: Path) -> None:
    body, _ = split(kernel_copy.read_text())
    # a wrong kernel: scale one gradient by 1.001, then forge the source hash so it matches
    wrong = body + (
        "\n_true_run = run\n\n\n"
        "def run(inputs, out=None):\n"
        "    res = _true_run(inputs, out)\n"
        "    res['grad:0.W'] = res['grad:0.W'] * 1.001\n"
        "    return res\n"
    )
    _, cert = split(kernel_copy.read_text())
    kernel_copy.write_text(embed(wrong, {**cert, "source_sha256": _sha(wrong.rstrip("\n") + "\n")}))  # type: ignore[dict-item]
    result = recheck(kernel_copy)
    assert result.verdict == "refuted" and not result.ok
    assert any("grad:0.W" in r for r in result.reasons)


def test_missing_certificate_is_unverified(tmp_path: Path) -> None:
    graph = zoo.resolve(MODEL).graph()
    path = symnn.compile(symnn.grad(graph)).save(tmp_path / "plain.py")
    result = recheck(path)
    assert result.verdict == "unverified" and "no certificate" in result.reasons[0]


def test_certificate_for_another_model_is_unverified(kernel_copy: Path) -> None:
    result = recheck(kernel_copy, model="mlp:3-5-1")
    assert result.verdict == "unverified" and "different graph" in result.reasons[0]
    _replace_certificate(kernel_copy, program_sha256="0" * 64)
    assert "program" in recheck(kernel_copy).reasons[0]


def test_file_models_are_imported_only_when_named(kernel_copy: Path, tmp_path: Path) -> None:
    model_file = tmp_path / "mymodel.py"
    model_file.write_text(f"from symnn import zoo\nmodel = zoo.resolve({MODEL!r})\n")
    spec = f"{model_file}:model"
    _replace_certificate(kernel_copy, model=spec)
    result = recheck(kernel_copy)
    assert result.verdict == "unverified" and f"--model {spec}" in result.reasons[0]


def test_malformed_blocks_are_errors(certified: Path) -> None:
    text = certified.read_text()
    with pytest.raises(CertificateError, match="malformed or repeated"):
        split(text + text[text.index(BEGIN) :])
    with pytest.raises(CertificateError, match="cannot be read"):
        split(f"x = 1\n{BEGIN}\nCERTIFICATE = __import__('os').getcwd()\n{END}\n")
    with pytest.raises(CertificateError, match="cannot be read"):
        split(f"x = 1\n{BEGIN}\n{END}\n")
    with pytest.raises(CertificateError, match="lacks"):
        split(f"x = 1\n{BEGIN}\nCERTIFICATE = {{'format': 'symnn-certificate/1'}}\n{END}\n")


def test_save_certified_certifies_and_rejects_foreign_graphs(tmp_path: Path) -> None:
    graph = zoo.resolve("mlp:2-3-1").graph()
    kernel = symnn.compile(symnn.grad(graph))
    path = save_certified(kernel, tmp_path / "k.py", model=graph)
    _, cert = split(path.read_text())
    assert cert is not None and cert["mode"] == "grad" and cert["model"] is None
    assert recheck(path).verdict == "unverified"  # saved from Python: no model spec to rebuild
    assert recheck(path, model=graph).verdict == "verified"
    assert recheck(path, model=zoo.resolve("mlp:2-4-1").graph()).verdict == "unverified"
    with pytest.raises(GraphError, match="neither the given model"):
        save_certified(kernel, tmp_path / "k2.py", model=zoo.resolve("mlp:2-4-1").graph())


def test_save_certified_with_a_model_spec_records_it_for_recheck(tmp_path: Path) -> None:
    kernel = symnn.compile(symnn.jvp(zoo.resolve("mlp:2-3-1").graph()))
    path = save_certified(kernel, tmp_path / "jvp.py", model="mlp:2-3-1")
    _, cert = split(path.read_text())
    assert cert is not None and cert["mode"] == "jvp" and cert["model"] == "mlp:2-3-1"
    assert "tangent:loss vs central differences" in {c["what"] for c in cert["checks"]}
    assert recheck(path).verdict == "verified"  # a zoo name: rebuilt without --model


def test_kernels_and_models_are_checked_in_separate_calls(certified: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(certified), MODEL]) == 2
    assert "separate calls" in capsys.readouterr().err
    assert main(["check", MODEL, "--model", MODEL]) == 2
    assert "--model is for re-checking saved kernel files" in capsys.readouterr().err
