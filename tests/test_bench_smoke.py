"""Smoke test of benchmarks/gradients.py: W1 runs, values agree with NumPy backprop, the table prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gradients.py"


def test_quick_w1_runs_and_agrees_with_numpy():
    argv = [sys.executable, str(SCRIPT), "--quick", "--json", "--workloads", "W1", "--no-symbolic"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert doc["meta"]["blas_threads"].startswith("1 ")
    (w1,) = doc["workloads"]
    rows = w1["rows"]
    assert {"symnn kernel", "symnn executor", "NumPy (hand-written)"} <= set(rows)
    assert rows["symnn kernel"]["relerr"] <= 1e-10 and rows["symnn executor"]["relerr"] <= 1e-10
    for impl, r in rows.items():  # every installed peer computes the same loss and gradient
        assert r["relerr"] <= 1e-8, impl
        assert r["us"] > 0
    # MLP 4-8-1, batch 1: forward 4*8 + 8*1 = 40 multiply-adds; backward dW2 8 + dh 8 + dW0 32 (no dx) = 48
    assert w1["forward_macs"] == 40 and w1["macs"] == 88
    best = min(r["us"] for i, r in rows.items() if not i.startswith("symnn"))
    assert abs(rows["symnn kernel"]["ratio"] - rows["symnn kernel"]["us"] / best) < 1e-9
