"""``formula``: a user's own scalar sympy formula as a Graph of scalar leaves and Elementwise nodes.

Each symbol becomes a leaf of shape ``()``. Each function application of the expression DAG
becomes one Elementwise node, and each Add, Mul or numeric power one "sum of products" node
c + sum_j k_j prod_i t_ji^e_ji over its children (up to ``MAX_ARITY`` arguments per node, a tree
of nodes beyond; numeric coefficients and exponents are folded into the body). The walk is
iterative and memoized, so its cost is linear in the size of the expression DAG: an MLP written
with 10,000 scalar weights converts in about half a second (no ``diff``, no ``expand``).

>>> import sympy as sp
>>> w, x = sp.symbols("w x")
>>> g = formula(sp.tanh(w * x) + w**2, params=[w], inputs=[x])
>>> g.params, g.inputs, len(g)
({'w': ()}, {'x': ()}, 5)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, TypeAlias

import sympy as sp
from sympy.matrices.expressions import MatrixExpr, MatrixSymbol
from sympy.matrices.expressions.matexpr import MatrixElement

from .errors import GraphError, UnsupportedFunctionError
from .functions import SUPPORTED, _exp_arg, _is_one_plus_exp, canonicalize, sigmoid, sympify_data
from .ir import Builder, Graph, Tensor, arg_symbols, is_identifier
from .ops import Elementwise

#: Most tensor arguments of one Elementwise node; wider sums and products become a tree of nodes.
MAX_ARITY = 32

Value: TypeAlias = "Tensor | sp.Expr"  # a node of the graph, or a constant folded into its consumers


Leaf: TypeAlias = "sp.Symbol | MatrixElement"  # a scalar symbol, or one entry W[i, j] of a MatrixSymbol


def _flatten(obj: Any, what: str) -> list[Leaf]:
    """Symbols from a symbol, a name, a MatrixSymbol (its entries), or (nested) sequences / matrices of them."""
    if isinstance(obj, sp.Symbol):
        return [obj]
    if isinstance(obj, str):
        return [sp.Symbol(obj)]  # a name, never parsed
    if isinstance(obj, MatrixSymbol):
        rows, cols = obj.shape
        if not (rows.is_Integer and cols.is_Integer):
            raise GraphError(f"formula: MatrixSymbol {obj.name!r} has symbolic shape {obj.shape}; give integer sizes")
        return [obj[i, j] for i in range(int(rows)) for j in range(int(cols))]
    if isinstance(obj, (list, tuple)) and all(isinstance(s, sp.Symbol) for s in obj):
        return list(obj)
    if isinstance(obj, (set, frozenset)):
        obj = sorted(obj, key=str)
    if isinstance(obj, (sp.MatrixBase, Iterable)) and not isinstance(obj, sp.Basic):
        return [s for item in obj for s in _flatten(item, what)]
    raise GraphError(f"formula: {what} must be sympy Symbols, MatrixSymbols or their names, got {_short(obj)}")


def leaf_name(leaf: Leaf) -> str:
    """The graph name of a leaf: the symbol's name; ``W_i_j`` for entry (i, j) of a MatrixSymbol ``W``
    (``x_i`` when ``x`` is a row or a column).

    >>> W = sp.MatrixSymbol("W", 2, 3)
    >>> leaf_name(W[1, 2]), leaf_name(sp.MatrixSymbol("x", 3, 1)[2, 0])
    ('W_1_2', 'x_2')
    """
    if isinstance(leaf, MatrixElement):
        rows, cols = leaf.parent.shape
        i, j = int(leaf.i), int(leaf.j)
        if cols == 1 or rows == 1:
            return f"{leaf.parent.name}_{i if cols == 1 else j}"
        return f"{leaf.parent.name}_{i}_{j}"
    return leaf.name


def _check_name(sym: Leaf) -> None:
    name = leaf_name(sym)
    if not is_identifier(name):
        fix = re.sub(r"\W", "_", name)
        fix = fix if fix and not fix[0].isdigit() else f"s_{fix}"
        raise GraphError(
            f"formula: symbol name {name!r} is not a Python identifier; rename it, e.g. sympy.Symbol({fix!r})"
        )


def _short(e: Any, limit: int = 200) -> str:
    """``e`` for an error message, cut to ``limit`` characters (a sub-expression may be huge)."""
    text = str(e)
    return text if len(text) <= limit else text[: limit - 20] + f"... ({len(text)} characters)"


def _outputs(expr: Any) -> tuple[list[Any], bool]:
    """The scalar expressions of ``expr`` and whether it was several (a list, or a matrix with more than one entry)."""
    if isinstance(expr, MatrixExpr):
        expr = expr.as_explicit()
    if isinstance(expr, sp.MatrixBase):
        return list(expr), expr.shape != (1, 1)
    if isinstance(expr, (list, tuple)):
        return [e for item in expr for e in _outputs(item)[0]], True
    return [expr], False


def formula(
    expr: sp.Expr | Sequence[sp.Expr],
    params: Any,
    inputs: Any = (),
    name: str | Sequence[str] = "out",
) -> Graph:
    """The Graph of ``expr`` (or a list of expressions: one output each) over scalar leaves.

    ``params`` and ``inputs`` list the symbols (or their names) that become ``"param"`` and
    ``"input"`` leaves; every free symbol of ``expr`` must be listed in one of them. A
    ``MatrixSymbol`` ``W`` listed there gives one leaf per entry, named ``W_i_j`` (``x_i`` for a
    row or column; see ``leaf_name``). ``expr`` may be a sympy Matrix or matrix expression (e.g.
    ``v.T * (W * x).applyfunc(sigmoid)``): a 1x1 one is a scalar, a larger one one output per entry
    in row-major order. ``name`` names the output (with several expressions: a list of names, or a
    prefix giving ``name0, name1, ...``). Strings are never parsed: build expressions with sympy.
    """
    exprs, many = _outputs(expr)
    if isinstance(name, str):
        names = [f"{name}{i}" for i in range(len(exprs))] if many else [name]
    else:
        names = list(name)
    if len(names) != len(exprs):
        raise GraphError(f"formula: {len(exprs)} expressions but {len(names)} output names")

    leaves: dict[str, tuple[Leaf, str]] = {}
    matrices: set[MatrixSymbol] = set()
    for kind, group in (("input", _flatten(inputs, "inputs")), ("param", _flatten(params, "params"))):
        for sym in group:
            _check_name(sym)
            nm = leaf_name(sym)
            if nm in leaves and leaves[nm][0] != sym:
                raise GraphError(f"formula: two different leaves are both named {nm!r}; rename one of them")
            if nm in leaves and leaves[nm][1] != kind:
                raise GraphError(f"formula: symbol {nm!r} is listed both as a param and as an input")
            leaves.setdefault(nm, (sym, kind))
            if isinstance(sym, MatrixElement):
                matrices.add(sym.parent)

    raw = []
    for e in exprs:
        try:
            e = sympify_data(e, "formula", GraphError, strict=True)
        except (sp.SympifyError, TypeError) as err:
            raise GraphError(f"formula: {_short(e)} is not a sympy expression") from err
        if not isinstance(e, sp.Expr) or isinstance(e, MatrixExpr):
            raise UnsupportedFunctionError(f"formula: {_short(e)} is a {type(e).__name__}, not a scalar expression")
        raw.append(e)

    free: dict[str, sp.Symbol] = {}
    for e in raw:
        for sym in e.free_symbols:
            if isinstance(sym, MatrixSymbol):
                if sym not in matrices:
                    raise GraphError(
                        f"formula: the MatrixSymbol {sym.name!r} is neither in params nor in inputs; list it in one"
                    )
                continue
            if free.setdefault(sym.name, sym) != sym:
                raise GraphError(
                    f"formula: two different symbols are both named {sym.name!r} (different assumptions); "
                    "use one symbol per name"
                )
    for sym in free.values():
        _check_name(sym)
    missing = sorted(set(free) - set(leaves))
    if missing:
        shown = ", ".join(missing[:10]) + (f", ... ({len(missing)} in all)" if len(missing) > 10 else "")
        raise GraphError(f"formula: the free symbols {shown} are neither params nor inputs; list each in one of them")

    # canonicalize rewrites the whole expression several times over: skip it when the walk
    # finds nothing it would change (the common case, e.g. an MLP written with sigmoid)
    try:
        return _build(raw, leaves, free, names, strict=True)
    except _NeedsCanonical:
        return _build([canonicalize(e) for e in raw], leaves, free, names, strict=False)


def _build(
    exprs: list[sp.Expr],
    leaves: dict[str, tuple[Leaf, str]],
    free: dict[str, sp.Symbol],
    names: list[str],
    strict: bool,
) -> Graph:
    b = Builder()
    env: dict[sp.Basic, Value] = {}
    for nm, (sym, kind) in leaves.items():
        leaf = b.input(nm, ()) if kind == "input" else b.param(nm, ())
        env[sym] = leaf
        if nm in free and isinstance(sym, sp.Symbol):
            env[free[nm]] = leaf  # the expression's own symbol object, whatever its assumptions
    walker = _Walker(b, env, strict)
    outs = []
    for e in exprs:
        v = walker.value(e)
        outs.append(v if isinstance(v, Tensor) else b.const(v))
    return b.build(*outs, names=names)


class _Alias:
    """Marks a node whose value is that of another expression (a matrix entry made explicit)."""

    def __init__(self, target: sp.Expr) -> None:
        self.target = target


class _NeedsCanonical(Exception):
    """The expression holds something ``canonicalize`` rewrites or rejects with a clear message."""


def _needs_canonical(e: sp.Basic) -> bool:
    """Nodes that canonicalize rewrites (besides functions outside SUPPORTED) or rejects."""
    if e.is_Number or isinstance(e, sp.NumberSymbol):
        return not e.is_finite  # nan, oo, zoo
    if e.is_Pow:
        return bool(e.exp == -1 and _is_one_plus_exp(e.base))  # 1/(1+exp(a)) -> sigmoid(-a)
    if isinstance(e, sp.log):
        return _is_one_plus_exp(e.args[0])  # log(1+exp(a)) -> softplus(a)
    return type(e) not in SUPPORTED and not (e.is_Add or e.is_Mul or e.is_Symbol)


Factors = list[tuple[Tensor, sp.Expr]]  # prod_i t_i ** e_i
Terms = list[tuple[sp.Expr, Factors]]  # sum_j k_j prod_i t_ji ** e_ji


class _Walker:
    """Converts expression nodes bottom-up, each once (memoized in ``env``).

    Add, Mul and Pow with a numeric exponent become "sums of products" c + sum_j k_j prod_i
    t_ji^e_ji of child nodes: an Add of products like sum_j W_ij x_j is one node with up to
    ``MAX_ARITY`` arguments (a tree of such nodes beyond), not one node per product.
    """

    def __init__(self, builder: Builder, env: dict[sp.Basic, Value], strict: bool) -> None:
        self.b = builder
        self.env = env
        self.strict = strict
        self._lambdas: dict[tuple[Any, ...], sp.Lambda] = {}
        self._matrices: dict[sp.Basic, sp.MatrixBase] = {}

    def value(self, root: sp.Expr) -> Value:
        env = self.env
        stack: list[tuple[sp.Basic, Any, Any]] = [(root, None, None)]  # (node, its parts, its parent)
        while stack:
            e, parts, parent = stack.pop()
            if e in env:
                continue
            if isinstance(parts, _Alias):
                env[e] = env[parts.target]
                continue
            if parts is not None:
                env[e] = self._convert(e, parts)
                continue
            if isinstance(e, MatrixElement):  # an entry of a matrix expression: its explicit scalar
                if isinstance(e.parent, MatrixSymbol):
                    raise GraphError(
                        f"formula: {e} (in {_short(parent)}) is an entry of MatrixSymbol {e.parent.name!r}, "
                        "which is neither in params nor in inputs; list it in one"
                    )
                target = self._explicit(e)
                stack.append((e, _Alias(target), parent))
                stack.append((target, None, parent))
                continue
            if e.is_Number or isinstance(e, sp.NumberSymbol):
                if not e.is_finite:
                    where = f"the sub-expression {_short(parent)} contains {e}" if parent is not None else f"{e}"
                    raise UnsupportedFunctionError(f"formula: {where}; expressions must be real and finite")
                env[e] = e
                continue
            if self.strict and _needs_canonical(e):
                raise _NeedsCanonical
            if e.is_Symbol:  # pragma: no cover - every free symbol was checked to be a leaf
                raise GraphError(f"formula: symbol {e} has no leaf")
            if not (e.is_Add or e.is_Mul or e.is_Pow or type(e) in SUPPORTED):
                raise UnsupportedFunctionError(
                    f"formula: {type(e).__name__} is not supported, in the sub-expression {_short(e)}; use +, -, *, "
                    f"/, powers and the functions {', '.join(sorted(SUPPORTED.values()))}"
                )
            parts = _sum_of_products(e)
            stack.append((e, parts if parts is not None else (), parent))
            children = e.args if parts is None else [base for _, fs in parts for base, _ in fs]
            stack.extend((c, None, e) for c in children if c not in env)
        return env[root]

    def _explicit(self, e: MatrixElement) -> sp.Expr:
        """Entry (i, j) of the explicit matrix of ``e``'s parent (each parent made explicit once)."""
        m = self._matrices.get(e.parent)
        if m is None:
            m = self._matrices[e.parent] = e.parent.as_explicit()
        return m[int(e.i), int(e.j)]

    def _convert(self, e: sp.Basic, parts: Any) -> Value:
        env = self.env
        if not parts:  # a function, or a power with a symbolic exponent
            vals = [env[a] for a in e.args]
            tensors = _unique(v for v in vals if isinstance(v, Tensor))
            if not tensors:
                return e  # type: ignore[return-value]
            syms = arg_symbols(len(tensors))
            slot = {t: syms[i] for i, t in enumerate(tensors)}
            body = e.func(*(slot[v] if isinstance(v, Tensor) else v for v in vals))
            return self._lambda_node(("f", body), lambda: body, tensors)
        c0 = sp.S.Zero
        terms: Terms = []
        for coef, factors in parts:
            k, live = coef, []
            for base, ex in factors:
                v = env[base]
                if isinstance(v, Tensor):
                    live.append((v, ex))
                else:
                    k = k * v**ex
            if live:
                terms.append((k, live))
            else:
                c0 += k
        if not terms:
            return c0
        return self._emit(c0, terms)

    def _emit(self, c0: sp.Expr, terms: Terms) -> Tensor:
        """Nodes for c0 + terms with at most MAX_ARITY tensors each."""
        terms = [(k, self._shrink(fs)) for k, fs in terms]
        groups: list[Terms] = []
        seen: set[int] = set()  # node ids: cheaper to hash than Tensors
        for k, fs in terms:
            ts = {t.id for t, _ in fs}
            if not groups or len(seen | ts) > MAX_ARITY:
                groups.append([])
                seen = set()
            groups[-1].append((k, fs))
            seen |= ts
        if len(groups) == 1:
            return self._sop_node(c0, groups[0])
        parts = [self._sop_node(sp.S.Zero, g) for g in groups]
        return self._emit(c0, [(sp.S.One, [(p, sp.S.One)]) for p in parts])

    def _shrink(self, factors: Factors) -> Factors:
        """One product's factors, pre-multiplied in chunks until at most MAX_ARITY remain."""
        while len(factors) > MAX_ARITY:
            chunks = [factors[i : i + MAX_ARITY] for i in range(0, len(factors), MAX_ARITY)]
            factors = [(self._sop_node(sp.S.Zero, [(sp.S.One, ch)]), sp.S.One) for ch in chunks]
        return factors

    def _sop_node(self, c0: sp.Expr, terms: Terms) -> Tensor:
        by_id = {t.id: t for _, fs in terms for t, _ in fs}
        tensors = list(by_id.values())
        slot = {i: n for n, i in enumerate(by_id)}
        # the body depends only on this key: the 10,000 products W_ij x_j of an MLP share one Lambda
        key = (c0, tuple((k, tuple((slot[t.id], ex) for t, ex in fs)) for k, fs in terms))

        def body() -> sp.Expr:
            syms = arg_symbols(len(tensors))
            return sp.Add(c0, *(k * sp.Mul(*(syms[i] ** ex for i, ex in fs)) for k, fs in key[1]))

        return self._lambda_node(key, body, tensors)

    def _lambda_node(self, key: tuple[Any, ...], body: Any, tensors: list[Tensor]) -> Tensor:
        lam = self._lambdas.get(key)
        if lam is None:
            expr = body()
            if len(tensors) == 1 and expr == arg_symbols(1)[0]:
                return tensors[0]  # the identity (sympy would make Lambda(_a0, _a0) a Dummy-based IdentityFunction)
            lam = self._lambdas[key] = sp.Lambda(tuple(arg_symbols(len(tensors))), expr)
        return self.b.add(Elementwise(lam), *tensors)


def _sum_of_products(e: sp.Basic) -> list[tuple[sp.Expr, list[tuple[sp.Basic, sp.Expr]]]] | None:
    """``e`` as [(coefficient, [(base, numeric exponent), ...]), ...], or None for other nodes."""
    if e.is_Add:
        return [_product(a) for a in e.args]
    if e.is_Mul or (e.is_Pow and e.exp.is_Number):
        return [_product(e)]
    return None


def _product(a: sp.Basic) -> tuple[sp.Expr, list[tuple[sp.Basic, sp.Expr]]]:
    coef = sp.S.One
    factors = []
    for f in a.args if a.is_Mul else (a,):
        if f.is_Number:
            coef = coef * f
        elif f.is_Pow and f.exp.is_Number and f.exp.is_negative and _is_one_plus_exp(f.base):
            # (1 + exp(a))^-p = sigmoid(-a)^p: the stable form, whose derivative is no inf/inf for large -a
            arg = -_exp_arg(f.base)  # unevaluated unless a number: sigmoid's is_zero query is slow on long sums
            factors.append((sigmoid(arg, evaluate=not arg.free_symbols), -f.exp))
        elif f.is_Pow and f.exp.is_Number:
            factors.append((f.base, f.exp))
        else:
            factors.append((f, sp.S.One))
    for k in (coef, *(ex for _, ex in factors)):
        if not k.is_finite:
            raise UnsupportedFunctionError(
                f"formula: the sub-expression {_short(a)} contains {k}; expressions must be real and finite"
            )
    return coef, factors


def _unique(tensors: Iterable[Tensor]) -> list[Tensor]:
    return list(dict.fromkeys(tensors))
