"""The one progress bar: a redrawn line sized to the terminal, plain lines on a pipe."""

from __future__ import annotations

import io
import json
import os

from symnn.cli import main
from symnn.cli import progress as progress_module
from symnn.cli import train as train_cli
from symnn.cli.progress import Progress, chunk_progress
from symnn.cli.train import progress_hook
from symnn.train import Step


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


# -- symnn train: the trainer's on_step hook drawn on the bar ----------------------------------------------
def test_train_draws_one_plain_line_per_evaluation_on_stderr_and_keeps_json_clean(capsys):
    argv = ["train", "mlp:64-8-10", "--steps", "40", "--batch", "32", "--eval-every", "10", "--json"]
    assert main(argv) in (0, 1)  # 40 steps: the verdict may go either way
    out, err = capsys.readouterr()
    assert json.loads(out)["final"]["step"] == 40  # stdout holds the JSON document only
    lines = err.splitlines()
    assert lines[0] == "[0/40] training compiling the kernels of mlp:64-8-10"
    assert [line.split()[0] for line in lines[1:]] == ["[10/40]", "[20/40]", "[30/40]", "[40/40]"]
    assert all("batch loss" in line and "test accuracy" in line for line in lines[1:])


def test_train_quiet_writes_nothing_on_stderr(capsys):
    assert main(["train", "mlp:64-8-10", "--steps", "5", "--batch", "32", "--quiet"]) in (0, 1)
    assert capsys.readouterr().err == ""


def test_train_hook_on_a_terminal_redraws_at_most_every_redraw_seconds(monkeypatch):
    monkeypatch.setattr(progress_module.shutil, "get_terminal_size", lambda fallback: os.terminal_size((150, 20)))
    clock = iter(range(10**6))  # every call of the clock (the one time module) advances it by 1 ms
    monkeypatch.setattr(train_cli.time, "perf_counter", lambda: next(clock) / 1000)
    term = Terminal()
    bar = Progress(1000, "training", stream=term)
    hook = progress_hook(bar)
    for t in range(1, 1001):
        hook(Step(t, 1000, 0.5, t / 1000, {"step": t, "test_accuracy": 0.9} if t % 500 == 0 else None))
    draws = term.getvalue().split("\r")[1:]
    # 1000 steps over about 2 s of this clock: tens of redraws, not one per step; the last shows the end
    assert 5 <= len(draws) <= 60, len(draws)
    assert "1000/1000" in draws[-1] and "test accuracy 0.900" in draws[-1]
