"""A Graph's equations as named bindings, in plain text, LaTeX and JSON.

One binding per node, so the printout grows linearly with the network: leaves print by their
names, intermediate values as ``v1, v2, ...``, outputs by their output names (``grad:W`` is
``\\bar{W}`` in LaTeX, ``tangent:out`` is ``\\dot{\\mathrm{out}}``). Ops render in index
notation where that is clearest (``v1[i,j] = sum_k x[i,k] * W[j,k]``) and as named functions
otherwise (``reshape``, ``concat``). Each op's rendering is one function registered as its
``"print"`` part (``symnn.registry``). ``scalar_equations`` instead expands a small graph to scalars and names
its common subexpressions.

>>> import sympy
>>> from symnn.ir import Builder
>>> b = Builder()
>>> x = b.input("x", (2, 3))
>>> w = b.param("W", (4, 3))
>>> print(to_text(b.build((x @ w.T).map(sympy.tanh))))
# inputs: x (2, 3)
# params: W (4, 3)
v1[i,j] = sum_k x[i,k] * W[j,k]
out[i,j] = tanh(v1[i,j])
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from sympy.printing.latex import LatexPrinter, greek_letters_set
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from .errors import SymnnError
from .expand import DEFAULT_MAX, check_printable, expand, leaf_symbols
from .ir import RENDERERS, Graph
from .ops import (
    BroadcastTo,
    Concat,
    Const,
    Einsum,
    Elementwise,
    Fold,
    Input,
    LogSumExp,
    Op,
    Pad,
    Reshape,
    Shape,
    Slice,
    Window,
)
from .registry import lookup, rule

__all__ = [
    "NOTATIONS",
    "Binding",
    "PrintingError",
    "equations",
    "expression_size",
    "latex_name",
    "scalar_equations",
    "to_json",
    "to_latex",
    "to_text",
]


class PrintingError(SymnnError, ValueError):
    """An unknown notation."""


@dataclass(frozen=True)
class Binding:
    """One equation ``name = ...``: the op that computes it, its arguments, shape and renderings."""

    name: str
    op: str
    args: tuple[str, ...]
    shape: Shape
    text: str
    latex: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "op": self.op,
            "args": list(self.args),
            "shape": list(self.shape),
            "text": self.text,
            "latex": self.latex,
        }


# -- names ------------------------------------------------------------------------------------------
_DECORATIONS = (
    ("grad:", r"\bar{%s}"),
    ("cotangent:", r"\bar{%s}"),
    ("tangent:", r"\dot{%s}"),
    ("hvp:", r"\dot{\bar{%s}}"),  # forward over reverse: the tangent of the adjoint
)
_PLAIN = re.compile(r"([A-Za-z]+)(?:_?([0-9]+)|_([A-Za-z][A-Za-z0-9]*))?")
_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "_": r"\_",
    "^": r"\^{}",
    "#": r"\#",
    "$": r"\$",
    "%": r"\%",
    "&": r"\&",
    "~": r"\textasciitilde{}",
    " ": r"\ ",
}


def _tex_text(s: str) -> str:
    return r"\text{%s}" % "".join(_TEX_SPECIAL.get(ch, ch) for ch in s)


def _head_sub(name: str) -> tuple[str, str, str]:
    """LaTeX of a name split into head, superscript and subscript (without braces), e.g. ``W1 -> (W, '', 1)``.

    A decoration (bar, dot) covers the head only: ``grad:0.W`` is ``\\bar{W}^{(0)}``.
    """
    for prefix, deco in _DECORATIONS:
        if name.startswith(prefix) and len(name) > len(prefix):
            head, sup, sub = _head_sub(name[len(prefix) :])
            return deco % head, sup, sub
    scope, dot, last = name.rpartition(".")
    if dot and scope and _PLAIN.fullmatch(last):
        # a layer's parameter, e.g. "0.W" -> W^{(0)}: the layer path as a superscript
        head, _, sub = _head_sub(last)
        path = scope if re.fullmatch(r"[0-9.]+", scope) else _tex_text(scope)
        return head, f"({path})", sub
    m = _PLAIN.fullmatch(name)
    if not m:  # names are data: anything else is shown verbatim, escaped
        return _tex_text(name), "", ""
    head, digits, word = m.groups()
    if len(head) == 1 or head in greek_letters_set or head.lower() in greek_letters_set:
        head_tex = sp.latex(sp.Symbol(head))
    elif re.fullmatch(r"[A-Z][a-z]", head) and not digits and not word:
        return head[0], "", r"\mathrm{%s}" % head[1]  # Wq -> W_{q}, upright: not an index
    else:
        head_tex = r"\mathrm{%s}" % head
    if digits:
        return head_tex, "", digits
    if word:
        return head_tex, "", r"\mathrm{%s}" % word  # upright, so W_q never reads as an index q
    return head_tex, "", ""


def latex_name(name: str, index: str = "") -> str:
    r"""The LaTeX of a binding name, optionally with an index subscript.

    >>> latex_name("grad:W1", "ij"), latex_name("tangent:out"), latex_name("x; import os")
    ('\\bar{W}_{1,ij}', '\\dot{\\mathrm{out}}', '\\text{x;\\ import\\ os}')
    >>> latex_name("grad:0.W", "ij")
    '\\bar{W}^{(0)}_{ij}'
    """
    head, sup, sub = _head_sub(name)
    sub = ",".join(s for s in (sub, index) if s)
    return head + (f"^{{{sup}}}" if sup else "") + (f"_{{{sub}}}" if sub else "")


@dataclass(frozen=True)
class _Ref:
    """How a value appears where it is used: a named binding, or an inlined constant."""

    name: str
    const: sp.Expr | None = None

    def text(self, index: list[sp.Expr] | None = None) -> str:
        if self.const is not None:
            return _num_text(self.const)
        return f"{self.name}[{_index_text(index)}]" if index else self.name

    def latex(self, index: list[sp.Expr] | None = None) -> str:
        if self.const is not None:
            return sp.latex(self.const)
        return latex_name(self.name, _index_latex(index) if index else "")


def _num_text(v: sp.Expr) -> str:
    return sp.sstr(v, full_prec=False)


# -- indices ----------------------------------------------------------------------------------------
_POOL = "ijklmnpqrstuvwxyzabcdefgh"  # no 'o': it reads like 0


def _letters(n: int, skip: int = 0) -> list[sp.Symbol]:
    """``n`` index symbols, the first ``skip`` of the pool left out."""
    names = list(_POOL) if skip + n <= len(_POOL) else [f"i{k}" for k in range(len(_POOL) + skip + n)]
    return [sp.Symbol(c, integer=True) for c in names[skip : skip + n]]


def _index_text(index: list[sp.Expr]) -> str:
    return ",".join(sp.sstr(e).replace(" ", "") for e in index)


def _index_latex(index: list[sp.Expr]) -> str:
    parts = [sp.latex(e).replace(" ", "") for e in index]
    # ij for plain letters; i,0 and i,k+1 where a part is a number or an expression
    return ("" if all(len(p) == 1 and p.isalpha() for p in parts) else ",").join(parts)


def _broadcast_index(index: list[sp.Expr], shape: Shape, arg_shape: Shape) -> list[sp.Expr]:
    """The index of an argument that numpy broadcasting reads at ``index`` of ``shape``."""
    lead = len(shape) - len(arg_shape)
    return [sp.S.Zero if n == 1 and shape[lead + k] != 1 else index[lead + k] for k, n in enumerate(arg_shape)]


# -- one renderer per op ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Ctx:
    """What a renderer sees: the op, the binding's and arguments' refs and shapes."""

    op: Op
    out: _Ref
    args: tuple[_Ref, ...]
    shape: Shape
    arg_shapes: tuple[Shape, ...]

    def lhs(self, index: list[sp.Expr] | None = None) -> tuple[str, str]:
        return self.out.text(index), self.out.latex(index)


Renderer = Callable[[_Ctx], tuple[str, str]]


def _eq(lhs: tuple[str, str], rhs_text: str, rhs_latex: str) -> tuple[str, str]:
    return f"{lhs[0]} = {rhs_text}", f"{lhs[1]} = {rhs_latex}"


def _zero_note(ref: _Ref) -> tuple[str, str]:
    """The remark that a padded read is zero outside the argument."""
    return f"  (0 outside {ref.text()})", r"\quad\text{(0 outside }%s\text{)}" % ref.latex()


@rule(Const, "print")
def _render_const(c: _Ctx) -> tuple[str, str]:
    values = [sp.sympify(v) for v in c.op.values]  # type: ignore[attr-defined]
    if len(values) == 1:
        idx = _letters(len(c.shape))
        return _eq(c.lhs(idx), _num_text(values[0]), sp.latex(values[0]))
    if len(values) > 64:
        return _eq(c.lhs(), f"const(shape {c.shape})", r"\operatorname{const}\left(%s\right)" % _tex_text(str(c.shape)))
    arr = np.array(values, dtype=object).reshape(c.shape)
    text = str(np.vectorize(_num_text, otypes=[object])(arr).tolist()).replace("'", "")
    if arr.ndim == 1:
        tex = r"\begin{pmatrix} %s \end{pmatrix}" % " & ".join(sp.latex(v) for v in arr)
    elif arr.ndim == 2:
        rows = (" & ".join(sp.latex(v) for v in row) for row in arr)
        tex = r"\begin{pmatrix} %s \end{pmatrix}" % r" \\ ".join(rows)
    else:
        tex = r"\operatorname{const}\left(%s\right)" % _tex_text(text)
    return _eq(c.lhs(), text, tex)


@rule(Elementwise, "print")
def _render_elementwise(c: _Ctx) -> tuple[str, str]:
    # the lambda body through sympy's printers, each argument renamed to its indexed binding
    fn: sp.Lambda = c.op.fn  # type: ignore[attr-defined]
    idx = _letters(len(c.shape))
    subs: dict[sp.Symbol, sp.Expr] = {}
    tex_names: dict[sp.Symbol, str] = {}
    for var, ref, shape in zip(fn.variables, c.args, c.arg_shapes, strict=True):
        if ref.const is not None:
            subs[var] = ref.const
            continue
        at = _broadcast_index(idx, c.shape, shape)
        sym = sp.Symbol(ref.text(at), real=True)
        subs[var] = sym
        tex_names[sym] = ref.latex(at)
    body = fn.expr.xreplace(subs)
    return _eq(c.lhs(idx), sp.sstr(body, full_prec=False), sp.latex(body, symbol_names=tex_names))


def _sum_prefix(summed: list[sp.Symbol], condition: tuple[str, str] = ("", "")) -> tuple[str, str]:
    if not summed:
        return "", ""
    names = ",".join(s.name for s in summed)
    text = f"sum_{{{names}{condition[0]}}} " if len(summed) > 1 or condition[0] else f"sum_{names} "
    return text, r"\sum_{%s%s} " % (names, condition[1])


@rule(Einsum, "print")
def _render_einsum(c: _Ctx) -> tuple[str, str]:
    # y[out] = sum over the other letters of the product of the operands
    op: Einsum = c.op  # type: ignore[assignment]
    ins, out = op.terms
    summed = [ch for ch in dict.fromkeys("".join(ins)) if ch not in out]
    letters = dict(zip(out + "".join(summed), _letters(len(out) + len(summed)), strict=True))
    consts = [(r.text(), r.latex()) for r in c.args if r.const is not None]
    tensors = [
        (r.text([letters[ch] for ch in term]), r.latex([letters[ch] for ch in term]))
        for r, term in zip(c.args, ins, strict=True)
        if r.const is None
    ]
    factors = consts + tensors
    pre_t, pre_l = _sum_prefix([letters[ch] for ch in summed])
    rhs_t = pre_t + " * ".join(t for t, _ in factors)
    rhs_l = pre_l + (r" \cdot " if consts else " ").join(tex for _, tex in factors)
    return _eq(c.lhs([letters[ch] for ch in out]), rhs_t, rhs_l)


def _window_index(stride: int, o: sp.Expr, k: sp.Expr, padding: int) -> sp.Expr:
    return stride * o + k - padding


@rule(Window, "print")
def _render_window(c: _Ctx) -> tuple[str, str]:
    # y[n, c, *k, *o] = x[n, c, *(stride*o + k - padding)], 0 outside x
    op: Window = c.op  # type: ignore[assignment]
    d = len(op.kernel)
    idx = _letters(2 + 2 * d)
    ks, os_ = idx[2 : 2 + d], idx[2 + d :]
    at = idx[:2] + [_window_index(*t) for t in zip(op.stride, os_, ks, op.padding, strict=True)]
    (x,) = c.args
    rhs = (x.text(at), x.latex(at))
    if any(op.padding):
        note = _zero_note(x)
        rhs = (rhs[0] + note[0], rhs[1] + note[1])
    return _eq(c.lhs(idx), *rhs)


@rule(Fold, "print")
def _render_fold(c: _Ctx) -> tuple[str, str]:
    # x[n, c, *s] = sum over (k, o) with stride*o + k - padding = s of w[n, c, *k, *o]
    op: Fold = c.op  # type: ignore[assignment]
    d = len(op.kernel)
    idx = _letters(2 + d)
    summed = _letters(2 * d, skip=2 + d)
    ks, os_ = summed[:d], summed[d:]
    conds = [
        (_window_index(st, o, k, p), s) for st, o, k, p, s in zip(op.stride, os_, ks, op.padding, idx[2:], strict=True)
    ]
    cond_t = ": " + ", ".join(f"{_index_text([e])}={s}" for e, s in conds)
    cond_l = r" \,:\, " + ", ".join(f"{_index_latex([e])}={s}" for e, s in conds)
    pre_t, pre_l = _sum_prefix(summed, (cond_t, cond_l))
    (w,) = c.args
    at = idx[:2] + summed
    return _eq(c.lhs(idx), pre_t + w.text(at), pre_l + w.latex(at))


@rule(Reshape, "print")
def _render_reshape(c: _Ctx) -> tuple[str, str]:
    (x,) = c.args
    shape = str(tuple(c.op.shape))  # type: ignore[attr-defined]
    return _eq(
        c.lhs(), f"reshape({x.text()}, {shape})", r"\operatorname{reshape}\left(%s, %s\right)" % (x.latex(), shape)
    )


def _slice_text(start: Shape, stop: Shape, shape: Shape) -> str:
    return ",".join(":" if (a, b) == (0, n) else f"{a}:{b}" for a, b, n in zip(start, stop, shape, strict=True))


@rule(Slice, "print")
def _render_slice(c: _Ctx) -> tuple[str, str]:
    # y[i] = x[i + start]; the text shows numpy's slice, which also gives the extent
    op: Slice = c.op  # type: ignore[assignment]
    idx = _letters(len(c.shape))
    at = [i + a for i, a in zip(idx, op.start, strict=True)]
    (x,) = c.args
    text = f"{c.out.text()} = {x.text()}[{_slice_text(op.start, op.stop, c.arg_shapes[0])}]"
    return text, f"{c.out.latex(idx)} = {x.latex(at)}"


@rule(Pad, "print")
def _render_pad(c: _Ctx) -> tuple[str, str]:
    # y[i] = x[i - before], 0 outside x
    op: Pad = c.op  # type: ignore[assignment]
    idx = _letters(len(c.shape))
    at = [i - a for i, a in zip(idx, op.before, strict=True)]
    (x,) = c.args
    text = f"{c.out.text()} = pad({x.text()}, before={tuple(op.before)}, after={tuple(op.after)})"
    return text, f"{c.out.latex(idx)} = {x.latex(at)}{_zero_note(x)[1]}"


@rule(Concat, "print")
def _render_concat(c: _Ctx) -> tuple[str, str]:
    axis = c.op.axis  # type: ignore[attr-defined]
    text = "concat({}; axis={})".format(", ".join(r.text() for r in c.args), axis)
    tex = r"\operatorname{concat}_{%d}\left(%s\right)" % (axis, ", ".join(r.latex() for r in c.args))
    return _eq(c.lhs(), text, tex)


@rule(BroadcastTo, "print")
def _render_broadcast_to(c: _Ctx) -> tuple[str, str]:
    # y[i, j] = x[j] (leading axes added, axes of size 1 repeated)
    idx = _letters(len(c.shape))
    (x,) = c.args
    at = _broadcast_index(idx, c.shape, c.arg_shapes[0])
    return _eq(c.lhs(idx), x.text(at), x.latex(at))


@rule(LogSumExp, "print")
def _render_logsumexp(c: _Ctx) -> tuple[str, str]:
    # y = log sum_axis exp(x)
    axis = c.op.axis  # type: ignore[attr-defined]
    idx = _letters(len(c.shape) + 1)
    kept, red = idx[:-1], idx[-1]
    at = kept[:axis] + [red] + kept[axis:]
    (x,) = c.args
    text = f"logsumexp_{red.name} {x.text(at)}"
    tex = r"\log \sum_{%s} e^{%s}" % (red.name, x.latex(at))
    return _eq(c.lhs(kept), text, tex)


# -- matrix notation --------------------------------------------------------------------------------
# The notes' backprop: G_i = (G_{i+1} o sigma'(Z_i W_i)) W_i^T. An einsum that is a product of matrices
# (or a matrix and a vector) prints as one, with transposes; an elementwise product of tensors as o
# (\circ); everything else keeps index notation.
NOTATIONS = ("index", "matrix")
_CIRC = "\u2218"


def _transposed(ref: _Ref, t: bool) -> tuple[str, str]:
    return (f"{ref.text()}^T", r"{%s}^{T}" % ref.latex()) if t else (ref.text(), ref.latex())


def _matrix_einsum(c: _Ctx) -> tuple[str, str] | None:
    """``A B`` with transposes if the einsum is a matrix (or matrix-vector) product, else None."""
    op: Einsum = c.op  # type: ignore[assignment]
    ins, out = op.terms
    if any(r.const is not None for r in c.args) or any(len(set(t)) != len(t) or len(t) > 2 for t in ins):
        return None
    if len(ins) == 1:  # a transpose
        (t,) = ins
        return _eq(c.lhs(), *_transposed(c.args[0], True)) if len(t) == 2 and out == t[::-1] else None
    if len(ins) != 2:
        return None
    summed = (set(ins[0]) & set(ins[1])) - set(out)
    if len(summed) != 1 or set(ins[0]) ^ set(ins[1]) != set(out) or len(out) != len(ins[0]) + len(ins[1]) - 2:
        return None
    (k,) = summed
    for p, q in ((0, 1), (1, 0)):
        fa, fb = ins[p].replace(k, ""), ins[q].replace(k, "")
        if out != fa + fb:
            continue
        left = _transposed(c.args[p], ins[p] != fa + k)  # a vector on the left is a row: x^T
        right = _transposed(c.args[q], len(ins[q]) == 2 and ins[q] != k + fb)
        return _eq(c.lhs(), f"{left[0]} @ {right[0]}", f"{left[1]} {right[1]}")
    return None


class _CircStr(StrPrinter):
    """sympy's str printer, with a product of two or more tensors written with the Hadamard o."""

    def __init__(self, tensors: set[sp.Symbol]) -> None:
        super().__init__({"full_prec": False})
        self.tensors = tensors

    def _print_Mul(self, expr: sp.Mul) -> str:
        scalar, factors = _split(expr, self.tensors)
        if len(factors) < 2:
            return super()._print_Mul(expr)
        joined = f" {_CIRC} ".join(self.parenthesize(f, PRECEDENCE["Mul"]) for f in factors)
        return joined if scalar == 1 else f"-{joined}" if scalar == -1 else f"{self._print(scalar)}*{joined}"


class _CircLatex(LatexPrinter):
    """sympy's LaTeX printer, with a product of two or more tensors written with ``\\circ``."""

    def __init__(self, tensors: set[sp.Symbol], names: dict[sp.Symbol, str]) -> None:
        super().__init__({"symbol_names": names})
        self.tensors = tensors

    def _print_Mul(self, expr: sp.Mul) -> str:
        scalar, factors = _split(expr, self.tensors)
        if len(factors) < 2:
            return super()._print_Mul(expr)
        joined = r" \circ ".join(self.parenthesize(f, PRECEDENCE["Mul"]) for f in factors)
        return joined if scalar == 1 else f"-{joined}" if scalar == -1 else f"{self._print(scalar)} {joined}"


def _split(expr: sp.Mul, tensors: set[sp.Symbol]) -> tuple[sp.Expr, list[sp.Expr]]:
    """A product as its factor free of tensors and the list of factors that involve one."""
    factors = [f for f in expr.args if f.free_symbols & tensors]
    return sp.Mul(*(f for f in expr.args if not f.free_symbols & tensors)), factors


def _matrix_elementwise(c: _Ctx) -> tuple[str, str] | None:
    """The function of whole tensors, e.g. ``v3 = sigma(v2)``, ``v10 = v3 o v9 o (1 - v3)``."""
    fn: sp.Lambda = c.op.fn  # type: ignore[attr-defined]
    subs: dict[sp.Symbol, sp.Expr] = {}
    names: dict[sp.Symbol, str] = {}
    tensors: set[sp.Symbol] = set()
    for var, ref, shape in zip(fn.variables, c.args, c.arg_shapes, strict=True):
        if ref.const is not None:
            subs[var] = ref.const
            continue
        sym = sp.Symbol(ref.text(), real=True)
        subs[var], names[sym] = sym, ref.latex()
        if shape:
            tensors.add(sym)
    body = fn.expr.xreplace(subs)
    return _eq(c.lhs(), _CircStr(tensors).doprint(body), _CircLatex(tensors, names).doprint(body))


def _matrix_form(c: _Ctx) -> tuple[str, str] | None:
    """The matrix-notation rendering of a node, or None where index notation stays."""
    if isinstance(c.op, Einsum):
        return _matrix_einsum(c)
    if isinstance(c.op, Elementwise):
        return _matrix_elementwise(c)
    return None


# -- the bindings of a graph ------------------------------------------------------------------------
def _refs(graph: Graph) -> list[_Ref]:
    """One ref per node: leaves by name, outputs by output name, filled constants inline, else v1.."""
    first_output: dict[int, str] = {}
    for o, name in zip(graph.outputs, graph.output_names, strict=True):
        first_output.setdefault(o, name)
    taken = {n.op.name for n in graph.leaves()} | set(graph.output_names)  # type: ignore[attr-defined]
    counters = {"v": 0, "c": 0}

    def fresh(prefix: str) -> str:
        while True:
            counters[prefix] += 1
            name = f"{prefix}{counters[prefix]}"
            if name not in taken:
                return name

    refs = []
    for i, n in enumerate(graph.nodes):
        if isinstance(n.op, Input):
            refs.append(_Ref(n.op.name))
        elif i in first_output:
            refs.append(_Ref(first_output[i]))
        elif isinstance(n.op, Const):
            if len(n.op.values) == 1:
                refs.append(_Ref("", const=sp.sympify(n.op.values[0])))
            else:
                refs.append(_Ref(fresh("c")))
        else:
            refs.append(_Ref(fresh("v")))
    return refs


def equations(graph: Graph, notation: str = "index") -> list[Binding]:
    """The graph's program as one binding per computed node, plus aliases for repeated outputs.

    ``notation="matrix"`` writes matrix products as products with transposes and elementwise
    products of tensors with o, as the notes do; what is not a matrix product keeps its indices.
    """
    if notation not in NOTATIONS:
        raise PrintingError(f"unknown notation {notation!r}; use one of {', '.join(NOTATIONS)}")
    refs = _refs(graph)
    out: list[Binding] = []
    named = set()
    for i, n in enumerate(graph.nodes):
        ref = refs[i]
        if isinstance(n.op, Input) or ref.const is not None:
            continue
        arg_refs = tuple(refs[a] for a in n.args)
        ctx = _Ctx(n.op, ref, arg_refs, n.shape, tuple(graph.shape(a) for a in n.args))
        found = _matrix_form(ctx) if notation == "matrix" else None
        render: Renderer = lookup(type(n.op), "print")
        text, tex = found if found is not None else render(ctx)
        out.append(Binding(ref.name, type(n.op).__name__, tuple(r.text() for r in arg_refs), n.shape, text, tex))
        named.add(ref.name)
    for o, name in zip(graph.outputs, graph.output_names, strict=True):
        if name in named:
            continue
        # an output that is a leaf, a filled constant, or a second name for another output
        src = refs[o]
        op = "alias" if src.const is None else "Const"
        args = (src.text(),) if src.const is None else ()
        out.append(
            Binding(name, op, args, graph.shape(o), f"{name} = {src.text()}", f"{latex_name(name)} = {src.latex()}")
        )
        named.add(name)
    return out


def _scalar_name(name: str, index: tuple[int, ...]) -> tuple[str, str]:
    if not index:
        return name, latex_name(name)
    return f"{name}[{','.join(map(str, index))}]", latex_name(name, ",".join(map(str, index)))


def _cse_prefix(used: set[str]) -> str:
    """A prefix ``p`` such that no leaf scalar is named ``p0``, ``p1``, ..."""
    prefix = "s"
    while any(re.fullmatch(re.escape(prefix) + r"\d+", u) for u in used):
        prefix += "_"
    return prefix


def expression_size(graph: Graph) -> float:
    """An estimate, from shapes alone, of the terms in the outputs' expanded scalar expressions (trees).

    A leaf is 1 term; an einsum output sums K products (K the size of its summed indices) of its
    operands' terms; an elementwise function adds its own operations to each argument's terms times
    the argument's occurrences; a log-sum-exp over n values holds 2n of its argument's. Sharing is
    ignored, so this bounds the work of ``scalar_equations`` from above; it tracks its time across
    the zoo (``mha`` ~2e7 terms ~40 s, ``transformer`` ~2e13 out of reach).
    """
    terms: list[float] = []
    for n in graph.nodes:
        op, args = n.op, [terms[a] for a in n.args]
        if isinstance(op, Einsum):
            inner = math.prod(op.sizes(*(graph.shape(a) for a in n.args)).values()) / max(math.prod(n.shape), 1)
            t = inner * sum(args)
        elif isinstance(op, Elementwise):
            uses = [op.fn.expr.count(v) for v in op.fn.variables]
            t = 1 + sp.count_ops(op.fn.expr) + sum(u * a for u, a in zip(uses, args, strict=True))
        elif isinstance(op, LogSumExp):
            t = 2 * graph.shape(n.args[0])[op.axis] * args[0]
        elif isinstance(op, Fold):
            t = math.prod(op.kernel) * args[0]
        else:  # leaves, and ops that move or copy values
            t = sum(args) if args else 1.0
        terms.append(float(t))
    return sum(math.prod(graph.shape(o)) * terms[o] for o in graph.outputs)


def scalar_equations(graph: Graph, max_scalars: int = DEFAULT_MAX) -> list[Binding]:
    """Small graphs only: every output scalar as an explicit expression, shared parts named s0, s1, ...

    The graph is expanded to scalars (``symnn.expand``, bounded by ``max_scalars``) and
    ``sympy.cse`` runs over all outputs at once, so a subexpression shared between the value and
    its gradient is printed once.
    """
    values = expand(graph, max_scalars=max_scalars)
    check_printable(values)  # before sympy.cse: an expanded transformer gradient would take years
    tex_names: dict[sp.Symbol, str] = {}
    for name, arr in leaf_symbols(graph).items():
        for idx in np.ndindex(*arr.shape):
            tex_names[arr[idx]] = _scalar_name(name, idx)[1]
    prefix = _cse_prefix({s.name for s in tex_names})
    entries = [(name, idx, arr[idx]) for name, arr in values.items() for idx in np.ndindex(*arr.shape)]
    subs, reduced = sp.cse([e for _, _, e in entries], symbols=sp.numbered_symbols(prefix, real=True))
    for sym, _ in subs:
        tex_names[sym] = latex_name(sym.name)

    def binding(name: str, tex: str, op: str, expr: sp.Expr) -> Binding:
        args = tuple(sorted(s.name for s in expr.free_symbols))
        text = f"{name} = {sp.sstr(expr, full_prec=False)}"
        return Binding(name, op, args, (), text, f"{tex} = {sp.latex(expr, symbol_names=tex_names)}")

    out = [binding(sym.name, tex_names[sym], "cse", expr) for sym, expr in subs]
    for (name, idx, _), expr in zip(entries, reduced, strict=True):
        text_name, tex = _scalar_name(name, idx)
        out.append(binding(text_name, tex, "scalar", expr))
    return out


# -- whole programs ---------------------------------------------------------------------------------
def _bindings(graph: Graph, scalar: bool, max_scalars: int, notation: str = "index") -> list[Binding]:
    return scalar_equations(graph, max_scalars) if scalar else equations(graph, notation)


def _shapes(shapes: dict[str, Shape]) -> str:
    return ", ".join(f"{name} {shape}" for name, shape in shapes.items())


def to_text(graph: Graph, scalar: bool = False, max_scalars: int = DEFAULT_MAX, notation: str = "index") -> str:
    """The program as plain text: the inputs and parameters, then one line per binding."""
    lines = [f"# {kind}: {_shapes(s)}" for kind, s in (("inputs", graph.inputs), ("params", graph.params)) if s]
    lines += [b.text for b in _bindings(graph, scalar, max_scalars, notation)]
    return "\n".join(lines)


def to_latex(graph: Graph, scalar: bool = False, max_scalars: int = DEFAULT_MAX, notation: str = "index") -> str:
    """The program as a LaTeX ``align*`` environment, one aligned row per binding."""
    # names in LaTeX never contain " = " (spaces are escaped), so the first one is the binding's
    rows = [b.latex.replace(" = ", " &= ", 1) for b in _bindings(graph, scalar, max_scalars, notation)]
    return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"


def to_json(
    graph: Graph, scalar: bool = False, max_scalars: int = DEFAULT_MAX, notation: str = "index"
) -> dict[str, Any]:
    """A JSON-ready dict: inputs, params, outputs (name and shape) and the bindings."""
    return {
        "inputs": {name: list(s) for name, s in graph.inputs.items()},
        "params": {name: list(s) for name, s in graph.params.items()},
        "outputs": [
            {"name": name, "shape": list(graph.shape(o))}
            for name, o in zip(graph.output_names, graph.outputs, strict=True)
        ],
        "bindings": [b.as_dict() for b in _bindings(graph, scalar, max_scalars, notation)],
    }


def _display_latex(graph: Graph) -> str:
    return "$$" + to_latex(graph) + "$$"


RENDERERS["latex"] = _display_latex  # Graph._repr_latex_ (Jupyter), once this module is imported
