"""One registry for every part of every op, filled the same way by every backend.

An op's parts live in the modules that implement them (the executor and the oracles must not
share code with ``symnn.diff``); only the registration is shared. Each implementation is
registered with the same decorator, right above its function::

    @rule(Elementwise, "jvp")
    def _jvp_elementwise(op, primals, out, tangents): ...

The parts, and the module that registers each:

========== ======================================================================== ====================
part        what                                                                     registered in
========== ======================================================================== ====================
jvp         symbolic forward-mode rule (ops that are not linear)                     symnn.diff
vjp         symbolic reverse-mode rule (ops that are not linear)                     symnn.diff
transpose   the adjoint of a linear op (``Op.linear``): both modes derive from it    symnn.diff
expand      explicit scalar SymPy expressions at small shapes                        symnn.expand
print       one equation per node (text and LaTeX)                                   symnn.printing
emit        Numba source for the node                                                symnn.codegen
exec.value  the numeric executor's primal                                            symnn.executor
exec.jvp    the numeric executor's tangent                                           symnn.executor
exec.vjp    the numeric executor's cotangent                                         symnn.executor
oracle      the independent evaluator (float, complex step, mpmath)                  verify.oracles
spec        the op's rows in the spec table that drives the property tests          verify.spec
========== ======================================================================== ====================

The leaves need only the parts that name them: Input ``expand`` and ``emit``, Const also
``print``. ``lookup`` walks the op's class hierarchy (like SymPy's ``_print_<Class>``), so a
subclass of an op inherits its parts; ``missing()`` lists every required pair not registered.

>>> from symnn.ops import Reshape
>>> sorted(required_parts(Reshape))[:3]
['emit', 'exec.jvp', 'exec.value']
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import SymnnError
from .ops import ALL_OPS, Const, Input, Op

F = TypeVar("F")

#: Every part an op may have, in the order ``symnn ops`` prints them.
PARTS: tuple[str, ...] = (
    "jvp",
    "vjp",
    "transpose",
    "expand",
    "print",
    "emit",
    "exec.value",
    "exec.jvp",
    "exec.vjp",
    "oracle",
    "spec",
)
_SYMBOLIC = ("jvp", "vjp")  # replaced by "transpose" for linear ops
#: The leaves are no computation: only the backends that name them need a part for them.
_LEAF_PARTS: dict[type[Op], tuple[str, ...]] = {Input: ("expand", "emit"), Const: ("expand", "print", "emit")}


class RegistryError(SymnnError, LookupError):
    """An (op, part) pair is missing, unknown, or registered twice."""


@dataclass(frozen=True)
class Entry:
    """One registered part: the implementation and where it is defined (``module:line``)."""

    op: type[Op]
    part: str
    impl: Any
    where: str


_ENTRIES: dict[tuple[type[Op], str], Entry] = {}


def _check_part(part: str) -> None:
    if part not in PARTS:
        raise RegistryError(f"unknown part {part!r}; the parts are {', '.join(PARTS)}")


def _add(ops: Sequence[type[Op]], part: str, impl: Any, where: str) -> None:
    _check_part(part)
    for op in ops:
        old = _ENTRIES.get((op, part))
        if old is not None and old.where != where:
            raise RegistryError(
                f"{op.__name__} already has a {part!r} rule at {old.where}; {where} registers another "
                "(use registry.override for a temporary replacement)"
            )
        _ENTRIES[(op, part)] = Entry(op, part, impl, where)


def _where(module: str, line: int) -> str:
    return f"{module}:{line}"


def rule(ops: type[Op] | tuple[type[Op], ...], part: str) -> Callable[[F], F]:
    """Decorator: register the function as ``part`` of ``ops`` (one op class or a tuple of them)."""
    targets = ops if isinstance(ops, tuple) else (ops,)

    def deco(fn: F) -> F:
        code = getattr(fn, "__code__", None)
        line = code.co_firstlineno if code is not None else 0
        _add(targets, part, fn, _where(getattr(fn, "__module__", "?"), line))
        return fn

    return deco


def register(ops: type[Op] | tuple[type[Op], ...], part: str, impl: Any, line: int | None = None) -> None:
    """Register a value that is not a function (e.g. spec rows) as ``part`` of ``ops``.

    ``line``: where the value is defined in the caller's module (default: the line of this call),
    so that ``symnn ops`` points at an op's rows rather than at a registration loop.
    """
    frame = sys._getframe(1)
    targets = ops if isinstance(ops, tuple) else (ops,)
    _add(targets, part, impl, _where(frame.f_globals.get("__name__", "?"), line or frame.f_lineno))


def _find(op: type[Op], part: str) -> Entry | None:
    """The entry of ``op`` or of its nearest base class (dispatch along the class, like SymPy's printers)."""
    for cls in op.__mro__:
        entry = _ENTRIES.get((cls, part))
        if entry is not None:
            return entry
    return None


def lookup(op: type[Op], part: str) -> Any:
    """The implementation of ``part`` for the op class ``op``; a RegistryError names what is missing."""
    entry = _find(op, part)
    if entry is None:
        _check_part(part)
        raise RegistryError(f"{op.__name__} has no {part!r} rule; register one with @rule({op.__name__}, {part!r})")
    return entry.impl


def has(op: type[Op], part: str) -> bool:
    """Whether ``op`` (or a base class of it) has a ``part`` registered."""
    return _find(op, part) is not None


def table(part: str) -> dict[type[Op], Any]:
    """A snapshot ``{op class: implementation}`` of one part (for listing; dispatch uses ``lookup``)."""
    _check_part(part)
    return {op: e.impl for (op, p), e in _ENTRIES.items() if p == part}


def entries() -> list[Entry]:
    """Every registered entry, ops in ``ALL_OPS`` order first, parts in ``PARTS`` order."""
    order = {op: i for i, op in enumerate(ALL_OPS)}
    return sorted(_ENTRIES.values(), key=lambda e: (order.get(e.op, len(order)), e.op.__name__, PARTS.index(e.part)))


def required_parts(op: type[Op]) -> tuple[str, ...]:
    """The parts ``op`` must have: a linear op gives ``transpose`` instead of ``jvp`` and ``vjp``;
    a leaf (Input, Const) only what names it (expansion, code, and printing for Const)."""
    if op in _LEAF_PARTS:
        return _LEAF_PARTS[op]
    drop = set(_SYMBOLIC) if op.linear else {"transpose"}
    return tuple(p for p in PARTS if p not in drop)


def missing(ops: Sequence[type[Op]] = ALL_OPS) -> list[tuple[str, str]]:
    """Every (op name, part) pair that is required and not registered, in table order."""
    return [(op.__name__, p) for op in ops for p in required_parts(op) if not has(op, p)]


@contextlib.contextmanager
def override(op: type[Op], part: str, make: Callable[[Any], Any]) -> Iterator[None]:
    """Replace ``part`` of ``op`` by ``make(original)`` inside a ``with`` block (mutation tests)."""
    key = (op, part)
    original = _ENTRIES.get(key)
    if original is None:
        raise RegistryError(f"{op.__name__} has no {part!r} rule to override")
    _ENTRIES[key] = Entry(op, part, make(original.impl), original.where)
    try:
        yield
    finally:
        _ENTRIES[key] = original


@contextlib.contextmanager
def isolated() -> Iterator[None]:
    """Registrations made inside a ``with`` block are dropped at its end (tests that plant an op)."""
    saved = dict(_ENTRIES)
    try:
        yield
    finally:
        _ENTRIES.clear()
        _ENTRIES.update(saved)
