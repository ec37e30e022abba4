"""The one progress bar: a redrawn line sized to the terminal, plain lines on a pipe."""

from __future__ import annotations

import io
import os

from symnn.cli import progress as progress_module
from symnn.cli.progress import Progress, chunk_progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_pipe_each_step_is_one_plain_line():
    log = io.StringIO()
    with Progress(3, "checking", stream=log) as bar:
        for name in ("a", "b", "c"):
            bar.start(name)
            bar.advance()
    assert log.getvalue().splitlines() == ["[1/3] checking a", "[2/3] checking b", "[3/3] checking c"]
    assert "\r" not in log.getvalue()


def test_on_a_terminal_the_line_fits_its_width_and_is_blanked_at_the_end(monkeypatch):
    monkeypatch.setattr(progress_module.shutil, "get_terminal_size", lambda fallback: os.terminal_size((50, 20)))
    monkeypatch.setattr(progress_module, "REDRAW", 0.0)
    term = Terminal()
    bar = Progress(4, "train", stream=term)
    bar.update(2, "a message far too long to fit on a fifty column terminal line, by a wide margin")
    drawn = term.getvalue().split("\r")[-1]
    assert 0 < len(drawn) <= 49 and "2/4" in drawn and "#" in drawn
    bar.close()
    assert term.getvalue().endswith("\r") and term.getvalue().split("\r")[-2].strip() == ""


def test_disabled_prints_nothing():
    log = io.StringIO()
    with Progress(2, "x", stream=log, enabled=False) as bar:
        bar.start("a")
        bar.advance("b")
    assert log.getvalue() == ""


def test_campaign_chunks_report_their_total():
    log = io.StringIO()
    bar = Progress(None, "chunks", stream=log)
    say = chunk_progress(bar)
    say(1, 4)
    say(4, 4)
    assert log.getvalue().splitlines() == ["[1/4] chunks 1 of 4 chunks done", "[4/4] chunks 4 of 4 chunks done"]
