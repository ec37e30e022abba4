"""Performance against the peers, and the machine it was measured on.

* W1-W5 (BENCHMARKS.md): ``benchmarks/gradients.py --json`` in a child process (it pins BLAS to one
  thread before NumPy loads, which this process cannot do any more): median microseconds per
  value-and-gradient call of the generated kernel, the numeric executor, hand-written NumPy
  backprop, and PyTorch / JAX / PyTensor where installed. A peer that is not installed is "n/a".
* S1, S3, S4: the functions of ``benchmarks/symbolic.py``, called here (its ``--quick`` depths jump
  from 4 to 10 layers, where ``sympy.diff`` alone takes a minute; here the depths grow gradually and
  the SymPy reference stops once one depth exceeds its budget).
* B1: ``benchmarks/boolean.py``'s ``b1`` in a child process (BLAS pinned for its NumPy reference).
* The machine: CPU model, cores, memory, load, library versions.

Quick mode: W1 only with few repeats, S3 to 20 layers, B1 at d = 16. Full: W1-W5 with compile
times, S3 to 50 layers, B1 at d = 20.

Writes ``performance.tex`` (macros ``\\perf...`` and ``\\mach...``), ``perf_gradients.tex``,
``perf_s4.tex``, ``perf_machine.tex`` and ``perf_s3.dat``.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from .common import ROOT, TeX, fmt, latex_escape, subprocess_env, write_dat, write_macros, write_table

BENCH = ROOT / "benchmarks"
WORKLOAD_WORDS = {"W1": "One", "W2": "Two", "W3": "Three", "W4": "Four", "W5": "Five"}
#: implementation rows of the table: (label in benchmarks/gradients.py, macro word, label in the paper)
IMPLS = (
    ("symnn kernel", "Kernel", "symnn kernel"),
    ("symnn executor", "Executor", "symnn executor"),
    ("NumPy (hand-written)", "Numpy", "NumPy, hand-written backprop"),
    ("PyTorch eager", "Torch", "PyTorch eager"),
    ("JAX jit", "Jax", "JAX jit"),
    ("PyTensor", "Pytensor", "PyTensor"),
    ("PyTensor, conv as slices", "PytensorSlices", "PyTensor, conv as slices"),
    ("Numba (hand-written)", "Numba", "Numba, hand-written"),
)
NA = "n/a"
#: seconds sympy.diff may take at the next depth of S3 (quick, full): the quick budget still times two or
#: three consecutive depths (their growth per layer), about a second in all
SYMPY_BUDGET = {True: 1.0, False: 5.0}


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, object]:
    """CPU model (``/proc/cpuinfo``), cores, memory, load and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = NA
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 2**20:.1f}"
    except OSError:
        pass
    return {
        "machCpu": cpu,
        "machCores": os.cpu_count() or 0,
        "machMemGiB": mem,
        "machOs": f"{platform.system()} {platform.release()}",
        "machPython": platform.python_version(),
        "machNumpy": _version("numpy"),
        "machSympy": _version("sympy"),
        "machNumba": _version("numba"),
        "machLlvmlite": _version("llvmlite"),
        "machMpmath": _version("mpmath"),
        "machTorch": _version("torch"),
        "machJax": _version("jax"),
        "machPytensor": _version("pytensor"),
        "machSymnn": _version("symnn"),
        "machLoad": f"{os.getloadavg()[0]:.2f}",
    }


def run_gradients(quick: bool) -> dict:
    """benchmarks/gradients.py --json in a child process (BLAS pinned there before NumPy loads)."""
    argv = [sys.executable, str(BENCH / "gradients.py"), "--json", "--no-symbolic"]
    argv += ["--quick", "--workloads", "W1"] if quick else []
    proc = subprocess.run(argv, capture_output=True, text=True, env=subprocess_env(), cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmarks/gradients.py failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def run_b1(quick: bool) -> dict:
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from boolean import b1; "
        "print(json.dumps(b1(int(sys.argv[2]), int(sys.argv[3]))))"
    )
    args = ["3", "16"] if quick else ["7", "20"]
    proc = subprocess.run(
        [sys.executable, "-c", code, str(BENCH), *args],
        capture_output=True,
        text=True,
        env=subprocess_env(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"),
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmarks/boolean.py b1 failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_symbolic(quick: bool) -> dict:
    """S1, S3 and S4 from benchmarks/symbolic.py's own functions."""
    sys.path.insert(0, str(BENCH))
    try:
        import symbolic  # benchmarks/symbolic.py
    finally:
        sys.path.remove(str(BENCH))
    # consecutive depths while sympy.diff still runs: it stops after the first depth over its budget,
    # and one more layer costs it a factor of about 2-7 (a jump from 4 to 10 layers would cost a minute)
    depths = [*range(2, 11), 20] if quick else [*range(2, 11), 20, 30, 40, 50]
    return {"S1": symbolic.s1(3 if quick else 7), "S3": symbolic.s3(depths, SYMPY_BUDGET[quick]), "S4": symbolic.s4()}


def gradient_table(doc: dict) -> tuple[list[str], list[list[object]], dict[str, object]]:
    results = {w["workload"]: w for w in doc["workloads"]}
    names = list(results)
    macros: dict[str, object] = {}
    rows: list[list[object]] = []
    for impl, key, label in IMPLS:
        row: list[object] = [label]
        for w in WORKLOAD_WORDS:
            r = results.get(w, {}).get("rows", {}).get(impl)
            macros[f"perfW{WORKLOAD_WORDS[w]}{key}Us"] = r["us"] if r else NA
            if w in results:
                row.append(r["us"] if r else NA)
        rows.append(row)
    ratio_row: list[object] = [TeX("symnn kernel $/$ fastest peer")]
    for w, word in WORKLOAD_WORDS.items():
        res = results.get(w)
        if res is None:
            for m in ("KernelRatio", "BestPeer", "CompileCold", "CompileCached", "CompileFirst", "ExecutorOverKernel"):
                macros[f"perfW{word}{m}"] = NA
            continue
        k = res["rows"]["symnn kernel"]
        ratio_row.append(k["ratio"])
        macros[f"perfW{word}KernelRatio"] = k["ratio"]
        macros[f"perfW{word}BestPeer"] = {impl: label for impl, _, label in IMPLS}.get(
            res["best_peer"], res["best_peer"]
        )
        macros[f"perfW{word}ExecutorOverKernel"] = res.get(
            "executor_over_kernel", res["rows"]["symnn executor"]["us"] / k["us"]
        )
        macros[f"perfW{word}CompileCold"] = res.get("compile_cold_s", NA)
        macros[f"perfW{word}CompileCached"] = res.get("compile_cached_s", NA)
        macros[f"perfW{word}CompileFirst"] = res.get("compile_first_s", NA)
    rows.append(ratio_row)
    larger = [w for w in list(WORKLOAD_WORDS)[1:] if w in results]
    # the section's sentences on what a run did not measure read "not measured in the quick build", never n/a
    macros["perfLargeMeasured"] = int(bool(larger))
    ratios = [
        f"{w} ${fmt(macros[f'perfW{word}KernelRatio'])}$ ({latex_escape(str(macros[f'perfW{word}BestPeer']))})"
        for w, word in WORKLOAD_WORDS.items()
        if w in larger
    ]
    macros["perfLargerRatios"] = TeX(", ".join(ratios))
    macros["perfCompileMeasured"] = int(results.get("W2", {}).get("compile_cold_s") is not None)
    gemm = doc["meta"]["gemm_gflops"]
    macros["perfGemmGflops"] = gemm
    macros["perfGemmN"] = doc["meta"]["gemm_n"]
    macros["perfWThreeMeasured"] = int("W3" in results)
    if "W3" in results:
        w3 = results["W3"]
        gf = 2 * w3["macs"] / (w3["rows"]["symnn kernel"]["us"] * 1e-6) / 1e9
        gn = 2 * w3["macs"] / (w3["rows"]["NumPy (hand-written)"]["us"] * 1e-6) / 1e9
        share = 100 * gf / gemm
        # on a shared machine the GEMM reference can be measured while others load the cores
        remark = " (a share above 100 %: the GEMM reference was slowed by other load)" if share > 100 else ""
        macros |= {"perfWThreeGflops": gf, "perfWThreeGemmShare": share, "perfWThreeNumpyGflops": gn}
    else:
        remark = ""
        macros |= {"perfWThreeGflops": NA, "perfWThreeGemmShare": NA, "perfWThreeNumpyGflops": NA}
    macros["perfWThreeGemmRemark"] = TeX(remark.replace("%", "\\%"))
    errs = [r["relerr"] for w in results.values() for i, r in w["rows"].items() if i.startswith("symnn")]
    macros["perfMaxRelErr"] = max(errs)
    macros["perfWorkloads"] = ", ".join(names)
    macros["perfBlasThreads"] = doc["meta"]["blas_threads"].split()[0]
    macros["perfPeersMissing"] = ", ".join(label for impl, _, label in IMPLS[3:6] if _missing(results, impl)) or "none"
    return [TeX("median $\\mu$s per call"), *names], rows, macros


def _missing(results: dict, impl: str) -> bool:
    return all(impl not in w["rows"] for w in results.values())


def _number(x: float) -> int | float:
    """An integral float as an int (printed without decimals)."""
    return int(x) if float(x).is_integer() else x


def symbolic_outputs(sym: dict) -> tuple[list[list[object]], dict[str, object], dict[str, list[float]]]:
    s1, s3, s4 = sym["S1"], sym["S3"], sym["S4"]
    rows = [[w, r["forward_macs"], r["grad_macs"], r["ratio"]] for w, r in s4.items()]
    timed = [r for r in s3 if r["sympy_diff_s"] is not None]
    per_layer = {r["symnn_nodes"] / r["L"] for r in s3}
    data = {
        "L": [float(r["L"]) for r in s3],
        "symnn": [r["symnn_s"] for r in s3],
        "nodes": [float(r["symnn_nodes"]) for r in s3],
        "sympy": [r["sympy_diff_s"] if r["sympy_diff_s"] is not None else math.nan for r in s3],
    }
    growth = [b["sympy_diff_s"] / a["sympy_diff_s"] for a, b in itertools.pairwise(timed)]
    macros: dict[str, object] = {
        "perfSOneColdS": s1["cold_s"],
        "perfSOneWarmMs": s1["warm_median_s"] * 1e3,
        "perfSOneForwardNodes": s1["forward_nodes"],
        "perfSOneGradNodes": s1["grad_nodes"],
        "perfSThreeMaxL": s3[-1]["L"],
        "perfSThreeMaxLMs": s3[-1]["symnn_s"] * 1e3,
        "perfSThreeNodesPerLayer": _number(per_layer.pop()) if len(per_layer) == 1 else "not constant",
        "perfSThreeSympyMaxL": timed[-1]["L"],
        "perfSThreeSympyMaxLS": timed[-1]["sympy_diff_s"],
        "perfSThreeSympyGrowth": max(growth) if growth else NA,
        "perfSThreeGrowthMeasured": int(bool(growth)),
        "perfSFourMaxRatio": max(r["ratio"] for r in s4.values()),
        "perfSFourMinRatio": min(r["ratio"] for r in s4.values()),
        "perfSFourWTwo": s4["W2"]["ratio"],
        "perfSFourWThree": s4["W3"]["ratio"],
    }
    return rows, macros, data


def generate(out: Path, quick: bool) -> None:
    """Run the benchmarks (quick: W1, S3 to 20 layers, B1 at d = 16) and write the tables and macros."""
    macros: dict[str, object] = machine()
    t0 = time.perf_counter()
    grads = run_gradients(quick)
    header, rows, m = gradient_table(grads)
    macros |= m
    write_table(out, "perf_gradients", header, rows, spec="l" + "r" * (len(header) - 1))
    sym = run_symbolic(quick)
    rows, m, data = symbolic_outputs(sym)
    macros |= m
    write_table(out, "perf_s4", ["workload", "forward multiply-adds", "value+gradient", "ratio"], rows)
    write_dat(out, "perf_s3", data)
    b1 = run_b1(quick)
    macros |= {
        "perfBOneD": b1["d"],
        "perfBOneInputs": 2 ** b1["d"],
        "perfBOneKernelMs": b1["kernel_median_s"] * 1e3,
        "perfBOneNumpyMs": b1["numpy_median_s"] * 1e3,
        "perfBOnePrangeMs": b1["plain_prange_median_s"] * 1e3,
        "perfBOneSpeedupNumpy": b1["speedup_vs_numpy"],
        "perfBOneSpeedupPrange": b1["speedup_vs_plain_prange"],
        "perfBOneAgree": "yes" if b1["all_three_agree"] else "no",
    }
    macros["perfMode"] = "quick" if quick else "full"
    macros["perfSThreeBudget"] = SYMPY_BUDGET[quick]
    macros["perfSeconds"] = time.perf_counter() - t0
    mach_rows = [
        ["CPU", macros["machCpu"]],
        ["cores", macros["machCores"]],
        ["memory (GiB)", macros["machMemGiB"]],
        ["operating system", macros["machOs"]],
        ["load average (1 min) at start", macros["machLoad"]],
        ["BLAS threads", macros["perfBlasThreads"]],
        ["Python", macros["machPython"]],
        *[[lib, macros[f"mach{lib.capitalize()}"]] for lib in ("symnn", "numpy", "sympy", "numba", "llvmlite")],
        ["mpmath", macros["machMpmath"]],
        ["PyTorch", macros["machTorch"]],
        ["JAX", macros["machJax"]],
        ["PyTensor", macros["machPytensor"]],
    ]
    write_table(out, "perf_machine", ["", "this run"], [[a, str(b)] for a, b in mach_rows], spec="ll")
    write_macros(out, "performance", macros)
