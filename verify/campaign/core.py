"""A campaign: deterministic chunks of work, run anywhere, saved as they finish, merged exactly.

``run(campaign)`` computes every chunk not already saved in ``results`` (in this process, on a
local Dask cluster with ``workers=N``, or on an existing one at ``scheduler=`` / ``client=``), saves
each result the moment it arrives, and merges them in chunk order. Chunk i always covers the same
work, so the merged answer does not depend on where or in what order chunks ran, nor on restarts.

>>> def square(params, i, n): return i * i
>>> run(Campaign("demo", {}, 4, square, lambda p, parts: sum(parts))).value
14
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symnn.errors import SymnnError

#: What to run to get the cluster support.
DASK_FIX = 'pip install "symnn[dask]"'

Chunk = Callable[[dict[str, Any], int, int], Any]
Merge = Callable[[dict[str, Any], list[Any]], Any]
Progress = Callable[[int, int], None]


class CampaignError(SymnnError, RuntimeError):
    """A campaign that cannot run or finish: other parameters in its results directory, lost chunks."""


class MissingDaskError(SymnnError, ImportError):
    """A cluster was asked for, but dask.distributed is not installed."""


def require_distributed(why: str = "--scheduler and --workers run chunks on a Dask cluster") -> Any:
    """The ``distributed`` module, imported now (lazily: only campaigns on a cluster need it)."""
    try:
        import distributed
    except ImportError as e:
        raise MissingDaskError(
            f"{why}, but dask.distributed is not installed ({e}); install it with: {DASK_FIX} "
            "(or leave out --scheduler/--workers to run in this process)"
        ) from None
    return distributed


@dataclass(frozen=True)
class Campaign:
    """``chunks`` pieces of work: ``chunk(params, i, chunks)`` for each i, then ``merge(params, results)``.

    ``params`` (JSON) with ``kind`` and ``chunks`` fixes every chunk's work; ``chunk`` and ``merge`` are
    top-level functions (a cluster pickles them by reference) and chunk results are JSON documents.
    ``prepare(params)`` runs here before chunks go to a cluster (it fills the Numba cache that
    local workers then load instead of compiling). ``label`` names the campaign's results folder.
    """

    kind: str
    params: dict[str, Any]
    chunks: int
    chunk: Chunk
    merge: Merge
    prepare: Callable[[dict[str, Any]], None] | None = None
    label: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.chunks, bool) or not isinstance(self.chunks, int) or self.chunks < 1:
            raise CampaignError(f"a campaign has at least one chunk, got chunks = {self.chunks!r}")

    def manifest(self) -> dict[str, Any]:
        """What a results directory records, and a restart must match."""
        return {"format": 1, "kind": self.kind, "chunks": self.chunks, "params": self.params}


@dataclass(frozen=True)
class Outcome:
    """A finished campaign: the merged ``value``, and how it was obtained."""

    value: Any
    chunks: int
    reused: int  # chunks read back from the results directory
    seconds: float  # wall time of this run
    chunk_seconds: float  # compute time of the chunks run now
    where: str
    parts: list[Any] = field(repr=False, default_factory=list)


def _normal(result: Any) -> Any:
    """The result as it reads back from JSON: fresh and saved chunks merge alike."""
    return json.loads(json.dumps(result))


def run(
    campaign: Campaign,
    *,
    results: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    progress: Progress | None = None,
) -> Outcome:
    """Run the chunks not yet in ``results`` (here, or on a cluster) and merge all of them in order.

    Without ``workers``, ``scheduler`` or ``client`` everything runs in this process, without Dask.
    ``workers=N`` starts a local cluster of N worker processes; ``scheduler="tcp://host:port"``
    connects to a running one; ``client`` is a ``distributed.Client`` to use as is.
    """
    from .store import ResultStore

    t0 = time.perf_counter()
    store = None
    if results is not None:  # each campaign in its own folder: one DIR serves several (count n = 4 5 6)
        store = ResultStore.open(Path(results) / campaign.label if campaign.label else Path(results), campaign)
    done: dict[int, Any] = store.finished() if store is not None else {}
    reused = len(done)
    todo = [i for i in range(campaign.chunks) if i not in done]
    say = progress or (lambda done, total: None)
    say(len(done), campaign.chunks)
    chunk_seconds = 0.0
    where = "all chunks read back" if store is not None else "in-process"
    if todo:
        with _executor(campaign, workers, scheduler, client) as (where, execute):
            for i, result, seconds in execute(todo):
                result = _normal(result)
                if store is not None:
                    store.write(i, result, seconds)
                done[i] = result
                chunk_seconds += seconds
                say(len(done), campaign.chunks)
    parts = [done[i] for i in range(campaign.chunks)]
    value = campaign.merge(campaign.params, parts)
    return Outcome(value, campaign.chunks, reused, time.perf_counter() - t0, chunk_seconds, where, parts)


@contextmanager
def session(workers: int | None = None, scheduler: str | None = None) -> Iterator[dict[str, Any]]:
    """``run`` arguments for several campaigns sharing one cluster: ``{}`` (in-process) or ``{"client": ...}``."""
    if workers is None and scheduler is None:
        yield {}
        return
    _check_backend(workers, scheduler, None)
    from .cluster import connect

    with connect(scheduler, workers) as client:
        yield {"client": client}


def _check_backend(workers: int | None, scheduler: str | None, client: Any) -> None:
    if sum(x is not None for x in (workers, scheduler, client)) > 1:
        raise CampaignError("give at most one of --workers N (a local cluster) and --scheduler ADDRESS")
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise CampaignError(f"--workers needs at least 1 worker process, got {workers}")


Execute = Callable[[list[int]], Iterator[tuple[int, Any, float]]]


@contextmanager
def _executor(
    campaign: Campaign, workers: int | None, scheduler: str | None, client: Any
) -> Iterator[tuple[str, Execute]]:
    """(description, execute) for the chosen backend; a cluster started here is closed on leaving."""
    _check_backend(workers, scheduler, client)
    if workers is None and scheduler is None and client is None:
        yield "in-process", lambda todo: _in_process(campaign, todo)
        return
    from contextlib import ExitStack

    from .cluster import connect, describe, submit_all

    with ExitStack() as stack:
        if client is None:
            client = stack.enter_context(connect(scheduler, workers))
        if campaign.prepare is not None:
            campaign.prepare(campaign.params)
        yield describe(client, scheduler, workers), lambda todo: submit_all(client, campaign, todo)


def _in_process(c: Campaign, todo: list[int]) -> Iterator[tuple[int, Any, float]]:
    for i in todo:
        result, seconds = timed(c.chunk, c.params, i, c.chunks)
        yield i, result, seconds


def timed(chunk: Chunk, params: dict[str, Any], i: int, n: int) -> tuple[Any, float]:
    """``chunk(params, i, n)`` and its seconds (what a worker runs)."""
    t = time.perf_counter()
    result = chunk(params, i, n)
    return result, time.perf_counter() - t


def split(items: int, chunks: int, i: int) -> range:
    """Chunk i of ``chunks`` even, consecutive parts of range(items).

    >>> [list(split(5, 2, i)) for i in range(2)]
    [[0, 1], [2, 3, 4]]
    """
    return range(i * items // chunks, (i + 1) * items // chunks)


__all__ = [
    "DASK_FIX",
    "Campaign",
    "CampaignError",
    "MissingDaskError",
    "Outcome",
    "require_distributed",
    "run",
    "session",
    "split",
    "timed",
]
