"""Every op has all its parts (STYLE.md 4), registered in one place: ``symnn.registry``.

Adding an op without all of them fails ``test_every_op_has_every_part`` with the missing
(op, part) pairs named; the other tests show that this check can fail, that a linear op gives
only its transpose, and that a part cannot be registered twice."""

from __future__ import annotations

import ast
import importlib
import pathlib
from dataclasses import dataclass

import pytest

from symnn import registry
from symnn.ops import ALL_OPS, LEAVES, Einsum, Op, Reshape
from verify.spec import OP_SPECS

#: The modules that register the parts (importing them fills the registry).
REGISTERING = (
    "symnn.diff",
    "symnn.expand",
    "symnn.printing",
    "symnn.codegen",
    "symnn.executor",
    "verify.oracles",
    "verify.spec",
)


@pytest.fixture(autouse=True, scope="module")
def _registered():
    for module in REGISTERING:
        importlib.import_module(module)


def _complete(ops=(*ALL_OPS, *LEAVES)) -> None:
    gaps = registry.missing(ops)
    assert not gaps, "missing (op, part) pairs; register each with @rule(Op, part):\n" + "\n".join(
        f"  {op}: {part}" for op, part in gaps
    )


def test_every_op_has_every_part():
    _complete()


def test_the_check_names_a_planted_gap():
    @dataclass(frozen=True)
    class Planted(Op):
        """An op with only its symbolic rules."""

    with registry.isolated():
        registry.register(Planted, "jvp", lambda *a: None)
        registry.register(Planted, "vjp", lambda *a: None)
        with pytest.raises(AssertionError, match=r"Planted: expand[\s\S]*Planted: spec"):
            _complete((*ALL_OPS, Planted))
        assert ("Planted", "jvp") not in registry.missing((Planted,))
    assert not registry.has(Planted, "jvp")  # the planted entries are gone


@pytest.mark.parametrize("op", [op for op in ALL_OPS if op.linear], ids=lambda op: op.__name__)
def test_a_linear_op_registers_only_its_transpose(op):
    assert registry.has(op, "transpose")
    assert not registry.has(op, "jvp") and not registry.has(op, "vjp")
    assert "jvp" not in registry.required_parts(op) and "transpose" in registry.required_parts(op)


def test_linearity_is_read_from_the_op():
    from symnn.diff import derivative_rule

    assert [op.__name__ for op in ALL_OPS if op.linear] == [
        "Window",
        "Fold",
        "Reshape",
        "Slice",
        "Pad",
        "Concat",
        "BroadcastTo",
    ]
    assert not registry.has(Einsum, "transpose")
    assert derivative_rule(Reshape, "jvp").__name__ == "_jvp_linear"
    assert derivative_rule(Einsum, "jvp") is registry.lookup(Einsum, "jvp")


def test_registering_a_part_twice_is_refused():
    original = registry.lookup(Einsum, "jvp")
    duplicate = r"Einsum already has a 'jvp' rule at symnn\.diff:\d+; (tests\.)?test_registries:\d+ registers another"
    with registry.isolated(), pytest.raises(registry.RegistryError, match=duplicate):

        @registry.rule(Einsum, "jvp")
        def _another(op, primals, out, tangents):  # pragma: no cover - never registered
            return None

    assert registry.lookup(Einsum, "jvp") is original


def test_unknown_parts_and_missing_rules_say_how_to_fix_them():
    with pytest.raises(registry.RegistryError, match="unknown part 'jvpp'; the parts are jvp, vjp"):
        registry.lookup(Einsum, "jvpp")
    with pytest.raises(registry.RegistryError, match=r"register one with @rule\(Reshape, 'jvp'\)"):
        registry.lookup(Reshape, "jvp")


def test_override_replaces_a_part_for_a_with_block_only():
    original = registry.lookup(Einsum, "vjp")
    with registry.override(Einsum, "vjp", lambda rule: "patched"):
        assert registry.lookup(Einsum, "vjp") == "patched"
    assert registry.lookup(Einsum, "vjp") is original


def test_no_module_keeps_a_table_of_its_own():
    """Dispatch goes through the registry: no module-level dict keyed by op classes is left."""
    root = pathlib.Path(__file__).resolve().parents[1]
    names = {op.__name__ for op in (*ALL_OPS, *LEAVES)}
    for module in REGISTERING:
        path = root.joinpath(*module.split("."))
        for file in [path.with_suffix(".py")] if path.with_suffix(".py").exists() else sorted(path.glob("*.py")):
            for node in ast.parse(file.read_text()).body:
                value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
                if isinstance(value, ast.Dict):
                    keys = {k.id for k in value.keys if isinstance(k, ast.Name)}
                    assert not keys & names, f"{file.name}:{node.lineno} keeps a table keyed by op classes"


def test_every_op_has_a_spec_row():
    covered = {name.split(":")[0] for name in OP_SPECS}
    missing = [op.__name__ for op in ALL_OPS if op.__name__ not in covered]
    assert not missing, f"ops without a row in verify/spec.py: {missing}"
    assert all(row.name.split(":")[0] == op.__name__ for op in ALL_OPS for row in registry.lookup(op, "spec"))


def test_every_supported_function_has_a_spec_row():
    from symnn.functions import FUNCTIONS

    rows = {name.split(":")[1] for name in OP_SPECS if name.startswith("Elementwise:")}
    missing = [name for name in FUNCTIONS if name not in rows]
    assert not missing, f"functions without an Elementwise:<name> row in verify/spec.py: {missing}"


def test_symnn_ops_points_at_an_ops_own_spec_rows():
    import verify.spec

    source = pathlib.Path(verify.spec.__file__).read_text().splitlines()
    first = next(i for i, text in enumerate(source, 1) if 'OpSpec("LogSumExp"' in text)
    [entry] = [e for e in registry.entries() if e.op.__name__ == "LogSumExp" and e.part == "spec"]
    assert entry.where == f"verify.spec:{first}"
