"""``symnn derive MODEL``: the primal program and its symbolic derivatives as text, LaTeX or JSON."""

from __future__ import annotations

import argparse
import json

from .. import zoo
from ..diff import grad, jvp
from ..draw import to_dot
from ..errors import GraphError
from ..expand import DEFAULT_MAX
from ..ir import Graph
from ..printing import NOTATIONS, to_json, to_latex, to_text

MODEL_HELP = "zoo name (e.g. mlp:4-8-1) or path/file.py:attr or module:attr"


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``symnn derive``."""
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    p.add_argument(
        "--mode",
        choices=("forward", "reverse", "both"),
        default="reverse",
        help="reverse: gradient of the scalar output; forward: the JVP program (default: reverse)",
    )
    p.add_argument(
        "--format",
        choices=("text", "latex", "json", "dot"),
        default="text",
        help="output format; dot: each program's computational graph as Graphviz DOT (pipe to `dot -Tsvg`)",
    )
    p.add_argument(
        "--notation",
        choices=NOTATIONS,
        default="index",
        help="matrix: matrix products as products with transposes (x W^T), elementwise products as o, "
        "as the lecture notes write backprop; index notation stays for the rest (default: index)",
    )
    p.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")
    p.add_argument("--wrt", nargs="+", metavar="NAME", help="differentiate with respect to these leaves")
    p.add_argument("--scalar", action="store_true", help="expand to scalar equations with shared subexpressions")
    p.add_argument("--max-scalars", type=int, default=None, metavar="N", help="size bound for --scalar")


def programs(graph: Graph, mode: str, wrt: list[str] | None) -> dict[str, tuple[str, Graph]]:
    """The primal program and the requested derivative programs, each with a heading."""
    if wrt is None and not graph.params:
        raise GraphError(f"the model has no parameters; pass --wrt NAME with some of its inputs {list(graph.inputs)}")
    names = wrt if wrt is not None else list(graph.params)
    out = {"primal": ("primal program", graph)}
    if mode in ("reverse", "both"):
        g = grad(graph, wrt)
        out["reverse"] = (f"reverse mode: gradient of {g.output_names[0]!r} with respect to {', '.join(names)}", g)
    if mode in ("forward", "both"):
        out["forward"] = (f"forward mode: tangents with respect to {', '.join(names)}", jvp(graph, wrt))
    return out


def run(args: argparse.Namespace) -> int:
    """Print the programs; 0."""
    found = programs(zoo.resolve(args.model).graph(), args.mode, args.wrt)
    bound = args.max_scalars if args.max_scalars is not None else DEFAULT_MAX
    if args.format == "json":
        doc = {
            "model": args.model,
            "mode": args.mode,
            "scalar": args.scalar,
            "notation": args.notation,
            "programs": {
                key: {"title": title, **to_json(g, args.scalar, bound, args.notation)}
                for key, (title, g) in found.items()
            },
        }
        print(json.dumps(doc, indent=2))
        return 0
    if args.format == "dot":  # one digraph per program: `dot -Tsvg -O` draws each
        print("\n\n".join(f"// {title}\n{to_dot(g)}" for title, g in found.values()))
        return 0
    render = to_latex if args.format == "latex" else to_text
    comment = "%" if args.format == "latex" else "#"
    print(
        "\n\n".join(f"{comment} {title}\n{render(g, args.scalar, bound, args.notation)}" for title, g in found.values())
    )
    return 0
