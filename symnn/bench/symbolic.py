"""Symbolic derivation benchmarks S1, S3 and S4 of BENCHMARKS.md.

* S1: trace + grad of the 784-256-256-10 MLP (batch 128) at tensor level, cold (first time in a
  fresh process) and warm (median), with the node counts;
* S3: grad of a depth-L, width-2 tanh chain for L = 10..50 at tensor level, next to
  ``sympy.diff`` of the expanded scalar expression (per parameter), which doubles per layer;
* S4: multiply-adds of the value-and-gradient graph over the forward graph for W1..W5.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import sympy as sp

from ..cost import cost, gradient_ratio
from ..diff import grad
from .workloads import WORKLOADS, tanh_chain


def median_time(fn, repeat: int) -> float:
    """The median of ``repeat`` wall-clock timings of ``fn()``, in seconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def s1(repeat: int) -> dict:
    """S1: trace + grad of W3's network, cold in a fresh process and warm (median), with node counts."""

    def work():
        g = WORKLOADS["W3"]()
        return g, grad(g)

    code = (
        "import time; t = time.perf_counter(); "
        "from symnn.bench.workloads import WORKLOADS; from symnn.diff import grad; "
        "t1 = time.perf_counter(); grad(WORKLOADS['W3']()); "
        "print(time.perf_counter() - t1, t1 - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    g, gg = work()
    return {
        "cold_s": float(out[0]),
        "import_s": float(out[1]),
        "warm_median_s": median_time(work, repeat),
        "forward_nodes": len(g),
        "grad_nodes": len(gg),
    }


def _sympy_chain(depth: int) -> tuple[sp.Expr, list[sp.Symbol]]:
    """The width-2 tanh chain written out as one scalar sympy expression."""
    x = sp.symbols("x0:2", real=True)
    h = list(x)
    params = []
    for layer in range(depth):
        w = sp.symbols(f"w{layer}_0:4", real=True)
        params += w
        h = [sp.tanh(w[0] * h[0] + w[1] * h[1]), sp.tanh(w[2] * h[0] + w[3] * h[1])]
    return h[0] + h[1], params


def s3(depths: list[int], sympy_budget: float) -> list[dict]:
    """S3: grad of the depth-L tanh chain per depth, next to ``sympy.diff`` of the expanded expression."""
    rows = []
    sympy_alive = True
    for i, depth in enumerate(depths):
        gg = grad(tanh_chain(depth))
        sym_s = median_time(lambda depth=depth: grad(tanh_chain(depth)), 5)
        row: dict = {"L": depth, "symnn_s": sym_s, "symnn_nodes": len(gg), "sympy_diff_s": None}
        if sympy_alive:
            f, params = _sympy_chain(depth)
            t = time.perf_counter()
            derivs = [sp.diff(f, p) for p in params]
            sympy_s = time.perf_counter() - t
            row["sympy_diff_s"] = sympy_s
            row["sympy_ops"] = sum(sp.count_ops(d, visual=False) for d in derivs[:4])
            # sympy's time about doubles per layer (measured): skip the next depth if it would exceed the budget
            step = depths[i + 1] - depth if i + 1 < len(depths) else 1
            sympy_alive = sympy_s * 2.0**step < sympy_budget
        rows.append(row)
    return rows


def s4() -> dict:
    """S4: multiply-adds of the value-and-gradient graph over the forward graph, W1-W5."""
    out = {}
    for name, make in WORKLOADS.items():
        g = make()
        gg = grad(g)
        out[name] = {"forward_macs": cost(g).macs, "grad_macs": cost(gg).macs, "ratio": gradient_ratio(g, gg)}
    return out


def run(quick: bool) -> dict:
    """S1, S3 and S4 (quick: fewer repeats and depths)."""
    depths = [2, 4, 6, 8, 10, 20, 30, 40, 50] if not quick else [2, 4, 10, 20]
    return {"S1": s1(3 if quick else 7), "S3": s3(depths, 0.5 if quick else 12.0), "S4": s4()}


def format_symbolic(res: dict) -> str:
    """The results of ``run`` as text."""
    lines: list[str] = []
    r = res["S1"]
    lines.append("S1  trace+grad of MLP 784-256-256-10, batch 128 (target < 0.2 s)")
    lines.append(f"    cold {r['cold_s']:.3f} s   warm median {r['warm_median_s'] * 1e3:.1f} ms   ")
    lines.append(f"    nodes: forward {r['forward_nodes']}, value+grad {r['grad_nodes']}")
    lines.append("S3  width-2 tanh chain: symnn grad (tensor level) vs sympy.diff of the expanded expression")
    lines.append(f"    {'L':>3} {'symnn s':>10} {'nodes':>6} {'sympy.diff s':>13}   (symnn: median of 5, trace + grad)")
    for row in res["S3"]:
        sd = f"{row['sympy_diff_s']:.4f}" if row["sympy_diff_s"] is not None else "(skipped)"
        lines.append(f"    {row['L']:>3} {row['symnn_s']:>10.4f} {row['symnn_nodes']:>6} {sd:>13}")
    lines.append("S4  multiply-adds of value+grad / forward (targets: W2 2.14, W3 2.25, never above 3)")
    for name, row in res["S4"].items():
        fwd, both = row["forward_macs"], row["grad_macs"]
        lines.append(f"    {name}: forward {fwd:>11,}  value+grad {both:>11,}  ratio {row['ratio']:.3f}")
    return "\n".join(lines)
