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

from .gradients import IMPLEMENTATIONS, MODES, NoParametersError, exact_rows, gradcheck
from .report import Report, Row
from .tolerance import ORACLES

#: The exact reference runs for graphs up to this many scalars (the zoo's mlp and signnet).
EXACT_MAX_SCALARS = 120
#: Seconds after the start of a check when exact-reference workers still running are stopped.
EXACT_TIMEOUT = 45.0

Progress = Callable[[str], None]


def default_models() -> list[str]:
    """Every model of the built-in zoo."""
    return zoo.list_models()


def _graph(spec: str) -> Graph:
    """The graph of MODEL ``spec`` (``zoo.resolve``); a model without parameters is an error."""
    graph = zoo.resolve(spec).graph()
    if not graph.params:
        raise NoParametersError(
            f"model {spec!r} has no parameters (its leaves are the inputs {list(graph.inputs)}); "
            "there is no derivative to check"
        )
    return graph


def _exact_worker(conn: Any, spec: str, modes: tuple[str, ...], max_scalars: int, seed: int) -> None:
    """Worker process: the exact rows of one model, sent back through ``conn``."""
    t = time.perf_counter()
    try:
        rows = exact_rows(_graph(spec), ("symbolic",), modes, max_scalars, seed=seed)
        conn.send(("ok", rows, time.perf_counter() - t))
    except Exception as e:  # reported as an error row by the parent
        conn.send(("error", f"{type(e).__name__}: {e}", time.perf_counter() - t))
    finally:
        conn.close()


class ExactJobs:
    """The exact reference of several models in worker processes, at most ``jobs`` at a time, with a deadline.

    A job still running at the deadline is terminated and its rows say so (verdict ``skip``).
    """

    def __init__(
        self, specs: Sequence[str], modes: tuple[str, ...], max_scalars: int, seed: int, jobs: int, timeout: float
    ) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.args = (modes, max_scalars, seed)
        self.modes, self.jobs, self.timeout = modes, max(jobs, 1), timeout
        self.pending = list(specs)
        self.running: dict[str, tuple[Any, Any, float]] = {}
        self.results: dict[str, tuple[dict[str, Row], float | None]] = {}
        self.deadline = time.monotonic() + timeout
        self._fill()

    def _fill(self) -> None:
        while self.pending and len(self.running) < self.jobs:
            spec = self.pending.pop(0)
            parent, child = self.ctx.Pipe(duplex=False)
            proc = self.ctx.Process(target=_exact_worker, args=(child, spec, *self.args), daemon=True)
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


def _merge(report: Report, extra: dict[str, Any], seconds: float | None) -> Report:
    """``report`` with the exact rows put after each symbolic path's other rows."""
    rows = list(report.rows)
    for path, row in extra.items():
        at = max((i for i, r in enumerate(rows) if r.path == path), default=len(rows) - 1)
        rows.insert(at + 1, row)
    info = dict(report.info)
    if seconds is not None:
        info["seconds"] = {**info.get("seconds", {}), "exact": round(seconds, 4)}
    return Report(report.name, tuple(rows), info)


def _prefixed(say: Progress, spec: str) -> Progress:
    return lambda stage: say(f"{spec}: {stage}")


def check_models(
    specs: Sequence[str] | None = None,
    *,
    oracles: Sequence[str] = ORACLES,
    paths: Sequence[str] = IMPLEMENTATIONS,
    modes: Sequence[str] = MODES,
    directions: int = 3,
    seed: int = 0,
    exact_max_scalars: int = EXACT_MAX_SCALARS,
    exact_timeout: float = EXACT_TIMEOUT,
    jobs: int = 2,
    progress: Progress | None = None,
) -> list[tuple[str, Report]]:
    """Check every model (default: the whole zoo).

    The exact reference runs in ``jobs`` worker processes while the numeric checks run here
    (``jobs=0``: in this process, without a deadline); jobs still running ``exact_timeout``
    seconds after the start are stopped and reported as skipped.
    """
    specs = list(specs) if specs else default_models()
    say = progress or (lambda msg: None)
    graphs = {}
    for spec in specs:  # resolve all first: bad input fails before any work
        say(f"loading {spec}")
        graphs[spec] = _graph(spec)
    modes = tuple(modes)
    numeric = tuple(o for o in oracles if o != "exact")
    want_exact = "exact" in oracles and "symbolic" in paths
    small = [s for s in specs if scalar_count(graphs[s]) <= exact_max_scalars] if want_exact else []
    workers = ExactJobs(small, modes, exact_max_scalars, seed, jobs, exact_timeout) if small and jobs > 0 else None
    results = []
    try:
        for spec in specs:
            report = (
                Report(spec, (), {"seed": seed})
                if not numeric
                else gradcheck(
                    graphs[spec],
                    paths=paths,
                    modes=modes,
                    oracles=numeric,
                    directions=directions,
                    seed=seed,
                    name=spec,
                    progress=_prefixed(say, spec),
                )
            )
            if want_exact:
                say(f"{spec}: exact reference")
                if workers is not None and spec in small:
                    rows, seconds = workers.result(spec)
                else:
                    t = time.perf_counter()
                    rows = exact_rows(graphs[spec], ("symbolic",), modes, exact_max_scalars, seed=seed)
                    seconds = time.perf_counter() - t
                report = _merge(report, rows, seconds)
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
