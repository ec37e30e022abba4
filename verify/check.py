"""The logic of ``symnn check [MODEL ...]``: every derivative path of every model against every oracle.

Each model is resolved first (an unknown model or one without parameters fails before any
work), then checked by ``gradcheck`` with every oracle. The exact reference is by far the
slowest (``sympy.diff`` of the expanded graph): it runs in worker processes, in parallel with
the numeric checks, only for graphs of at most ``exact_max_scalars`` scalars and within a
deadline; a larger graph or a job stopped at the deadline gets an explicit ``skip`` row.

>>> results = check_models(["mlp:2-2-1"], oracles=("fd", "adjoint"), paths=("executor",), jobs=0)
>>> [(name, rep.ok) for name, rep in results]
[('mlp:2-2-1', True)]
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from symnn.errors import ModelError
from symnn.expand import scalar_count
from symnn.ir import Graph

from .gradients import NoParametersError, exact_rows, gradcheck, with_exact_rows
from .options import EXACT_MAX_SCALARS, IMPLEMENTATIONS, MODEL_CHECK, MODES, CheckOptions, make_options
from .report import FAILING, Report, Row, render
from .tolerance import ORACLES

#: Seconds after the start of a check when exact-reference workers still running are stopped.
EXACT_TIMEOUT = 45.0

Progress = Callable[[str], None]


def default_models() -> list[str]:
    """Every model of the built-in zoo."""
    from symnn import zoo

    return zoo.list_models()


def resolve(spec: str) -> Graph:
    """The graph of MODEL ``spec``; a model without parameters is an error."""
    from symnn import zoo

    graph = zoo.resolve(spec).graph()
    if not isinstance(graph, Graph):
        raise ModelError(f"model {spec!r} did not produce a symnn Graph")
    if not graph.params:
        raise NoParametersError(
            f"model {spec!r} has no parameters (its leaves are the inputs {list(graph.inputs)}); "
            "there is no derivative to check"
        )
    return graph


def _exact_worker(conn: Any, spec: str, options: CheckOptions) -> None:
    """Worker process: the exact rows of one model, sent back through ``conn``."""
    t = time.perf_counter()
    try:
        rows = exact_rows(resolve(spec), options)
        conn.send(("ok", rows, time.perf_counter() - t))
    except Exception as e:  # reported as an error row by the parent
        conn.send(("error", f"{type(e).__name__}: {e}", time.perf_counter() - t))
    finally:
        conn.close()


class ExactJobs:
    """The exact reference of several models in worker processes, at most ``jobs`` at a time, with a deadline.

    A job still running at the deadline is terminated and its rows say so (verdict ``skip``).
    """

    def __init__(self, specs: Sequence[str], options: CheckOptions, jobs: int, timeout: float) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.options = options
        self.modes, self.jobs, self.timeout = options.modes, max(jobs, 1), timeout
        self.pending = list(specs)
        self.running: dict[str, tuple[Any, Any, float]] = {}
        self.results: dict[str, tuple[dict[str, Row], float | None]] = {}
        self.deadline = time.monotonic() + timeout
        self._fill()

    def _fill(self) -> None:
        while self.pending and len(self.running) < self.jobs:
            spec = self.pending.pop(0)
            parent, child = self.ctx.Pipe(duplex=False)
            proc = self.ctx.Process(target=_exact_worker, args=(child, spec, self.options), daemon=True)
            proc.start()
            child.close()
            self.running[spec] = (proc, parent, time.perf_counter())

    def _poll(self) -> None:
        for spec, (proc, conn, _) in list(self.running.items()):
            if conn.poll():
                try:
                    status, payload, seconds = conn.recv()
                except EOFError:
                    status, payload, seconds = "error", "the worker process died", None
                proc.join()
                del self.running[spec]
                self.results[spec] = (payload, seconds) if status == "ok" else (self._rows("error", payload), seconds)
            elif not proc.is_alive():
                del self.running[spec]
                self.results[spec] = (self._rows("error", f"the worker exited with code {proc.exitcode}"), None)
        self._fill()

    def _rows(self, verdict: str, note: str) -> dict[str, Row]:
        return {f"symbolic {m}": Row(f"symbolic {m}", "exact", verdict, note=note) for m in self.modes}

    def result(self, spec: str) -> tuple[dict[str, Row], float | None]:
        """The exact rows of ``spec`` (waiting for them, up to the deadline)."""
        while spec not in self.results:
            self._poll()
            if spec in self.results:
                break
            if time.monotonic() > self.deadline:
                self.close(f"the exact reference did not finish within --exact-timeout {self.timeout:g} s")
                break
            time.sleep(0.05)
        return self.results[spec]

    def close(self, why: str = "cancelled") -> None:
        """Stop every job still running or pending; their rows say ``why``."""
        for spec, (proc, conn, _) in list(self.running.items()):
            proc.terminate()
            proc.join()
            conn.close()
            self.results.setdefault(spec, (self._rows("skip", why), None))
        for spec in self.pending:
            self.results.setdefault(spec, (self._rows("skip", why), None))
        self.running.clear()
        self.pending.clear()


def _prefixed(say: Progress, spec: str) -> Progress:
    return lambda stage: say(f"{spec}: {stage}")


def check_models(
    specs: Sequence[str] | None = None,
    options: CheckOptions | None = None,
    *,
    jobs: int = 2,
    exact_timeout: float = EXACT_TIMEOUT,
    progress: Progress | None = None,
    **overrides: Any,
) -> list[tuple[str, Report]]:
    """Check every model (default: the whole zoo) with ``options`` (default: ``MODEL_CHECK``, every oracle).

    Keyword ``overrides`` change single options. The exact reference runs in ``jobs`` worker
    processes while the numeric checks run here (``jobs=0``: in this process, without a
    deadline); jobs still running ``exact_timeout`` seconds after the start are stopped and
    reported as skipped.
    """
    opts = make_options(options, overrides, MODEL_CHECK)
    specs = list(specs) if specs else default_models()
    say = progress or (lambda msg: None)
    graphs = {}
    for spec in specs:  # resolve all first: bad input fails before any work
        say(f"loading {spec}")
        graphs[spec] = resolve(spec)
    numeric = tuple(o for o in opts.oracles if o != "exact")
    want_exact = "exact" in opts.oracles and "symbolic" in opts.paths
    exact_opts = opts.replace(paths=("symbolic",))
    small = [s for s in specs if scalar_count(graphs[s]) <= opts.exact_max_scalars] if want_exact else []
    workers = ExactJobs(small, exact_opts, jobs, exact_timeout) if small and jobs > 0 else None
    results = []
    try:
        for spec in specs:
            report = (
                gradcheck(graphs[spec], None, opts.replace(oracles=numeric), name=spec, progress=_prefixed(say, spec))
                if numeric
                else Report(spec, (), {"seed": opts.int_seed})
            )
            if want_exact:
                say(f"{spec}: exact reference")
                if workers is not None and spec in small:
                    rows, seconds = workers.result(spec)
                else:
                    t = time.perf_counter()
                    rows = exact_rows(graphs[spec], exact_opts)
                    seconds = time.perf_counter() - t
                report = with_exact_rows(report, rows, seconds)
            results.append((spec, report))
            say(f"{spec}: done")
    finally:
        if workers is not None:
            workers.close()
    return results


class Bar:
    """A one-line progress bar on a terminal, or one line per model on a pipe."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        stream = stream if stream is not None else sys.stderr
        self.total, self.stream, self.done = total, stream, 0
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.t0 = time.perf_counter()
        self.current = ""

    def __call__(self, message: str) -> None:
        if message.startswith("loading "):
            return
        model, _, stage = message.rpartition(": ")
        if stage == "done":
            self.done += 1
        elif model != self.current:
            self.current = model
            if not self.tty:
                print(f"[{self.done + 1}/{self.total}] checking {model}", file=self.stream, flush=True)
        if self.tty:
            width = 24
            filled = int(width * self.done / max(self.total, 1))
            bar = "#" * filled + "." * (width - filled)
            elapsed = time.perf_counter() - self.t0
            line = f"\r[{bar}] {self.done}/{self.total} {elapsed:5.1f}s {message}"[:119]
            print(line.ljust(119), end="", file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty:
            print("\r" + " " * 119 + "\r", end="", file=self.stream, flush=True)


def run(
    specs: Sequence[str] | None,
    as_json: bool = False,
    quiet: bool = False,
    out: TextIO | None = None,
    **kwargs: Any,
) -> int:
    """The body of ``symnn check``: the table (or JSON) on ``out``; 0 if every check passed, else 1."""
    out = out if out is not None else sys.stdout
    names = list(specs) if specs else default_models()
    bar = None if quiet else Bar(len(names))
    t0 = time.perf_counter()
    try:
        results = check_models(names, progress=bar, **kwargs)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    ok = all(rep.ok for _, rep in results)
    if as_json:
        doc = {"ok": ok, "seconds": round(seconds, 2), "models": [rep.to_json() for _, rep in results]}
        print(json.dumps(doc, indent=2), file=out)
    else:
        print(render(results), file=out)
        verdict = "all checks passed" if ok else "SOME CHECKS FAILED"
        print(f"{verdict} ({len(results)} models, {seconds:.1f} s)", file=out)
    return 0 if ok else 1


def run_campaign(
    networks: int,
    *,
    as_json: bool = False,
    quiet: bool = False,
    out: TextIO | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    results: str | None = None,
    chunks: int | None = None,
    seed: int = 0,
    oracles: Sequence[str] = ORACLES,
    paths: Sequence[str] = IMPLEMENTATIONS,
    modes: Sequence[str] = MODES,
    directions: int = 3,
    exact_max_scalars: int = EXACT_MAX_SCALARS,
) -> int:
    """The body of ``symnn check --campaign N``: N random networks against every oracle, in chunks
    (on a Dask cluster with ``workers``/``scheduler``, saved in ``results``); 0 if all passed, else 1."""
    from .campaign import check_campaign, run, session

    out = out if out is not None else sys.stdout
    plan = check_campaign(
        networks,
        seed=seed,
        chunks=chunks,
        oracles=tuple(oracles),
        paths=tuple(paths),
        modes=tuple(modes),
        directions=directions,
        exact_max_scalars=exact_max_scalars,
    )

    def say(done: int, total: int) -> None:
        if not quiet:
            print(f"[{done}/{total} chunks]", file=sys.stderr, flush=True)

    with session(workers, scheduler) as where:
        outcome = run(plan, results=results, progress=say, **where)
    docs = outcome.value
    ok = all(d["report"]["ok"] for d in docs)
    campaign = {
        "networks": networks,
        "seed": seed,
        "chunks": outcome.chunks,
        "reused": outcome.reused,
        "where": outcome.where,
        "seconds": round(outcome.seconds, 2),
    }
    if as_json:
        print(json.dumps({"ok": ok, "campaign": campaign, "networks": docs}, indent=2), file=out)
    else:
        for d in docs:
            rep = d["report"]
            bad = [f"{r['path']} vs {r['oracle']}: {r['verdict']}" for r in rep["rows"] if r["verdict"] in FAILING]
            verdict = "ok  " if rep["ok"] else "FAIL"
            print(f"{verdict} #{d['index']:<4} {rep['compared']:>5} comparisons  {d['network']}", file=out)
            for line in bad[:3]:
                print(f"       {line}", file=out)
        failed = sum(not d["report"]["ok"] for d in docs)
        verdict = "all checks passed" if ok else f"{failed} of {networks} NETWORKS FAILED"
        print(
            f"{verdict} ({networks} random networks, seed {seed}, {outcome.chunks} chunks, {outcome.where}, "
            f"{outcome.seconds:.1f} s)",
            file=out,
        )
    return 0 if ok else 1


__all__ = [
    "EXACT_MAX_SCALARS",
    "EXACT_TIMEOUT",
    "Bar",
    "ExactJobs",
    "check_models",
    "default_models",
    "resolve",
    "run",
    "run_campaign",
]
