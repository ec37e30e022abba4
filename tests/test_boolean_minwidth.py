"""Minimum width (item 4), NPN symmetry, and VC dimension checks (item 5), against brute force.

The brute-force references enumerate integer weights directly (no LP, no search code): the set of
functions g(h1, h2) over all threshold functions h1, h2 of d variables and g of 2 variables is
exactly the set of functions of width <= 2.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest

import verify.boolean.minwidth as minwidth
from symnn.errors import SymnnError
from verify.boolean import boolean_function, cube
from verify.boolean.errors import TooLargeError, WitnessError
from verify.boolean.minwidth import min_width, symmetric_network, width_distribution
from verify.boolean.npn import apply_table, canonical_classes, group, transform_network
from verify.boolean.shatter import cube_unit_vc, network_vc, radon_dichotomy, shatter_simplex


def brute_threshold_values(n: int, wmax: int) -> np.ndarray:
    """Table values (bit i set iff f(i) = +1) of sign(w . x + b), |w_j| <= wmax, no zero anywhere."""
    X = cube(n).astype(np.int64)
    out = set()
    for w in itertools.product(range(-wmax, wmax + 1), repeat=n):
        vals = X @ np.array(w, dtype=np.int64)
        for b in range(-n * wmax - 1, n * wmax + 2):
            v = vals + b
            if np.all(v != 0):
                out.add(int(sum(1 << i for i in range(2**n) if v[i] > 0)))
    return np.array(sorted(out), dtype=np.uint64)


def width_at_most_two(d: int, wmax: int) -> set[int]:
    """All g(h1, h2) with h1, h2 threshold in d variables and g threshold in 2 variables (brute force)."""
    T = brute_threshold_values(d, wmax)
    G = brute_threshold_values(2, 1)  # the 14 threshold functions of two variables
    full = np.uint64(2 ** (2**d) - 1)
    h1, h2 = np.meshgrid(T, T, indexing="ij")
    h1, h2 = h1.ravel(), h2.ravel()
    seen = np.zeros(2 ** (2**d), dtype=bool)
    for g in G.tolist():
        # g(a, b) as a bitwise formula: OR over the code points (a, b) where g is +1
        acc = np.zeros_like(h1)
        for code in range(4):
            if (g >> code) & 1:
                a = h1 if code & 1 else ~h1 & full
                b = h2 if code & 2 else ~h2 & full
                acc |= a & b
        seen[acc.astype(np.int64)] = True
    return set(np.flatnonzero(seen).tolist())


def test_parity_widths():
    for d, w in [(2, 2), (3, 3), (4, 4)]:
        r = min_width(f"parity:{d}")
        assert (r.width, r.exact) == (w, True)
        assert r.network.k == w
        X = cube(d).astype(np.int64)
        out = np.sign(np.sign(X @ r.network.W1.T + r.network.b1) @ r.network.W2 + r.network.b2)
        assert out.tolist() == boolean_function(f"parity:{d}").table.tolist()


def test_distribution_three_variables_against_brute_force():
    dist = width_distribution(3)
    le2 = width_at_most_two(3, 2)
    assert len(le2) == 254  # everything but parity and its negation
    assert dist.counts == {0: 2, 1: 102, 2: len(le2) - 104, 3: 256 - len(le2)}
    assert dist.exact and dist.checked == 256 and len(dist.classes) == 14


def test_width_two_of_four_variables_against_brute_force():
    le2 = width_at_most_two(4, 3)
    assert len(le2) == 2 + 1880 + 39732  # the d = 4 distribution in docs/boolean.md (`--distribution 4`)
    rng = np.random.default_rng(1)
    for value in rng.integers(0, 2**16, size=12).tolist() + sorted(le2)[5000:5003]:
        f = boolean_function([1 if (value >> i) & 1 else -1 for i in range(16)])
        r = min_width(f)
        assert r.exact and (r.width <= 2) == (value in le2)


def test_single_functions():
    assert min_width("const:3:1").width == 0
    assert min_width("majority:5").width == 1
    assert min_width("x0 & x1 | x2 & x3").width == 2  # not threshold; AND/OR of two thresholds
    r = min_width("random:4:1")
    assert r.exact and r.network.k == r.width
    f = boolean_function("random:4:1")
    assert [r.network(x) for x in cube(4).tolist()] == f.table.tolist()


def test_budget_gives_bounds_not_answers():
    r = min_width("parity:4", max_width=2)
    assert not r.exact and r.lower == 3 and r.width == 4


def test_a_witness_that_fails_its_recheck_is_a_witness_error(monkeypatch):
    # the exhaustive re-check of every witness network is what makes a min-width answer a certificate
    monkeypatch.setattr(minwidth, "verify", lambda net, f: SimpleNamespace(ok=False, first_mismatch=(1, -1)))
    with pytest.raises(WitnessError, match="witness network fails on input") as err:
        min_width("majority:3")
    assert isinstance(err.value, SymnnError) and isinstance(err.value, RuntimeError)
    assert type(err.value).__name__ == "WitnessError"  # not the kernel certificate's CertificateError


def test_min_width_too_large():
    with pytest.raises(TooLargeError, match="d <= 5"):
        min_width("parity:6")


@pytest.mark.parametrize("d", range(1, 7))
def test_symmetric_construction(d):
    X = cube(d).astype(np.int64)
    for by_count in itertools.product((-1, 1), repeat=d + 1):
        table = [by_count[sum(1 for v in x if v > 0)] for x in X.tolist()]
        net = symmetric_network(boolean_function(table))
        changes = sum(by_count[i] != by_count[i - 1] for i in range(1, d + 1))
        h = X @ net.W1.T + net.b1
        o = np.sign(h) @ net.W2 + net.b2
        assert net.k == changes and np.all(h != 0) and np.all(np.abs(o) == 1)
        assert np.sign(o).tolist() == table


# -- NPN ------------------------------------------------------------------------------------------------------------
def test_npn_class_counts():
    assert [len(canonical_classes(d)) for d in range(1, 5)] == [2, 4, 14, 222]  # OEIS A000370
    assert sum(c.size for c in canonical_classes(3)) == 256


def test_transform_network_follows_the_table():
    f = boolean_function("random:3:4")
    net = min_width(f).network
    X = cube(3).astype(np.int64)
    for e in group(3):
        m = transform_network(e, net)
        out = np.sign(np.sign(X @ m.W1.T + m.b1) @ m.W2 + m.b2)
        assert out.tolist() == apply_table(e, f.table).tolist()


# -- VC dimension ------------------------------------------------------------------------------------------------------
def test_simplex_is_shattered():
    for d in range(1, 5):
        s = shatter_simplex(d)
        assert s.shattered and s.realized == 2 ** (d + 1)


def test_radon_dichotomy_of_given_points():
    pts = [(0, 0), (2, 0), (0, 2), (1, 1)]  # (1, 1) is on the segment from (2, 0) to (0, 2)
    r = radon_dichotomy(pts)
    pos = [p for p, lab in zip(pts, r.labels, strict=True) if lab > 0]
    neg = [p for p, lab in zip(pts, r.labels, strict=True) if lab < 0]
    ypos = [y for y, lab in zip(r.y, r.labels, strict=True) if lab > 0 and y]
    yneg = [y for y, lab in zip(r.y, r.labels, strict=True) if lab < 0 and y]
    assert sum(ypos) == sum(yneg) > 0
    assert {p for p, y in zip(pts, r.y, strict=True) if y} <= set(pos) | set(neg)
    cx = [sum(y * p[j] for p, y, lab in zip(pts, r.y, r.labels, strict=True) if lab > 0) for j in range(2)]
    cy = [sum(y * p[j] for p, y, lab in zip(pts, r.y, r.labels, strict=True) if lab < 0) for j in range(2)]
    assert cx == cy


def test_one_unit_on_the_cube():
    for d in (2, 3, 4):
        c = cube_unit_vc(d)
        assert c.vc == d + 1 and c.exhaustive and c.subsets_refuted == c.subsets_total


def test_network_vc_three_variables():
    rows = network_vc(3)
    assert [(r.k, r.vc) for r in rows] == [(1, 4), (2, 7), (3, 8)]
    assert all(r.vc <= r.bound for r in rows)
    # an example of the reported size really is shattered by width <= k functions (brute force for k = 2)
    le2 = width_at_most_two(3, 2)
    ex = rows[1].example
    idx = [int(sum(1 << j for j in range(3) if p[j] > 0)) for p in ex]
    labelings = {tuple((v >> i) & 1 for i in idx) for v in le2}
    assert len(labelings) == 2 ** len(idx)
