"""The mutation harness: every injected fault is caught (the CI subset; `python -m verify.mutation` runs all)."""

from __future__ import annotations

import pytest

import symnn.diff as diff
from symnn import registry
from symnn.functions import relu
from symnn.ops import Elementwise
from verify.check import check_models, default_models
from verify.mutation import CONDITIONAL, MUTANTS, BaselineError, Mutant, main, run_mutants


def test_every_mutant_of_the_ci_subset_is_caught():
    result = run_mutants(MUTANTS)
    assert result.survivors == [] and result.catch_rate == 1.0
    assert {o.mutant for o in result.outcomes} == {m.name for m in MUTANTS}
    by = {o.mutant: o.caught_by for o in result.outcomes}
    # a wrong convention is invisible to finite differences: only the executor comparison sees it
    assert set(by["kink-convention"]) == {"symbolic forward/executor", "symbolic reverse/executor"}
    assert "symbolic forward/fd" in by["dropped-jvp-term"]


def test_patches_are_undone():
    before = (registry.entries(), relu.fdiff, diff.unbroadcast)
    for m in MUTANTS:
        with m.patch():
            assert (registry.entries(), relu.fdiff, diff.unbroadcast) != before  # each mutant patches something
    assert (registry.entries(), relu.fdiff, diff.unbroadcast) == before


def test_a_harmless_mutant_is_reported_as_a_survivor():
    import contextlib

    harmless = Mutant("no-op", "nothing changes", contextlib.nullcontext, MUTANTS[0].cases)
    result = run_mutants([harmless])
    assert result.survivors == ["no-op on mlp:3-4-1"] and result.catch_rate == 0.0
    assert "SURVIVED" in result.table()


def test_a_failing_baseline_is_refused():
    import contextlib

    def doubled(rule):
        return lambda *a: [None if t is None else 2 * t for t in rule(*a)]

    with registry.override(Elementwise, "vjp", doubled), pytest.raises(BaselineError, match="without a mutant"):
        run_mutants([Mutant("no-op", "nothing changes", contextlib.nullcontext, MUTANTS[0].cases)])


def test_command_line_quick_run(capsys):
    assert main(["wrong-sign", "--quick"]) == 0
    assert "catch rate 100%" in capsys.readouterr().out


# -- conditional mutants: faults that fire only on some shapes ------------------------------------------------
def test_there_are_conditional_mutants():
    assert len(CONDITIONAL) >= 4 and all(m.conditional for m in CONDITIONAL)
    assert not any(m.conditional for m in MUTANTS)


def test_every_conditional_mutant_is_caught_on_the_shapes_that_trigger_it():
    result = run_mutants(CONDITIONAL)
    assert result.survivors == [], result.table()
    assert result.score([m.name for m in CONDITIONAL]) == (len(CONDITIONAL), len(CONDITIONAL))
    assert f"conditional mutants (shape-dependent faults): {len(CONDITIONAL)} of {len(CONDITIONAL)}" in result.table()


def test_conditional_mutants_are_silent_where_their_condition_is_false():
    # the condition is real: on these cases the mutated rules compute the right derivative
    silent = [Mutant(m.name, m.fault, m.patch, m.silent) for m in CONDITIONAL]
    result = run_mutants(silent)
    assert result.catch_rate == 0.0, result.table()


CHECK = {"paths": ("symbolic",), "oracles": ("fd", "complex-step", "adjoint", "executor"), "jobs": 0, "locate": False}


def test_symnn_checks_default_zoo_catches_every_conditional_mutant():
    specs = default_models()
    assert {"classifier", "convstack"} <= set(specs)
    assert all(rep.ok for _, rep in check_models(specs, **CHECK))
    for m in CONDITIONAL:
        with m.patch():
            results = check_models(specs, **CHECK)
        assert not all(rep.ok for _, rep in results), f"symnn check missed {m.name}"
