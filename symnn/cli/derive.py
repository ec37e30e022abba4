"""``symnn derive MODEL``: the primal program and its symbolic derivatives as text, LaTeX or JSON."""

from __future__ import annotations

import argparse
import json

from .. import zoo
from ..diff import grad, hvp, jvp, require_scalar
from ..draw import to_dot
from ..errors import GraphError, SizeError
from ..expand import DEFAULT_MAX
from ..ir import Graph
from ..printing import NOTATIONS, expression_size, to_json, to_latex, to_text
from .arguments import listed
from .modes import DERIVE_DEPRECATED, DERIVE_MODES, add_mode_argument
from .progress import Progress

#: --scalar refuses programs whose expanded expressions are estimated larger: ``conv`` (~1.2e7 terms) took 18 s,
#: ``mha`` (~2.5e7) 42 s, ``transformer`` (~2e13) over 100 s; ``attention`` (~3.6e6) 14 s, ``mlp`` (~1.5e4) 2 s.
MAX_TERMS = 1e7

#: The list options (symnn.cli.arguments.regroup): --wrt takes leaf names, any word.
LISTS: dict[str, tuple[str, ...] | None] = {"--wrt": None}

MODEL_HELP = "zoo name (e.g. mlp:4-8-1) or path/file.py:attr or module:attr"


EXAMPLES = """
examples:
  symnn derive mlp:3-4-1                          primal and backprop, one equation per node
  symnn derive mlp:3-4-1 --notation matrix        as the notes write backprop: x W^T, G o sigma'(Z), Z^T G
  symnn derive mlp:3-4-1 --format latex           an align* block
  symnn derive mlp:3-4-1 --format dot | dot -Tsvg -O   the computational graphs drawn by Graphviz
  symnn derive mlp:2-2-1 --scalar                 explicit scalar expressions (small models only)
  symnn derive mlp:3-4-1 --mode jvp --wrt x       forward mode: the JVP program with respect to the input
  symnn derive mlp:3-4-1 --mode hvp               Hessian-vector products (forward over reverse)
"""


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``symnn derive``."""
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    add_mode_argument(
        p,
        DERIVE_MODES,
        DERIVE_DEPRECATED,
        "derive",
        "the derivative programs, named as symnn compile --mode names them: grad (reverse mode, the gradient "
        "of the scalar output; default), jvp (forward mode), hvp (Hessian-vector products), both (grad and jvp); "
        "the old spellings reverse (= grad) and forward (= jvp) still work for one release",
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
    p.add_argument(
        "--wrt",
        type=listed(),
        action="extend",
        metavar="NAME[,NAME...]",
        help="differentiate with respect to these leaves, a comma list (default: the parameters)",
    )
    p.add_argument("--scalar", action="store_true", help="expand to scalar equations with shared subexpressions")
    p.add_argument("--max-scalars", type=int, default=None, metavar="N", help="size bound for --scalar")
    p.add_argument(
        "--max-terms",
        type=float,
        default=MAX_TERMS,
        metavar="N",
        help=f"--scalar refuses, before expanding, programs estimated to hold more terms (default {MAX_TERMS:.0e})",
    )


def programs(graph: Graph, mode: str, wrt: list[str] | None) -> dict[str, tuple[str, Graph]]:
    """The primal program and the derivative programs of ``mode`` (grad, jvp, hvp or both), keyed by mode."""
    if wrt is None and not graph.params:
        raise GraphError(f"the model has no parameters; pass --wrt NAME with some of its inputs {list(graph.inputs)}")
    names = wrt if wrt is not None else list(graph.params)
    if mode != "jvp":
        require_scalar(graph, mode)
    out = {"primal": ("primal program", graph)}
    if mode in ("grad", "both"):
        g = grad(graph, wrt)
        out["grad"] = (f"reverse mode: gradient of {g.output_names[0]!r} with respect to {', '.join(names)}", g)
    if mode in ("jvp", "both"):
        out["jvp"] = (f"forward mode: tangents with respect to {', '.join(names)}", jvp(graph, wrt))
    if mode == "hvp":
        h = hvp(graph, wrt)
        out["hvp"] = (
            f"forward over reverse: gradient and Hessian-vector products of {h.output_names[0]!r} "
            f"with respect to {', '.join(names)}",
            h,
        )
    return out


def run(args: argparse.Namespace) -> int:
    """Print the programs; 0."""
    found = programs(zoo.resolve(args.model).graph(), args.mode, args.wrt)
    bound = args.max_scalars if args.max_scalars is not None else DEFAULT_MAX
    if args.scalar:  # refuse now, from shapes: expanding a large model runs for minutes before any bound trips
        size = sum(expression_size(g) for _, g in found.values())
        if size > args.max_terms:
            raise SizeError(
                f"derive --scalar {args.model}: the expanded equations would hold about {size:.1e} terms "
                f"(estimated from the shapes), above --max-terms {args.max_terms:.0e}; use smaller sizes "
                "(e.g. mlp:3-4-1), drop --scalar for one equation per node, or raise --max-terms"
            )
        if size > 1e5:  # seconds of sympy ahead: say so rather than sit silent
            Progress(None, "derive --scalar").start(f"expanding {args.model} to scalars (about {size:.0e} terms)")
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
