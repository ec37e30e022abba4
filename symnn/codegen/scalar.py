"""Scalar sympy expressions to Numba source: one name table, stable helpers, typed literals.

Elementwise bodies are printed as straight-line Python over scalar locals. Every function of
``symnn.functions.FUNCTIONS`` maps, by its canonical name, through ``FUNCTIONS`` here to a ``math``
call or to one of the small ``@njit`` helpers in ``HELPERS`` that the generated module defines
when it uses them (tanh: ``vecmath``'s branch-free one, so that the loops calling it vectorize).

>>> import sympy as sp
>>> x, y = sp.symbols("x y", real=True)
>>> ScalarPrinter({x: "x0", y: "x1"}, "float64").doprint(2 * x - y / 3 + x**2)
'x0 * x0 + 2.0 * x0 - x1 / 3.0'
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sympy as sp

from ..errors import UnsupportedFunctionError
from ..functions import canonical_name, sigmoid, softplus
from .vecmath import tanh_source

#: Canonical function name (``symnn.functions.FUNCTIONS``) -> the callable the generated code uses.
FUNCTIONS: dict[str, str] = {
    "exp": "math.exp",
    "log": "math.log",
    "tanh": "_tanh",
    "sinh": "math.sinh",
    "cosh": "math.cosh",
    "sin": "math.sin",
    "cos": "math.cos",
    "tan": "math.tan",
    "atan": "math.atan",
    "erf": "math.erf",
    "abs": "abs",
    "sigmoid": "_sigmoid",
    "softplus": "_softplus",
    "relu": "_relu",
    "step": "_step",
    "sgn": "_sgn",
    "maximum": "_maximum",
}

_JIT = '@njit(_T(_T), cache=True, error_model="numpy")'

#: Helper functions, written with ``{one}``/``{zero}`` so that float32 code stays float32 (``_T``
#: is the kernel's float type), or a function of the dtype giving the source. NaN goes through every
#: helper as NaN (comparisons with NaN are false).
HELPERS: dict[str, str | Callable[[str], str]] = {
    "_sigmoid": f'''{_JIT}
def _sigmoid(x):
    """1 / (1 + exp(-x)), in two branches so that exp never overflows."""
    if x >= 0:
        return {{one}} / ({{one}} + math.exp(-x))
    e = math.exp(x)
    return e / ({{one}} + e)
''',
    "_softplus": f'''{_JIT}
def _softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), finite for every finite x."""
    return (x if x > 0 else {{zero}}) + math.log1p(math.exp(-abs(x)))
''',
    "_relu": f'''{_JIT}
def _relu(x):
    """max(x, 0); relu(NaN) = NaN."""
    return {{zero}} if x <= 0 else x
''',
    "_step": f'''{_JIT}
def _step(x):
    """1 if x > 0 else 0, so step(0) = 0; step(NaN) = NaN."""
    if x > 0:
        return {{one}}
    if x <= 0:
        return {{zero}}
    return x
''',
    "_sgn": f'''{_JIT}
def _sgn(x):
    """sign(x) with sgn(0) = 0 and sgn(NaN) = NaN."""
    if x > 0:
        return {{one}}
    if x < 0:
        return -{{one}}
    if x == 0:
        return {{zero}}
    return x
''',
    "_tanh": tanh_source,  # a function of the dtype: its constants and integer widths differ
    "_maximum": '''@njit(_T(_T, _T), cache=True, error_model="numpy")
def _maximum(a, b):
    """a if a >= b else b (the first argument on ties); NaN in either argument gives NaN."""
    return a if (a >= b or a != a) else b
''',
}


def literal(value: float, dtype: str) -> str:
    """A float literal of the kernel's dtype (float32 code must not promote to float64)."""
    text = repr(float(value))
    if text in ("inf", "-inf", "nan"):
        raise UnsupportedFunctionError(f"the constant {value} is not finite")
    return text if dtype == "float64" else f"np.{dtype}({text})"


def stabilize(expr: sp.Expr) -> sp.Expr:
    """Rewrite forms that overflow in floating point: log(sigmoid(u)) = -softplus(-u), etc."""

    def log_rule(arg: sp.Expr) -> sp.Expr:
        if isinstance(arg, sigmoid):  # log sigmoid(u) = -softplus(-u)
            return -softplus(-arg.args[0])
        rest = arg - 1
        if isinstance(-rest, sigmoid):  # log(1 - sigmoid(u)) = -softplus(u)
            return -softplus((-rest).args[0])
        return sp.log(arg)

    return expr.replace(sp.log, log_rule)


_ATOM, _POW, _MUL, _ADD = 4, 3, 2, 1
_SMALL_POWER = 4


class ScalarPrinter:
    """Prints one scalar sympy expression; ``names`` maps its symbols to generated locals."""

    def __init__(self, names: dict[sp.Symbol, str], dtype: str) -> None:
        self.names = names
        self.dtype = dtype
        self.helpers: set[str] = set()

    def doprint(self, expr: sp.Expr) -> str:
        return self._print(sp.sympify(expr))[0]

    def _lit(self, value: float) -> str:
        return literal(value, self.dtype)

    def _paren(self, expr: sp.Expr, min_prec: int) -> str:
        text, prec = self._print(expr)
        return f"({text})" if prec < min_prec else text

    def _print(self, e: sp.Expr) -> tuple[str, int]:
        if isinstance(e, sp.Symbol):
            if e not in self.names:
                raise UnsupportedFunctionError(f"the symbol {e} has no value in this kernel")
            return self.names[e], _ATOM
        if e.is_Number or isinstance(e, sp.NumberSymbol):
            v = float(e)
            return (self._lit(v), _ATOM) if v >= 0 else (f"-{self._lit(-v)}", _MUL)
        if isinstance(e, sp.Add):
            return self._print_add(e)
        if isinstance(e, sp.Mul) or (isinstance(e, sp.Pow) and e.exp.is_Rational and e.exp < 0):
            return self._print_mul(e)
        if isinstance(e, sp.Pow):
            return self._print_pow(e)
        if isinstance(e, sp.Function):
            name = FUNCTIONS[canonical_name(e)]
            if name in HELPERS:
                self.helpers.add(name)
            return f"{name}({', '.join(self._print(a)[0] for a in e.args)})", _ATOM
        raise UnsupportedFunctionError(f"cannot generate code for {e} ({type(e).__name__}); see symnn.functions")

    def _print_add(self, e: sp.Add) -> tuple[str, int]:
        parts: list[str] = []
        for k, term in enumerate(e.as_ordered_terms()):
            negative = term.could_extract_minus_sign()
            text = self._paren(-term if negative else term, _MUL)
            if k == 0:
                parts.append(f"-{self._paren(-term, _POW)}" if negative else text)
            else:
                parts.append(f" - {text}" if negative else f" + {text}")
        return "".join(parts), _ADD

    def _print_mul(self, e: sp.Expr) -> tuple[str, int]:
        coeff, factors = e.as_coeff_mul()
        num: list[str] = []
        den: list[str] = []
        negative = coeff < 0
        coeff = abs(coeff)
        if coeff.is_Rational:
            if coeff.p != 1:
                num.append(self._lit(coeff.p))
            if coeff.q != 1:
                den.append(self._lit(coeff.q))
        elif coeff != 1:
            num.append(self._lit(coeff))
        for f in factors:
            if isinstance(f, sp.Pow) and f.exp.is_Rational and f.exp < 0:
                den.append(self._paren(f.base**-f.exp, _POW))
            else:
                num.append(self._paren(f, _POW))
        text = " * ".join(num) if num else self._lit(1)
        if den:
            text += " / " + (den[0] if len(den) == 1 else f"({' * '.join(den)})")
        return (f"-{text}", _MUL) if negative else (text, _MUL)

    def _print_pow(self, e: sp.Pow) -> tuple[str, int]:
        base, exp = e.base, e.exp
        if exp == sp.S.Half:
            return f"math.sqrt({self.doprint(base)})", _ATOM
        if exp.is_Integer and 2 <= exp <= _SMALL_POWER and isinstance(base, sp.Symbol):
            return " * ".join([self.names[base]] * int(exp)), _MUL  # repeated multiplication
        b = self._paren(base, _POW + 1)
        if exp.is_Integer:
            return f"{b} ** {int(exp)}", _POW  # an integer literal: Numba multiplies
        if exp.is_Number:
            return f"{b} ** {self._lit(float(exp))}", _POW
        return f"{b} ** {self._paren(exp, _POW)}", _POW


_SAFE_NAME = re.compile(r"[A-Za-z0-9_:.\-]{1,64}")


def safe_display(name: str) -> bool:
    """Whether a user name may be shown verbatim in a docstring (it cannot end a string or a line)."""
    return _SAFE_NAME.fullmatch(name) is not None
