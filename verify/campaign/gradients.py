"""``symnn check --campaign N``: N random networks from ``verify.strategies``, each against every oracle.

Network j is drawn by Hypothesis from a seed derived from (seed, j) alone, so chunk i (networks
``split(N, chunks, i)``) always checks the same networks, wherever it runs. The draw depends on the
Hypothesis version, which is therefore part of the campaign's parameters.
"""

from __future__ import annotations

import hashlib
from typing import Any

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
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    from verify.strategies import networks

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
    @given(networks(max_blocks=max_blocks))
    def grab(model: Any) -> None:
        drawn.append(model)

    grab()
    return drawn[-1]


def check_campaign(
    networks: int,
    *,
    seed: int = 0,
    chunks: int | None = None,
    oracles: tuple[str, ...] | None = None,
    paths: tuple[str, ...] | None = None,
    modes: tuple[str, ...] | None = None,
    directions: int = 3,
    exact_max_scalars: int | None = None,
    max_blocks: int = 3,
) -> Campaign:
    """Check ``networks`` random networks (all paths, modes and oracles by default), one chunk per few."""
    import hypothesis

    from verify.check import EXACT_MAX_SCALARS
    from verify.gradients import IMPLEMENTATIONS, MODES
    from verify.tolerance import ORACLES

    if isinstance(networks, bool) or not isinstance(networks, int) or networks < 1:
        raise CampaignError(f"--campaign needs at least 1 network, got {networks!r}")
    c = chunks if chunks is not None else networks
    if isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= networks:
        raise CampaignError(f"--chunks {c}: a campaign of {networks} networks splits into 1 .. {networks} chunks")
    params = {
        "networks": networks,
        "seed": seed,
        "oracles": list(oracles or ORACLES),
        "paths": list(paths or IMPLEMENTATIONS),
        "modes": list(modes or MODES),
        "directions": directions,
        "exact_max_scalars": EXACT_MAX_SCALARS if exact_max_scalars is None else exact_max_scalars,
        "max_blocks": max_blocks,
        "hypothesis": hypothesis.__version__,
    }
    return Campaign("check", params, c, check_chunk, merge_check, label="check")


def check_one(params: dict[str, Any], j: int) -> dict[str, Any]:
    """Network j against every oracle: its report as JSON, without timings (they differ run to run)."""
    from symnn.expand import scalar_count
    from verify.check import _merge
    from verify.gradients import exact_rows, gradcheck
    from verify.report import Report

    model = draw_network(params["seed"], j, params["max_blocks"])
    name = f"#{j} {model.name}"
    graph = model.graph()
    modes = tuple(params["modes"])
    numeric = tuple(o for o in params["oracles"] if o != "exact")
    point_seed = network_seed(params["seed"], j)
    report = (
        gradcheck(
            graph,
            paths=params["paths"],
            modes=modes,
            oracles=numeric,
            directions=params["directions"],
            seed=point_seed,
            name=name,
        )
        if numeric
        else Report(name, (), {"seed": point_seed})
    )
    if "exact" in params["oracles"] and "symbolic" in params["paths"]:
        if scalar_count(graph) <= params["exact_max_scalars"]:
            rows = exact_rows(graph, ("symbolic",), modes, params["exact_max_scalars"], seed=point_seed)
            report = _merge(report, rows, None)
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
