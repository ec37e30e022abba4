"""Campaigns of ``symnn boolean``: an exhaustive pass, threshold counts, the minimum-width survey.

Each splits its work into deterministic chunks (a range of input indices, of LP class
representatives, of search roots, of NPN classes) whose results merge exactly into what the
single-process function returns: counts add, margins take the minimum, the first mismatch is
the smallest index over all chunks, and rows concatenate in order.

>>> from verify.boolean.exhaustive import evaluate, random_network
>>> from verify.campaign import run
>>> net = random_network(10, 3, seed=1)
>>> merged = run(verify_campaign(net, chunks=4)).value
>>> merged.positives == evaluate(net)[0].positives
True
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

from verify.boolean.construct import SignNetwork
from verify.boolean.counts import (
    A000609,
    MAX_COUNT_N,
    CountResult,
    count_lp_part,
    count_regions_part,
    lp_classes,
)
from verify.boolean.errors import FunctionSpecError, TooLargeError, format_seconds
from verify.boolean.exhaustive import (
    Evaluation,
    Symmetric,
    _warm_up,
    block_size,
    estimate_seconds,
    evaluate_range,
)
from verify.boolean.minwidth import Distribution, min_width, npn_classes, width_rows
from verify.boolean.table import BooleanFunction

from .core import run
from .plan import Campaign, CampaignError, split

#: Estimated seconds of one chunk of an exhaustive pass on one core, when the number of chunks is not given:
#: a Dask task costs ~10 ms of scheduler and client time, so chunks stay well above that.
CHUNK_SECONDS = 0.1
#: At most this many chunks by default (files in --results, tasks on the scheduler); d = 40 gives ~3 s chunks.
MAX_CHUNKS = 4096
#: Chunks of a survey (count, min-width) when not given.
SURVEY_CHUNKS = 16


# -- exhaustive pass --------------------------------------------------------------------------------------
def _target_doc(target: Any) -> dict[str, Any] | None:
    if target is None:
        return None
    if isinstance(target, Symmetric):
        return {"symmetric": list(target.by_count), "d": target.d, "name": target.name}
    if isinstance(target, BooleanFunction):
        bits = np.packbits(target.table > 0, bitorder="little").tobytes()
        return {"table": base64.b64encode(bits).decode(), "d": target.d, "name": target.name}
    raise FunctionSpecError(f"a target is a BooleanFunction or a Symmetric, got {type(target).__name__}")


def _target(doc: dict[str, Any] | None) -> Any:
    if doc is None:
        return None
    if "symmetric" in doc:
        return Symmetric(doc["d"], tuple(doc["symmetric"]), doc["name"])
    bits = np.unpackbits(np.frombuffer(base64.b64decode(doc["table"]), np.uint8), bitorder="little")
    return BooleanFunction(doc["d"], np.where(bits[: 1 << doc["d"]] == 1, 1, -1), doc["name"])


def verify_campaign(net: Any, target: Any = None, chunks: int | None = None, max_seconds: float = 600.0) -> Campaign:
    """``evaluate(net, target)`` in ``chunks`` ranges of whole blocks of inputs.

    The default is a power of two with about ``CHUNK_SECONDS`` of estimated work per chunk and core (it
    depends on d and k only, so a restart elsewhere finds the same chunks). ``max_seconds`` bounds the
    estimated time of one chunk on one machine.
    """
    d = net.d
    blocks = (1 << d) // block_size(d)
    one_core = estimate_seconds(d, net.k, threads=1)
    bits = max(0, math.ceil(math.log2(one_core / CHUNK_SECONDS)))
    n = chunks if chunks is not None else min(blocks, MAX_CHUNKS, 1 << bits)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= blocks:
        raise CampaignError(
            f"--chunks {n}: a pass over 2^{d} inputs splits into 1 .. {blocks} chunks "
            f"(whole blocks of {block_size(d)} inputs)"
        )
    est = estimate_seconds(d, net.k) * math.ceil(blocks / n) / blocks
    if est > max_seconds:
        raise TooLargeError(
            f"one chunk of 2^{d} / {n} inputs with k = {net.k} hidden units would take about "
            f"{format_seconds(est)} (limit {format_seconds(max_seconds)}); use more --chunks or raise --max-seconds"
        )
    params = {"network": net.to_json(), "target": _target_doc(target)}
    return Campaign("verify", params, n, verify_chunk, merge_verify, prepare=warm_verify, label="verify")


def verify_chunk(params: dict[str, Any], i: int, n: int) -> dict[str, Any]:
    """Chunk i of n: ``evaluate_range`` on its blocks of inputs, as a dict."""
    net = SignNetwork.from_json(params["network"])
    block = block_size(net.d)
    part = split((1 << net.d) // block, n, i)
    ev = evaluate_range(net, _target(params["target"]), part.start * block, part.stop * block, max_seconds=math.inf)
    return {k: getattr(ev, k) for k in ev.__dataclass_fields__}


def merge_verify(params: dict[str, Any], parts: list[dict[str, Any]]) -> Any:
    """The ``Evaluation`` of the whole pass: sums, minima, the first mismatch over all chunks."""
    firsts = [p["first_mismatch"] for p in parts if p["first_mismatch"] >= 0]
    total = {k: sum(p[k] for p in parts) for k in ("inputs", "positives", "mismatches", "hidden_zero", "output_zero")}
    return Evaluation(
        d=parts[0]["d"],
        k=parts[0]["k"],
        first_mismatch=min(firsts, default=-1),
        hidden_margin=min(float(p["hidden_margin"]) for p in parts),
        output_margin=min(float(p["output_margin"]) for p in parts),
        exact=all(p["exact"] for p in parts),
        target=parts[0]["target"],
        seconds=sum(p["seconds"] for p in parts),
        **total,
    )


def warm_verify(params: dict[str, Any]) -> None:
    """Compile (or load) the exhaustive kernel here, so that local workers load it from the Numba cache."""
    for dt in (np.float32, np.float64):
        _warm_up(dt)


# -- threshold counts ---------------------------------------------------------------------------------------
def count_campaign(n: int, method: str, chunks: int | None = None) -> Campaign:
    """The number of threshold functions of n variables by ``"lp"`` or ``"regions"``, in chunks.

    lp: chunk i takes a consecutive range of the permutation classes of monotone functions;
    regions: the search roots r with r = i (mod chunks), which spreads the large subtrees.
    """
    if method not in MAX_COUNT_N:
        raise FunctionSpecError(f"unknown method {method!r}; use lp or regions")
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_COUNT_N[method]:
        raise TooLargeError(f"method {method!r} is run for 0 <= n <= {MAX_COUNT_N[method]}, got n = {n}")
    items = len(lp_classes(n)[0]) if method == "lp" else 1 << n
    c = chunks if chunks is not None else min(items, SURVEY_CHUNKS)
    if isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= items:
        raise CampaignError(f"--chunks {c}: the {method} count of n = {n} splits into 1 .. {items} chunks")
    params = {"n": n, "method": method}
    return Campaign("count", params, c, count_chunk, merge_count, warm_count, label=f"count-{method}-{n}")


def count_chunk(params: dict[str, Any], i: int, chunks: int) -> dict[str, Any]:
    n = params["n"]
    if params["method"] == "lp":
        part = split(len(lp_classes(n)[0]), chunks, i)
        return {"count": count_lp_part(n, part.start, part.stop)}
    return {"by_size": list(count_regions_part(n, range(i, 1 << n, chunks)))}


def merge_count(params: dict[str, Any], parts: list[dict[str, Any]]) -> tuple[int, tuple[int, ...] | None]:
    """(count, characteristic polynomial's |coefficients| for regions, else None)."""
    if params["method"] == "lp":
        return sum(p["count"] for p in parts), None
    whitney = (1, *(sum(col) for col in zip(*(p["by_size"] for p in parts), strict=True)))
    return sum(whitney), whitney


def warm_count(params: dict[str, Any]) -> None:
    if params["method"] == "regions":
        count_regions_part(1, [0])


def count_threshold(
    n: int, method: str = "both", chunks: int | None = None, outcomes: list[Any] | None = None, **run_kwargs: Any
) -> Any:
    """``verify.boolean.counts.count_threshold`` with each method run as a campaign (``run`` arguments).

    Each method's ``Outcome`` is appended to ``outcomes`` when given.
    """
    methods = ("lp", "regions") if method == "both" else (method,)
    campaigns = [count_campaign(n, m, chunks) for m in methods]  # bad input fails before any work
    counts: dict[str, int] = {}
    seconds: dict[str, float] = {}
    whitney = None
    for m, c in zip(methods, campaigns, strict=True):
        out = run(c, **run_kwargs)
        if outcomes is not None:
            outcomes.append(out)
        counts[m], w = out.value
        whitney = w or whitney
        seconds[m] = out.seconds
    res = CountResult(n, counts, seconds, whitney, A000609[n] if n < len(A000609) else None)
    res.count  # noqa: B018 - raises WitnessError if the methods disagree
    return res


# -- minimum-width survey -------------------------------------------------------------------------------------
def min_width_campaign(d: int, max_nodes: int = 10**8, chunks: int | None = None) -> Campaign:
    """``width_distribution(d)`` in chunks of NPN classes: chunk i takes classes i, i + chunks, ... (hard
    classes spread over the chunks)."""
    if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 4:
        raise TooLargeError(f"the distribution covers all 2^(2^d) functions; 0 <= d <= 4, got {d}")
    items = len(npn_classes(d))
    c = chunks if chunks is not None else min(items, SURVEY_CHUNKS)
    if isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= items:
        raise CampaignError(f"--chunks {c}: the {items} NPN classes of d = {d} split into 1 .. {items} chunks")
    params = {"d": d, "max_nodes": max_nodes}
    return Campaign("min-width", params, c, min_width_chunk, merge_min_width, warm_min_width, f"min-width-{d}")


def min_width_chunk(params: dict[str, Any], i: int, chunks: int) -> dict[str, Any]:
    d = params["d"]
    rows, counts, checked = width_rows(d, i, len(npn_classes(d)), params["max_nodes"], step=chunks)
    return {"rows": rows, "counts": {str(w): c for w, c in counts.items()}, "checked": checked}


def merge_min_width(params: dict[str, Any], parts: list[dict[str, Any]]) -> Any:
    """The ``Distribution``: rows in class order, counts and checks added; seconds = compute time."""
    rows: list[Any] = [None] * sum(len(p["rows"]) for p in parts)
    for i, p in enumerate(parts):  # chunk i holds classes i, i + chunks, ...
        rows[i :: len(parts)] = [(int(v), int(n), int(w), bool(x)) for v, n, w, x in p["rows"]]
    counts: dict[int, int] = {}
    for p in parts:
        for w, c in p["counts"].items():
            counts[int(w)] = counts.get(int(w), 0) + int(c)
    return Distribution(params["d"], rows, counts, sum(p["checked"] for p in parts), 0.0)


def warm_min_width(params: dict[str, Any]) -> None:
    min_width("parity:3", max_nodes=10**4)


__all__ = [
    "CHUNK_SECONDS",
    "MAX_CHUNKS",
    "SURVEY_CHUNKS",
    "count_campaign",
    "count_chunk",
    "count_threshold",
    "merge_count",
    "merge_min_width",
    "merge_verify",
    "min_width_campaign",
    "min_width_chunk",
    "verify_campaign",
    "verify_chunk",
    "warm_verify",
]
