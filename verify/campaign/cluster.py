"""Chunks on a Dask cluster: a local one (worker processes on loopback) or an existing scheduler.

A worker that dies in the middle of a chunk loses nothing: the scheduler hands the chunk to
another worker (a local cluster's nanny also restarts the dead one), and only a chunk whose
workers died ``distributed.scheduler.allowed-failures`` times (default 3) is given up, with
an error that says finished chunks are kept. Workers run one chunk at a time with the machine's
cores shared out as Numba threads.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from symnn.errors import SymnnError

from .plan import Campaign, CampaignError, require_distributed, timed

#: How long to keep trying to reach a scheduler.
CONNECT_TIMEOUT = "20s"


def worker_threads(workers: int) -> int:
    """Numba threads per local worker: the cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // max(workers, 1))


@contextmanager
def connect(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: to ``scheduler``, or to a new local cluster of ``workers`` processes."""
    distributed = require_distributed()
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            raise CampaignError(
                f"cannot reach the Dask scheduler at {scheduler!r} ({type(e).__name__}: {e}); "
                "start one with `dask scheduler` and workers with `dask worker ADDRESS`, or use --workers N"
            ) from None
        with client:
            yield client
        return
    n = workers or 1
    cluster = local_cluster(n)
    with cluster, distributed.Client(cluster) as client:
        yield client


def local_cluster(workers: int, threads: int | None = None) -> Any:
    """A LocalCluster of ``workers`` processes on 127.0.0.1, one chunk at a time each, no dashboard."""
    distributed = require_distributed()
    numba_threads = threads or worker_threads(workers)
    return distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,  # shutdown chatter; a lost worker still shows in the chunk's error
        env={"NUMBA_NUM_THREADS": str(numba_threads), "OMP_NUM_THREADS": "1"},
    )


def describe(client: Any, scheduler: str | None, workers: int | None) -> str:
    n = len(client.scheduler_info().get("workers", {}))
    if scheduler is not None:
        return f"Dask scheduler {scheduler} ({n} workers)"
    if workers is not None or getattr(client, "cluster", None) is not None:
        return f"local Dask cluster ({n} worker processes)"
    return f"Dask scheduler {client.scheduler.address} ({n} workers)"


def submit_all(client: Any, campaign: Campaign, todo: list[int]) -> Iterator[tuple[int, Any, float]]:
    """Submit every chunk in ``todo``; yield (i, result, seconds) as chunks finish, in any order."""
    distributed = require_distributed()
    run_id = uuid.uuid4().hex[:8]  # fresh keys: never a result the scheduler holds from another run
    n = len(todo)
    # one message for all chunks; the results come back with the completions (no request per chunk)
    batch = client.map(
        timed,
        [campaign.chunk] * n,
        [campaign.params] * n,
        todo,
        [campaign.chunks] * n,
        key=[f"symnn-{campaign.kind}-{run_id}-{i}" for i in todo],
    )
    futures = dict(zip(batch, todo, strict=True))
    pending = set(futures)
    try:
        for fut, value in distributed.as_completed(batch, with_results=True, raise_errors=False):
            i = futures[fut]
            pending.discard(fut)
            if fut.status != "finished":
                exc = fut.exception()
                if isinstance(exc, SymnnError):  # the work itself is refused: the same everywhere
                    raise exc
                raise CampaignError(
                    f"chunk {i} of the {campaign.kind} campaign failed: {type(exc).__name__}: {exc} "
                    "(chunks finished so far are kept in --results; run again to resume)"
                ) from exc
            result, seconds = value
            fut.release()
            yield i, result, seconds
    finally:
        if pending:
            client.cancel(list(pending))


__all__ = ["connect", "describe", "local_cluster", "submit_all", "worker_threads"]
