"""``symnn ops``: the op registry, every op by every part and where each part is defined.

Importing the modules that register the parts is this command's job (the registry itself is in
the core and imports none of them): the symbolic rules, expansion, printing, code generation, the
executor, the oracles and the spec table. The exit status is 1 when a required part is missing.
"""

from __future__ import annotations

import argparse
import json

import symnn.codegen
import symnn.diff
import symnn.executor
import symnn.expand
import symnn.printing
import verify.oracles
import verify.spec
from symnn import registry
from symnn.ops import ALL_OPS, LEAVES

#: The modules whose import fills the registry (kept referenced so no linter drops an import).
REGISTERING = (symnn.diff, symnn.expand, symnn.printing, symnn.codegen, symnn.executor, verify.oracles, verify.spec)


EXAMPLES = """
examples:
  symnn ops                                       every op x part and where it is defined
  symnn ops --json
"""


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``symnn ops``."""
    p.add_argument("--json", action="store_true", help="machine-readable: one record per (op, part)")
    p.add_argument("--leaves", action="store_true", help="also list the leaves (Input, Const)")


def run(args: argparse.Namespace) -> int:
    """Print the op x part table; 0 if every op has every part it needs, else 1."""
    ops = (*ALL_OPS, *LEAVES) if args.leaves else ALL_OPS
    where = {(e.op, e.part): e.where for e in registry.entries()}
    missing = registry.missing(ops)
    if args.json:
        rows = [
            {"op": op.__name__, "part": part, "where": where.get((op, part)), "required": part in need}
            for op in ops
            for need in [registry.required_parts(op)]
            for part in registry.PARTS
            if (op, part) in where or part in need
        ]
        print(json.dumps({"ok": not missing, "parts": list(registry.PARTS), "entries": rows}, indent=2))
        return 0 if not missing else 1
    for op in ops:
        kind = "linear: both modes from its transpose" if op.linear else "jvp and vjp rules"
        print(f"{op.__name__} ({kind})")
        need = registry.required_parts(op)
        for part in registry.PARTS:
            if (op, part) in where:
                print(f"  {part:<11} {where[op, part]}")
            elif part in need:
                print(f"  {part:<11} MISSING")
    verdict = "every op has every part" if not missing else f"{len(missing)} MISSING: {missing}"
    print(f"{len(ops)} ops, {len(registry.PARTS)} parts: {verdict}")
    return 0 if not missing else 1
