"""Chunks on a Dask cluster: a local one (worker processes on loopback) or an existing scheduler.

A worker that dies in the middle of a chunk loses nothing: the scheduler hands the chunk to
another worker (a local cluster's nanny also restarts the dead one), and only a chunk whose
workers died ``distributed.scheduler.allowed-failures`` times (default 3) is given up, with
an error that says finished chunks are kept. Workers run one chunk at a time with the machine's
cores shared out as Numba threads.

Ctrl-C reaches a terminal's whole process group, local workers included. The workers of a local
cluster are started with SIGINT blocked (a signal mask is inherited by threads and by the
processes they start), so only this process sees it: it stops after the cluster has started and
closes the cluster itself, with distributed's loggers silenced and SIGINT held back again while
it closes, so an interrupted run ends in the command line's one line, with no worker tracebacks.
"""

from __future__ import annotations

import logging
import multiprocessing.resource_tracker
import os
import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
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
        with ExitStack() as stack:
            stack.callback(_close_quietly, client)
            yield client
        return
    if os.name == "posix":
        # multiprocessing's resource tracker unblocks SIGINT in the thread that first starts it (SIG_UNBLOCK, not
        # the old mask), which would be distributed's event loop, the thread that starts the workers: start it now
        multiprocessing.resource_tracker.ensure_running()
    with ExitStack() as stack:
        with sigint_held():  # the workers inherit the blocked SIGINT; a Ctrl-C meanwhile arrives after the start
            cluster = local_cluster(workers or 1)
            stack.callback(_close_quietly, cluster)
            client = distributed.Client(cluster)
            stack.callback(_close_quietly, client)
        yield client


@contextmanager
def sigint_held() -> Iterator[None]:
    """A Ctrl-C during the block interrupts only at its end; threads and processes started meanwhile never see it.

    SIGINT is blocked in this thread (a signal mask is inherited by the threads it starts and, through
    them, by their processes), and a Ctrl-C that another thread takes meanwhile (a BLAS or Numba
    thread that does not block it) is only recorded, then handed to the previous handler at the end.
    Outside the main thread, or when SIGINT's handler was not set from Python (an embedding
    application's), this does nothing; without ``signal.pthread_sigmask`` (Windows) there is no mask.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if hasattr(signal, "pthread_sigmask") else None
    try:
        yield
    finally:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending Ctrl-C is delivered, and recorded, now
        signal.signal(signal.SIGINT, previous)
        if caught and callable(previous):
            previous(signal.SIGINT, None)  # Python's default handler raises KeyboardInterrupt
        elif caught and previous == signal.SIG_DFL:
            signal.raise_signal(signal.SIGINT)


def _close_quietly(closable: Any) -> None:
    """Close a client or cluster with SIGINT held back and distributed's log records dropped.

    After a Ctrl-C, workers and connections go away while they are still talking; what distributed
    logs about that is noise, not news (a chunk's own failure is reported by ``submit_all``).
    """
    loggers = [logging.getLogger(name) for name in _noisy_loggers()]
    levels = [logger.level for logger in loggers]
    for logger in loggers:  # each one: distributed sets levels on some children (distributed.client, ...)
        logger.setLevel(logging.CRITICAL + 1)
    try:
        with sigint_held():
            closable.close()
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _noisy_loggers() -> list[str]:
    """The loggers of distributed and of the libraries it logs through, with every child logger that exists."""
    roots = ("distributed", "tornado", "asyncio", "bokeh")
    known = [name for name in logging.Logger.manager.loggerDict if name.split(".")[0] in roots]
    return sorted({*roots, *known})


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
        # the scheduler's HTTP server (health routes) on a free loopback port, not 8787: no "port in use" warning
        # when another cluster or a notebook's dashboard holds 8787
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        # distributed's own logging, in this process and the workers': even ERROR records are shutdown races
        # ("failed to communicate with scheduler during heartbeat" after a Ctrl-C); a chunk that fails, or whose
        # workers died, is reported by submit_all with the cause
        silence_logs=logging.CRITICAL,
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
