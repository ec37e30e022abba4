"""``symnn check --campaign N``: N random networks from ``verify.strategies``, each against every oracle.

Network j is drawn by Hypothesis from a seed derived from (seed, j) alone, so chunk i (networks
``split(N, chunks, i)``) always checks the same networks, wherever it runs. The draw depends on the
Hypothesis version, which is therefore part of the campaign's parameters; the options of the
checks (``verify.options.CheckOptions``, default ``MODEL_CHECK``) travel as JSON in them.
"""

from __future__ import annotations

import hashlib
from typing import Any

import hypothesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hseed

from symnn.expand import scalar_count
from verify.gradients import exact_rows, gradcheck, with_exact_rows
from verify.options import MODEL_CHECK, CheckOptions, make_options
from verify.report import Report
from verify.strategies import networks as network_strategy

from .core import Campaign, CampaignError, split


def network_seed(seed: int, j: int) -> int:
    """A 32-bit seed for network j of a campaign with ``seed``.

    >>> network_seed(0, 1) == network_seed(0, 1) != network_seed(1, 1)
    True
    """
    return int.from_bytes(hashlib.sha256(f"symnn-campaign:{seed}:{j}".encode()).digest()[:4], "little")


def draw_network(seed: int, j: int, max_blocks: int = 3) -> Any:
    """Network j of a campaign (a ``symnn.zoo.Model``), reproducibly.

    Hypothesis tries the simplest example first, whatever the seed: the second one is the random draw.
    """
    drawn: list[Any] = []

    @hseed(network_seed(seed, j))
    @settings(
        max_examples=2,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(network_strategy(max_blocks=max_blocks))
    def grab(model: Any) -> None:
        drawn.append(model)

    grab()
    return drawn[-1]


def check_campaign(
    networks: int,
    options: CheckOptions | None = None,
    *,
    chunks: int | None = None,
    max_blocks: int = 3,
    **overrides: Any,
) -> Campaign:
    """Check ``networks`` random networks with ``options`` (default: ``MODEL_CHECK``), one chunk per few.

    Keyword ``overrides`` change single options; ``seed`` (an int) is the campaign's seed, from
    which each network and its point are drawn.
    """
    opts = make_options(options, overrides, MODEL_CHECK)
    if isinstance(networks, bool) or not isinstance(networks, int) or networks < 1:
        raise CampaignError(f"--campaign needs at least 1 network, got {networks!r}")
    if not isinstance(opts.seed, int):
        raise CampaignError("a campaign's seed must be an int (every network's seed derives from it), not a Generator")
    c = chunks if chunks is not None else networks
    if isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= networks:
        raise CampaignError(f"--chunks {c}: a campaign of {networks} networks splits into 1 .. {networks} chunks")
    params = {
        "networks": networks,
        "options": opts.to_mapping(),
        "max_blocks": max_blocks,
        "hypothesis": hypothesis.__version__,
    }
    return Campaign("check", params, c, check_chunk, merge_check, label="check")


def check_one(params: dict[str, Any], j: int) -> dict[str, Any]:
    """Network j against every oracle: its report as JSON, without timings (they differ run to run)."""
    base = CheckOptions.from_mapping(params["options"])
    model = draw_network(base.int_seed, j, params["max_blocks"])
    name = f"#{j} {model.name}"
    graph = model.graph()
    opts = base.replace(seed=network_seed(base.int_seed, j))
    numeric = tuple(o for o in opts.oracles if o != "exact")
    report = (
        gradcheck(graph, None, opts.replace(oracles=numeric), name=name)
        if numeric
        else Report(name, (), {"seed": opts.int_seed})
    )
    if "exact" in opts.oracles and "symbolic" in opts.paths and scalar_count(graph) <= opts.exact_max_scalars:
        report = with_exact_rows(report, exact_rows(graph, opts.replace(paths=("symbolic",))))
    doc = report.to_json()
    doc["info"] = {k: v for k, v in doc["info"].items() if k != "seconds"}
    return {"index": j, "network": model.name, "report": doc}


def check_chunk(params: dict[str, Any], i: int, chunks: int) -> list[dict[str, Any]]:
    """The networks of chunk i, in order."""
    return [check_one(params, j) for j in split(params["networks"], chunks, i)]


def merge_check(params: dict[str, Any], parts: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every network's result, by index."""
    return [doc for part in parts for doc in part]


__all__ = ["check_campaign", "check_chunk", "check_one", "draw_network", "merge_check", "network_seed"]
