"""Verification campaigns: long checks split into deterministic chunks, run here or on a Dask cluster.

A ``Campaign`` is ``chunks`` pieces of work and a merge; ``run(campaign, results=DIR, workers=N |
scheduler=ADDRESS)`` computes the chunks not yet saved in DIR, saves each as it finishes, and merges
them in order, so the answer is the single-process one however the chunks ran, and a restart
skips finished chunks. Dask (``pip install "symnn[dask]"``) is imported only when a cluster is used.

Campaigns: ``verify_campaign`` (an exhaustive pass of a sign network), ``count_campaign`` and
``count_threshold`` (threshold counts), ``min_width_campaign`` (the minimum-width survey) and
``check_campaign`` (random networks against every oracle). On the command line::

    symnn boolean verify parity:30 --random 30 24 --workers 2 --results runs/
    symnn boolean count 6 --method regions --scheduler tcp://10.0.0.5:8786 --results runs/
    symnn boolean min-width --distribution 4 --workers 2
    symnn check --campaign 200 --workers 2 --results runs/    # rerun the same line to resume

The modules, lowest first: ``plan`` (the ``Campaign`` record, ``Outcome``, errors, ``split``),
``store`` (the results directory) and ``cluster`` (Dask), which import only ``plan``; ``core``
(``run``, ``session``) on top of those three; ``boolean`` and ``gradients`` (the campaigns).
"""

from __future__ import annotations

from .boolean import count_campaign, count_threshold, min_width_campaign, verify_campaign
from .core import run, session
from .gradients import check_campaign, draw_network
from .plan import DASK_FIX, Campaign, CampaignError, MissingDaskError, Outcome, require_distributed, split
from .store import ResultStore

__all__ = [
    "DASK_FIX",
    "Campaign",
    "CampaignError",
    "MissingDaskError",
    "Outcome",
    "ResultStore",
    "check_campaign",
    "count_campaign",
    "count_threshold",
    "draw_network",
    "min_width_campaign",
    "require_distributed",
    "run",
    "session",
    "split",
    "verify_campaign",
]
