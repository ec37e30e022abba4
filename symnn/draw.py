"""A Graph drawn as the notes draw computational graphs: leaves on the left, one box per op, outputs.

Leaves are the parameters (shaded) and inputs (plain), each op is a box named like its binding in
``symnn.printing`` (``v1 = einsum``), and every output is a node of its own at the end of an arrow.
``to_dot`` writes Graphviz DOT; ``to_svg`` uses the ``dot`` program when it is installed and
otherwise lays the graph out itself, no dependency: a node's column is its topological level
(1 + the deepest argument), so the drawing reads left to right in the order values are computed.

>>> from symnn.ir import Builder
>>> b = Builder()
>>> x, w = b.input("x", (2, 3)), b.param("W", (4, 3))
>>> print(to_dot(b.build((x @ w.T).map(lambda v: v * 2))))  # doctest: +ELLIPSIS
digraph G {
  rankdir=LR;
  ...
  n2 [label="v1 = einsum\\nij,kj->ik\\n(2, 4)", shape=box];
  n3 [label="out = 2*v1\\n(2, 4)", shape=box];
  o0 [label="out", shape=doubleoctagon];
  ...
}
"""

from __future__ import annotations

import html
import shutil
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sympy as sp

from .errors import SymnnError
from .ops import Const, Einsum, Elementwise, Input, Op

if TYPE_CHECKING:
    from .ir import Graph

__all__ = ["DrawError", "Drawing", "dot_available", "layout", "node_names", "to_dot", "to_svg"]


class DrawError(SymnnError, RuntimeError):
    """Graphviz's ``dot`` failed on a graph's DOT text."""


@dataclass(frozen=True)
class Box:
    """One drawn node: its kind (``param``, ``input``, ``const``, ``op``, ``output``), label and place."""

    key: str
    kind: str
    label: tuple[str, ...]
    column: int
    row: int


def node_names(graph: Graph) -> list[str]:
    """Each node's name as ``symnn.printing`` writes its equations: leaves and outputs by name, then v1, c1, ..."""
    first_output: dict[int, str] = {}
    for o, name in zip(graph.outputs, graph.output_names, strict=True):
        first_output.setdefault(o, name)
    taken = {n.op.name for n in graph.leaves()} | set(graph.output_names)  # type: ignore[attr-defined]
    counters = {"v": 0, "c": 0}

    def fresh(prefix: str) -> str:
        while True:
            counters[prefix] += 1
            if f"{prefix}{counters[prefix]}" not in taken:
                return f"{prefix}{counters[prefix]}"

    names = []
    for i, n in enumerate(graph.nodes):
        if isinstance(n.op, Input):
            names.append(n.op.name)
        elif i in first_output:
            names.append(first_output[i])
        elif isinstance(n.op, Const):
            names.append(sp.sstr(sp.sympify(n.op.values[0])) if len(n.op.values) == 1 else fresh("c"))
        else:
            names.append(fresh("v"))
    return names


def _op_label(op: Op, args: list[str]) -> str:
    """What the box says after ``v1 =``: the function with its arguments named, or the op's kind."""
    if isinstance(op, Einsum):
        return f"einsum\n{op.spec}"
    if isinstance(op, Elementwise):
        named = {v: sp.Symbol(a) for v, a in zip(op.fn.variables, args, strict=True)}
        body = sp.sstr(op.fn.expr.xreplace(named), full_prec=False)
        return body if len(body) <= 32 else body[:29] + "..."
    return f"{type(op).__name__.lower()}({', '.join(args)})"


def layout(graph: Graph) -> tuple[list[Box], list[tuple[str, str]]]:
    """The boxes (column = topological level, row = order within it) and the edges between their keys."""
    names = node_names(graph)
    level: list[int] = []
    boxes: list[tuple[str, str, tuple[str, ...], int]] = []
    for i, n in enumerate(graph.nodes):
        level.append(1 + max((level[a] for a in n.args), default=-1))
        if isinstance(n.op, Input):
            boxes.append((f"n{i}", n.op.kind, (n.op.name, str(n.shape)), level[i]))
        elif isinstance(n.op, Const):
            boxes.append((f"n{i}", "const", (f"{names[i]} = const", str(n.shape)), level[i]))
        else:
            head, *rest = _op_label(n.op, [names[a] for a in n.args]).split("\n")
            boxes.append((f"n{i}", "op", (f"{names[i]} = {head}", *rest, str(n.shape)), level[i]))
    edges = [(f"n{a}", f"n{i}") for i, n in enumerate(graph.nodes) for a in dict.fromkeys(n.args)]
    last = max(level, default=0) + 1
    for k, (o, name) in enumerate(zip(graph.outputs, graph.output_names, strict=True)):
        boxes.append((f"o{k}", "output", (name,), last))
        edges.append((f"n{o}", f"o{k}"))
    rows: dict[int, int] = {}
    out = []
    for key, kind, label, col in boxes:
        rows[col] = rows.get(col, -1) + 1
        out.append(Box(key, kind, label, col, rows[col]))
    return out, edges


_DOT_STYLE = {
    "param": 'shape=box, style="rounded,filled", fillcolor="#dde8f5"',
    "input": 'shape=box, style="rounded"',
    "const": 'shape=box, style="rounded,dashed"',
    "op": "shape=box",
    "output": "shape=doubleoctagon",
}


def _dot_string(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(graph: Graph) -> str:
    """Graphviz DOT text of the graph, left to right."""
    boxes, edges = layout(graph)
    lines = ["digraph G {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=11];']
    for b in boxes:
        label = "\\n".join(_dot_string(s) for s in b.label) if b.kind == "op" else _dot_string("  ".join(b.label))
        lines.append(f'  {b.key} [label="{label}", {_DOT_STYLE[b.kind]}];')
    lines += [f"  {a} -> {b};" for a, b in edges]
    return "\n".join([*lines, "}"])


class Drawing(str):
    """SVG text that Jupyter displays as the picture (``str(d)`` is the SVG source)."""

    def _repr_svg_(self) -> str:
        return str(self)


def dot_available() -> bool:
    """Whether Graphviz's ``dot`` program is on the PATH."""
    return shutil.which("dot") is not None


def to_svg(graph: Graph, engine: str = "auto") -> Drawing:
    """An SVG drawing: ``engine="dot"`` (Graphviz), ``"builtin"`` (the layered layout here), or ``"auto"``."""
    if engine not in ("auto", "dot", "builtin"):
        raise DrawError(f"unknown drawing engine {engine!r}; use 'auto', 'dot' or 'builtin'")
    if engine == "dot" or (engine == "auto" and dot_available()):
        dot = shutil.which("dot")
        if dot is None:
            raise DrawError("Graphviz's `dot` is not installed; install graphviz, or draw with engine='builtin'")
        run = subprocess.run([dot, "-Tsvg"], input=to_dot(graph), capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise DrawError(f"dot failed (exit {run.returncode}): {run.stderr.strip()[:300]}")
        return Drawing(run.stdout)
    return Drawing(_builtin_svg(graph))


# -- the built-in layout ----------------------------------------------------------------------------
_CHAR, _LINE, _PAD, _GAP_X, _GAP_Y = 7.0, 15.0, 8.0, 40.0, 18.0
_FILL = {"param": "#dde8f5", "input": "#ffffff", "const": "#f4f4f4", "op": "#ffffff", "output": "#e6f4e6"}


def _builtin_svg(graph: Graph) -> str:
    boxes, edges = layout(graph)
    size = {b.key: (max(len(s) for s in b.label) * _CHAR + 2 * _PAD, len(b.label) * _LINE + _PAD) for b in boxes}
    columns = sorted({b.column for b in boxes})
    col_w = {c: max(size[b.key][0] for b in boxes if b.column == c) for c in columns}
    col_x, x = {}, _GAP_Y
    for c in columns:
        col_x[c] = x
        x += col_w[c] + _GAP_X
    pos: dict[str, tuple[float, float, float, float]] = {}
    height = 0.0
    for c in columns:
        y = _GAP_Y
        for b in (b for b in boxes if b.column == c):
            w, h = size[b.key]
            pos[b.key] = (col_x[c] + (col_w[c] - w) / 2, y, w, h)
            y += h + _GAP_Y
        height = max(height, y)
    width = x - _GAP_X + _GAP_Y
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif" font-size="11">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#444"/></marker></defs>',
    ]
    for src, dst in edges:
        ax, ay, aw, ah = pos[src]
        bx, by, _, bh = pos[dst]
        out.append(
            f'<line x1="{ax + aw:.1f}" y1="{ay + ah / 2:.1f}" x2="{bx:.1f}" y2="{by + bh / 2:.1f}" '
            'stroke="#444" marker-end="url(#arrow)"/>'
        )
    for b in boxes:
        x0, y0, w, h = pos[b.key]
        rx = 8 if b.kind in ("param", "input", "const") else 0
        dash = ' stroke-dasharray="4 2"' if b.kind == "const" else ""
        stroke = 2 if b.kind == "output" else 1
        out.append(
            f'<g class="{b.kind}"><rect x="{x0:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{rx}" '
            f'fill="{_FILL[b.kind]}" stroke="#333" stroke-width="{stroke}"{dash}/>'
        )
        for k, s in enumerate(b.label):
            ty = y0 + _PAD / 2 + _LINE * (k + 0.75)
            out.append(f'<text x="{x0 + w / 2:.1f}" y="{ty:.1f}" text-anchor="middle">{html.escape(s)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)
