"""S2 of BENCHMARKS.md: a user's scalar sympy formula at scale (1k, 10k, 100k parameters).

Run: ``python benchmarks/scalar_formula.py [--quick] [--json] [--sizes 31,99,316] [--sympy-budget S]``.
A sigmoid MLP d-h-1 with squared error written as one scalar sympy expression (d = h = 31, 99,
316: about 1k, 10k and 100k parameters): ``formula``, ``grad``, ``jvp``, ``hvp`` seconds and node
counts, the flat-vector kernel's compile seconds (cold cache) and call microseconds, its gradient
checked against NumPy; beside CasADi's SX graph (if ``casadi`` is installed) and ``sympy.diff``
per parameter (only at sizes where it is projected to finish within the budget).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
import sympy as sp

from symnn.bench.symbolic import median_time
from symnn.codegen.flat import _schedule, compile_flat
from symnn.diff import grad, hvp, jvp
from symnn.formula import formula


def s2_model(d: int, h: int) -> tuple[sp.Expr, list[sp.Symbol], list[sp.Symbol]]:
    """(loss, params, inputs) of the sigmoid MLP d-h-1 with squared error, as one scalar sympy expression.

    The sigmoid is written as a user would, 1/(1 + exp(-z)); ``exp(-z, evaluate=False)`` skips
    sympy's own simplification of exp of a long sum (8 s at 10k parameters, not symnn's work).
    """
    x = sp.symbols(f"x0:{d}", real=True)
    w = [[sp.Symbol(f"W_{i}_{j}", real=True) for j in range(d)] for i in range(h)]
    b = sp.symbols(f"b0:{h}", real=True)
    v = sp.symbols(f"v0:{h}", real=True)
    c, t = sp.symbols("c t", real=True)
    hidden = [1 / (1 + sp.exp(-(sp.Add(*(w[i][j] * x[j] for j in range(d))) + b[i]), evaluate=False)) for i in range(h)]
    y = sp.Add(*(v[i] * hidden[i] for i in range(h))) + c
    return (y - t) ** 2, [p for row in w for p in row] + list(b) + list(v) + [c], list(x) + [t]


def _s2_numpy(d: int, h: int, theta: np.ndarray, data: np.ndarray) -> tuple[float, np.ndarray]:
    """The same loss and gradient by hand in NumPy (the reference the kernels are checked against)."""
    w, b = theta[: h * d].reshape(h, d), theta[h * d : h * d + h]
    v, c = theta[h * d + h : h * d + 2 * h], theta[-1]
    x, t = data[:d], data[d]
    s = 1 / (1 + np.exp(-(w @ x + b)))
    r = v @ s + c - t
    dz = 2 * r * v * s * (1 - s)
    return float(r * r), np.concatenate([np.outer(dz, x).ravel(), dz, 2 * r * s, [2 * r]])


def _timed(fn, *args):
    """(result, wall seconds, CPU seconds of this process): on a shared machine the CPU time is the steadier figure."""
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - w, time.process_time() - c


def _call_us(fn, *args, seconds: float = 0.5) -> float:
    """Median microseconds per call over batches filling about ``seconds``."""
    n, t = 1, 0.0
    while t < 0.02:
        t0 = time.perf_counter()
        for _ in range(n):
            fn(*args)
        t = time.perf_counter() - t0
        n *= 2
    reps = max(1, int(n * seconds / 5 / max(t, 1e-9)))
    return 1e6 * median_time(lambda: [fn(*args) for _ in range(reps)], 5) / reps


def _s2_casadi(d: int, h: int, theta: np.ndarray, data: np.ndarray) -> dict | None:
    try:
        import casadi as ca
    except ImportError:
        return None
    t0 = time.perf_counter()
    x, w = ca.SX.sym("x", d), ca.SX.sym("W", h, d)
    b, v, c, t = ca.SX.sym("b", h), ca.SX.sym("v", h), ca.SX.sym("c"), ca.SX.sym("t")
    s = 1 / (1 + ca.exp(-(ca.mtimes(w, x) + b)))
    loss = (ca.dot(v, s) + c - t) ** 2
    params = ca.vertcat(ca.vec(w.T), b, v, c)  # W row-major, as the symnn layout
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    g = ca.gradient(loss, params)
    grad_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    f = ca.Function("f", [params, ca.vertcat(x, t)], [loss, g])
    function_s = time.perf_counter() - t0
    _, gr = f(theta, data)
    ref = _s2_numpy(d, h, theta, data)[1]
    return {
        "build_s": build,
        "grad_s": grad_s,
        "function_s": function_s,
        "call_us": _call_us(f, theta, data),
        "grad_max_err": float(np.abs(np.asarray(gr).ravel() - ref).max()),
    }


def _s2_sympy(loss: sp.Expr, params: list[sp.Symbol], budget: float) -> dict:
    """``sympy.diff`` per parameter: timed on a sample, run in full only if projected within ``budget``."""
    sample = params[:: max(1, len(params) // 5)][:5]
    t0 = time.perf_counter()
    for p in sample:
        sp.diff(loss, p)
    per = (time.perf_counter() - t0) / len(sample)
    projected = per * len(params)
    if projected > budget:
        return {"projected_s": projected, "diff_s": None}
    t0 = time.perf_counter()
    for p in params:
        sp.diff(loss, p)
    return {"projected_s": projected, "diff_s": time.perf_counter() - t0}


def s2(sizes: list[int], sympy_budget: float) -> list[dict]:
    rows = []
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as cache:
        old = os.environ.get("SYMNN_CACHE_DIR")
        os.environ["SYMNN_CACHE_DIR"] = cache  # a cold cache: compile seconds are real compiles
        try:
            for d in sizes:
                h = d
                row: dict = {"d": d, "h": h}
                t0 = time.perf_counter()
                loss, params, inputs = s2_model(d, h)
                row["sympy_build_s"] = time.perf_counter() - t0
                row["params"] = len(params)
                g, row["formula_s"], row["formula_cpu_s"] = _timed(formula, loss, params, inputs)
                row["formula_nodes"] = len(g)
                for name, fn in (("grad", grad), ("jvp", jvp), ("hvp", hvp)):
                    gg, row[f"{name}_s"], row[f"{name}_cpu_s"] = _timed(fn, g)
                    row[f"{name}_nodes"] = len(gg)
                gg = grad(g)
                k, row["compile_s"], row["compile_cpu_s"] = _timed(compile_flat, gg)
                row["compile_loops"] = len(_schedule(gg))
                theta = rng.normal(size=len(params)) / np.sqrt(d)
                data = rng.normal(size=len(inputs))
                val, gr = k.value_and_grad(theta, data)
                ref_val, ref = _s2_numpy(d, h, theta, data)
                row["grad_max_err"] = float(np.abs(gr - ref).max())
                row["value_err"] = abs(val - ref_val)
                row["call_us"] = _call_us(k.value_and_grad, theta, data)
                row["casadi"] = _s2_casadi(d, h, theta, data)
                row["sympy"] = _s2_sympy(loss, params, sympy_budget)
                rows.append(row)
        finally:
            if old is None:
                os.environ.pop("SYMNN_CACHE_DIR", None)
            else:
                os.environ["SYMNN_CACHE_DIR"] = old
    return rows


def _print_s2(rows: list[dict]) -> None:
    print("S2  scalar sympy formula: sigmoid MLP d-h-1 + squared error (targets at 10k: grad < 2 s, compile < 30 s)")
    print("    seconds as CPU (wall) of this process; compile: compile_flat of the gradient graph, cold cache")
    print(
        f"    {'params':>7} {'nodes':>7} {'formula s':>13} {'grad s':>13} {'nodes':>7} {'jvp s':>13} {'hvp s':>13} "
        f"{'compile s':>13} {'loops':>5} {'call us':>8} {'grad err':>8}"
    )

    def both(row: dict, key: str) -> str:
        return f"{row[key + '_cpu_s']:.2f} ({row[key + '_s']:.2f})"

    for row in rows:
        print(
            f"    {row['params']:>7} {row['formula_nodes']:>7} {both(row, 'formula'):>13} {both(row, 'grad'):>13} "
            f"{row['grad_nodes']:>7} {both(row, 'jvp'):>13} {both(row, 'hvp'):>13} {both(row, 'compile'):>13} "
            f"{row['compile_loops']:>5} {row['call_us']:>8.1f} {row['grad_max_err']:>8.1e}"
        )
    print(f"    {'params':>7} {'casadi grad s':>13} {'Function s':>10} {'call us':>8} | {'sympy.diff s':>14} | build s")
    for row in rows:
        ca, sy = row["casadi"], row["sympy"]
        ca_text = (
            f"{ca['grad_s']:>13.3f} {ca['function_s']:>10.3f} {ca['call_us']:>8.1f}" if ca else f"{'(no casadi)':>33}"
        )
        sy_text = f"{sy['diff_s']:.1f}" if sy["diff_s"] is not None else f"~{sy['projected_s']:.0f} (projected)"
        print(f"    {row['params']:>7} {ca_text} | {sy_text:>14} | {row['sympy_build_s']:.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (CI)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--sizes", default=None, help="widths d = h, comma-separated (default 31,99,316)")
    ap.add_argument("--sympy-budget", type=float, default=None, help="most seconds for sympy.diff (default 180)")
    args = ap.parse_args(argv)
    sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else ([10, 31] if args.quick else [31, 99, 316])
    budget = args.sympy_budget if args.sympy_budget is not None else (5.0 if args.quick else 180.0)
    load = {"load_start": _load()}
    rows = s2(sizes, budget)
    load["load_end"] = _load()
    if args.json:
        print(json.dumps({"rows": rows, **load}, indent=2))
    else:
        _print_s2(rows)
        print(f"    load average (1, 5, 15 min): at start {load['load_start']}; at end {load['load_end']}")
    return 0


def _load() -> str:
    """The load average beside the figures: the timings swing with it on a shared machine."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    raise SystemExit(main())
