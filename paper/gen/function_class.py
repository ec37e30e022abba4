"""The function class as symnn implements it: ops, elementwise functions and layers, read from the registries.

Nothing here is measured; everything is read from the library's own tables, so the paper's tables
change when the library does: ``symnn.ops.ALL_OPS`` (the closed op set), ``symnn.registry`` (every
part of every op: the JVP and VJP rules of ``symnn.diff``, or a linear op's transpose from which both
derive, the code generator's emitters, the executor's rules), ``symnn.functions.SUPPORTED`` (the
elementwise functions with their kink conventions), ``verify.spec`` (the op and layer rows every test
consumes) and the executor's scalar primitives.

The "JVP/VJP built from" columns are computed, not described: each rule is applied to a one-node
graph of its op (shapes taken from the op's spec row) and the op classes of the derivative graph
are listed, which shows the op set closed under differentiation.

Writes ``function_class.tex`` (macros ``\\fc...``), ``fc_ops.tex``, ``fc_functions.tex`` and
``fc_layers.tex``.
"""

from __future__ import annotations

import inspect
import math
import re
from collections import Counter
from pathlib import Path

import sympy as sp

from .common import TeX, write_macros, write_table

#: a table column of the given width, set ragged right (long code spans do not stretch it)
RAGGED = ">{\\raggedright\\arraybackslash}"


def _op_names(graph) -> list[str]:
    """Op classes of a graph's non-leaf nodes, in order of first appearance."""
    from symnn.ops import Const, Input

    seen: dict[str, None] = {}
    for node in graph.nodes:
        if not isinstance(node.op, Input | Const):
            seen.setdefault(type(node.op).__name__, None)
    return list(seen)


def _rule_comment(rule) -> str:
    """The rule's one-line math comment (``# d tanh(x) = ...``), or "" when it has none."""
    for line in inspect.getsource(rule).splitlines():
        m = re.match(r"\s*# (.*)", line)
        if m:
            return m.group(1)
    return ""


def derivative_ops(op_cls: type) -> tuple[list[str], list[str]]:
    """Op classes in the JVP and in the VJP graph of one node of ``op_cls`` (from its spec row's shapes)."""
    from symnn.diff import derivative_rule
    from symnn.ir import Builder
    from verify.spec import OP_SPECS

    g = OP_SPECS[op_cls.__name__].graph()
    node = next(n for n in g.nodes if isinstance(n.op, op_cls))
    shapes = [g.nodes[a].shape for a in node.args]
    result = []
    for mode in ("jvp", "vjp"):
        b = Builder()
        args = [b.param(f"a{i}", s) for i, s in enumerate(shapes)]
        out = b.add(node.op, *args)
        if mode == "jvp":
            tangents = [b.input(f"t{i}", s) for i, s in enumerate(shapes)]
            res = [derivative_rule(op_cls, "jvp")(node.op, args, out, tangents)]
        else:
            cot = b.input("cot", out.shape)
            res = derivative_rule(op_cls, "vjp")(node.op, args, out, cot, [True] * len(args))
        graph = b.build(*[r for r in res if r is not None])
        result.append(_op_names(graph))
    return result[0], result[1]


def op_rows() -> list[list[object]]:
    from symnn.diff import derivative_rule
    from symnn.ops import ALL_OPS
    from verify.spec import OP_SPECS

    rows = []
    for op in ALL_OPS:
        jvp_ops, vjp_ops = derivative_ops(op)
        doc = (op.__doc__ or "").strip().splitlines()[0]
        nspec = sum(1 for name in OP_SPECS if name.split(":")[0] == op.__name__)
        rows.append(
            [
                TeX(f"\\texttt{{{op.__name__}}}"),
                TeX(_doc_tex(doc)),
                TeX(_code(_rule_comment(derivative_rule(op, "jvp")))),
                ", ".join(jvp_ops),
                ", ".join(vjp_ops),
                nspec,
            ]
        )
    return rows


def _code(text: str) -> str:
    from .common import latex_escape

    return f"\\texttt{{{latex_escape(text)}}}" if text else "--"


def _doc_tex(doc: str) -> str:
    """A docstring line as LaTeX: ``code`` spans in typewriter, the rest escaped."""
    from .common import latex_escape

    parts = re.split(r"``(.*?)``", doc)
    return "".join(latex_escape(p) if i % 2 == 0 else f"\\texttt{{{latex_escape(p)}}}" for i, p in enumerate(parts))


def function_rows() -> list[list[object]]:
    """Each supported function: f(x), symnn's derivative, value and derivative at 0, the kink convention."""
    from symnn.functions import SUPPORTED
    from verify.spec import OP_SPECS

    x, y = sp.symbols("x y", real=True)
    rows = []
    for fn, name in SUPPORTED.items():
        spec = OP_SPECS[f"Elementwise:{name}"]
        if name == "maximum":
            e = fn(x, y)
            d = sp.diff(e, x)
            at0 = {x: 0, y: 0}
            value, deriv = e.subs(at0), d.subs(at0)
            label = "$\\partial_x$: "
        else:
            e = fn(x)
            d = sp.diff(e, x)
            at0 = {x: 0}
            label = ""
            value, deriv = (e.subs(at0), d.subs(at0)) if spec.low <= 0 <= spec.high else (None, None)
        rows.append(
            [
                TeX(f"\\texttt{{{name}}}"),
                TeX(f"${sp.latex(e)}$"),
                TeX(f"{label}${sp.latex(d)}$"),
                TeX(f"${sp.latex(value)}$" if value is not None else "--"),
                TeX(f"${sp.latex(deriv)}$" if deriv is not None else "--"),
                TeX(f"$[{spec.low:g}, {spec.high:g}]$"),
                spec.kinks or "--",
            ]
        )
    return rows


def layer_rows() -> tuple[list[list[object]], int, int]:
    """Each layer/loss/architecture row of verify.spec: nodes of its traced graph and the ops they use."""
    from verify.spec import layer_rows as spec_layer_rows

    rows = []
    exact = 0
    for row in spec_layer_rows():
        g = row.make()
        counts = Counter(type(n.op).__name__ for n in g.nodes)
        ops = _op_names(g)
        exact += not row.inexact
        rows.append(
            [
                row.name,
                sum(counts[o] for o in ops),
                sum(math.prod(s) for s in g.params.values()),
                ", ".join(ops),
                "yes" if not row.inexact else "no",
            ]
        )
    return rows, exact, len(rows)


def generate(out: Path, quick: bool) -> None:
    """Read the registries and write the macros and the three tables (the same in quick and full mode)."""
    # with symnn.diff and verify.spec (imported below), these register every part of every op
    import symnn.codegen
    import symnn.executor
    import symnn.printing  # noqa: F401  (and symnn.expand)
    import verify.oracles  # noqa: F401
    from symnn import registry, zoo
    from symnn.executor.kernels import NAMES as PRIMITIVES
    from symnn.functions import SUPPORTED
    from symnn.layers import __all__ as LAYERS
    from symnn.losses import LOSSES
    from symnn.ops import ALL_OPS
    from verify.spec import OP_ROWS

    ops = op_rows()
    write_table(
        out,
        "fc_ops",
        ["op", "meaning", "JVP rule", "JVP built from", "VJP built from", "rows"],
        ops,
        spec="l" + "".join(f"{RAGGED}p{{{w}\\linewidth}}" for w in (0.2, 0.18, 0.12, 0.12)) + "r",
    )
    write_table(
        out,
        "fc_functions",
        [
            "function",
            TeX("$f(x)$"),
            TeX("$f'(x)$ in symnn"),
            TeX("$f(0)$"),
            TeX("$f'(0)$"),
            "tested on",
            "kink convention",
        ],
        function_rows(),
        spec=f"llllll{RAGGED}p{{0.2\\linewidth}}",
    )
    lrows, exact, total = layer_rows()
    write_table(
        out,
        "fc_layers",
        ["row", "nodes", "parameters", "ops in the traced graph", "exact"],
        lrows,
        spec=f"lrr{RAGGED}p{{0.42\\linewidth}}l",
    )
    closed = all(set(r[3].split(", ")) | set(r[4].split(", ")) <= {o.__name__ for o in ALL_OPS} for r in ops)
    covered = not registry.missing(ALL_OPS)

    def covering(*parts: str) -> int:
        return sum(all(registry.has(op, p) for p in parts) for op in ALL_OPS)

    derived = sum(op.linear and registry.has(op, "transpose") for op in ALL_OPS)
    write_macros(
        out,
        "function_class",
        {
            "fcOps": len(ALL_OPS),
            "fcJvpRules": covering("jvp") + derived,
            "fcVjpRules": covering("vjp") + derived,
            "fcTransposeRules": derived,
            "fcEmitters": covering("emit"),
            "fcExecutorOps": covering("exec.value", "exec.jvp", "exec.vjp"),
            "fcFunctions": len(SUPPORTED),
            "fcPrimitives": len(PRIMITIVES),
            "fcOpRows": len(OP_ROWS),
            "fcLayerRows": total,
            "fcLayerRowsExact": exact,
            "fcLayerClasses": sum(1 for n in LAYERS if n[0].isupper() and n not in ("Layer", "Params", "ACTIVATIONS")),
            "fcLosses": len(LOSSES),
            "fcZooModels": len(zoo.list_models()),
            "fcClosed": "yes" if closed else "no",
            "fcRegistriesComplete": "yes" if covered else "no",
        },
    )
