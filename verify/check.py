"""The library behind ``symnn check [MODEL ...]``: every derivative path of every model against every oracle.

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

import multiprocessing
import time
from collections.abc import Callable, Sequence
from typing import Any

from symnn import zoo
from symnn.expand import scalar_count
from symnn.ir import Graph

from .gradients import NoParametersError, exact_rows, gradcheck, with_exact_rows
from .options import EXACT_MAX_SCALARS, MODEL_CHECK, CheckOptions, make_options
from .report import Report, Row

#: Seconds after the start of a check when exact-reference workers still running are stopped.
EXACT_TIMEOUT = 45.0

Progress = Callable[[str], None]


def default_models() -> list[str]:
    """Every model of the built-in zoo."""
    return zoo.list_models()


def _model(spec: str) -> tuple[Graph, dict[str, Any] | None]:
    """The graph of MODEL ``spec`` (``zoo.resolve``) and the model's own point, if it has one.

    A torch module's point is its parameters' current (trained) values and its example inputs:
    checking there tests the derivatives the user's model has now, not only at random weights.
    A model without parameters is an error.
    """
    model = zoo.resolve(spec)
    graph = model.graph()
    if not graph.params:
        raise NoParametersError(
            f"model {spec!r} has no parameters (its leaves are the inputs {list(graph.inputs)}); "
            "there is no derivative to check"
        )
    return graph, model.point


def _exact_worker(conn: Any, spec: str, options: CheckOptions) -> None:
    """Worker process: the exact rows of one model, sent back through ``conn``."""
    t = time.perf_counter()
    try:
        rows = exact_rows(_model(spec)[0], options)
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
    graphs, points = {}, {}
    for spec in specs:  # resolve all first: bad input fails before any work
        say(f"loading {spec}")
        graphs[spec], points[spec] = _model(spec)
    numeric = tuple(o for o in opts.oracles if o != "exact")
    want_exact = "exact" in opts.oracles and "symbolic" in opts.paths
    exact_opts = opts.replace(paths=("symbolic",))
    small = [s for s in specs if scalar_count(graphs[s]) <= opts.exact_max_scalars] if want_exact else []
    workers = ExactJobs(small, exact_opts, jobs, exact_timeout) if small and jobs > 0 else None
    results = []
    try:
        for spec in specs:
            report = (
                gradcheck(
                    graphs[spec], points[spec], opts.replace(oracles=numeric), name=spec, progress=_prefixed(say, spec)
                )
                if numeric
                else Report(spec, (), {"seed": opts.int_seed})
            )
            if points[spec] is not None:
                report = Report(report.name, report.rows, {**report.info, "point": "the model's own values"})
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


__all__ = [
    "EXACT_MAX_SCALARS",
    "EXACT_TIMEOUT",
    "ExactJobs",
    "check_models",
    "default_models",
]
