"""The gradient benchmark's table as text: every implementation a row, every peer a row, measured or not.

A peer that was not measured keeps its row, saying why: "not installed: <how to install it>",
"failed: <one line>", or "n/a: <why>". The header says how BLAS threads were pinned, the load
before and after, the GEMM reference, and which peers were found.
"""

from __future__ import annotations

#: How the kernel's code path is printed (``kernel.path``).
PATHS = {"blas": "BLAS", "loops": "loops"}


def _gflops(res: dict, impl: str, meta: dict) -> str:
    gf = 2 * res["macs"] / (res["rows"][impl]["us"] * 1e-6) / 1e9
    return f"{gf:.1f} GFLOP/s = {100 * gf / meta['gemm_gflops']:.0f}% of GEMM peak"


def peers_line(results: list[dict]) -> str:
    """Which peers were found (with versions), and which were not (with how to install them)."""
    found: dict[str, str] = {}
    failed: dict[str, list[str]] = {}
    missing: dict[str, str] = {}
    for res in results:
        for peer, st in res["peers"].items():
            if st["status"] == "not installed":
                missing[peer] = st["detail"]
                continue
            found[peer] = f"{peer} {st['version']}".strip()
            if st["status"] == "failed":
                failed.setdefault(peer, []).append(res["workload"])
    named = [f"{text} (failed on {', '.join(failed[p])})" if p in failed else text for p, text in found.items()]
    parts = ["found: " + (", ".join(named) or "none")]
    if missing:
        parts.append("not installed: " + "; ".join(f"{p} ({how})" for p, how in missing.items()))
    return "peers: " + "; ".join(parts)


def _row_notes(res: dict, impl: str, meta: dict) -> list[str]:
    r = res["rows"][impl]
    notes = []
    if impl == "symnn kernel":
        path, _, how = res["kernel_path"].partition(" ")
        notes.append(f"{PATHS.get(path, path)} path{' ' + how if how else ''}")
        if "compile_cold_s" in res:
            cold, cached = res["compile_cold_s"], res["compile_cached_s"]
            first, helpers = res["compile_first_s"], res["compile_helpers_s"]
            notes.append(f"compile cold {cold:.2f} s (helpers cached), cached {cached:.3f} s")
            notes.append(f"first on a machine {first:.2f} s (its helpers alone {helpers:.2f} s)")
    if impl == "symnn kernel.prepare":
        notes.append("the fast entry: arrays checked once, then refilled in place")
    if impl in ("symnn kernel", "NumPy (hand-written)") and res["workload"] == "W3":
        notes.append(_gflops(res, impl, meta))
    if impl == "symnn executor":
        notes.append(f"{r['us'] / res['rows']['symnn kernel']['us']:.1f}x the kernel")
        if "executor_over_kernel" in res:
            notes.append(f"{res['executor_over_kernel']:.1f}x in alternating batches")
    if r.get("note"):
        notes.append(r["note"])
    if "first_call_s" in r:
        notes.append(f"build + first call {r['first_call_s']:.2f} s")
    if r["relerr"] > 1e-8:
        notes.append("DISAGREES with the NumPy reference")
    return notes


def format_table(results: list[dict], meta: dict) -> str:
    """The table of ``run_workload`` results, with the run's ``meta`` (threads, load, GEMM) on top."""
    lines = [
        f"symnn gradient benchmarks ({'quick' if meta['quick'] else 'full'}), float64",
        f"BLAS threads: {meta['blas_threads']}",
        f"load average (1, 5, 15 min): at start {meta['load']}; at end {meta.get('load_end', '?')}",
        f"GEMM peak ({meta['gemm_n']}^2 float64 np.dot, pinned threads, fastest run): "
        f"{meta['gemm_gflops']:.1f} GFLOP/s",
        peers_line(results),
        "",
    ]
    hdr = f"{'workload':<9}{'implementation':<24}{'median us/call':>15}{'x best peer':>12}{'rel.err':>9}  notes"
    lines += [hdr, "-" * len(hdr)]
    for res in results:
        first = True
        peers = [p for p in res["peers"] if p not in res["rows"]]  # peers without a measured row
        for impl in [*res["rows"], *peers]:
            label = res["workload"] if first else ""
            if impl in res["rows"]:
                r = res["rows"][impl]
                notes = _row_notes(res, impl, meta)
                if first:
                    notes.append(f"grad/forward ops {res['ratio_ops']:.2f}; best peer: {res['best_peer']}")
                row = f"{r['us']:>15.1f}{r['ratio']:>12.2f}{r['relerr']:>9.0e}  {'; '.join(notes)}"
            else:
                st = res["peers"][impl]
                row = f"{'-':>15}{'-':>12}{'-':>9}  {st['status']}: {st['detail']}"
            lines.append(f"{label:<9}{impl:<24}{row}".rstrip())
            first = False
    lines += [
        "",
        "x best peer: median time / the fastest peer's (not symnn) median time in this run.",
        "rel.err: loss and gradients vs hand-written NumPy backprop (2-norm per array, worst).",
        "path: the code path of the generated kernel's matrix products (SciPy's BLAS called directly, or loops).",
    ]
    return "\n".join(lines)
