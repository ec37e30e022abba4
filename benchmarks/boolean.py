"""Sign-network benchmarks B1 and B2 of BENCHMARKS.md: a 1-hidden-layer sign network on all 2^d inputs.

Run: ``python benchmarks/boolean.py [--quick] [--json] [--repeat N]``. It prints, from one run:

* B1: d = 20, k = 20 (integer weights in [-7, 7]): median seconds of ``verify.boolean.evaluate``
  (compiled, parallel, chunked, exact), next to the two references of BENCHMARKS.md measured in the
  same run: NumPy on the 2^20 x 20 input matrix, and a plain Numba prange loop (O(kd) per input);
  all three must count the same positive outputs;
* B2: d = 28, k = 28: seconds and the peak resident memory of a fresh process doing only that pass,
  next to a fresh process doing d = 12 (memory flat: no 2^d x d matrix);
* compile: the kernel's cold and cached load seconds in fresh processes are not separated from
  import here; ``first_call_s`` of each fresh process includes them.

BLAS threads are pinned to 1 for the NumPy reference (reported); Numba uses all cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numba as nb
import numpy as np

from verify.boolean.exhaustive import evaluate, random_network
from verify.boolean.table import cube

TARGETS = {"B1": 0.05, "B2": 10.0}


@nb.njit(parallel=True, cache=True)
def _plain_prange(W1, b1, W2, b2, d):  # the "plain Numba prange loop" reference: O(kd) per input
    n = 1 << d
    pos = 0
    for i in nb.prange(n):
        acc = b2
        for u in range(W1.shape[0]):
            s = b1[u]
            for j in range(d):
                s += W1[u, j] if (i >> j) & 1 else -W1[u, j]
            acc += W2[u] * ((s > 0) - (s < 0))
        pos += acc > 0
    return pos


def _median(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def b1(repeat: int, d: int = 20) -> dict:
    net = random_network(d, d, seed=0)
    evaluate(net)  # compile / load outside the timing
    t_kernel, ev = _median(lambda: evaluate(net)[0], repeat)
    X = cube(d).astype(np.float32)  # the 2^d x d matrix the kernel avoids (80 MiB at d = 20)
    W1, b1_, W2 = net.W1.astype(np.float32), net.b1.astype(np.float32), net.W2.astype(np.float32)

    def numpy_ref() -> int:
        h = np.sign(X @ W1.T + b1_)
        return int((h @ W2 + net.b2 > 0).sum())

    t_numpy, pos_numpy = _median(numpy_ref, max(1, repeat // 2))
    _plain_prange(net.W1, net.b1, net.W2, net.b2, 4)
    t_plain, pos_plain = _median(lambda: int(_plain_prange(net.W1, net.b1, net.W2, net.b2, d)), max(1, repeat // 2))
    agree = ev.positives == pos_numpy == pos_plain  # type: ignore[union-attr]
    return {
        "d": d,
        "k": d,
        "kernel_median_s": t_kernel,
        "numpy_median_s": t_numpy,
        "plain_prange_median_s": t_plain,
        "speedup_vs_numpy": t_numpy / t_kernel,
        "speedup_vs_plain_prange": t_plain / t_kernel,
        "positives": ev.positives,  # type: ignore[union-attr]
        "all_three_agree": agree,
        "target_s": TARGETS["B1"],
        "meets_target": t_kernel < TARGETS["B1"],
    }


_CHILD = (
    "import resource, time, sys; t0 = time.perf_counter(); "
    "from verify.boolean.exhaustive import evaluate, random_network; "
    "net = random_network({d}, {d}, seed=0); t1 = time.perf_counter(); ev, _ = evaluate(net); "
    "t2 = time.perf_counter(); ev, _ = evaluate(net) if {again} else (ev, None); "
    "print(ev.seconds, t2 - t1, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, ev.positives)"
)


def _child(d: int, again: bool) -> dict:
    code = _CHILD.format(d=d, again=again)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return {"seconds": float(out[0]), "first_call_s": float(out[1]), "peak_rss_mib": int(out[2]) / 1024}


def b2(d: int = 28, again: bool = False) -> dict:
    small = _child(12, False)
    big = _child(d, again)
    return {
        "d": d,
        "k": d,
        "kernel_s": big["seconds"],
        "first_call_s": big["first_call_s"],
        "peak_rss_mib": big["peak_rss_mib"],
        "peak_rss_mib_at_d12": small["peak_rss_mib"],
        "input_matrix_would_be_mib": (2**d) * d / 2**20,
        "target_s": TARGETS["B2"],
        "meets_target": big["seconds"] < TARGETS["B2"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="B2 at d = 24 instead of 28")
    ap.add_argument("--repeat", type=int, default=7, help="B1 repetitions (median)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    res = {
        "threads": nb.get_num_threads(),
        "blas_threads": os.environ["OPENBLAS_NUM_THREADS"],
        "load_average": os.getloadavg(),
        "B1": b1(args.repeat),
        "B2": b2(24 if args.quick else 28, again=args.quick),
    }
    if args.json:
        print(json.dumps(res, indent=2))
        return
    r1, r2 = res["B1"], res["B2"]
    print(f"numba threads {res['threads']}, BLAS threads {res['blas_threads']}, load average {res['load_average']}")
    print(
        f"B1 d=20 k=20: kernel {r1['kernel_median_s'] * 1e3:.1f} ms (target {TARGETS['B1'] * 1e3:.0f} ms: "
        f"{'met' if r1['meets_target'] else 'MISSED'}); NumPy {r1['numpy_median_s'] * 1e3:.0f} ms "
        f"({r1['speedup_vs_numpy']:.1f}x), plain prange {r1['plain_prange_median_s'] * 1e3:.0f} ms "
        f"({r1['speedup_vs_plain_prange']:.1f}x); same counts: {r1['all_three_agree']}"
    )
    print(
        f"B2 d={r2['d']} k={r2['k']}: kernel {r2['kernel_s']:.2f} s (target {TARGETS['B2']:.0f} s: "
        f"{'met' if r2['meets_target'] else 'MISSED'}); peak RSS {r2['peak_rss_mib']:.0f} MiB "
        f"(d=12: {r2['peak_rss_mib_at_d12']:.0f} MiB; a 2^d x d int8 input matrix alone: "
        f"{r2['input_matrix_would_be_mib']:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
