"""``symnn check --campaign N``: N random networks from ``verify.strategies``, each against every oracle.

Network j is drawn by Hypothesis from a seed derived from (seed, j) alone, so chunk i (networks
``split(N, chunks, i)``) always checks the same networks, wherever it runs. The draw depends on the
Hypothesis version, which is therefore part of the campaign's parameters; the options of the
checks (``verify.options.CheckOptions``, default ``MODEL_CHECK``) travel as JSON in them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any

import hypothesis
import hypothesis.configuration
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hseed
from hypothesis.errors import HypothesisDeprecationWarning

from symnn.expand import scalar_count
from verify.boolean.errors import format_seconds
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

    with _quiet_hypothesis():
        grab()
    return drawn[-1]


def _hypothesis_home() -> Any:
    """Hypothesis's storage directory now, or None for a version without the constants cache."""
    try:
        return hypothesis.configuration.storage_directory(intent_to_write=False).home_directory
    except (TypeError, AttributeError):  # no intent_to_write or StorageDirectory: nothing is cached either
        return None


@contextlib.contextmanager
def _quiet_hypothesis() -> Iterator[None]:
    """Draw without writing in the user's directory and without a worker's false alarm.

    Hypothesis caches the constants of loaded modules under ``./.hypothesis``: a command run in
    the user's directory must not leave files there, so the storage is a private temporary
    directory for the draw (unless the user chose one with HYPOTHESIS_STORAGE_DIRECTORY). In a
    Dask worker other threads use ``random`` while a network is drawn, which Hypothesis reports
    as "Do not use the `random` module inside strategies"; the strategies do not use it.
    """
    with contextlib.ExitStack() as stack:
        home = None if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY") else _hypothesis_home()
        if home is not None:
            private = stack.enter_context(tempfile.TemporaryDirectory(prefix="symnn-hypothesis-"))
            hypothesis.configuration.set_hypothesis_home_dir(private)
            stack.callback(hypothesis.configuration.set_hypothesis_home_dir, home)
        stack.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", "Do not use the `random` module", HypothesisDeprecationWarning)
        yield


#: One network's check, measured on the project's 2-core machine with ``symnn check --campaign 20 --json``:
#: 209 s (compiles included) and 6.1 kB of report per network.
SECONDS_PER_NETWORK = 10.0
BYTES_PER_NETWORK = 6_000
#: The merged report is held in memory and printed: a campaign above this many bytes of it is refused.
MAX_REPORT_BYTES = 1 << 30


def estimate(networks: int) -> tuple[float, int]:
    """(seconds on one core, bytes of merged report) of a campaign of ``networks``, from the measured rates.

    >>> estimate(20)
    (200.0, 120000)
    """
    return networks * SECONDS_PER_NETWORK, networks * BYTES_PER_NETWORK


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
    which each network and its point are drawn. A campaign whose merged report would pass
    ``MAX_REPORT_BYTES`` (``estimate``) is refused before anything runs.
    """
    opts = make_options(options, overrides, MODEL_CHECK)
    if isinstance(networks, bool) or not isinstance(networks, int) or networks < 1:
        raise CampaignError(f"--campaign needs at least 1 network, got {networks!r}")
    if not isinstance(opts.seed, int):
        raise CampaignError("a campaign's seed must be an int (every network's seed derives from it), not a Generator")
    seconds, size = estimate(networks)
    if size > MAX_REPORT_BYTES:
        raise CampaignError(
            f"--campaign {networks}: about {size / 1e9:.3g} GB of report to hold and print and about "
            f"{format_seconds(seconds)} of checks on one core ({SECONDS_PER_NETWORK:g} s and "
            f"{BYTES_PER_NETWORK / 1e3:g} kB per network), above the limit of {MAX_REPORT_BYTES / 1e9:.3g} GB "
            f"({MAX_REPORT_BYTES // BYTES_PER_NETWORK} networks); run several campaigns with different --seed"
        )
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


__all__ = ["check_campaign", "check_chunk", "check_one", "draw_network", "estimate", "merge_check", "network_seed"]
