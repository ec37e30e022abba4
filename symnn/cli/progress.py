"""One progress bar for every long job of the command line, on stderr.

On a terminal it is one line redrawn in place, as wide as the terminal; on a pipe or a file (CI
logs) it writes plain lines instead, one per step that says something new, so a log never fills
with carriage returns. ``--quiet`` turns it off (``enabled=False``).

>>> import io
>>> log = io.StringIO()
>>> with Progress(2, "checking", stream=log) as bar:
...     bar.start("mlp")
...     bar.advance()
...     bar.start("cnn")
...     bar.advance("cnn: ok")
>>> print(log.getvalue(), end="")
[1/2] checking mlp
[2/2] checking cnn
[2/2] checking cnn: ok
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

__all__ = ["Progress", "chunk_progress"]

#: Seconds between two redraws of the terminal line.
REDRAW = 0.1


class Progress:
    """``total`` steps (None: unknown) of a job named ``label``; ``advance``/``update`` move it, ``close`` ends it."""

    def __init__(self, total: int | None, label: str, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total, self.label, self.enabled = total, label, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.message = ""
        self.t0 = time.perf_counter()
        self._drawn = 0.0
        self._width = 0  # of the last terminal line, to blank it on close

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def start(self, message: str) -> None:
        """Step ``done + 1`` begins: on a pipe, one line ``[k/N] label message``."""
        self.message = message
        if not self.enabled:
            return
        if self.tty:
            self._draw_line()
        else:
            print(self._plain(self.done + 1), file=self.stream, flush=True)

    def advance(self, message: str = "", steps: int = 1) -> None:
        """``steps`` more steps done; ``message`` says what was done (or is being done)."""
        self.update(self.done + steps, message)

    def update(self, done: int | None = None, message: str | None = None) -> None:
        """Set the steps done and/or the message, and show them."""
        changed = bool(message) and message != self.message
        if done is not None:
            self.done = done
        if message is not None:
            self.message = message
        if not self.enabled:
            return
        if self.tty:
            now = time.perf_counter()
            if now - self._drawn >= REDRAW or (self.total is not None and self.done >= self.total):
                self._drawn = now
                self._draw_line()
        elif changed:
            print(self._plain(), file=self.stream, flush=True)

    def close(self) -> None:
        """Blank the terminal line (the job's own output follows); nothing on a pipe."""
        if self.enabled and self.tty and self._width:
            print("\r" + " " * self._width + "\r", end="", file=self.stream, flush=True)
            self._width = 0

    # -- rendering ------------------------------------------------------------------------------------
    def _plain(self, step: int | None = None) -> str:
        step = self.done if step is None else step
        count = f"[{step}/{self.total}]" if self.total is not None else f"[{step}]"
        return " ".join(s for s in (count, self.label, self.message) if s)

    def _draw_line(self) -> None:
        columns = shutil.get_terminal_size((80, 24)).columns - 1
        elapsed = f"{time.perf_counter() - self.t0:5.1f}s"
        head = f"{self.label} [{self.done}] {elapsed} "
        if self.total:
            width = max(10, min(40, columns // 3))
            filled = min(width, int(width * self.done / self.total))
            head = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {elapsed} "
        line = (head + self.message)[:columns]
        print("\r" + line.ljust(self._width), end="", file=self.stream, flush=True)
        self._width = len(line)


def chunk_progress(bar: Progress) -> Callable[[int, int], None]:
    """A campaign's ``progress(done, total)`` callback (``verify.campaign.run``) drawn on ``bar``."""

    def say(done: int, total: int) -> None:
        bar.total = total
        bar.update(done, f"{done} of {total} chunks done")

    return say
