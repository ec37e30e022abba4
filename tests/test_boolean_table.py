"""verify.boolean.table: reading boolean functions, conventions, and every bad input the issue lists."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import sympy as sp

from symnn.errors import SizeError, SymnnError
from verify.boolean import table as T
from verify.boolean.errors import CallableError, FunctionSpecError, TooLargeError, TruthTableError


def test_index_convention():
    # input i has x_j = +1 iff bit j of i is set: x_0 is the least significant bit
    assert T.cube(3).tolist()[5] == [1, -1, 1]
    assert T.point_index((1, -1, 1), 3) == 5
    for i, x in enumerate(T.cube(4).tolist()):
        assert T.point_index(x, 4) == i


@pytest.mark.parametrize(
    "spec, bits",
    [
        ("0001", "0001"),  # AND as a bit string: f(3) = f(+1, +1) = true
        ("0x8", "0001"),  # the same AND as hex: bit 3 set
        ("x0 & x1", "0001"),
        ("x0 and not x1", "0100"),  # index 1 = (x0=+1, x1=-1)
        ("a | b", "0111"),
        ("a ^ b", "0110"),
        ("parity:2", "0110"),
        ("xor:3", "01101001"),
        ("majority:3", "00010111"),
        ("and:2", "0001"),
        ("or:2", "0111"),
        ("atleast:3:2", "00010111"),
        ("const:2:1", "1111"),
        ("~(x0 || x1) ^ 1", "0111"),
    ],
)
def test_specs(spec, bits):
    assert T.boolean_function(spec).bits == bits


def test_hex_of_parity4_is_the_textbook_value():
    assert T.boolean_function("parity:4").hex == "0x6996"


def test_encodings_agree():
    ref = T.boolean_function([1, -1, -1, 1])
    assert T.boolean_function([1, 0, 0, 1]) == ref
    assert T.boolean_function([True, False, False, True]) == ref
    assert T.boolean_function(np.array([1.0, -1.0, -1.0, 1.0])) == ref
    assert T.boolean_function(np.array([True, False, False, True])) == ref
    assert T.boolean_function(lambda x: x[0] == x[1], d=2) == ref
    assert T.boolean_function(lambda x: 1 if x[0] == x[1] else 0, d=2) == ref
    assert T.boolean_function(lambda x: x[0] * x[1], d=2) == ref


def test_sympy_expression_natural_order():
    x2, x10 = sp.symbols("x2 x10")
    f = T.boolean_function(x2 & ~x10)  # x2 is variable 0, x10 variable 1 (natural order)
    assert f.bits == "0100"
    g = T.boolean_function(sp.Symbol("x1"), d=3)  # x<j> names map to coordinate j when d is given
    assert g.table.tolist() == [-1, -1, 1, 1, -1, -1, 1, 1]


def test_callable_sees_plus_minus_one_tuples():
    seen = []
    T.boolean_function(lambda x: seen.append(x) or True, d=2)
    assert seen == [(-1, -1), (1, -1), (-1, 1), (1, 1)]


def test_every_function_of_two_variables_round_trips():
    for values in itertools.product([-1, 1], repeat=4):
        f = T.boolean_function(list(values))
        assert T.boolean_function(f.bits) == f
        assert T.boolean_function(f.hex, d=2) == f
        assert [f(x) for x in T.cube(2).tolist()] == list(values)


# -- bad input ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "spec, d, err, words",
    [
        ([1, -1, 1], None, TruthTableError, "2^d entries"),
        ([1, -1, 1, 1], 3, TruthTableError, "2^3 = 8"),
        ([1, 2, 1, 1], None, TruthTableError, "entry 1 is 2"),
        ([1, 0, -1, 1], None, TruthTableError, "mixes two encodings"),
        ([0.5, 1], None, TruthTableError, "entry 0"),
        ([np.nan, 1], None, TruthTableError, "entry 0 is nan"),
        (np.array([np.nan, 1.0]), None, TruthTableError, "not a finite"),
        (["1", 1], None, TruthTableError, "'1'"),
        ([None, 1], None, TruthTableError, "None"),
        ([[1, -1]], None, TruthTableError, "one-dimensional"),
        ([], None, TruthTableError, "2^d entries"),
        ("0x12345", None, TruthTableError, "not a power of two"),
        ("0x1f", 2, TruthTableError, "bits above"),
        ("parity:3", 4, FunctionSpecError, "d = 4"),
        ("frobnicate:3", None, FunctionSpecError, "unknown function family"),
        ("x0 & & x1", None, FunctionSpecError, "unexpected"),
        ("(x0 | x1", None, FunctionSpecError, "parenthesis"),
        ("x0 + x1", None, FunctionSpecError, "cannot read"),
        ("__import__('os')", None, FunctionSpecError, "cannot read"),
        ("x5", 3, FunctionSpecError, "x5"),
        (3.5, None, FunctionSpecError, "cannot read"),
        (lambda x: True, None, FunctionSpecError, "needs d"),
        ("parity:40", None, TooLargeError, "2^40"),
    ],
)
def test_bad_input(spec, d, err, words):
    with pytest.raises(err, match=words.replace("^", r"\^").replace("(", r"\(")) as info:
        T.boolean_function(spec, d)
    assert isinstance(info.value, SymnnError) and isinstance(info.value, ValueError)


def test_callable_that_raises_names_the_input():
    def f(x):
        if x == (1, 1):
            raise KeyError("boom")
        return True

    with pytest.raises(CallableError, match=r"KeyError.*x = \(1, 1\)"):
        T.boolean_function(f, d=2)


@pytest.mark.parametrize("value", ["yes", None, 2, 0.5, [1], np.int64(3)])
def test_callable_returning_non_booleans(value):
    with pytest.raises(CallableError, match="not a boolean value"):
        T.boolean_function(lambda x: value, d=2)


def test_callable_mixing_encodings():
    with pytest.raises(CallableError, match="mixes two encodings"):
        T.boolean_function(lambda x: 0 if x[0] > 0 else -1, d=1)


def test_slow_callable_large_d_refused_with_estimate(monkeypatch):
    import time

    monkeypatch.setattr(T, "MAX_CALLABLE_SECONDS", 0.001)
    with pytest.raises(TooLargeError, match="would take about") as info:
        T.boolean_function(lambda x: time.sleep(1e-5) or True, d=16)
    assert isinstance(info.value, SizeError)
