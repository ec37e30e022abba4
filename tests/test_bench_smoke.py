"""Smoke test of the benchmarks that ship with symnn (``symnn.bench``, ``symnn bench``): no timing is asserted.

W1 runs with the always-available peers (hand-written NumPy and Numba); the optional peers
(PyTorch, JAX, PyTensor) are pointed at a package that does not exist, so that their rows say "not
installed" and how to install them whatever this environment holds; a peer whose build raises
is a "failed" row. Then ``symnn bench`` runs from the package in a child process, away from the
source checkout's benchmarks/ folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from symnn.bench.gradients import compile_seconds, run_workload
from symnn.bench.peers import PEERS, Peer
from symnn.bench.table import format_table

ROOT = Path(__file__).resolve().parent.parent
ABSENT = "symnn_no_such_package_for_the_smoke_test"


def _boom(name, point):
    raise RuntimeError("boom\nsecond line not shown")


@pytest.fixture(scope="module")
def w1():
    always = [p for p in PEERS if p.module is None]
    optional = [dataclasses.replace(p, module=ABSENT) for p in PEERS if p.module is not None]
    failing = Peer("Broken peer", None, "", _boom)
    assert {p.name for p in always} == {"NumPy (hand-written)", "Numba (hand-written)"}
    assert {"PyTorch eager", "JAX jit", "PyTensor"} <= {p.name for p in optional}
    res = run_workload("W1", repeats=1, budget=1e-4, with_compile=False, peers=[*always, *optional, failing])
    meta = {"quick": True, "blas_threads": "as pytest left them", "load": "0 0 0", "gemm_n": 8, "gemm_gflops": 1.0}
    return res, optional, format_table([res], meta)


def test_w1_agrees_with_numpy_backprop(w1):
    res, _, _ = w1
    rows = res["rows"]
    assert set(rows) == {
        "symnn kernel",
        "symnn kernel.compute",
        "symnn kernel.prepare",
        "symnn executor",
        "NumPy (hand-written)",
        "Numba (hand-written)",
    }
    assert all(rows[i]["relerr"] <= 1e-10 for i in rows if i.startswith("symnn"))
    assert rows["Numba (hand-written)"]["relerr"] <= 1e-8  # written independently of symnn
    # MLP 4-8-1, batch 1: forward 4*8 + 8*1 = 40 multiply-adds; backward dW2 8 + dh 8 + dW0 32 (no dx) = 48
    assert res["forward_macs"] == 40 and res["macs"] == 88
    best = min(rows[i]["us"] for i in ("NumPy (hand-written)", "Numba (hand-written)"))
    assert rows["symnn kernel"]["ratio"] == pytest.approx(rows["symnn kernel"]["us"] / best)


def test_the_executor_ratio_is_also_measured_in_alternating_batches(w1):
    res, _, table = w1
    assert 0 < res["executor_over_kernel"] < float("inf")  # measured (no time is asserted)
    (row,) = [line for line in table.splitlines() if "symnn executor" in line]
    assert f"{res['executor_over_kernel']:.1f}x in alternating batches" in row


def test_every_peer_is_a_row_of_the_table(w1):
    res, optional, table = w1
    rows = {line[9:33].strip(): line[33:] for line in table.splitlines() if line[9:33].strip()}
    for peer in optional:
        assert peer.install.startswith("pip install"), peer
        assert rows[peer.name].split()[3:] == ["not", "installed:", *peer.install.split()], rows[peer.name]
        assert res["peers"][peer.name]["status"] == "not installed"
    assert rows["Broken peer"].split()[3:] == ["failed:", "RuntimeError:", "boom"]
    assert {"NumPy (hand-written)", "Numba (hand-written)", "symnn kernel"} <= set(rows)
    (header,) = [line for line in table.splitlines() if line.startswith("peers: found: ")]
    found, missing = header.removeprefix("peers: found: ").split("; not installed: ")
    assert found.split(", ") == ["NumPy (hand-written)", "Numba (hand-written)", "Broken peer (failed on W1)"]
    assert missing.split("; ") == [f"{p.name} ({p.install})" for p in optional]


def test_a_peer_not_written_for_a_workload_says_so(w1):
    res, _, _ = w1
    assert res["peers"]["Numba (hand-written)"]["status"] == "measured"
    numba = next(p for p in PEERS if p.name == "Numba (hand-written)")
    assert "W2" not in numba.workloads and numba.why_not


def test_symnn_bench_runs_from_the_package_with_pinned_threads(tmp_path):
    """The command line starts itself again with BLAS pinned; no benchmarks/ folder is needed (cwd elsewhere)."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT)
    argv = [sys.executable, "-m", "symnn.cli", "bench", "--quick", "--json", "--workloads", "W1", "--no-symbolic"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert doc["meta"]["blas_threads"].startswith("1 (")
    (res,) = doc["workloads"]
    assert set(res["peers"]) == {p.name for p in PEERS}
    for name, st in res["peers"].items():
        assert st["status"] in {"measured", "not installed", "failed", "n/a"}, name
        assert (st["status"] == "measured") == (name in res["rows"]), name


def test_compile_seconds_are_measured_in_fresh_processes_and_printed(w1):
    """Four children: a first kernel, then cached; the helpers alone, then a new kernel (no timing asserted)."""
    res, _, _ = w1
    measured = compile_seconds("W1")
    assert sorted(measured) == ["compile_cached_s", "compile_cold_s", "compile_first_s", "compile_helpers_s"]
    assert all(seconds > 0 for seconds in measured.values())
    meta = {"quick": False, "blas_threads": "as pytest left them", "load": "0 0 0", "gemm_n": 8, "gemm_gflops": 1.0}
    table = format_table([{**res, **measured}], meta)
    (row,) = [line for line in table.splitlines() if "compile cold" in line]
    assert f"compile cold {measured['compile_cold_s']:.2f} s (helpers cached)" in row
    assert f"first on a machine {measured['compile_first_s']:.2f} s" in table
