"""Threshold functions (item 3): exact decisions, certificates, and the counts against OEIS A000609."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from verify.boolean import boolean_function, count_threshold, cube, separate, threshold, threshold_functions
from verify.boolean.counts import count_lp, count_regions, monotone_tables
from verify.boolean.errors import FunctionSpecError, TooLargeError, WitnessError
from verify.boolean.lp import check_radon, check_separator
from verify.boolean.threshold import check_threshold_certificate

# published values typed in by hand (OEIS A000609, Dedekind numbers A000372)
OEIS = [2, 4, 14, 104, 1882, 94572]
DEDEKIND = [2, 3, 6, 20, 168, 7581]


def brute_force_threshold_tables(n: int, wmax: int) -> set[tuple[int, ...]]:
    """Truth tables sign(w . x + b) over integer weights |w_j| <= wmax and |b| <= n wmax + 1, no zeros."""
    X = cube(n).astype(np.int64)
    found = set()
    for w in itertools.product(range(-wmax, wmax + 1), repeat=n):
        vals = X @ np.array(w, dtype=np.int64)
        for b in range(-n * wmax - 1, n * wmax + 2):
            v = vals + b
            if np.all(v != 0):
                found.add(tuple(np.sign(v).tolist()))
    return found


def independent_check(f, r) -> bool:
    """The certificate, checked here with plain integer arithmetic (not the library's checker)."""
    X = cube(f.d).tolist()
    t = f.table.tolist()
    if r.is_threshold:
        return all(
            t[i] * (sum(w * x for w, x in zip(r.weights, X[i], strict=True)) + r.bias) >= 1 for i in range(len(X))
        )
    trues, falses = r.radon_true, r.radon_false
    if len(trues) != len(falses) or not trues:
        return False
    if any(f(p) != 1 for p in trues) or any(f(p) != -1 for p in falses):
        return False
    return [sum(c) for c in zip(*trues, strict=True)] == [sum(c) for c in zip(*falses, strict=True)]


def test_every_function_of_three_variables_against_brute_force():
    expected = brute_force_threshold_tables(3, 2)  # n = 3 needs weights up to 2 (x0 & (x1 | x2))
    assert len(expected) == 104
    for value in range(256):
        table = tuple(1 if (value >> i) & 1 else -1 for i in range(8))
        f = boolean_function(list(table))
        r = threshold(f)
        assert r.is_threshold == (table in expected)
        assert independent_check(f, r) and check_threshold_certificate(r)


def test_sample_of_four_variable_functions_against_brute_force():
    expected = brute_force_threshold_tables(4, 3)  # weights up to 3 suffice for n = 4
    assert len(expected) == 1882
    rng = np.random.default_rng(0)
    samples = [list(t) for t in list(expected)[:40]] + [rng.choice([-1, 1], size=16).tolist() for _ in range(40)]
    for table in samples:
        f = boolean_function(table)
        r = threshold(f)
        assert r.is_threshold == (tuple(table) in expected)
        assert independent_check(f, r)


@pytest.mark.parametrize(
    "spec, answer",
    [
        ("and:5", True),
        ("or:5", True),
        ("majority:5", True),
        ("atleast:6:4", True),
        ("parity:2", False),
        ("parity:5", False),
        ("x0 & x1 | x2 & x3", False),
        ("x0 & (x1 | x2 & (x3 | x4))", True),
        ("const:3:1", True),
    ],
)
def test_known_functions(spec, answer):
    f = boolean_function(spec)
    r = threshold(f)
    assert r.is_threshold is answer
    assert independent_check(f, r)


def test_certificates_are_small_for_familiar_functions():
    r = threshold("majority:3")
    assert (r.weights, r.bias, r.margin) == ((1, 1, 1), 0, 1)
    r = threshold("parity:2")
    assert sorted(r.radon_true) == [(-1, 1), (1, -1)] and sorted(r.radon_false) == [(-1, -1), (1, 1)]


def test_separate_on_rational_points_in_the_plane():
    pts = [(Fraction(1, 3), 0), (0, Fraction(1, 2)), (1, 1), (Fraction(-1, 7), 2)]
    for labels in itertools.product((-1, 1), repeat=4):
        s = separate(pts, list(labels))
        if s.separable:
            assert check_separator(s.weights, s.bias, pts, list(labels))
        else:
            assert check_radon(s.radon, pts, list(labels))
    # the four points are in convex position (no point in the triangle of the others): 2 dichotomies fail
    assert sum(not separate(pts, list(lab)).separable for lab in itertools.product((-1, 1), repeat=4)) == 2


def test_separate_rejects_bad_points():
    with pytest.raises(FunctionSpecError, match="labels"):
        separate([(0, 0)], [1, 1])
    with pytest.raises(FunctionSpecError, match="label 0"):
        separate([(0, 0)], [0])
    with pytest.raises(FunctionSpecError, match="finite"):
        separate([(float("nan"), 0)], [1])


def test_checkers_reject_wrong_certificates():
    pts, labels = cube(2).tolist(), [-1, 1, 1, -1]
    assert not check_radon([1, 1, 1, 0], pts, labels)
    assert not check_radon([0, 0, 0, 0], pts, labels)
    assert not check_radon([-1, 1, 1, -1], pts, labels)
    assert not check_separator((1, 1), 0, pts, [-1, -1, -1, 1])  # hits 0 at two inputs


def test_threshold_too_large():
    with pytest.raises(TooLargeError, match="d <= 16"):
        threshold("parity:17")


# -- counts -------------------------------------------------------------------------------------------------------
def test_monotone_counts_are_dedekind_numbers():
    assert [monotone_tables(n).size for n in range(6)] == DEDEKIND


@pytest.mark.parametrize("n", range(5))
def test_counts_by_both_methods(n):
    r = count_threshold(n)
    assert r.counts == {"lp": OEIS[n], "regions": OEIS[n]} and r.agree


def test_count_five_variables():
    n, whitney = count_regions(5)
    assert n == OEIS[5]
    assert whitney[:3] == (1, 32, 496)  # 1, #hyperplanes, #pairs (no three points of the cube are collinear)
    assert count_lp(5) == OEIS[5]


def test_threshold_function_lists_have_checked_weights():
    for n in range(5):
        L = threshold_functions(n)
        assert len(L) == OEIS[n] and np.unique(L.tables).size == OEIS[n]
        X = cube(n).astype(np.int64)
        vals = X @ L.weights.T + L.bias  # (2^n, N)
        bits = (L.tables[None, :] >> np.arange(2**n, dtype=np.uint64)[:, None]) & np.uint64(1)
        assert np.all(np.where(bits == 1, vals, -vals) > 0)


def test_count_bad_input():
    with pytest.raises(FunctionSpecError):
        count_threshold(-1)
    with pytest.raises(FunctionSpecError, match="method"):
        count_threshold(3, "magic")
    with pytest.raises(TooLargeError, match="n <= 5"):
        count_threshold(6, "lp")


def test_certificate_error_is_a_bug_signal():
    assert issubclass(WitnessError, RuntimeError)
