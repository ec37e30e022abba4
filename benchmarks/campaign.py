"""Throughput of exhaustive verification as a campaign: single process vs 1 and 2 local Dask workers.

Run: ``python benchmarks/campaign.py [--d 24 25 26] [-k 16] [--workers 1 2] [--repeat 3] [--chunks N] [--survey]
[--json]``.

For each d, a random integer network (``random_network(d, k, seed=0)``) is checked against
parity on all 2^d inputs by

* ``single``: ``verify.boolean.evaluate`` in this process (Numba threads on every core);
* ``in-process``: the same pass as a campaign (``verify.campaign.run``) without Dask: the cost of
  chunking and merging alone;
* ``N workers``: the campaign on a local Dask cluster of N worker processes on 127.0.0.1 (cores
  shared out as Numba threads), timed after a warm-up run (workers load the Numba cache once).

With ``--survey`` it also times the minimum-width survey of all functions of 4 variables
(``width_distribution(4)``, 16 chunks of NPN classes): work that runs on one core in one process.

Every row prints the median wall seconds of ``--repeat`` runs, inputs per second and the time
above ``single`` (overhead); every path must give the same Evaluation (checked). Cluster start-up
and the warm-up run are reported apart, once per cluster.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

from verify.boolean.exhaustive import Symmetric, evaluate, random_network
from verify.campaign import run, verify_campaign


def _median(fn: Any, repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def _same(a: Any, b: Any) -> bool:
    return dataclasses.replace(a, seconds=0.0) == dataclasses.replace(b, seconds=0.0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d", type=int, nargs="+", default=[24, 25, 26], help="input counts (default 24 25 26)")
    p.add_argument("-k", type=int, default=16, help="hidden units (default 16)")
    p.add_argument("--workers", type=int, nargs="*", default=[1, 2], help="cluster sizes (default 1 2; empty: none)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per row (median; default 3)")
    p.add_argument("--chunks", type=int, default=None, help="chunks per pass (default: ~0.1 s of one core each)")
    p.add_argument("--survey", action="store_true", help="also the minimum-width survey of d = 4 (24 s a run)")
    p.add_argument("--json", action="store_true", help="machine-readable results")
    args = p.parse_args(argv)
    surveys: list[dict[str, Any]] = []
    survey = _survey_single(surveys) if args.survey else None

    nets = {d: (random_network(d, args.k, seed=0), Symmetric.named("parity", d)) for d in args.d}
    rows: list[dict[str, Any]] = []
    clusters: list[dict[str, Any]] = []
    single: dict[int, tuple[float, Any]] = {}
    for d, (net, target) in nets.items():
        evaluate(net, target)  # compile or load the kernel outside the timings
        single[d] = _median(lambda: evaluate(net, target)[0], args.repeat)  # noqa: B023 - called right here
        plan = verify_campaign(net, target, args.chunks)
        secs, out = _median(lambda: run(plan), args.repeat)  # noqa: B023 - called right here
        assert _same(out.value, single[d][1]), "the in-process campaign disagrees with evaluate"
        rows.append(_row(d, "single", 1, single[d][0], single[d][0], single[d][0]))
        rows.append(_row(d, "in-process", plan.chunks, secs, single[d][0], out.chunk_seconds))
    for w in args.workers:
        import distributed

        from verify.campaign.cluster import local_cluster

        t0 = time.perf_counter()
        with local_cluster(w) as cluster, distributed.Client(cluster) as client:
            start = time.perf_counter() - t0
            t1 = time.perf_counter()
            first = min(nets)
            run(verify_campaign(*nets[first], args.chunks), client=client)  # workers import and load the cache
            clusters.append({"workers": w, "start_s": round(start, 2), "warm_up_s": round(time.perf_counter() - t1, 2)})
            for d, (net, target) in nets.items():
                plan = verify_campaign(net, target, args.chunks)
                secs, out = _median(lambda: run(plan, client=client), args.repeat)  # noqa: B023
                assert _same(out.value, single[d][1]), f"the campaign on {w} workers disagrees with evaluate"
                name = f"{w} worker{'s' if w > 1 else ''}"
                rows.append(_row(d, name, plan.chunks, secs, single[d][0], out.chunk_seconds))
            if survey is not None:
                _survey_run(surveys, survey, f"{w} worker{'s' if w > 1 else ''}", client)
    if args.json:
        doc = {"k": args.k, "cores": os.cpu_count(), "rows": rows, "clusters": clusters, "survey": surveys}
        print(json.dumps(doc, indent=2))
        return 0
    print(
        f"exhaustive verification, random network k = {args.k} vs parity, {os.cpu_count()} cores; median of "
        f"{args.repeat} runs; all paths give the same Evaluation"
    )
    print("(compute: the chunks' own seconds, summed over workers; seconds: wall time of the whole pass)")
    head = f"{'d':>3} {'path':<11} {'chunks':>6} {'seconds':>9} {'M inputs/s':>11} {'overhead':>10} {'x single':>9}"
    print(f"{head} {'compute':>8}")
    for r in rows:
        print(
            f"{r['d']:>3} {r['path']:<11} {r['chunks']:>6} {r['seconds']:>9.3f} {r['inputs_per_s'] / 1e6:>11.1f} "
            f"{r['overhead_s']:>+9.3f}s {r['ratio']:>9.2f} {r['compute_s']:>8.3f}"
        )
    for r in surveys:
        print(
            f"min-width survey d = 4 ({r['chunks']} chunks), {r['path']}: {r['seconds']:.2f} s, "
            f"x {r['ratio']:.2f} of single"
        )
    for c in clusters:
        print(
            f"local cluster of {c['workers']} worker(s): start {c['start_s']} s, first (warm-up) run {c['warm_up_s']} s"
        )
    return 0


def _survey_single(surveys: list[dict[str, Any]]) -> Any:
    """Time ``width_distribution(4)`` (uncached) and the same survey as an in-process campaign."""
    from verify.boolean.minwidth import npn_classes, width_distribution
    from verify.campaign import min_width_campaign

    npn_classes(4)  # computed once per process in either path: not timed here
    t = time.perf_counter()
    ref = width_distribution.__wrapped__(4)
    single = time.perf_counter() - t
    surveys.append({"path": "single", "chunks": 1, "seconds": round(single, 3), "ratio": 1.0})
    survey = (min_width_campaign(4), ref, single)
    _survey_run(surveys, survey, "in-process", None)
    return survey


def _survey_run(surveys: list[dict[str, Any]], survey: Any, path: str, client: Any) -> None:
    plan, ref, single = survey
    t = time.perf_counter()
    out = run(plan, client=client)
    secs = time.perf_counter() - t
    assert out.value.classes == ref.classes and out.value.counts == ref.counts, f"the survey on {path} disagrees"
    surveys.append({"path": path, "chunks": plan.chunks, "seconds": round(secs, 3), "ratio": round(secs / single, 3)})


def _row(d: int, path: str, chunks: int, seconds: float, single: float, compute: float) -> dict[str, Any]:
    return {
        "d": d,
        "path": path,
        "chunks": chunks,
        "seconds": round(seconds, 5),
        "inputs_per_s": (1 << d) / seconds,
        "overhead_s": round(seconds - single, 5),
        "ratio": round(seconds / single, 3),
        "compute_s": round(compute, 5),
    }


if __name__ == "__main__":
    raise SystemExit(main())
