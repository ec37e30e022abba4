"""One benchmark run: the GEMM reference, the gradient workloads, T1 and the symbolic benchmarks, as one document.

``run`` returns plain data (JSON-ready); ``format_run`` turns it into the table. The caller pins
the threads before NumPy loads (``symnn.bench.threads``; ``symnn bench`` does) and passes how.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from . import symbolic
from .gradients import Log, gemm_gflops, run_workload
from .peers import PEERS, Peer
from .table import format_table
from .training import format_t1, t1
from .workloads import WORKLOADS

#: Everything ``--workloads`` may name: the gradient workloads, then the training benchmark.
ALL = (*WORKLOADS, "T1")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(
    workloads: Sequence[str] = ALL,
    *,
    quick: bool = False,
    with_compile: bool = True,
    with_symbolic: bool = True,
    blas_threads: str = "",
    peers: Iterable[Peer] = PEERS,
    log: Log = lambda _: None,
) -> dict:
    """Measure ``workloads`` (W1-W5, T1) against ``peers``; quick: few repeats, small GEMM, no compile timing."""
    peers = tuple(peers)
    meta: dict = {"quick": quick, "blas_threads": blas_threads, "load": _load()}
    repeats, budget = (3, 0.02) if quick else (15, 0.2)
    meta["gemm_n"] = 512 if quick else 2048
    meta["gemm_gflops"] = gemm_gflops(meta["gemm_n"], 3 if quick else 7)
    results = []
    for name in workloads:
        if name in WORKLOADS:
            log(f"{name} ...")
            results.append(run_workload(name, repeats, budget, with_compile and not quick, peers, log))
    training = None
    if "T1" in workloads:
        log("T1 ...")
        training = t1(steps=200, repeats=3) if quick else t1()
    meta["load_end"] = _load()
    sym = None
    if with_symbolic:
        log("S1, S3, S4 ...")
        sym = symbolic.run(quick)
    return {"meta": meta, "workloads": results, "training": training, "symbolic": sym}


def format_run(doc: dict) -> str:
    """The run as text: the gradient table, then T1 and the symbolic benchmarks when they ran."""
    parts = [format_table(doc["workloads"], doc["meta"])] if doc["workloads"] else []
    if doc.get("training"):
        parts.append(format_t1(doc["training"]))
    if doc.get("symbolic"):
        parts.append(symbolic.format_symbolic(doc["symbolic"]))
    return "\n\n".join(parts)
