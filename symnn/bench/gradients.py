"""One gradient workload (W1-W5) measured: symnn's kernel and executor next to every peer, from one run.

One call = the loss and the gradient of every parameter for one minibatch. Before anything is
timed, symnn's loss and gradients must agree with the hand-written NumPy backprop to 1e-10
relative (else ``BenchmarkError``); a peer's agreement is reported. Every peer gets a status: its
row is measured, or says it is not installed (and how to install it), failed (one line why), or is
not written for this workload. The kernel's compile time is measured in fresh processes: cold (a
new kernel, the shared helpers it calls already cached, as on any machine that compiled a kernel
before), cached (the kernel in the cache), and first on a machine (an empty ``SYMNN_CACHE_DIR``).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable

import numpy as np

from ..codegen import Kernel, compile
from ..cost import cost, gradient_ratio
from ..diff import grad
from ..errors import SymnnError
from ..executor import Executor
from .peers import PEERS, Peer, one_line
from .reference import NUMPY, agreement, make_point
from .workloads import WORKLOADS

Step = Callable[[], object]
Log = Callable[[str], None]
#: symnn's own results must agree this well with the hand-written NumPy backprop.
TOLERANCE = 1e-10


class BenchmarkError(SymnnError, RuntimeError):
    """symnn computed a different value than the hand-written reference, or a measurement failed."""


def median_us(step: Step, repeats: int, budget: float) -> float:
    """Median over ``repeats`` batches of the time per call in microseconds; a batch lasts about ``budget`` s.

    Calls for one batch's time first, unmeasured (at least two): caches, the allocator and anything
    planned on first use settle (the executor plans its sweeps then), and they size the batches.
    """
    step()
    t, calls = time.perf_counter(), 0
    while calls < 2 or time.perf_counter() - t < budget:
        step()
        calls += 1
    one = max((time.perf_counter() - t) / calls, 1e-7)
    n = max(1, min(100_000, int(budget / one)))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            step()
        times.append((time.perf_counter() - t) / n)
    return statistics.median(times) * 1e6


def interleaved_ratio(a: Step, b: Step, repeats: int, budget: float) -> float:
    """Median over ``repeats`` rounds of (time per call of ``a``) / (that of ``b``), one batch of each per round.

    The two batches of a round run back to back, so a burst of load from another process slows both:
    the ratio holds where medians measured one implementation after the other swing with the load.
    """
    sizes = [max(1, min(100_000, int(budget / (median_us(f, 1, budget / 4) * 1e-6)))) for f in (a, b)]
    ratios = []
    for _ in range(repeats):
        per_call = []
        for f, n in zip((a, b), sizes, strict=True):
            t = time.perf_counter()
            for _ in range(n):
                f()
            per_call.append((time.perf_counter() - t) / n)
        ratios.append(per_call[0] / per_call[1])
    return statistics.median(ratios)


def gemm_gflops(n: int, repeats: int) -> float:
    """Float64 GEMM peak on the pinned BLAS threads: 2 n^3 / the fastest of ``repeats`` ``a @ b``.

    The fastest, not the median: a peak measured while another process takes the core would put a
    workload measured in a quieter moment above 100 % of it.
    """
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    c = np.empty((n, n))
    np.dot(a, b, out=c)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        np.dot(a, b, out=c)
        times.append(time.perf_counter() - t)
    return 2 * n**3 / min(times) / 1e9


_COMPILE_CHILD = """
import sys, time
from symnn.bench.workloads import WORKLOADS
from symnn.codegen import compile, warm
from symnn.diff import grad
g = grad(WORKLOADS[sys.argv[1]]())
t = time.perf_counter()
done = warm(graph=g) if sys.argv[2] == "helpers" else compile(g)
print(time.perf_counter() - t)
"""


def compile_seconds(name: str) -> dict[str, float]:
    """Seconds to compile ``grad(g)`` of workload ``name``, each in a fresh process:

    ``compile_first_s`` with an empty cache (a machine's first kernel: it also compiles the shared
    helpers it calls, once per machine and dtype), ``compile_helpers_s`` those helpers alone
    (``symnn.codegen.warm``), ``compile_cold_s`` a new kernel with its helpers cached, and
    ``compile_cached_s`` the kernel found in the cache.
    """
    out = {}
    for steps in (("first", "cached"), ("helpers", "cold")):
        with tempfile.TemporaryDirectory(prefix="symnn-bench-cache-") as cache:
            env = {**os.environ, "SYMNN_CACHE_DIR": cache}
            for step in steps:
                argv = [sys.executable, "-c", _COMPILE_CHILD, name, step]
                proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    raise BenchmarkError(f"compiling {name} in a child process failed:\n{proc.stderr[-2000:]}")
                out[f"compile_{step}_s"] = float(proc.stdout.split()[0])
    return out


def kernel_path(kernel: Kernel) -> str:
    """The code path of a kernel's matrix products, as codegen reports it: ``"blas"`` or ``"loops"``."""
    return str(kernel.path)


def peer_status(peer: Peer, name: str) -> dict:
    """Whether ``peer`` can run ``name``: {"status": "ready" | "not installed" | "n/a", "detail": ...}."""
    if not peer.installed():
        return {"status": "not installed", "detail": peer.install}
    if name not in peer.workloads:
        return {"status": "n/a", "detail": peer.why_not}
    return {"status": "ready", "detail": ""}


def run_workload(
    name: str,
    repeats: int,
    budget: float,
    with_compile: bool,
    peers: Iterable[Peer] = PEERS,
    log: Log = lambda _: None,
) -> dict:
    """Measure workload ``name``: rows of the measured implementations, and every peer's status."""
    g = WORKLOADS[name]()
    gg = grad(g)
    point = make_point(name, g)
    params = list(g.params)
    ref = NUMPY[name](point)
    res: dict = {"workload": name, "ratio_ops": gradient_ratio(g, gg), "rows": {}, "peers": {}}
    res["macs"], res["forward_macs"] = cost(gg).macs, cost(g).macs  # value+grad multiply-adds, forward

    kernel = compile(gg)
    res["kernel_path"] = kernel_path(kernel)
    loss_name = gg.output_names[0]
    out = {n: np.empty(s) for n, s in kernel.outputs.items()}
    kout = kernel.run(point, out)
    k_val = (float(kout[loss_name]), {p: kout[f"grad:{p}"].copy() for p in params})
    executor = Executor(g)
    e_val = executor.grad(point)

    impls: dict[str, tuple[Step, float]] = {}
    impls["symnn kernel"] = (lambda: kernel.run(point, out), agreement(k_val, ref))
    # the Numba function alone (no dict handling or checks): what the call wrapper costs on tiny workloads
    cargs = [point[n] for n in kernel.inputs] + [out[n] for n in kernel.outputs]
    for buf in out.values():
        buf.fill(np.nan)
    kernel.compute(*cargs)
    c_val = (float(out[loss_name]), {p: out[f"grad:{p}"].copy() for p in params})
    impls["symnn kernel.compute"] = (lambda: kernel.compute(*cargs), agreement(c_val, ref))
    # the documented fast entry for loops that refill the same arrays (the SGD trainer's)
    prepared = kernel.prepare(point, out)
    for buf in out.values():
        buf.fill(np.nan)
    pout = prepared()
    p_val = (float(pout[loss_name]), {p: pout[f"grad:{p}"].copy() for p in params})
    impls["symnn kernel.prepare"] = (prepared, agreement(p_val, ref))
    impls["symnn executor"] = (lambda: executor.grad(point), agreement(e_val, ref))
    for impl, (_, err) in impls.items():
        if not err <= TOLERANCE:
            raise BenchmarkError(
                f"{name}: {impl} disagrees with the hand-written NumPy backprop: relative error {err:.2e} > {TOLERANCE}"
            )
    notes: dict[str, str] = {}
    firsts: dict[str, float] = {}
    for peer in peers:
        status = peer_status(peer, name)
        if status["status"] == "ready":
            t = time.perf_counter()
            try:  # a peer's own failure is a row of the table, never fatal
                built = peer.build(name, point)
                err = agreement(built.result(), ref)
            except Exception as e:
                status = {"status": "failed", "detail": one_line(e)}
                log(f"  {name}: {peer.name} failed to build: {one_line(e)}")
            else:
                firsts[peer.name] = time.perf_counter() - t
                impls[peer.name] = (built.step, err)
                notes[peer.name] = built.note
                status = {"status": "measured", "detail": built.note}
        res["peers"][peer.name] = {**status, "version": peer.version()}
    for impl, (step, err) in impls.items():
        try:
            us = median_us(step, repeats, budget)
        except Exception as e:  # only a peer can get here: symnn's steps already ran above
            res["peers"][impl] |= {"status": "failed", "detail": one_line(e)}
            continue
        row: dict[str, float | str] = {"us": us, "relerr": err}
        if impl in firsts:
            row["first_call_s"] = firsts[impl]
        if notes.get(impl):
            row["note"] = notes[impl]
        res["rows"][impl] = row
        log(f"  {name} {impl:<22} {us:12.1f} us   (rel. err. vs NumPy {err:.1e})")
    res["executor_over_kernel"] = interleaved_ratio(
        impls["symnn executor"][0], impls["symnn kernel"][0], repeats, budget
    )
    timed_peers = {i: r for i, r in res["rows"].items() if not i.startswith("symnn")}
    res["best_peer"] = min(timed_peers, key=lambda i: timed_peers[i]["us"]) if timed_peers else None
    best = timed_peers[res["best_peer"]]["us"] if timed_peers else float("nan")
    for r in res["rows"].values():
        r["ratio"] = r["us"] / best
    if with_compile:
        res.update(compile_seconds(name))
    return res
