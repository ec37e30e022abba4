"""Elementwise bodies as flat scalar programs over a fixed set of primitives.

``compile_lambda`` turns a sympy ``Lambda`` into a ``Program``: arrays of opcodes, operand rows
and constants that the interpreters in ``kernels`` run over all elements. Common subexpressions
become one instruction; constant subexpressions are evaluated here, once.

>>> import sympy as sp
>>> x, y = sp.symbols("_a0 _a1", real=True)
>>> compile_lambda(sp.Lambda((x, y), sp.tanh(x) * y - 1)).listing()
['%2 = tanh(%0)', '%3 = mul(%1, %2)', '%4 = addc(%3, -1.0)']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import sympy as sp

from ..errors import UnsupportedFunctionError
from ..functions import FUNCTIONS, SUPPORTED
from . import kernels as K

#: Canonical function name -> its primitive: the opcode that ``kernels.NAMES`` names the same way.
PRIMITIVES: dict[str, int] = {name: op for op, name in enumerate(K.NAMES) if name in FUNCTIONS}


@dataclass(frozen=True)
class Program:
    """A straight-line scalar program: instruction ``i`` writes row ``nargs + i``; ``root`` is the result row."""

    code: np.ndarray
    ia: np.ndarray
    ib: np.ndarray
    consts: np.ndarray
    nargs: int
    root: int
    _by_dtype: dict[np.dtype, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def nslots(self) -> int:
        return self.nargs + len(self.code)

    def constants(self, dtype: np.dtype) -> np.ndarray:
        """The constants in the dtype the kernels run in (cast once per dtype)."""
        dtype = np.dtype(dtype)
        if dtype not in self._by_dtype:
            self._by_dtype[dtype] = self.consts.astype(dtype)
        return self._by_dtype[dtype]

    def listing(self) -> list[str]:
        """The program as readable lines, e.g. ``%2 = mul(%0, %1)``."""
        lines = []
        for i, (op, a, b, c) in enumerate(zip(self.code, self.ia, self.ib, self.consts, strict=True)):
            name = K.NAMES[op]
            if op == K.CONST:
                operands = [repr(float(c))]
            else:
                operands = [f"%{a}"] + ([f"%{b}"] if b >= 0 else []) + ([repr(float(c))] if op in _WITH_C else [])
            lines.append(f"%{self.nargs + i} = {name}({', '.join(operands)})")
        return lines


_WITH_C = frozenset({K.ADDC, K.MULC, K.POWC})


class _Emitter:
    """Appends instructions, reusing one row per distinct (op, operands, constant)."""

    def __init__(self, variables: tuple[sp.Symbol, ...]) -> None:
        self.nargs = len(variables)
        self.rows: dict[sp.Expr, int] = {v: k for k, v in enumerate(variables)}
        self.instrs: list[tuple[int, int, int, float]] = []
        self.seen: dict[tuple[int, int, int, float], int] = {}

    def emit(self, op: int, a: int = -1, b: int = -1, c: float = 0.0) -> int:
        key = (op, a, b, c)
        if key not in self.seen:
            self.instrs.append(key)
            self.seen[key] = self.nargs + len(self.instrs) - 1
        return self.seen[key]

    def row(self, e: sp.Expr) -> int:
        if e not in self.rows:
            self.rows[e] = self._compile(e)
        return self.rows[e]

    def _compile(self, e: sp.Expr) -> int:
        if not e.free_symbols:
            return self.emit(K.CONST, c=_number(e))
        if isinstance(e, sp.Add):
            return self._add(e)
        if isinstance(e, sp.Mul):
            return self._mul(e)
        if isinstance(e, sp.Pow):
            return self._pow(e.base, e.exp)
        op = PRIMITIVES.get(SUPPORTED.get(type(e), ""))
        if op is not None:
            return self.emit(op, *(self.row(a) for a in e.args))
        raise UnsupportedFunctionError(
            f"the numeric executor has no primitive for {type(e).__name__} in {e}; "
            "canonicalize the body (symnn.functions.canonicalize) or write it with supported functions"
        )

    def _add(self, e: sp.Expr) -> int:
        const, rest = e.as_coeff_Add()
        plus: list[sp.Expr] = []
        minus: list[sp.Expr] = []
        for t in sp.Add.make_args(rest):
            coeff, _ = t.as_coeff_Mul()
            (minus if coeff.is_negative else plus).append(-t if coeff.is_negative else t)
        if plus:
            acc = self.row(plus[0])
            for t in plus[1:]:
                acc = self.emit(K.ADD, acc, self.row(t))
        else:
            acc = self.emit(K.NEG, self.row(minus.pop(0)))
        for t in minus:
            acc = self.emit(K.SUB, acc, self.row(t))
        return self.emit(K.ADDC, acc, c=_number(const)) if const != 0 else acc

    def _mul(self, e: sp.Expr) -> int:
        coeff, rest = e.as_coeff_Mul()
        num, den = [], []
        for f in sp.Mul.make_args(rest):
            if isinstance(f, sp.Pow) and f.exp.is_number and f.exp.is_negative:
                den.append(sp.Pow(f.base, -f.exp))
            else:
                num.append(f)
        if not num:  # 1 / (a b ...): a power, not a division of constants
            num, den = [sp.Pow(sp.Mul(*den), -1, evaluate=False)], []
        acc = self.row(num[0])
        for f in num[1:]:
            acc = self.emit(K.MUL, acc, self.row(f))
        if den:
            acc = self.emit(K.DIV, acc, self.row(sp.Mul(*den)))
        if coeff == -1:
            return self.emit(K.NEG, acc)
        return self.emit(K.MULC, acc, c=_number(coeff)) if coeff != 1 else acc

    def _pow(self, base: sp.Expr, exp: sp.Expr) -> int:
        if not exp.free_symbols:
            return self.emit(K.POWC, self.row(base), c=_number(exp))
        if not base.free_symbols and _number(base) > 0:
            # c**y = exp(y log c)
            return self.emit(K.EXP, self.emit(K.MULC, self.row(exp), c=math.log(_number(base))))
        return self.emit(K.POW, self.row(base), self.row(exp))


def _number(e: sp.Expr) -> float:
    try:
        return float(e)
    except TypeError:
        raise UnsupportedFunctionError(f"the constant {e} is not a real number") from None


@lru_cache(maxsize=4096)
def compile_lambda(fn: sp.Lambda) -> Program:
    """The scalar program of ``fn`` (cached per Lambda: each body is compiled once per process)."""
    em = _Emitter(tuple(fn.variables))
    root = em.row(fn.expr)
    code, ia, ib, consts = zip(*em.instrs, strict=True) if em.instrs else ((), (), (), ())
    return Program(
        code=np.array(code, dtype=np.int64),
        ia=np.array(ia, dtype=np.int64),
        ib=np.array(ib, dtype=np.int64),
        consts=np.array(consts, dtype=np.float64),
        nargs=em.nargs,
        root=root,
    )


def compose(outer: Program, j: int, inner: Program) -> Program:
    """The program of ``outer`` with its argument ``j`` computed by ``inner``: ``inner``'s arguments,
    then ``outer``'s others, are the arguments; ``inner``'s instructions run first, then ``outer``'s.

    Every instruction is kept as it is, only its rows renumbered, so each value is computed by the same
    operations in the same order as by the two programs one after the other.

    >>> x, y = sp.symbols("_a0 _a1", real=True)
    >>> compose(compile_lambda(sp.Lambda(x, sp.tanh(x))), 0, compile_lambda(sp.Lambda((x, y), x + y))).listing()
    ['%2 = add(%0, %1)', '%3 = tanh(%2)']
    """
    n_in, n_out = inner.nargs, outer.nargs
    nargs = n_in + n_out - 1
    first = nargs + len(inner.code)  # the fused row of outer's first instruction
    inner_row = [*range(n_in), *range(nargs, first)]  # inner's row -> fused row
    outer_row = [n_in + k - (k > j) for k in range(n_out)] + [*range(first, first + len(outer.code))]
    outer_row[j] = inner_row[inner.root]

    def renumber(rows: list[int], operands: np.ndarray) -> list[int]:
        return [rows[r] if r >= 0 else -1 for r in operands.tolist()]

    return Program(
        code=np.concatenate([inner.code, outer.code]),
        ia=np.array(renumber(inner_row, inner.ia) + renumber(outer_row, outer.ia), dtype=np.int64),
        ib=np.array(renumber(inner_row, inner.ib) + renumber(outer_row, outer.ib), dtype=np.int64),
        consts=np.concatenate([inner.consts, outer.consts]),
        nargs=nargs,
        root=outer_row[outer.root],
    )


_AFFINE = frozenset({K.CONST, K.ADD, K.SUB, K.NEG, K.ADDC, K.MULC})


@lru_cache(maxsize=4096)
def affine_coefficients(fn: sp.Lambda) -> tuple[float, ...] | None:
    """``(a_1, ..., a_n)`` with ``fn(x) = sum_i a_i x_i + c`` when its program only adds, subtracts,
    negates and scales by constants; ``None`` otherwise.

    The partials of such a program are the same everywhere, so one adjoint sweep of the program
    itself (at a single element) reads them off; linear nodes (bias adds, means, differences) then
    skip the per-element interpreter in tangent and adjoint sweeps.

    >>> x, y = sp.symbols("_a0 _a1", real=True)
    >>> affine_coefficients(sp.Lambda((x, y), x - y / 4 + 3)), affine_coefficients(sp.Lambda((x, y), x * y))
    ((1.0, -0.25), None)
    """
    prog = compile_lambda(fn)
    if prog.nargs == 0 or not set(prog.code.tolist()) <= _AFFINE:
        return None
    V = np.zeros((prog.nslots, 1))
    K.program_forward(prog.code, prog.ia, prog.ib, prog.constants(V.dtype), prog.nargs, V)
    G = np.zeros_like(V)
    G[prog.root] = 1.0
    active = np.ones(prog.nslots, dtype=np.bool_)
    K.program_vjp(prog.code, prog.ia, prog.ib, prog.constants(V.dtype), prog.nargs, V, G, active)
    return tuple(float(a) for a in G[: prog.nargs, 0])
