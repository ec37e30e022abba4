"""Hostile and careless command lines (issue 19): a table of bad invocations across every subcommand.

Each runs in this process through ``symnn.cli.main`` with a time bound and must end with exactly one
line on stderr, ``symnn: error: ...``, and exit 2 (or, where documented, exit 1 with no traceback);
it must write nothing outside the test's directory, and replace no file that is not a regular file
named as an output: the FIFO, the directory, the symlinks to /dev/null and to a directory, and
every input file are checked after each invocation.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from symnn.cli import main

REPO = Path(__file__).resolve().parents[1]
SECONDS = 60  # per invocation: generous for a loaded 2-core machine; most fail in milliseconds

GOOD_PY = """\
from os import getcwd as imported
from symnn import zoo
model = zoo.resolve("mlp:2-3-1")
number = 3
def build():
    return model
def needs_args(a):
    return model
def returns_str():
    return "mlp"
def raises():
    raise ValueError("the model's own bug")
def recurse():
    return recurse()
def exits():
    raise SystemExit(0)
def fixed():
    return model.graph()
"""


def _bitflipped(valid: bytes) -> bytes:
    flipped = bytearray(valid)
    flipped[len(flipped) // 2] ^= 0xFF
    return bytes(flipped)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("hostile")
    (d / "good.py").write_text(GOOD_PY)
    (d / "import_raises.py").write_text("raise RuntimeError('at import')\n")
    (d / "import_recurses.py").write_text("def f():\n    return f()\nf()\n")
    (d / "import_exits.py").write_text("import sys\nsys.exit(0)\n")
    (d / "nonutf8.py").write_bytes(b"x = '\xff\xfe'\n")
    (d / "nonutf8_kernel.py").write_bytes(b"# kernel\nx = '\xff\xfe\x00'\n")
    (d / "existing.npz").write_bytes(b"not yet a checkpoint, but a file the user has")
    (d / "empty.npz").write_bytes(b"")
    (d / "garbage.npz").write_text("hello, I am text\n")
    meta = np.frombuffer(json.dumps([1, 2, 3]).encode(), dtype=np.uint8)
    np.savez(d / "listmeta.npz", meta=meta)
    valid = d / "valid.npz"
    np.savez(valid, **{"params/w": np.arange(1000.0), "meta": np.frombuffer(b'{"format": 1}', dtype=np.uint8)})  # type: ignore[arg-type]
    (d / "truncated.npz").write_bytes(valid.read_bytes()[: valid.stat().st_size // 2])
    (d / "bitflip.npz").write_bytes(_bitflipped(valid.read_bytes()))
    with zipfile.ZipFile(d / "notnpy.npz", "w") as z:
        z.writestr("meta.npy", b"\x93NUMPY garbage")
    (d / "garbage.json").write_text("{not json")
    (d / "list.json").write_text("[1, 2, 3]\n")
    (d / "nonutf8.json").write_bytes(b"\xff\xfe{}")
    (d / "big.json").write_text(json.dumps({"W1": [[2**53, 1]], "b1": [1], "W2": [1], "b2": 0}))
    (d / "badshape.json").write_text(json.dumps({"W1": [[1, 2]], "b1": [1, 2], "W2": [1], "b2": 0}))
    (d / "strweights.json").write_text(json.dumps({"W1": [["a", "b"]], "b1": ["c"], "W2": [1], "b2": 0}))
    (d / "nested.json").write_text("[" * 100_000 + "]" * 100_000)
    (d / "afile").write_text("a regular file where a directory is expected\n")
    (d / "adir").mkdir()
    os.mkfifo(d / "fifo")
    os.symlink("/dev/null", d / "link_to_null")
    os.symlink(d / "adir", d / "link_to_dir")
    os.symlink(d / "nowhere", d / "dangling")
    for name, manifest in (
        ("garbage_manifest", "{oops"),
        ("list_manifest", "[]"),
        ("bad_digests", '{"chunk_sha256": 5}'),
    ):
        (d / name / "verify").mkdir(parents=True)  # boolean verify keeps its campaign in DIR/verify
        (d / name / "manifest.json").write_text(manifest)
        (d / name / "verify" / "manifest.json").write_text(manifest)
    _certified_garbage(d)
    return d


def _certified_garbage(d: Path) -> None:
    """Kernel files whose certificate blocks are malformed in one field each (read, never run)."""
    from verify.certify import embed

    h = "0" * 64
    good: dict[str, object] = {
        "format": "symnn-certificate/1",
        "model": "mlp:2-3-1",
        "mode": "grad",
        "dtype": "float64",
        "model_sha256": h,
        "program_sha256": h,
        "source_sha256": h,
        "point": {"seed": 0, "sha256": h},
        "oracles": [],
        "checks": [{"what": "loss vs executor"}],
        "versions": {},
    }
    bad: dict[str, dict[str, object]] = {
        "seed": {"point": {"seed": "zero", "sha256": h}},
        "point": {"point": 7},
        "checks": {"checks": "all"},
        "mode": {"mode": ["grad"]},
        "dtype": {"dtype": 64},
        "versions": {"versions": [1]},
        "hash": {"source_sha256": 12},
    }
    for name, change in bad.items():
        (d / f"cert_{name}.py").write_text(embed("x = 1\n", good | change))


def _bad_manifest_cases() -> list[list[str]]:
    out = []
    for name in ("garbage_manifest", "list_manifest", "bad_digests"):
        out.append(["boolean", "verify", "--random", "3", "2", "--results", f"{{d}}/{name}"])
        out.append(["check", "mlp:2-3-1", "--campaign", "2", "--results", f"{{d}}/{name}", "--quiet"])
    return out


NESTED = "(" * 200 + "x0 & x1" + ")" * 200
DEEP = "(" * 5000 + "x0" + ")" * 5000
MLP = "mlp:64-4-10"
TRAIN = ["train", MLP, "--quiet", "--steps", "5", "--batch", "8"]
COMPILE = ["compile", "mlp:2-3-1", "-o"]

#: (argv with ``{d}`` for the test's directory, the exit statuses allowed)
CASES: list[tuple[list[str], tuple[int, ...]]] = [
    # -- the root ----------------------------------------------------------------------------------------
    *[
        (argv, (2,))
        for argv in (
            [],
            ["nosuch"],
            ["--nope"],
            ["-x"],
            ["derive-"],
            ["DERIVE", "mlp"],
            ["--versions"],
        )
    ],
    # -- derive --------------------------------------------------------------------------------------------
    *[
        (["derive", *argv], (2,))
        for argv in (
            [],
            [""],
            ["   "],
            ["nosuch"],
            ["mlp:"],
            ["mlp:0-1"],
            ["mlp:a-b"],
            ["mlp:4"],
            ["mlp:-1-2"],
            ["mlp:4--2"],
            ["mlp:" + "9" * 400],
            ["conv:1-1-1-3-1"],
            ["conv:1-2"],
            ["mha:2-3-2"],
            ["transformer:2-3-2-2-1"],
            ["resnet:1"],
            ["signnet:0-1"],
            ["os:abort"],
            ["os:getcwd"],
            ["os:system"],
            ["sys:exit"],
            ["builtins:exit"],
            ["builtins:breakpoint"],
            ["subprocess:Popen"],
            ["os.path:join"],
            ["no_such_module_xyz:m"],
            ["json:loads"],
            ["{d}/missing.py:m"],
            ["{d}/good.py"],
            ["{d}/good.py:"],
            ["{d}/good.py:nope"],
            ["{d}/good.py:number"],
            ["{d}/good.py:needs_args"],
            ["{d}/good.py:imported"],
            ["{d}/good.py:returns_str"],
            ["{d}/good.py:raises"],
            ["{d}/good.py:recurse"],
            ["{d}/good.py:exits"],
            ["{d}/good.py:model.net"],
            ["{d}/import_raises.py:m"],
            ["{d}/import_recurses.py:m"],
            ["{d}/import_exits.py:m"],
            ["{d}/nonutf8.py:m"],
            ["{d}/adir:m"],
            ["{d}/fifo:m"],
            ["mlp", "--mode", "sideways"],
            ["mlp", "--format", "pdf"],
            ["mlp", "--wrt", "nosuch"],
            ["mlp", "--wrt"],
            ["mlp", "--max-scalars", "x"],
            ["mlp", "--max-scalars", "1", "--scalar"],
            ["mlp", "--max-scalars", "-5", "--scalar"],
        )
    ],
    # -- check ---------------------------------------------------------------------------------------------
    *[
        (["check", *argv], (2,))
        for argv in (
            ["nosuch"],
            ["os:abort"],
            ["{d}/good.py:raises"],
            ["mlp:2-3-1", "--seed", "-1"],
            ["mlp:2-3-1", "--seed", "x"],
            ["mlp:2-3-1", "--directions", "0"],
            ["mlp:2-3-1", "--directions", "-3"],
            ["mlp:2-3-1", "--oracles", "nope"],
            ["mlp:2-3-1", "--paths", "nope"],
            ["mlp:2-3-1", "--jobs", "x"],
            ["mlp:2-3-1", "--exact-timeout", "soon"],
            ["mlp:2-3-1", "--campaign", "0", "--quiet"],
            ["mlp:2-3-1", "--campaign", "-1", "--quiet"],
            ["mlp:2-3-1", "--campaign", "2", "--chunks", "0", "--quiet"],
            ["mlp:2-3-1", "--campaign", "2", "--workers", "0", "--quiet"],
            ["mlp:2-3-1", "--campaign", "2", "--workers", "1", "--scheduler", "tcp://x:1", "--quiet"],
            ["mlp:2-3-1", "--campaign", "2", "--results", "{d}/afile", "--quiet"],
            ["mlp:2-3-1", "--campaign", "2", "--results", "/proc/symnn-results", "--quiet"],
            ["mlp:2-3-1", "--campaign", "2", "--results", "{d}/fifo", "--quiet"],
        )
    ],
    *[(["check", f"{{d}}/{name}"], (1,)) for name in ("nonutf8_kernel.py",)],
    *[
        (["check", f"{{d}}/cert_{name}.py"], (1,))
        for name in ("seed", "point", "checks", "mode", "dtype", "versions", "hash")
    ],
    # -- compile -------------------------------------------------------------------------------------------
    *[
        (["compile", *argv], (2,))
        for argv in (
            [],
            ["mlp:2-3-1"],
            ["nosuch", "-o", "{d}/k.py"],
            ["os:abort", "-o", "{d}/k.py"],
            ["{d}/good.py:recurse", "-o", "{d}/k.py"],
            ["{d}/good.py:model", "-o", "{d}/good.py"],
            ["{d}/good.py:build", "-o", "{d}/good.py", "--verify"],
            ["mlp:2-3-1", "-o", "{d}/k.py", "--mode", "nope"],
            ["mlp:2-3-1", "-o", "{d}/k.py", "--dtype", "float16"],
            ["mlp:2-3-1", "-o", "{d}/k.py", "--seed", "-1", "--verify"],
            ["mlp:2-3-1", "-o", "{d}/k.py", "--seed", "1.5"],
            ["mlp:100000-100000-1", "-o", "{d}/k.py", "--verify"],
        )
    ],
    *[
        ([*COMPILE, out], (2,))
        for out in (
            "",
            "/dev/null",
            "/dev/zero",
            "/proc/symnn-kernel.py",
            "/proc/self/status",
            "{d}/adir",
            "{d}/adir/",
            "{d}/fifo",
            "{d}/link_to_null",
            "{d}/link_to_dir",
            "{d}/dangling",
            "{d}/nodir/k.py",
            "{d}/afile/k.py",
            ".",
            "..",
        )
    ],
    # -- train ---------------------------------------------------------------------------------------------
    *[
        ([*TRAIN, *argv], (2,))
        for argv in (
            ["--steps", "0"],
            ["--steps", "-1"],
            ["--batch", "0"],
            ["--batch", "5000"],
            ["--lr", "0"],
            ["--lr", "-1"],
            ["--lr", "nan"],
            ["--lr", "x"],
            ["--seed", "-1"],
            ["--seed", "-99999999999"],
            ["--eval-every", "-1"],
            ["--checkpoint-every", "-1"],
            ["--momentum", "1"],
            ["--momentum", "-0.5"],
            ["--weight-decay", "-1"],
            ["--weight-decay", "nan"],
            ["--test-fraction", "1"],
            ["--test-fraction", "-0.1"],
            ["--test-fraction", "nan"],
            ["--schedule", "nope"],
            ["--schedule", "inverse"],
            ["--data", "mnist"],
            ["--history", "{d}/adir"],
            ["--history", "{d}/nodir/h.json"],
            ["--history", "{d}/fifo"],
            ["--history", "/proc/h.json"],
            ["--plot", "{d}/fifo"],
            ["--plot", "{d}/link_to_null"],
            ["--checkpoint", "{d}/adir"],
            ["--checkpoint", "{d}/fifo"],
            ["--checkpoint", "{d}/link_to_null"],
            ["--checkpoint", "{d}/nodir/c.npz"],
            ["--checkpoint", "/proc/c.npz"],
            ["--checkpoint", "{d}/existing.npz"],
            ["--resume"],
            ["--resume", "--checkpoint", "{d}/missing.npz"],
            ["--resume", "--checkpoint", "{d}/empty.npz"],
            ["--resume", "--checkpoint", "{d}/garbage.npz"],
            ["--resume", "--checkpoint", "{d}/truncated.npz"],
            ["--resume", "--checkpoint", "{d}/bitflip.npz"],
            ["--resume", "--checkpoint", "{d}/listmeta.npz"],
            ["--resume", "--checkpoint", "{d}/valid.npz"],
            ["--resume", "--checkpoint", "{d}/notnpy.npz"],
            ["--resume", "--checkpoint", "{d}/adir"],
        )
    ],
    *[
        (["train", *argv], (2,))
        for argv in (
            [],
            ["mlp:64-16-5", "--quiet"],
            ["mlp:4-8-1", "--quiet"],
            ["nosuch", "--quiet"],
            ["os:abort", "--quiet"],
            ["{d}/good.py:fixed", "--quiet"],
            ["{d}/good.py:raises", "--quiet"],
            ["{d}/good.py:model", "--quiet", "--history", "{d}/good.py"],
            ["{d}/good.py:model", "--quiet", "--checkpoint", "{d}/good.py", "--overwrite"],
        )
    ],
    # -- boolean -------------------------------------------------------------------------------------------
    *[
        (["boolean", *argv], (2,))
        for argv in (
            [],
            ["nope"],
            ["construct"],
            *(
                ["construct", f]
                for f in (
                    "",
                    "012",
                    "011",
                    "0x",
                    "0xZZ",
                    "parity:-1",
                    "parity:x",
                    "parity:99",
                    "random:4:x",
                    "atleast:5",
                    "nosuch:3",
                    "a &",
                    "a & & b",
                    "~",
                    "()",
                    "a | (b",
                    "a | b)",
                    "__import__('os').system('true')",
                    "x0 $ x1",
                    NESTED,
                    DEEP,
                    "\x00",
                    " & ".join(f"v{i}" for i in range(3000)),
                )
            ),
            ["construct", "0110", "-d", "3"],
            ["construct", "0110", "-d", "-1"],
            ["verify"],
            ["verify", "--network", "{d}/missing.json"],
            ["verify", "--network", "{d}/garbage.json"],
            ["verify", "--network", "{d}/list.json"],
            ["verify", "--network", "{d}/nonutf8.json"],
            ["verify", "--network", "{d}/badshape.json"],
            ["verify", "--network", "{d}/strweights.json"],
            ["verify", "--network", "{d}/nested.json"],
            ["verify", "--network", "{d}/big.json", "parity:2"],
            ["verify", "--network", "{d}/adir"],
            ["verify", "--network", "{d}/fifo"],
            ["verify", "--network", "{d}/empty.npz"],
            ["verify", "--random", "-1", "3"],
            ["verify", "--random", "3"],
            ["verify", "--random", "70", "1"],
            ["verify", "--random", "60", "100"],
            ["verify", "--random", "3", "2", "--network", "{d}/big.json"],
            ["verify", "--random", "3", "2", "--chunks", "0"],
            ["verify", "--random", "3", "2", "--max-seconds", "nan"],
            ["verify", "--random", "3", "2", "--seed", "-1"],
            ["construct", "random:4:-1"],
            ["threshold", "random:3:-5"],
            ["min-width", "--distribution", "-1"],
            ["shatter", "-d", "3", "-k", "-1"],
            ["count", "3", "--results", "/proc/symnn-results"],
            ["verify", "--random", "3", "2", "--max-seconds", "-1"],
            ["verify", "--random", "3", "2", "--workers", "0"],
            ["verify", "--random", "3", "2", "--results", "{d}/afile"],
            ["verify", "--random", "3", "2", "--results", "/proc/symnn-results"],
            ["threshold"],
            ["threshold", ""],
            ["threshold", NESTED + " & ("],
            ["count"],
            ["count", "-1"],
            ["count", "100"],
            ["count", "x"],
            ["count", "3", "--method", "guess"],
            ["min-width"],
            ["min-width", "0110", "--max-width", "-1"],
            ["min-width", "--distribution", "99"],
            ["shatter"],
            ["shatter", "-d", "-1"],
            ["shatter", "-d", "x"],
        )
    ],
    *[(argv, (2,)) for argv in _bad_manifest_cases()],
    # -- bench, ops ----------------------------------------------------------------------------------------
    (["bench", "--nope"], (2,)),
    (["bench", "--workloads"], (2,)),
    (["ops", "--nope"], (2,)),
    (["ops", "extra"], (2,)),
]


class _Timeout(BaseException):
    """Raised by the alarm: a BaseException, so the command line's own handlers cannot swallow it."""


def _on_alarm(signum: int, frame: object) -> None:
    raise _Timeout


def _guards(d: Path) -> dict[str, object]:
    """What must hold before and after every invocation: special files stay special, inputs stay whole."""
    out: dict[str, object] = {
        "fifo": stat.S_ISFIFO(os.lstat(d / "fifo").st_mode),
        "adir": (d / "adir").is_dir() and not any((d / "adir").iterdir()),
        "link_to_null": os.readlink(d / "link_to_null"),
        "link_to_dir": os.readlink(d / "link_to_dir"),
        "dangling": os.readlink(d / "dangling"),
        "dev_null": stat.S_ISCHR(os.stat("/dev/null").st_mode),
    }
    for p in sorted(d.rglob("*")):
        if "__pycache__" in p.parts:  # Python's own bytecode of a model file the user named (imported on purpose)
            continue
        if p.is_file() and not p.is_symlink() and p.name not in ("k.py", "manifest.json"):
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _outside() -> tuple[str, list[str]]:
    """The repository's git status and the entries of the current directory's parent (places we must not touch)."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--ignored=no"], cwd=REPO, capture_output=True, text=True
    ).stdout
    return status, sorted(os.listdir(REPO))


@pytest.fixture(scope="module")
def untouched(work: Path) -> Iterator[None]:
    before = _outside()
    yield
    assert _outside() == before, "an invocation wrote into the repository"


def _ids() -> list[str]:
    return [" ".join(a)[:60] or "<none>" for a, _ in CASES]


def test_the_table_is_big_and_covers_every_subcommand() -> None:
    assert len(CASES) >= 150
    commands = {argv[0] for argv, _ in CASES if argv and not argv[0].startswith("-")}
    assert {"derive", "check", "compile", "boolean", "train", "bench", "ops"} <= commands


@pytest.mark.parametrize(("argv", "allowed"), CASES, ids=_ids())
def test_bad_invocation_is_one_line(
    argv: list[str],
    allowed: tuple[int, ...],
    work: Path,
    untouched: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(work)
    argv = [a.replace("{d}", str(work)) for a in argv]
    before = _guards(work)
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(SECONDS)
    try:
        code = main(argv)
    except _Timeout:
        pytest.fail(f"symnn {' '.join(argv)[:200]} ran longer than {SECONDS} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    out, err = capsys.readouterr()
    assert code in allowed, f"exit {code}, stderr: {err[-500:]}"
    assert "Traceback" not in err + out and "internal error" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith("symnn: error: "), err[-1000:]
    assert _guards(work) == before, "a special file or an input was replaced"
    leftovers = [p.name for p in work.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
