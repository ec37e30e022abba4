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
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from .cluster import connect, describe, submit_all
from .plan import (
    DASK_FIX,
    Campaign,
    CampaignError,
    Chunk,
    MissingDaskError,
    Outcome,
    Progress,
    require_distributed,
    split,
    timed,
)
from .store import ResultStore


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
    notes = tuple(store.redone) if store is not None else ()
    return Outcome(value, campaign.chunks, reused, time.perf_counter() - t0, chunk_seconds, where, parts, notes)


@contextmanager
def session(workers: int | None = None, scheduler: str | None = None) -> Iterator[dict[str, Any]]:
    """``run`` arguments for several campaigns sharing one cluster: ``{}`` (in-process) or ``{"client": ...}``."""
    if workers is None and scheduler is None:
        yield {}
        return
    _check_backend(workers, scheduler, None)
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


__all__ = [
    "DASK_FIX",
    "Campaign",
    "CampaignError",
    "Chunk",
    "MissingDaskError",
    "Outcome",
    "require_distributed",
    "run",
    "session",
    "split",
    "timed",
]
