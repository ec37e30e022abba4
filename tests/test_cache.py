"""Where symnn keeps compiled code: the cache directory's conventions, one directory of kernels per
environment (BLAS or not, Numba, CPU), the path each kernel reports, ``symnn cache``, and nothing
written inside the installed packages.

Interpreters without BLAS are real ones: a child process that blocks SciPy (``sys.modules["scipy"]
= None``, so there is no SciPy BLAS and the generated modules' probe fails) shares one cache
directory with children that have it. Which path a kernel compiled is read from the kernel
(``kernel.path``), never from timings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from symnn import cli
from symnn.codegen import compile, warm
from symnn.codegen.cache import KERNELS_SUBDIR, kernels_dir
from symnn.codegen.environment import FIELDS, cython_blas, environment, environment_id
from symnn.codegen.inventory import survey
from symnn.errors import SymnnError, SymnnWarning
from symnn.files import cache_dir
from symnn.functions import sigmoid
from symnn.ir import Builder, einsum
from symnn.jit import PACKAGES, numba_cache_dir

ROOT = Path(__file__).resolve().parents[1]

# x (64, 48) times w (40, 48) transposed: 122880 multiply-adds, well above BLAS_MIN_MACS (4096)
_SHAPES = {"x": (64, 48), "w": (40, 48)}


def _values() -> dict[str, np.ndarray]:
    return {n: np.linspace(-1.0, 1.0, int(np.prod(s))).reshape(s) for n, s in _SHAPES.items()}


def _reference(values: dict[str, np.ndarray]) -> list[float]:
    """What the two kernels of _CHILD compute, in NumPy."""
    z = values["x"] @ values["w"].T
    return [float(z.sum()), float((1.0 / (1.0 + np.exp(-z))).sum())]


_CHILD = """
import json, sys, warnings
if sys.argv[1] == "without-scipy":
    sys.modules["scipy"] = None  # every import of scipy fails: no BLAS here
import numpy as np
from symnn.codegen import compile
from symnn.errors import SymnnWarning
from symnn.functions import sigmoid
from symnn.ir import Builder, einsum
b = Builder()
x, w = b.input("x", (64, 48)), b.param("w", (40, 48))
values = {n: np.linspace(-1.0, 1.0, np.prod(s)).reshape(s) for n, s in (("x", (64, 48)), ("w", (40, 48)))}
z = einsum("bi,oi->bo", x, w)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    kernels = [compile(b.build(z.sum())), compile(b.build(z.map(sigmoid).sum()))]
def usable_after():  # the user's own import afterwards works as in any process
    import scipy.linalg.cython_blas
    return "dgemm" in scipy.linalg.cython_blas.__pyx_capi__
print(json.dumps({
    "paths": [k.path for k in kernels],
    "hits": [k.cache_hit for k in kernels],
    "machine_code": [k.machine_code_cached for k in kernels],
    "values": [float(k(values)["out"]) for k in kernels],
    "warnings": [str(c.message) for c in caught if issubclass(c.category, SymnnWarning)],
    "environment": kernels[0].environment,
    "linalg_imported": "scipy.linalg" in sys.modules,  # symnn needs only cython_blas, not the package
    "cython_blas_usable": sys.argv[1] == "with-scipy" and usable_after(),
}))
"""


def _env(cache: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, SYMNN_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT), **extra)
    env.pop("NUMBA_DISABLE_JIT", None)
    return env


def _child(cache: Path, blas: bool) -> dict:
    mode = "with-scipy" if blas else "without-scipy"
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], env=_env(cache), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- where the cache is ---------------------------------------------------------------------------------------
def test_the_cache_directory_follows_the_platform_conventions(monkeypatch, tmp_path):
    monkeypatch.delenv("SYMNN_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "symnn"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG spec: a relative path is ignored
    assert cache_dir() == tmp_path / "home" / ".cache" / "symnn"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "symnn"
    monkeypatch.setenv("SYMNN_CACHE_DIR", str(tmp_path / "mine"))  # still wins
    assert cache_dir() == tmp_path / "mine"
    assert numba_cache_dir().parent.parent == tmp_path / "mine"


def test_the_environment_names_what_changes_machine_code():
    env = environment()
    assert tuple(env) == FIELDS and env["blas"] in ("yes", "no")
    assert env["numba"] == __import__("numba").__version__ and env["llvmlite"] == __import__("llvmlite").__version__
    other = {**env, "cpu": env["cpu"] + "-other"}
    assert len({environment_id(env), environment_id(other), environment_id({**env, "blas": "no"})}) == 3
    assert environment_id({**env, "blas": "no"}).startswith("loops-")


def test_numba_settings_that_change_the_code_select_another_environment():
    code = "from symnn.codegen.environment import environment, environment_id; print(environment_id(environment()))"
    ids = {
        subprocess.run(
            [sys.executable, "-c", code], env=_env(Path("unused"), **extra), capture_output=True, text=True, check=True
        ).stdout.strip()
        for extra in ({}, {"NUMBA_BOUNDSCHECK": "1"}, {"NUMBA_CPU_NAME": "generic"})
    }
    assert len(ids) == 3, ids


# -- the BLAS path -----------------------------------------------------------------------------------------------
def test_a_matmul_shaped_kernel_takes_the_blas_path_with_the_declared_dependencies(tmp_path, monkeypatch):
    """SciPy is a dependency of symnn, so a plain install compiles its products on BLAS."""
    monkeypatch.setenv("SYMNN_CACHE_DIR", str(tmp_path))
    b = Builder()
    x, w = b.input("x", _SHAPES["x"]), b.param("w", _SHAPES["w"])
    small = Builder()
    u, v = small.input("u", (2, 3)), small.param("v", (4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SymnnWarning)  # no fallback warning with BLAS present
        k = compile(b.build(einsum("bi,oi->bo", x, w).sum()))
        tiny = compile(small.build(einsum("bi,oi->bo", u, v).sum()))  # 24 multiply-adds: loops by design
    assert "_gemm_nt" in k.source and k.path == "blas" and k.environment["blas"] == "yes"
    assert tiny.path == "loops" and "_gemm_" not in tiny.source
    assert float(k(_values())["out"]) == pytest.approx(_reference(_values())[0], rel=1e-12)
    meta = json.loads((kernels_dir(tmp_path, environment_id()) / f"{k.fingerprint}.json").read_text())
    assert meta["path"] == "blas" and meta["environment"] == environment_id()


def test_two_interpreters_sharing_one_cache_each_take_their_own_path_in_either_order(tmp_path):
    """One without SciPy, one with, alternating on one cache directory: never each other's machine code."""
    cache = tmp_path / "shared"
    expected = _reference(_values())
    runs = [_child(cache, blas) for blas in (False, True, False, True)]
    for k, (run, blas) in enumerate(zip(runs, (False, True, False, True), strict=True)):
        what = f"run {k} {'with' if blas else 'without'} SciPy"
        assert run["paths"] == (["blas", "blas"] if blas else ["loops", "loops"]), what
        assert run["environment"]["blas"] == ("yes" if blas else "no"), what
        assert run["values"] == pytest.approx(expected, rel=1e-12), what
        # the first run of each environment compiles; the second finds its own module and machine code
        assert run["hits"] == [k >= 2] * 2 and run["machine_code"] == [k >= 2] * 2, what
        if blas:
            assert run["warnings"] == [], what
            assert not run["linalg_imported"] and run["cython_blas_usable"], what
        else:  # once per process, for two kernels, with the fix
            assert len(run["warnings"]) == 1 and "pip install scipy" in run["warnings"][0], what
    names = sorted(d.name.split("-")[0] for d in (cache / KERNELS_SUBDIR).iterdir())
    assert names == ["blas", "loops"]


_BLAS_BLOCK = """
import sys
from symnn.codegen.environment import cython_blas
with cython_blas() as found:
    inside = sys.modules["scipy.linalg.cython_blas"]
    if sys.argv[1] == "import-linalg":
        import scipy.linalg
import scipy.linalg
import scipy.linalg.cython_blas
print(found, "scipy.linalg.cython_blas" in sys.modules, scipy.linalg.cython_blas is inside)
"""


@pytest.mark.parametrize("during", ["import-linalg", "nothing"])
def test_cython_blas_is_offered_alone_and_sys_modules_left_as_an_import_leaves_it(tmp_path, during):
    """Inside the block the extension is importable without scipy.linalg; after it, an import binds the same module."""
    argv = [sys.executable, "-c", _BLAS_BLOCK, during]
    done = subprocess.run(argv, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["True", "True", "True"]


_BLAS_OTHER_LAYOUT = """
import sys
from symnn.codegen import environment
environment._load_alone = lambda name: None  # a SciPy whose cython_blas cannot be loaded by itself
with environment.cython_blas() as found:
    print(found, "scipy.linalg" in sys.modules)
"""


def test_cython_blas_falls_back_to_the_ordinary_import(tmp_path):
    """Where the extension cannot be loaded alone, BLAS is still found: at the price of importing scipy.linalg."""
    argv = [sys.executable, "-c", _BLAS_OTHER_LAYOUT]
    done = subprocess.run(argv, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["True", "True"]


def test_cython_blas_changes_nothing_once_scipy_linalg_is_imported():
    import scipy.linalg  # noqa: F401  (as in this test process already)

    before = dict(sys.modules)
    with cython_blas() as found:
        assert found
    assert sys.modules == before or set(sys.modules) - set(before) <= {"scipy.linalg.cython_blas"}


# -- symnn cache ---------------------------------------------------------------------------------------------------
def test_symnn_cache_shows_the_entries_with_their_path_and_clears_only_its_own_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SYMNN_CACHE_DIR", str(tmp_path))
    b = Builder()
    x, w = b.input("x", _SHAPES["x"]), b.param("w", _SHAPES["w"])
    k = compile(b.build(einsum("bi,oi->bo", x, w).map(sigmoid).sum()))
    entries = kernels_dir(tmp_path, environment_id())
    foreign = [tmp_path / "notes.txt", entries / "README", tmp_path / KERNELS_SUBDIR / "mine" / "k_data.py"]
    old = [
        tmp_path / f"{'a' * 64}.json",
        tmp_path / f"k_{'b' * 32}.py",
        tmp_path / "__pycache__" / f"k_{'b' * 32}.f-1.nbi",
    ]
    for path in foreign + old:  # old: the layout of symnn before one directory per environment
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not symnn's" if path in foreign else "{}")
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p not in foreign]

    assert cli.main(["cache", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["root"] == str(tmp_path) and shown["source"] == "SYMNN_CACHE_DIR"
    assert shown["files"] == len(written) and shown["bytes"] == sum(p.stat().st_size for p in written)
    assert shown["other_files"] == len(foreign) and shown["old_files"] == len(old)
    (env,) = shown["environments"]
    assert env["id"] == entries.name and env["current"] and env["info"] == environment()
    kernels = [e for e in env["entries"] if e["kind"] == "kernel"]
    assert [(e["key"], e["path"], e["compiled"]) for e in kernels] == [(k.fingerprint, k.path, True)]
    assert {e["name"] for e in env["entries"] if e["kind"] == "helper"} == {"_gemm_nt", "_sigmoid"}

    assert cli.main(["cache"]) == 0
    text = capsys.readouterr().out
    row = next(line.split() for line in text.splitlines() if k.fingerprint[:16] in line)
    assert str(tmp_path) in text and row[0] == "kernel" and row[3] == k.path

    assert cli.main(["cache", "--clear"]) == 0
    assert f"removed {len(written)} files" in capsys.readouterr().out
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == sorted(foreign)
    assert not (entries / "__pycache__").exists() and not (tmp_path / "__pycache__").exists()
    assert compile(b.build(einsum("bi,oi->bo", x, w).map(sigmoid).sum())).cache_hit is False  # really gone


def _helpers(root: Path) -> dict[tuple[str, str], bool]:
    """(helper, dtype) -> compiled, for every helper entry of this environment in the cache at ``root``."""
    (env,) = [e for e in survey(root, environment_id()).environments if e.current]
    return {(e.name, e.dtype): e.compiled for e in env.entries if e.kind == "helper"}


def test_warm_compiles_a_graphs_helpers_and_its_kernel_then_compiles_none(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMNN_CACHE_DIR", str(tmp_path))
    b = Builder()
    x, w = b.input("x", _SHAPES["x"]), b.param("w", _SHAPES["w"])
    g = b.build(einsum("bi,oi->bo", x, w).map(sigmoid).sum())
    names = warm(np.float32, graph=g)
    assert names == ["_gemm_nt", "_sigmoid"]  # the product is large enough for BLAS; the activation
    warmed = _helpers(tmp_path)
    assert warmed == {(n, "float32"): True for n in names}
    k = compile(g, np.float32)
    assert _helpers(tmp_path) == warmed and not k.cache_hit  # a new kernel, no new helper
    values = {n: v.astype(np.float32) for n, v in _values().items()}
    z = values["x"].astype(np.float64) @ values["w"].astype(np.float64).T
    assert float(k(values)["out"]) == pytest.approx(float((1 / (1 + np.exp(-z))).sum()), rel=1e-5)


def test_symnn_cache_warm_compiles_every_helper_in_both_dtypes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SYMNN_CACHE_DIR", str(tmp_path))
    assert cli.main(["cache", "--warm", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    helpers = _helpers(tmp_path)
    assert all(helpers.values()) and done["root"] == str(tmp_path)
    per_dtype = {d: sum(dtype == d for _, dtype in helpers) for d in ("float64", "float32")}
    assert done["helpers"] == per_dtype and per_dtype["float64"] == per_dtype["float32"] >= 20
    assert {n for n, _ in helpers} >= {"_gemm_nn", "_gemm_tt", "_mm_nt", "_tanh", "_logsumexp", "_permute"}
    assert cli.main(["cache", "--warm"]) == 0  # again: everything found, one line
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"warmed {tmp_path}") and f"{per_dtype['float64']} float64" in line
    with pytest.raises(SymnnError, match="dtype"):
        warm(np.int32)
    assert cli.main(["cache", "--warm", "--clear"]) == 2  # one or the other, said in one line
    assert "--clear: not allowed with argument --warm" in capsys.readouterr().err


# -- nothing written inside the installed packages -------------------------------------------------------------
_RUN_EVERYTHING = """
import numpy as np
from symnn.codegen import compile
from symnn.executor import Executor
from symnn.functions import sigmoid
from symnn.ir import Builder, einsum
from verify.boolean import boolean_function, construct, evaluate
b = Builder()
x, w = b.input("x", (3, 4)), b.param("w", (2, 4))
g = b.build(einsum("bi,oi->bo", x, w).map(sigmoid).sum())
values = {"x": np.ones((3, 4)), "w": np.full((2, 4), 0.5)}
assert abs(Executor(g).grad(values)[0] - float(compile(g)(values)["out"])) < 1e-12
f = boolean_function("random:5:1")
assert evaluate(construct(f), f)[0].mismatches == 0
"""


def _snapshot() -> set[Path]:
    return {p for package in PACKAGES for p in package.rglob("*") if p.is_file()}


def test_running_the_executor_kernels_and_boolean_kernels_writes_nothing_in_the_packages(tmp_path):
    before = _snapshot()
    cache = tmp_path / "cache"
    done = subprocess.run(
        [sys.executable, "-c", _RUN_EVERYTHING],
        env=_env(cache, PYTHONDONTWRITEBYTECODE="1"),  # Python's own .pyc files are pip's business, not ours
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(_snapshot() - before) == []
    # and Numba did cache them: in the cache directory, by source file
    cached = {p.name.split(".")[0] for p in (cache / "numba").rglob("*.nbi")}
    assert {"kernels", "exhaustive"} <= cached, cached
    assert list((cache / KERNELS_SUBDIR).rglob("*.nbi"))
