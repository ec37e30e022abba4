"""Regression tests of issue 19 (hostile and careless input), one or more per item fixed.

1 writes replace only regular files and keep modes; 2 strings never become Python; 4 certificates
hold kernels to their real dtype and type-check every field; 5 exact boolean arithmetic or a
refusal, campaign chunk files checked against digests; 8 one-line errors (Ctrl-C, recursion,
checkpoints, wrong-type calls, ``derive os:abort``). The command-line table is test_hostile_cli.py.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symnn
from symnn import cli
from symnn.cli import main
from symnn.errors import SymnnError
from symnn.files import OutputPathError, atomic_write, check_output
from symnn.train import checkpoint as ckpt
from symnn.train.errors import CheckpointError
from verify.boolean.construct import SignNetwork
from verify.boolean.errors import TooLargeError
from verify.boolean.exhaustive import evaluate
from verify.campaign import Campaign, CampaignError, ResultStore
from verify.campaign import run as run_campaign
from verify.certify import CertificateError, embed, recheck, source_hash, split

# -- 1: the one writer ---------------------------------------------------------------------------------------


def test_atomic_write_refuses_special_files(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "null"
    os.symlink("/dev/null", link)
    for target, kind in ((fifo, "FIFO"), (tmp_path, "directory"), (link, "character device")):
        with pytest.raises(OutputPathError, match=kind):
            atomic_write(target, b"x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.readlink(link) == "/dev/null"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_atomic_write_keeps_the_mode_and_new_files_follow_the_umask(tmp_path: Path) -> None:
    old = tmp_path / "tool.sh"
    old.write_text("old")
    old.chmod(0o755)
    atomic_write(old, b"new")
    assert old.read_bytes() == b"new" and stat.S_IMODE(old.stat().st_mode) == 0o755
    mask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "fresh.txt", b"x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "fresh.txt").stat().st_mode) == 0o644  # not mkstemp's 0600


def test_atomic_write_through_a_symlink_replaces_its_target(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    os.symlink(real, link)
    atomic_write(link, b"new")
    assert link.is_symlink() and real.read_text() == "new"


def test_check_output_refuses_inputs_and_missing_directories(tmp_path: Path) -> None:
    src = tmp_path / "model.py"
    src.write_text("x = 1\n")
    with pytest.raises(OutputPathError, match="destroy the input"):
        check_output(src, [src])
    with pytest.raises(OutputPathError, match="does not exist"):
        check_output(tmp_path / "no" / "out.py")
    assert check_output(tmp_path / "out.py", [src]) == tmp_path / "out.py"


def test_compile_refuses_to_overwrite_the_model_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "m.py"
    text = "from symnn import zoo\nmodel = zoo.resolve('mlp:2-3-1')\n"
    src.write_text(text)
    assert main(["compile", f"{src}:model", "-o", str(src)]) == 2
    assert "would destroy the input" in capsys.readouterr().err and src.read_text() == text


def test_train_refuses_an_existing_checkpoint_then_overwrites_when_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.npz"
    path.write_bytes(b"a 4,000-step checkpoint")
    args = ["train", "mlp:64-16-10", "--steps", "2", "--batch", "32", "--quiet", "--checkpoint", str(path)]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err and path.read_bytes() == b"a 4,000-step checkpoint"
    assert main([*args, "--overwrite"]) in (0, 1)  # 2 steps: the verdict may go either way
    assert ckpt.load(path)["step"] == 2


def test_train_checks_history_paths_before_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["train", "mlp:64-16-10", "--steps", "2", "--batch", "32", "--quiet"]
    assert main([*args, "--history", str(tmp_path / "missing" / "h.json")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "steps/s" not in err


# -- 2: strings are data ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda cmd: symnn.formula(cmd + "+w", params=["w"]),
        lambda cmd: symnn.Activation(cmd, sp.Symbol("x")),
        lambda cmd: symnn.Normalize(eps=cmd),
        lambda cmd: symnn.functions.canonicalize(cmd),
    ],
    ids=["formula", "Activation", "Normalize", "canonicalize"],
)
def test_strings_never_run_as_python(call, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(SymnnError, match="string"):
        call(f"__import__('os').system('touch {marker}')")
    assert not marker.exists()


def _map_returning(value):
    b = symnn.Builder()
    return b.input("x", (2,)).map(lambda a: value)


def _expand_with(value):
    b = symnn.Builder()
    w = b.param("w", (1,))
    cell = np.empty((1,), dtype=object)
    cell[0] = value  # one entry of the leaf's values, whatever it holds
    return symnn.expand.expand(b.build((w * w).sum()), values={"w": cell})


#: Every entry that hands user values to sympy.sympify, which parses a str as Python at any depth.
SYMPIFY_ENTRIES = {
    "formula": lambda v: symnn.formula(v, params=["w"]),
    "Activation": lambda v: symnn.Activation(v, sp.Symbol("x")),
    "Normalize": lambda v: symnn.Normalize(eps=v),
    "canonicalize": lambda v: symnn.functions.canonicalize(v),
    "LeakyReLU": lambda v: symnn.layers.LeakyReLU(v),
    "ELU": lambda v: symnn.layers.ELU(v),
    "Softplus": lambda v: symnn.layers.Softplus(v),
    "LayerNorm": lambda v: symnn.layers.LayerNorm(3, eps=v),
    "map": _map_returning,
    "expand": _expand_with,
}
#: Where the string hides: sympify walks lists, tuples, sets and dicts (keys too), even with strict=True.
NESTINGS = {
    "top": lambda s: s,
    "list": lambda s: [s],
    "tuple in list": lambda s: [(1, s)],
    "dict value": lambda s: {"a": s},
    "dict key": lambda s: {s: 1},
    "set": lambda s: {s},
    "str array": lambda s: np.array([s]),
}


@pytest.mark.parametrize("nest", NESTINGS.values(), ids=NESTINGS.keys())
@pytest.mark.parametrize("call", SYMPIFY_ENTRIES.values(), ids=SYMPIFY_ENTRIES.keys())
def test_nested_strings_never_run_as_python(call, nest, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(SymnnError, match="string"):
        call(nest(f"__import__('os').system('touch {marker}')"))
    assert not marker.exists()


def test_the_string_guard_says_where_the_string_is() -> None:
    with pytest.raises(SymnnError, match=r"canonicalize: got the string 'x' at \[1\]\['k'\]\[0\]"):
        symnn.functions.canonicalize([1, {"k": ["x"]}])
    with pytest.raises(SymnnError, match="one-shot iterator at \\[0\\]"):  # sympify would use it up, strings included
        symnn.functions.canonicalize([iter(["x"])])
    deep: list = []
    for _ in range(10_000):  # deeper than Python's recursion limit: the walk is iterative
        deep = [deep]
    assert symnn.functions._string_inside(deep) is None


def test_numbers_and_sympy_values_still_pass_the_guard() -> None:
    x = sp.Symbol("x")
    assert symnn.layers.LeakyReLU().negative_slope == sp.Rational(1, 100)
    assert symnn.layers.LeakyReLU(0.2).negative_slope == sp.Rational(1, 5)
    assert symnn.Normalize(eps=sp.Rational(1, 10**5)).eps == sp.Rational(1, 10**5)
    assert symnn.functions.canonicalize((x, 1)) == sp.Tuple(x, 1)
    assert symnn.formula([x**2, x], params=[x]).output_names == ("out0", "out1")
    b = symnn.Builder()
    w = b.param("w", (2,))
    assert symnn.expand.expand(b.build((w * w).sum()), values={"w": np.array([1, sp.Rational(1, 2)])})["out"][()] == (
        sp.Rational(5, 4)
    )


# -- 4: certificates ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certified(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cert") / "kernel.py"
    assert main(["compile", "mlp:3-4-1", "-o", str(path), "--verify"]) == 0
    return path


def test_a_float64_kernel_declared_float32_is_held_to_float64(certified: Path, tmp_path: Path) -> None:
    body, cert = split(certified.read_text())
    assert cert is not None and cert["dtype"] == "float64"
    # one gradient entry off by 1.8e-4 relative: inside float32's tolerance (2e-4), far outside float64's
    wrong = body + (
        "\n_true_run = run\n\n\n"
        "def run(inputs, out=None):\n"
        "    res = _true_run(inputs, out)\n"
        "    res['grad:0.W'] = res['grad:0.W'] * (1 + 1.8e-4)\n"
        "    return res\n"
    )
    forged = tmp_path / "forged.py"
    forged.write_text(embed(wrong, {**cert, "dtype": "float32", "source_sha256": source_hash(wrong)}))
    result = recheck(forged)
    assert result.verdict == "refuted" and any("grad:0.W" in r for r in result.reasons)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("point", {"seed": "0"}),
        ("point", None),
        ("checks", "all of them"),
        ("checks", [{"what": 3}]),
        ("mode", "backwards"),
        ("dtype", "float16"),
        ("source_sha256", 5),
        ("versions", {"numpy": 2}),
        ("oracles", "executor"),
        ("model", ["mlp"]),
    ],
)
def test_every_certificate_field_is_type_checked(certified: Path, field: str, value: object) -> None:
    body, cert = split(certified.read_text())
    assert cert is not None
    with pytest.raises(CertificateError, match=f"field {field!r}"):
        split(embed(body, {**cert, field: value}))


def test_a_certificate_naming_a_huge_model_is_refused_with_the_estimate(tmp_path: Path) -> None:
    graph = symnn.zoo.resolve("mlp:20000-20000-1").graph()  # 4e8 parameters: tracing is cheap, a point is not
    h = "0" * 64
    cert = {
        "format": "symnn-certificate/1",
        "model": "mlp:20000-20000-1",
        "mode": "grad",
        "dtype": "float64",
        "model_sha256": graph.fingerprint(),
        "program_sha256": symnn.grad(graph).fingerprint(),
        "source_sha256": source_hash("x = 1\n"),
        "point": {"seed": 0, "sha256": h},
        "oracles": [],
        "checks": [{"what": "loss vs executor"}],
        "versions": {},
    }
    path = tmp_path / "huge.py"
    path.write_text(embed("x = 1\n", cert))
    result = recheck(path)
    assert result.verdict == "unverified" and "GiB" in result.reasons[0] and "limit" in result.reasons[0]


# -- 5: exact boolean arithmetic, campaign chunk files ------------------------------------------------------------


def test_integer_weights_past_2_53_are_refused_with_the_bound() -> None:
    net = SignNetwork(np.array([[2**53, 1]]), np.array([1]), np.array([1]), 0)
    with pytest.raises(TooLargeError, match="9,007,199,254,740,994"):
        evaluate(net)
    assert not evaluate(net, exact=False)[0].exact  # float64 only when asked for
    # 2^52 stays exact: x0 decides; sign(2^52 x0 + x1 + 1) is +1 iff x0 = +1
    small = SignNetwork(np.array([[2**52, 1]]), np.array([1]), np.array([1]), 0)
    ev, out = evaluate(small, outputs=True)
    assert ev.exact and out is not None and out.tolist() == [-1, 1, -1, 1]


def _squares(params: dict, i: int, n: int) -> int:
    return i * i


def _sum(params: dict, parts: list) -> int:
    return sum(parts)


def _campaign() -> Campaign:
    return Campaign("squares", {}, 4, _squares, _sum)


def test_an_edited_chunk_file_is_redone_and_reported(tmp_path: Path) -> None:
    assert run_campaign(_campaign(), results=tmp_path).value == 14
    chunk = tmp_path / "chunk-000002.json"
    doc = json.loads(chunk.read_text())
    doc["result"] += 1_000_000
    chunk.write_text(json.dumps(doc) + "\n")
    (tmp_path / "chunk-000003.json").unlink()
    again = run_campaign(_campaign(), results=tmp_path)
    assert again.value == 14 and again.reused == 2
    assert len(again.notes) == 1 and "chunk-000002.json" in again.notes[0] and "SHA-256" in again.notes[0]
    assert run_campaign(_campaign(), results=tmp_path).notes == ()  # redone and recorded: trusted again


def _log(root: Path) -> list[str]:
    return (root / "chunk_sha256.log").read_text().splitlines()


def test_a_planted_chunk_without_a_digest_is_redone(tmp_path: Path) -> None:
    run_campaign(Campaign("squares", {}, 4, _squares, _sum), results=tmp_path)
    (tmp_path / "chunk_sha256.log").write_text("".join(f"{line}\n" for line in _log(tmp_path) if line[0] != "1"))
    out = run_campaign(_campaign(), results=tmp_path)
    assert out.value == 14 and len(out.notes) == 1 and "chunk-000001.json: no digest" in out.notes[0]


def test_the_manifest_is_written_once_and_each_chunk_adds_one_line(tmp_path: Path, monkeypatch) -> None:
    """Bookkeeping grows linearly: the manifest is not rewritten after every chunk (O(chunks^2) bytes)."""
    from verify.campaign import store

    writes = []
    real = store._write_manifest
    monkeypatch.setattr(store, "_write_manifest", lambda path, m: (writes.append(path), real(path, m)))
    campaign = Campaign("squares", {}, 60, _squares, _sum)
    assert run_campaign(campaign, results=tmp_path).value == sum(i * i for i in range(60))
    assert len(writes) == 1
    lines = _log(tmp_path)
    assert sorted(int(line.split()[0]) for line in lines) == list(range(60))
    assert all(len(line.split()[1]) == 64 for line in lines)
    assert run_campaign(campaign, results=tmp_path).reused == 60 and len(writes) == 1


def test_a_digest_line_cut_short_by_a_crash_redoes_only_its_chunk(tmp_path: Path) -> None:
    run_campaign(_campaign(), results=tmp_path)
    text = (tmp_path / "chunk_sha256.log").read_text()
    (tmp_path / "chunk_sha256.log").write_text(text[:-20])  # the last digest lost its tail (and newline)
    out = run_campaign(_campaign(), results=tmp_path)
    assert out.value == 14 and out.reused == 3 and len(out.notes) == 1 and "no digest" in out.notes[0]
    again = run_campaign(_campaign(), results=tmp_path)  # the redone chunk's digest starts a line of its own
    assert again.notes == () and again.reused == 4


def test_digests_in_an_earlier_versions_manifest_are_still_trusted(tmp_path: Path) -> None:
    run_campaign(_campaign(), results=tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["chunk_sha256"] = dict(line.split() for line in _log(tmp_path))
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "chunk_sha256.log").unlink()
    out = run_campaign(_campaign(), results=tmp_path)
    assert out.value == 14 and out.reused == 4 and out.notes == ()


def test_a_digest_log_without_its_manifest_vouches_for_nothing(tmp_path: Path) -> None:
    run_campaign(_campaign(), results=tmp_path)
    (tmp_path / "manifest.json").unlink()
    out = run_campaign(_campaign(), results=tmp_path)
    assert out.value == 14 and out.reused == 0 and len(out.notes) == 4
    (tmp_path / "manifest.json").unlink()
    other = Campaign("squares", {"other": 1}, 4, _squares, _sum)
    ResultStore.open(tmp_path, other)  # a new manifest, for other parameters
    store = ResultStore.open(tmp_path, other)  # a restart: the chunk files there are not this campaign's
    assert store.finished() == {} and len(store.redone) == 4


@pytest.mark.parametrize("text", ["", "{oops", "[]", "null", '{"chunk_sha256": []}'])
def test_garbage_manifests_are_campaign_errors(tmp_path: Path, text: str) -> None:
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(CampaignError, match="manifest"):
        ResultStore.open(tmp_path, _campaign())


# -- 8: one line, never a traceback --------------------------------------------------------------------------------


def _valid_checkpoint(path: Path) -> bytes:
    state = {"params": {"w": np.arange(50.0)}, "step": 3, "fingerprint": "f", "rng": {"bit_generator": "PCG64"}}
    ckpt.save(path, {**state, "order": [], "pos": 0, "history": []})
    return path.read_bytes()


@pytest.mark.parametrize("damage", ["empty", "truncated", "bitflip", "text"])
def test_damaged_checkpoints_are_checkpoint_errors(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "c.npz"
    data = _valid_checkpoint(path)
    assert ckpt.load(path, "f")["step"] == 3
    bad = {
        "empty": b"",
        "truncated": data[: len(data) // 2],
        "bitflip": data[:200] + bytes([data[200] ^ 0xFF]) + data[201:],
        "text": b"hello",
    }[damage]
    path.write_bytes(bad)
    with pytest.raises(CheckpointError, match="unreadable"):
        ckpt.load(path, "f")


def test_hand_edited_checkpoint_metadata_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    ckpt.save(path, {"params": {}, "step": -4, "fingerprint": "f", "rng": {}, "order": [], "pos": 0, "history": []})
    with pytest.raises(CheckpointError, match="'step'"):
        ckpt.load(path, "f")


def _raising(exc: BaseException):
    def configure(p: argparse.ArgumentParser) -> None:
        pass

    def run(args: argparse.Namespace) -> int:
        raise exc

    return configure, run


@pytest.mark.parametrize(
    ("exc", "code", "words"),
    [
        (KeyboardInterrupt(), 130, "interrupted"),
        (RecursionError(), 2, "recursion"),
        (PermissionError(13, "Permission denied", "/x"), 2, "Permission denied (/x)"),
        (ZeroDivisionError("a bug"), 2, "internal error (ZeroDivisionError: a bug)"),
    ],
)
def test_main_turns_every_exception_into_one_line(monkeypatch, capsys, exc, code, words) -> None:
    monkeypatch.setattr(importlib.import_module("symnn.cli.main"), "SUBCOMMANDS", {})
    monkeypatch.delenv("SYMNN_DEBUG", raising=False)
    configure, run = _raising(exc)
    cli.subcommand("boom", "raise", configure)(run)
    assert main(["boom"]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("symnn: error: ") and words in err and "Traceback" not in err


@pytest.mark.parametrize("call", [symnn.grad, symnn.jvp, symnn.vjp, symnn.hvp])
def test_wrong_type_calls_are_graph_errors(call) -> None:
    with pytest.raises(symnn.GraphError, match="needs a symnn Graph, got NoneType"):
        call(None)


@pytest.mark.parametrize(
    "call",
    [
        lambda: atomic_write(None, b""),  # type: ignore[arg-type]
        lambda: atomic_write("never-written.txt", "text"),  # type: ignore[arg-type]
        lambda: check_output(None),  # type: ignore[arg-type]
        lambda: ckpt.load(None),  # type: ignore[arg-type]
        lambda: recheck(None),  # type: ignore[arg-type]
        lambda: evaluate(None),  # type: ignore[arg-type]
        lambda: symnn.grad(symnn.zoo.resolve("mlp:2-2-1").graph(), wrt=5),  # type: ignore[arg-type]
        lambda: symnn.grad(symnn.zoo.resolve("mlp:2-2-1").graph(), wrt=[None]),  # type: ignore[list-item]
    ],
)
def test_more_wrong_type_calls_are_symnn_errors(call, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SymnnError):
        call()
    assert list(tmp_path.iterdir()) == []


def test_derive_calls_only_functions_of_the_named_module(tmp_path: Path, capsys, monkeypatch) -> None:
    called = []
    monkeypatch.setattr(os, "abort", lambda: called.append(1))  # had it been called, the test would say so
    assert main(["derive", "os:abort"]) == 2
    assert not called and "not a function defined in the named file or module" in capsys.readouterr().err
    model = tmp_path / "m.py"
    model.write_text(
        "from os import getcwd\nfrom symnn import zoo\ndef build():\n    return zoo.resolve('mlp:2-2-1')\n"
    )
    assert main(["derive", f"{model}:getcwd"]) == 2
    assert main(["derive", f"{model}:build"]) == 0


def test_deeply_nested_boolean_expression_is_one_line(capsys) -> None:
    expr = "(" * 200 + "x0 & x1" + ")" * 200
    assert main(["boolean", "construct", expr]) in (0, 2)
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") <= 1


def test_a_real_ctrl_c_in_a_subprocess_exits_130(tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    started = tmp_path / "started"
    model = tmp_path / "slow.py"
    model.write_text(f"import time\ndef build():\n    open({str(started)!r}, 'w').close()\n    time.sleep(60)\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from symnn.cli import main; sys.exit(main())", "derive", f"{model}:build"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    deadline = time.time() + 60
    while not started.exists() and time.time() < deadline:  # Ctrl-C while the model code runs
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=max(1, deadline - time.time()))[1].decode()
    assert proc.returncode == 130, err
    assert err.strip().count("\n") == 0 and err.startswith("symnn: error: interrupted"), err
