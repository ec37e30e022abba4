"""Fault injection for campaign tests: a chunk that stops mid-way once, so a test can kill its worker."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from .plan import Chunk


def pause_once(marker_dir: str, which: int, chunk: Chunk, params: dict[str, Any], i: int, n: int) -> Any:
    """Run ``chunk``; but chunk ``which``, until ``marker_dir/released`` exists, first writes its process id
    to ``marker_dir/started`` and sleeps (the test kills that process, then creates ``released``).

    Every attempt at chunk ``which`` appends its process id to ``marker_dir/runs``.
    """
    root = Path(marker_dir)
    if i == which:
        with open(root / "runs", "a") as log:  # one line per attempt: the test sees the retry
            log.write(f"{os.getpid()}\n")
    if i == which and not (root / "released").exists():
        (root / f"started.{os.getpid()}.tmp").write_text(str(os.getpid()))
        os.replace(root / f"started.{os.getpid()}.tmp", root / "started")
        deadline = time.monotonic() + 120
        while not (root / "released").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return chunk(params, i, n)
