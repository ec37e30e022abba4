"""Reports of gradient checks: one ``Row`` per (path, oracle), rendered as a table or as JSON.

A row's verdict is one of

* ``pass`` -- at least one comparison, none above its tolerance;
* ``FAIL`` -- some comparison above its tolerance (``failures`` says where: a direction, or a
  parameter name and index once located, with both values, the error and the tolerance);
* ``error`` -- the path or the oracle raised (the note has the message); counts as a failure;
* ``kink`` -- nothing compared: every step of the oracle straddled a kink;
* ``skip`` -- the pair does not apply (the note says why, e.g. a graph too large for a reference).

A report is ``ok`` when no row fails or errs, something was compared, and every checked
path was compared at least once (a path whose rows are all ``kink`` is unverified).
Each compared value is one ``Comparison`` (gradient checks and kernel certificates alike), and
``VerificationError`` is the one exception for something that disagrees with its oracles.

>>> r = Report("demo", (Row("executor reverse", "fd", "pass", 3, 1e-12, 1e-6),))
>>> r.ok, r.compared
(True, 3)
>>> Report("empty", ()).ok
False
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from symnn.errors import SymnnError

FAILING = ("FAIL", "error")
#: Disagreements shown per row in the text table (the JSON has all of them).
SHOWN = 3


@dataclass(frozen=True)
class Comparison:
    """One compared value: ``got`` from the thing checked, ``expected`` from ``oracle``; ok when error <= tolerance.

    ``where`` is ``"direction k"``, ``"name[i,j]"`` or what a certificate compared (``"grad:w vs executor"``).

    >>> c = Comparison.relative("grad:w", [1.0, 2.0], [1.0, 2.000001], 1e-9, "executor")
    >>> c.ok, c.expected, f"{c.error:.1e}"
    (False, 2.000001, '5.0e-07')
    """

    where: str
    got: float
    expected: float
    error: float
    tolerance: float
    oracle: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.error <= self.tolerance)  # NaN fails

    @classmethod
    def relative(cls, where: str, got: Any, expected: Any, tolerance: float, oracle: str = "") -> Comparison:
        """Arrays compared by max |got - expected| / max(max |expected|, 1e-12); the values at the worst entry.

        Arrays of different shapes have error inf.
        """
        g, e = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
        if g.shape != e.shape:
            return cls(where, math.nan, math.nan, math.inf, tolerance, oracle)
        if g.size == 0:
            return cls(where, 0.0, 0.0, 0.0, tolerance, oracle)
        diff = np.abs(g - e)
        worst = int(np.argmax(np.where(np.isnan(diff), np.inf, diff)))
        scale = max(float(np.max(np.abs(e))), 1e-12)
        error = float(np.max(diff) / scale)
        return cls(where, float(g.flat[worst]), float(e.flat[worst]), error, tolerance, oracle)

    def describe(self) -> str:
        rel = "<=" if self.ok else ">"
        return (
            f"at {self.where}: got {self.got:.9g}, expected {self.expected:.9g}, "
            f"error {_num(self.error)} {rel} tolerance {_num(self.tolerance)}"
        )

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("got", "expected", "error", "tolerance"):
            d[key] = _json_float(d[key])
        return d


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class Row:
    """The outcome of one derivative path against one oracle."""

    path: str
    oracle: str
    verdict: str
    compared: int = 0
    max_error: float | None = None
    tolerance: float | None = None
    note: str = ""
    failures: tuple[Comparison, ...] = ()
    model: str = ""

    def __post_init__(self) -> None:
        # notes often carry exception text (Numba's has colour codes and many lines): keep one plain line
        object.__setattr__(self, "note", " ".join(_ANSI.sub("", self.note).split()))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["failures"] = [c.to_json() for c in self.failures]
        for key in ("max_error", "tolerance"):
            d[key] = _json_float(d[key])
        return d


@dataclass(frozen=True)
class Report:
    """Every row of a check, with what was checked (``info``: point seed, dtype, directions, ...)."""

    name: str
    rows: tuple[Row, ...]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def compared(self) -> int:
        return sum(r.compared for r in self.rows)

    @property
    def failures(self) -> list[Row]:
        return [r for r in self.rows if r.verdict in FAILING]

    @property
    def unverified(self) -> list[str]:
        """Paths that some oracle should have checked but none compared (all kinks)."""
        paths: dict[str, list[Row]] = {}
        for r in self.rows:
            paths.setdefault(r.path, []).append(r)
        return [
            p
            for p, rows in paths.items()
            if not any(r.compared for r in rows) and any(r.verdict not in ("skip",) for r in rows)
        ]

    @property
    def ok(self) -> bool:
        return self.compared > 0 and not self.failures and not self.unverified

    def summary(self) -> str:
        if self.ok:
            return f"{self.name}: OK, {self.compared} comparisons, every path agrees with every oracle"
        reasons = []
        if self.failures:
            reasons.append(f"{len(self.failures)} disagreeing (path, oracle) pairs")
        if self.unverified:
            reasons.append(f"nothing compared for {', '.join(self.unverified)}")
        if self.compared == 0:
            reasons.append("nothing was compared at all")
        return f"{self.name}: FAILED: {'; '.join(reasons)}"

    def table(self) -> str:
        return render([(self.name, self) for _ in (0,)], with_model=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "compared": self.compared,
            "unverified": self.unverified,
            "info": self.info,
            "rows": [r.to_json() for r in self.rows],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)

    def __str__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        rows = [
            (
                [r.path, r.oracle, str(r.compared), _num(r.max_error), _num(r.tolerance), r.verdict, r.note],
                _ok(r.verdict),
            )
            for r in self.rows
        ]
        return html_table(COLUMNS[1:], rows, caption=self.summary(), ok=self.ok)


class VerificationError(SymnnError, AssertionError):
    """A derivative or a kernel that disagrees with its oracles; ``report`` is the check's report, when there is one."""

    def __init__(self, message: str, report: Report | None = None) -> None:
        super().__init__(message)
        self.report = report


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    if x == 0:
        return "0"
    if math.isnan(x) or math.isinf(x):
        return str(x)
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


def _ok(verdict: str) -> bool | None:
    """A row's mark: True passed, False failed or erred, None neither (kink, skip)."""
    return False if verdict in FAILING else True if verdict == "pass" else None


#: The cell style of a row marked passed, failed, or neither.
_MARKS = {True: ("#e6f4e6", "\u2713"), False: ("#fbe3e3", "\u2717"), None: ("", "")}


def html_table(
    columns: Sequence[str], rows: Iterable[tuple[Sequence[str], bool | None]], caption: str = "", ok: bool | None = None
) -> str:
    """An HTML table for Jupyter: each row marked passed (green, \u2713), failed (red, \u2717) or neither.

    >>> print(html_table(["n", "count"], [(["4", "1882"], True)], caption="counts", ok=True))  # doctest: +ELLIPSIS
    <table>
    <caption ...>&#x2713; counts</caption>
    <tr><th></th><th>n</th><th>count</th></tr>
    <tr style="background:#e6f4e6"><td>\u2713</td><td>4</td><td>1882</td></tr>
    </table>
    """
    out = ["<table>"]
    if caption:
        sign = {True: "&#x2713; ", False: "&#x2717; ", None: ""}[ok]
        color = {True: "#1a7f37", False: "#cf222e", None: "inherit"}[ok]
        out.append(
            f'<caption style="caption-side:top; text-align:left; color:{color}">{sign}{html.escape(caption)}</caption>'
        )
    out.append("<tr><th></th>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>")
    for cells, passed in rows:
        bg, mark = _MARKS[passed]
        style = f' style="background:{bg}"' if bg else ""
        out.append(f"<tr{style}><td>{mark}</td>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _json_float(x: float | None) -> float | str | None:
    if x is None:
        return None
    return x if math.isfinite(x) else str(x)


COLUMNS = ("model", "path", "oracle", "compared", "max error", "tolerance", "verdict", "note")


def render(reports: Iterable[tuple[str, Report]], with_model: bool = True) -> str:
    """One table over several reports (one row per model, path and oracle), then the disagreements."""
    reports = list(reports)
    cols = COLUMNS if with_model else COLUMNS[1:]
    lines: list[Sequence[str]] = []
    details: list[str] = []
    for name, rep in reports:
        for r in rep.rows:
            cells = [r.path, r.oracle, str(r.compared), _num(r.max_error), _num(r.tolerance), r.verdict, r.note]
            lines.append([name, *cells] if with_model else cells)
            if r.failures:
                dirs = [c for c in r.failures if c.where.startswith("direction")]
                coords = [c for c in r.failures if not c.where.startswith("direction")]
                what = f"{len(dirs)} of {r.compared} directions disagree" if dirs else "coordinates disagree"
                head = f"{name}: {r.path} vs {r.oracle}: {what}"
                details.append(head + (f"; {r.note}" if r.note else ""))
                details += [f"    {c.describe()}" for c in (coords or dirs)[:SHOWN]]
    widths = [max(len(h), *(len(row[i]) for row in lines)) if lines else len(h) for i, h in enumerate(cols)]
    widths[-1] = len(cols[-1])  # the note is free text at the end

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [fmt(cols), fmt(["-" * w for w in widths])]
    out += [fmt(row) for row in lines]
    if details:
        out += ["", "disagreements:"] + [f"  {d}" for d in details]
    out += [""] + [rep.summary() for _, rep in reports]
    return "\n".join(out)


__all__ = ["FAILING", "Comparison", "Report", "Row", "VerificationError", "html_table", "render"]
