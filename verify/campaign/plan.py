"""A campaign's plan: the ``Campaign`` record, its outcome, its errors and the chunk helpers.

Shared by the runner (``core``), the results directory (``store``) and the cluster (``cluster``),
and imports none of them. ``distributed`` is imported only by ``require_distributed``, when a
cluster is used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from symnn.errors import SymnnError

from ..report import html_table

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
    notes: tuple[str, ...] = ()  # e.g. saved chunk files that were not trusted and redone

    def _repr_html_(self) -> str:
        ok = getattr(self.value, "ok", None)
        value = self.value._repr_html_() if hasattr(self.value, "_repr_html_") else None
        rows = [
            (["value", "(below)" if value else repr(self.value)[:200]], ok if isinstance(ok, bool) else None),
            (["chunks", f"{self.chunks} ({self.reused} read back)"], None),
            (["wall seconds", f"{self.seconds:.2f}"], None),
            (["chunk seconds", f"{self.chunk_seconds:.2f}"], None),
            (["where", self.where], None),
        ]
        rows += [(["note", n], None) for n in self.notes]
        table = html_table(["campaign", ""], rows, caption="campaign outcome", ok=ok if isinstance(ok, bool) else None)
        return table + (value or "")


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
    "Chunk",
    "Merge",
    "MissingDaskError",
    "Outcome",
    "Progress",
    "require_distributed",
    "split",
    "timed",
]
