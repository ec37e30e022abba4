"""``notation="matrix"``: matrix products with transposes, Hadamard products, the notes' backprop."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symnn import grad
from symnn.ir import Builder, einsum
from symnn.printing import PrintingError, equations, to_latex, to_text
from symnn.zoo import resolve

SIZES = {"i": 2, "j": 3, "k": 4}
MATRIX_PRODUCTS = [
    "ik,kj->ij",
    "ki,kj->ij",
    "ik,jk->ij",
    "ki,jk->ij",
    "ik,kj->ji",
    "jk,ik->ij",
    "kj,ik->ij",
    "k,kj->j",
    "ik,k->i",
    "k,jk->j",
    "k,k->",
    "ij->ji",
]


def _evaluate(text: str, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """``A @ B^T`` read with numpy: each factor a name, ``^T`` its transpose (a vector's is itself)."""
    out = None
    for factor in text.split(" @ "):
        name, t = (factor[:-2], True) if factor.endswith("^T") else (factor, False)
        arr = arrays[name].T if t else arrays[name]
        out = arr if out is None else out @ arr
    return out


@pytest.mark.parametrize("spec", MATRIX_PRODUCTS)
def test_a_matrix_product_prints_as_one_and_means_the_einsum(spec):
    ins, _ = spec.split("->")
    b = Builder()
    names = ["A", "B"][: len(ins.split(","))]
    leaves = [b.input(n, tuple(SIZES[c] for c in term)) for n, term in zip(names, ins.split(","), strict=True)]
    (binding,) = equations(b.build(einsum(spec, *leaves)), notation="matrix")
    lhs, rhs = binding.text.split(" = ")
    assert lhs == "out" and "[" not in rhs and "sum" not in rhs
    rng = np.random.default_rng(0)
    arrays = {n: rng.standard_normal(leaf.shape) for n, leaf in zip(names, leaves, strict=True)}
    np.testing.assert_allclose(_evaluate(rhs, arrays), np.einsum(spec, *arrays.values()))


@pytest.mark.parametrize("spec", ["ij->", "ki->i", "ijk,kl->ijl", "ik,ik->i", "ik,kj,jl->il"])
def test_what_is_not_a_matrix_product_keeps_its_indices(spec):
    ins, _ = spec.split("->")
    b = Builder()
    leaves = [b.input(f"A{n}", tuple(3 for _ in term)) for n, term in enumerate(ins.split(","))]
    g = b.build(einsum(spec, *leaves))
    assert equations(g, notation="matrix") == equations(g)


def test_products_of_tensors_are_hadamard_and_scalars_multiply():
    b = Builder()
    x, y, s = b.input("x", (2, 3)), b.input("y", (2, 3)), b.input("s", ())
    g = b.build(x * y, x * 2, x * s, names=["p", "q", "r"])
    text = {e.name: e.text for e in equations(g, notation="matrix")}
    assert text["p"] == "p = x ∘ y"
    assert text["q"] == "q = 2*x"
    assert text["r"] == "r = s*x"  # a 0-d factor scales: no Hadamard product
    assert r"x \circ y" in to_latex(g, notation="matrix")


def test_the_mlp_backprop_reads_as_the_notes():
    # G_i = (G_{i+1} o sigma'(Z_i W_i)) W_i^T and grad W_i = Z_i^T (G_{i+1} o sigma'(Z_i W_i)), with W (out, in)
    lines = to_text(grad(resolve("mlp:3-4-1").graph()), notation="matrix").splitlines()
    assert "v1 = x @ 0.W^T" in lines
    assert "v3 = sigmoid(v2)" in lines
    # G o sigma'(Z): sigma'(z) = sigma(z) sigma(-z), the notes' sigma (1 - sigma) without its rounding to 0 past z = 37
    assert "v10 = v3 ∘ v9 ∘ sigmoid(-v2)" in lines
    assert "v9 = v8 @ 2.W" in lines  # the adjoint passed back through the second layer
    assert "grad:0.W = v10^T @ x" in lines and "grad:2.W = v8^T @ v3" in lines
    assert any(line.startswith("grad:0.b[i] = sum_j") for line in lines)  # a bias gradient is no matrix product


def test_an_unknown_notation_is_refused():
    b = Builder()
    with pytest.raises(PrintingError, match="matrix"):
        equations(b.build(b.input("x", (2,)).map(sp.sin)), notation="tensor")
