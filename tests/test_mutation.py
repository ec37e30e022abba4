"""The mutation harness: every injected fault is caught (the CI subset; `python -m verify.mutation` runs all)."""

from __future__ import annotations

import pytest

import symnn.diff as diff
from symnn import registry
from symnn.functions import relu
from symnn.ops import Elementwise
from verify.mutation import MUTANTS, BaselineError, Mutant, main, run_mutants


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
