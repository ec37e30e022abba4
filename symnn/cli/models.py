"""``symnn models``: the built-in zoo, each model's default sizes, loss, input shapes, parameters and nodes."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from .. import zoo

EXAMPLES = """
examples:
  symnn models                       the zoo as a table
  symnn models --json                the same as JSON
  symnn derive mlp:3-4-1             a model at other sizes (name:sizes; the spec column shows the defaults)
"""


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``symnn models``."""
    p.add_argument("--json", action="store_true", help="machine-readable list")


def describe(name: str) -> dict[str, Any]:
    """One zoo model at its default sizes: spec, the one-line doc, loss, inputs, parameter count, nodes."""
    model = zoo.resolve(name)
    graph = model.graph()
    doc = (zoo.ZOO[name].__doc__ or "").strip().splitlines()[0]
    return {
        "name": name,
        "spec": model.name,
        "loss": model.loss if isinstance(model.loss, str) else type(model.loss).__name__,
        "inputs": {k: list(v) for k, v in graph.inputs.items()},
        "parameters": sum(math.prod(s) for s in graph.params.values()),
        "nodes": len(graph),
        "about": doc,
    }


def run(args: argparse.Namespace) -> int:
    """Print the zoo; 0."""
    rows = [describe(name) for name in zoo.list_models()]
    if args.json:
        print(json.dumps({"models": rows}, indent=2))
        return 0
    head = ("spec", "loss", "params", "nodes", "inputs")
    cells = [
        (
            r["spec"],
            r["loss"],
            str(r["parameters"]),
            str(r["nodes"]),
            ", ".join(f"{k} {tuple(v)}" for k, v in r["inputs"].items()),
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    for c in cells:
        print("  ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)).rstrip())
    print("\n" + "\n".join(f"{r['name']:12s}{r['about']}" for r in rows))
    print("\nany model takes other sizes as name:sizes (e.g. mlp:3-4-1); the spec column shows the defaults")
    return 0
