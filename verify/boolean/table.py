"""Boolean functions {-1,+1}^d -> {-1,+1} as truth tables, read from the forms users give them in.

Conventions (the same everywhere in ``verify.boolean``):

* input ``i`` (0 <= i < 2^d) is the point x with ``x_j = +1`` iff bit j of i is set, so x_0 is the
  least significant bit; True <-> +1 and False <-> -1, for inputs and outputs alike;
* a bit string lists f(0), f(1), ... left to right (``"0001"`` is AND of two variables);
* a hex string is the integer whose bit i is f(i) (``"0x8"`` is the same AND, ``"0x6996"`` is
  parity of four variables).

>>> f = boolean_function("x0 & ~x1")
>>> f.d, f.bits
(2, '0100')
>>> boolean_function([1, -1, -1, 1]).hex
'0x9'
>>> boolean_function(lambda x: x[0] == x[1], d=2) == boolean_function("0x9")
True
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from sympy.logic.boolalg import Boolean, BooleanFalse, BooleanTrue

from .errors import CallableError, FunctionSpecError, TooLargeError, TruthTableError, format_seconds

MAX_TABLE_D = 28  # 2^28 int8 = 256 MiB: beyond this, use a symmetric target or a network
MAX_CALLABLE_SECONDS = 120.0  # tabulating a Python callable above this estimate is refused


@dataclass(frozen=True, eq=False)
class BooleanFunction:
    """A function {-1,+1}^d -> {-1,+1}: ``table[i]`` in {-1, +1} is f at input i (see module docstring)."""

    d: int
    table: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        t = np.ascontiguousarray(self.table, dtype=np.int8)
        t.setflags(write=False)
        object.__setattr__(self, "table", t)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BooleanFunction) and self.d == other.d and bool(np.array_equal(self.table, other.table))
        )

    def __hash__(self) -> int:
        return hash((self.d, self.table.tobytes()))

    def __repr__(self) -> str:
        label = f" {self.name}" if self.name else ""
        body = self.hex if self.d <= 6 else f"{self.n_true} true of {self.table.size}"
        return f"<BooleanFunction d={self.d}{label} {body}>"

    def __call__(self, x: Sequence[int]) -> int:
        """f(x) for a point x in {-1,+1}^d."""
        return int(self.table[point_index(x, self.d)])

    @property
    def n_true(self) -> int:
        return int(np.count_nonzero(self.table > 0))

    @property
    def n_false(self) -> int:
        return int(self.table.size - self.n_true)

    @property
    def bits(self) -> str:
        """f(0) f(1) ... as '0'/'1' characters, left to right."""
        return "".join("1" if v > 0 else "0" for v in self.table.tolist())

    @property
    def value(self) -> int:
        """The truth table as one integer: bit i is set iff f(i) = +1."""
        return int.from_bytes(np.packbits(self.table > 0, bitorder="little").tobytes(), "little")

    @property
    def hex(self) -> str:
        return f"0x{self.value:0{max(1, self.table.size // 4)}x}"

    def negate(self) -> BooleanFunction:
        return BooleanFunction(self.d, -self.table, f"~({self.name})" if self.name else "")


def point_index(x: Sequence[int], d: int) -> int:
    """The index of a point x in {-1,+1}^d: bit j is set iff x_j = +1.

    >>> point_index((1, -1, 1), 3)
    5
    """
    if len(x) != d:
        raise FunctionSpecError(f"a point of {{-1,+1}}^{d} needs {d} coordinates, got {len(x)}: {tuple(x)}")
    i = 0
    for j, v in enumerate(x):
        if v not in (1, -1):
            raise FunctionSpecError(f"coordinate {j} of point {tuple(x)} is {v!r}; points have coordinates +1 or -1")
        i |= (v == 1) << j
    return i


def cube(d: int) -> np.ndarray:
    """All 2^d points of {-1,+1}^d as rows, in index order (int8; small d only).

    >>> cube(2).tolist()
    [[-1, -1], [1, -1], [-1, 1], [1, 1]]
    """
    if d > 24:
        raise TooLargeError(f"cube({d}) would hold 2^{d} x {d} values; enumerate inputs in a kernel instead")
    idx = np.arange(2**d, dtype=np.int64)
    return (2 * ((idx[:, None] >> np.arange(d)) & 1) - 1).astype(np.int8)


# -- reading functions ---------------------------------------------------------------------------------
def boolean_function(spec: Any, d: int | None = None, variables: Sequence[str] | None = None) -> BooleanFunction:
    """A BooleanFunction from a truth table, a callable, a sympy boolean expression or a spec string.

    * sequence / numpy array of length 2^d with values +-1, 0/1 or True/False;
    * callable ``f(x)`` with x a tuple of d ints in {-1,+1} (``d`` required), returning a bool, +-1 or 0/1;
    * sympy boolean expression; its symbols in natural order (x2 before x10) unless ``variables``;
    * string: ``"0110"`` (bits), ``"0x6996"`` (hex), ``"parity:4"``, ``"majority:3"``, ``"and:3"``,
      ``"or:3"``, ``"atleast:5:2"``, ``"random:4:SEED"``, ``"const:3:1"``, or an expression with
      ``& | ^ ~ ! and or xor not`` and parentheses (parsed here, never passed to ``eval``).
    """
    if isinstance(spec, BooleanFunction):
        if d is not None and d != spec.d:
            raise FunctionSpecError(f"the function has d = {spec.d} variables, but d = {d} was asked for")
        return spec
    if isinstance(spec, str):
        return _from_string(spec, d, variables)
    if isinstance(spec, (Boolean, bool)) and not isinstance(spec, np.ndarray):
        return _from_expr(sp.sympify(spec), d, variables, str(spec))
    if callable(spec):
        if d is None:
            raise FunctionSpecError("a callable needs d, the number of variables: boolean_function(f, d=3)")
        return from_callable(spec, d)
    if isinstance(spec, (Sequence, np.ndarray)):
        return from_values(spec, d)
    raise FunctionSpecError(
        f"cannot read a boolean function from {type(spec).__name__} {spec!r}; give a truth table, a callable "
        "with d, a sympy boolean expression or a spec string such as 'parity:3'"
    )


def from_values(values: Any, d: int | None = None, name: str = "") -> BooleanFunction:
    """A BooleanFunction from 2^d values in one encoding: +-1, 0/1 or True/False (1 and True mean +1)."""
    arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if arr.ndim != 1:
        raise TruthTableError(f"a truth table is one-dimensional, got shape {arr.shape}")
    n = int(arr.size)
    k = n.bit_length() - 1
    if n == 0 or n != 1 << k:
        raise TruthTableError(f"a truth table has 2^d entries (1, 2, 4, 8, ...), got {n}")
    if d is not None and k != d:
        raise TruthTableError(f"a truth table for d = {d} variables has 2^{d} = {2**d} entries, got {n}")
    if k > MAX_TABLE_D:
        raise TooLargeError(f"a truth table of 2^{k} entries is above the limit 2^{MAX_TABLE_D}")
    if arr.dtype == bool:
        return BooleanFunction(k, np.where(arr, 1, -1), name)
    if arr.dtype.kind in "iuf":
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise TruthTableError(f"truth table entry {_first(arr, ~np.isfinite(arr))} is not a finite number")
        return _encode(arr, name, k)
    vals = np.empty(n, dtype=np.int64)
    for i, v in enumerate(arr.tolist()):
        vals[i] = _boolean_value(v, functools.partial("truth table entry {} is {!r}".format, i, v))
    return _encode(vals, name, k)


def _first(arr: np.ndarray, bad: np.ndarray) -> str:
    i = int(np.flatnonzero(bad)[0])
    return f"{i} ({arr[i]!r})"


def _encode(arr: np.ndarray, name: str, k: int) -> BooleanFunction:
    """Map values in {-1, 1} or {0, 1} to +-1; anything else, or -1 mixed with 0, is an error."""
    bad = (arr != 1) & (arr != 0) & (arr != -1)
    if np.any(bad):
        raise TruthTableError(
            f"truth table entry {_first(arr, bad)} is not a boolean value; use +1/-1, 1/0 or True/False"
        )
    if np.any(arr == 0) and np.any(arr == -1):
        i0, i1 = int(np.flatnonzero(arr == 0)[0]), int(np.flatnonzero(arr == -1)[0])
        raise TruthTableError(
            f"the truth table mixes two encodings: entry {i0} is 0 and entry {i1} is -1; use +1/-1 or 1/0 throughout"
        )
    return BooleanFunction(k, np.where(arr == 1, 1, -1), name)


def _boolean_value(v: Any, where: Callable[[], str]) -> int:
    """+1, 0 or -1 for a boolean-like value (bool, numpy bool, +-1 / 0 / 1 ints or floats, sympy true/false)."""
    if isinstance(v, (bool, np.bool_, BooleanTrue, BooleanFalse)):
        return 1 if bool(v) else 0
    if isinstance(v, (int, np.integer)) and v in (1, 0, -1):
        return int(v)
    if isinstance(v, (float, np.floating)) and v in (1.0, 0.0, -1.0):
        return int(v)
    if isinstance(v, sp.Integer) and v in (1, 0, -1):
        return int(v)
    raise TruthTableError(f"{where()}, not a boolean value; use True/False, +1/-1 or 1/0")


def from_callable(f: Callable[[tuple[int, ...]], Any], d: int, name: str = "") -> BooleanFunction:
    """Tabulate ``f(x)`` over {-1,+1}^d (x a tuple of ints); errors name the input that failed."""
    _check_d(d)
    n = 1 << d
    vals = np.empty(n, dtype=np.int64)
    start = time.perf_counter()
    for i in range(n):
        x = tuple(1 if (i >> j) & 1 else -1 for j in range(d))
        try:
            r = f(x)
        except Exception as e:  # the user's code failed: say where
            raise CallableError(f"the callable raised {type(e).__name__}: {e} at x = {x} (input {i})") from None
        try:
            vals[i] = _boolean_value(r, functools.partial("the callable returned {1!r} at x = {0}".format, x, r))
        except TruthTableError as e:
            raise CallableError(str(e)) from None
        if i == 255 and n > 4096:
            estimate = (time.perf_counter() - start) / 256 * n
            if estimate > MAX_CALLABLE_SECONDS:
                raise TooLargeError(
                    f"tabulating the callable on all 2^{d} inputs would take about {format_seconds(estimate)} "
                    f"(measured on the first 256); the limit is {format_seconds(MAX_CALLABLE_SECONDS)}: "
                    "pass a truth table, a sympy expression or a named function instead"
                )
    if np.any(vals == 0) and np.any(vals == -1):
        i0, i1 = int(np.flatnonzero(vals == 0)[0]), int(np.flatnonzero(vals == -1)[0])
        raise CallableError(
            f"the callable mixes two encodings: it returned 0 at input {i0} and -1 at input {i1}; "
            "return True/False, +1/-1 or 1/0 throughout"
        )
    return BooleanFunction(d, np.where(vals == 1, 1, -1), name or getattr(f, "__name__", ""))


def _check_d(d: Any) -> int:
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0:
        raise FunctionSpecError(f"d must be a non-negative integer, got {d!r}")
    if d > MAX_TABLE_D:
        raise TooLargeError(
            f"d = {d}: a truth table of 2^{d} entries ({format_bytes(2**d)}) is above the limit d <= {MAX_TABLE_D}"
        )
    return int(d)


def format_bytes(n: int) -> str:
    """``n`` bytes in binary units; beyond EiB as a power of two (2^3000 bytes is no float).

    >>> format_bytes(3 << 20), format_bytes(2**3000)
    ('3 MiB', '2^3000.0 B')
    """
    if n >= 1 << 70:
        return f"2^{math.log2(n):.1f} B"
    x = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if x < 1024:
            return f"{x:.0f} {unit}"
        x /= 1024
    return f"{x:.0f} EiB"


# -- named families --------------------------------------------------------------------------------------
def symmetric(d: int, by_count: Sequence[int], name: str = "") -> BooleanFunction:
    """The symmetric function with f(x) = by_count[number of +1 coordinates of x]."""
    _check_d(d)
    if len(by_count) != d + 1:
        raise FunctionSpecError(f"a symmetric function of {d} variables needs {d + 1} values, got {len(by_count)}")
    lut = np.asarray([1 if v > 0 else -1 for v in by_count], dtype=np.int8)
    return BooleanFunction(d, lut[popcounts(d)], name)


def popcounts(d: int) -> np.ndarray:
    """Number of set bits of 0 .. 2^d - 1."""
    c = np.zeros(1, dtype=np.int8)
    for _ in range(d):
        c = np.concatenate([c, c + 1])
    return c


def named(family: str, d: int, arg: int | None = None) -> BooleanFunction:
    """parity, xor, majority (strict: more +1 than -1), and, or, atleast (arg), const (arg 0/1), random (seed).

    >>> named("majority", 3).bits
    '00010111'
    """
    _check_d(d)
    fam = family.lower()
    counts = range(d + 1)
    if fam in ("parity", "xor"):
        return symmetric(d, [c % 2 for c in counts], f"parity:{d}")
    if fam in ("majority", "maj"):
        return symmetric(d, [2 * c > d for c in counts], f"majority:{d}")
    if fam == "and":
        return symmetric(d, [c == d for c in counts], f"and:{d}")
    if fam == "or":
        return symmetric(d, [c > 0 for c in counts], f"or:{d}")
    if fam == "atleast":
        if arg is None:
            raise FunctionSpecError("atleast needs a count: atleast:D:T is +1 iff at least T inputs are +1")
        return symmetric(d, [c >= arg for c in counts], f"atleast:{d}:{arg}")
    if fam == "const":
        if arg not in (0, 1):
            raise FunctionSpecError(f"const:D:V needs V = 0 or 1, got {arg}")
        return symmetric(d, [arg] * (d + 1), f"const:{d}:{arg}")
    if fam == "random":
        if arg is not None and arg < 0:
            raise FunctionSpecError(f"random:D:SEED needs a seed >= 0, got {arg}")
        rng = np.random.default_rng(arg)
        return BooleanFunction(d, rng.choice(np.array([-1, 1], dtype=np.int8), size=2**d), f"random:{d}:{arg}")
    raise FunctionSpecError(
        f"unknown function family {family!r}; known: parity, xor, majority, and, or, atleast, const, random"
    )


# -- strings ---------------------------------------------------------------------------------------------
_NAMED = re.compile(r"^([A-Za-z]+):(\d+)(?::(-?\d+))?$")


def _from_string(s: str, d: int | None, variables: Sequence[str] | None) -> BooleanFunction:
    text = s.strip()
    m = _NAMED.match(text)
    if m:
        dd = int(m.group(2))
        if d is not None and d != dd:
            raise FunctionSpecError(f"{s!r} has d = {dd}, but d = {d} was asked for")
        return named(m.group(1), dd, None if m.group(3) is None else int(m.group(3)))
    compact = text.replace("_", "").replace(" ", "")
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", compact):
        return _from_hex(compact[2:], d, s)
    if compact and set(compact) <= {"0", "1"} and not re.search(r"[A-Za-z]", text):
        if len(compact) == 1 and d is None:
            raise FunctionSpecError(
                f"{s!r} is ambiguous: a 1-entry truth table (d = 0) or a constant; pass d, or 'const:D:V'"
            )
        if len(compact) == 1 and d is not None and d > 0:
            return named("const", d, int(compact))
        return from_values([int(c) for c in compact], d, s)
    return _from_expr(parse_expression(text), d, variables, s)


def _from_hex(digits: str, d: int | None, s: str) -> BooleanFunction:
    value = int(digits, 16)
    if d is None:
        n = 4 * len(digits)
        if n & (n - 1):
            raise TruthTableError(
                f"{s!r} has {len(digits)} hex digits = {n} bits, not a power of two; pass d or pad with zeros"
            )
        d = n.bit_length() - 1
    _check_d(d)
    if value >> (1 << d):
        raise TruthTableError(f"{s!r} has bits above the 2^{d} = {1 << d} entries of a {d}-variable truth table")
    bits = np.frombuffer(value.to_bytes(max(1, (1 << d) // 8 + 1), "little"), dtype=np.uint8)
    table = np.unpackbits(bits, bitorder="little")[: 1 << d]
    return BooleanFunction(d, np.where(table == 1, 1, -1), s)


_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<num>[01])|(?P<op>&&|\|\||[&|^~!()]))")


def parse_expression(text: str) -> sp.Basic:
    """A sympy boolean expression from ``& | ^ ~ !`` (or ``and or xor not``), names, 0/1 and parentheses.

    Precedence, loosest first: or, xor, and, not. Nothing is evaluated as Python.

    >>> parse_expression("a & ~(b | c) ^ 1")
    ~(a & ~(b | c))
    """
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise FunctionSpecError(f"cannot read {text!r} at position {pos} ({text[pos : pos + 10]!r}...)")
        pos = m.end()
        kind = m.lastgroup or ""
        tok = m.group(kind)
        words = {"and": "&", "or": "|", "xor": "^", "not": "~", "true": "1", "false": "0"}
        if kind == "name" and tok.lower() in words:
            kind, tok = ("num", words[tok.lower()]) if tok.lower() in ("true", "false") else ("op", words[tok.lower()])
        tok = {"&&": "&", "||": "|", "!": "~"}.get(tok, tok)
        tokens.append((kind, tok))
    symbols: dict[str, sp.Symbol] = {}
    i = 0

    def peek() -> str | None:
        return tokens[i][1] if i < len(tokens) else None

    def binary(op: str, sub: Callable[[], Any], make: Callable[..., Any]) -> Any:
        nonlocal i
        args = [sub()]
        while peek() == op:
            i += 1
            args.append(sub())
        return args[0] if len(args) == 1 else make(*args)

    def atom() -> Any:
        nonlocal i
        if i >= len(tokens):
            raise FunctionSpecError(f"{text!r} ends too early: an operand is missing")
        kind, tok = tokens[i]
        i += 1
        if tok == "~":
            return sp.Not(atom())
        if tok == "(":
            e = disj()
            if peek() != ")":
                raise FunctionSpecError(f"{text!r}: a closing parenthesis is missing")
            i += 1
            return e
        if kind == "num":
            return sp.true if tok == "1" else sp.false
        if kind == "name":
            return symbols.setdefault(tok, sp.Symbol(tok))
        raise FunctionSpecError(f"{text!r}: unexpected {tok!r}")

    def conj() -> Any:
        return binary("&", atom, sp.And)

    def xor() -> Any:
        return binary("^", conj, sp.Xor)

    def disj() -> Any:
        return binary("|", xor, sp.Or)

    if not tokens:
        raise FunctionSpecError("an empty expression is not a boolean function")
    e = disj()
    if i != len(tokens):
        raise FunctionSpecError(f"{text!r}: unexpected {tokens[i][1]!r} after a complete expression")
    return e


def _natural(name: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def _from_expr(expr: Any, d: int | None, variables: Sequence[str] | None, name: str) -> BooleanFunction:
    if not isinstance(expr, Boolean):
        raise FunctionSpecError(f"{expr!r} is not a sympy boolean expression (And, Or, Not, Xor, ...)")
    free = sorted(expr.free_symbols, key=lambda s: _natural(s.name))
    if any(not isinstance(s, sp.Symbol) for s in free):
        raise FunctionSpecError(f"{expr} has non-symbol free terms")
    if variables is not None:
        syms = [sp.Symbol(v) if isinstance(v, str) else v for v in variables]
        missing = set(free) - set(syms)
        if missing:
            raise FunctionSpecError(f"{expr} uses {sorted(map(str, missing))}, not among variables {list(variables)}")
    elif d is not None and free and all(re.fullmatch(r"x\d+", s.name) for s in free):
        top = max(int(s.name[1:]) for s in free)
        if top >= d:
            raise FunctionSpecError(f"{expr} uses x{top}, but d = {d} has only x0 .. x{d - 1}")
        syms = [sp.Symbol(f"x{j}") for j in range(d)]
    else:
        syms = list(free)
    if d is not None and d != len(syms):
        raise FunctionSpecError(f"{expr} has {len(syms)} variables {[s.name for s in syms]}, but d = {d}")
    k = _check_d(len(syms))
    for bad in expr.atoms(sp.core.relational.Relational):
        raise FunctionSpecError(f"{expr} contains the relation {bad}; use boolean operators only")
    idx = np.arange(1 << k, dtype=np.int64)
    cols = [((idx >> j) & 1).astype(bool) for j in range(k)]
    fn = sp.lambdify(syms, expr, modules="numpy")
    try:
        out = np.asarray(fn(*cols))
    except Exception as e:
        raise FunctionSpecError(f"cannot evaluate {expr}: {type(e).__name__}: {e}") from None
    out = np.broadcast_to(out, idx.shape)
    if out.dtype != bool:
        raise FunctionSpecError(f"{expr} did not evaluate to booleans (got {out.dtype})")
    return BooleanFunction(k, np.where(out, 1, -1), name)


__all__ = [
    "BooleanFunction",
    "boolean_function",
    "cube",
    "from_callable",
    "from_values",
    "named",
    "parse_expression",
    "point_index",
    "symmetric",
]
