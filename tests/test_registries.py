"""Every op has all its rules (STYLE.md 4): JVP, VJP, scalar expansion, a code generator,
executor implementations (value, JVP, VJP), and a row in the spec table. Adding an op without all of them
fails here, with the missing pieces named."""

from __future__ import annotations

import importlib

import pytest

from symnn.ops import ALL_OPS
from verify.spec import OP_SPECS

TABLES = {
    "jvp rule (symnn.diff.JVP_RULES)": ("symnn.diff", "JVP_RULES"),
    "vjp rule (symnn.diff.VJP_RULES)": ("symnn.diff", "VJP_RULES"),
    "expansion (symnn.expand.EXPAND_RULES)": ("symnn.expand", "EXPAND_RULES"),
    "code generator (symnn.codegen.printer.EMITTERS)": ("symnn.codegen.printer", "EMITTERS"),
    "executor value (symnn.executor.EVAL)": ("symnn.executor", "EVAL"),
    "executor jvp (symnn.executor.JVP)": ("symnn.executor", "JVP"),
    "executor vjp (symnn.executor.VJP)": ("symnn.executor", "VJP"),
}


@pytest.mark.parametrize("what", sorted(TABLES))
def test_every_op_is_in_every_table(what):
    module, attr = TABLES[what]
    table = getattr(importlib.import_module(module), attr)
    missing = [op.__name__ for op in ALL_OPS if op not in table]
    assert not missing, f"ops without a {what}: {missing}"


def test_every_op_has_a_spec_row():
    covered = {name.split(":")[0] for name in OP_SPECS}
    missing = [op.__name__ for op in ALL_OPS if op.__name__ not in covered]
    assert not missing, f"ops without a row in verify/spec.py: {missing}"


def test_every_supported_function_has_a_spec_row():
    from symnn.functions import FUNCTIONS

    rows = {name.split(":")[1] for name in OP_SPECS if name.startswith("Elementwise:")}
    missing = [name for name in FUNCTIONS if name not in rows]
    assert not missing, f"functions without an Elementwise:<name> row in verify/spec.py: {missing}"
