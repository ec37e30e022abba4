"""The Graph IR: shape checks at build time, hash-consing, folding, fingerprints."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symnn.errors import GraphError, ShapeError
from symnn.ir import Builder, concat, einsum
from symnn.ops import Const, Einsum, Elementwise, Window


def test_identical_subexpressions_are_one_node():
    b = Builder()
    x = b.input("x", (3,))
    a = x.map(sp.tanh) * 2
    c = x.map(sp.tanh) * 2
    assert a == c
    assert sum(isinstance(n.op, Elementwise) for n in b.nodes) == 2


def test_transposes_fold_into_the_contraction():
    b = Builder()
    x, w = b.input("x", (5, 3)), b.param("W", (4, 3))
    y = x @ w.T
    node = b.nodes[y.id]
    assert isinstance(node.op, Einsum) and node.args == (x.id, w.id)
    assert node.shape == (5, 4)


def test_shape_errors_name_both_shapes():
    b = Builder()
    x, w = b.input("x", (5, 3)), b.param("W", (4, 2))
    with pytest.raises(ShapeError, match=r"\(5, 3\) and \(2, 4\): inner sizes 3 != 2"):
        x @ w.T
    with pytest.raises(ShapeError, match="do not broadcast"):
        x + b.input("z", (4,))


def test_scope_names_the_layer():
    b = Builder()
    x = b.input("x", (2, 3))
    with b.scope("Linear(8, 4)"), pytest.raises(ShapeError, match=r"^Linear\(8, 4\):"):
        b.add(Einsum("bi,oi->bo"), x, b.param("W", (4, 8)))


def test_window_geometry_is_checked():
    b = Builder()
    x = b.input("x", (1, 1, 3, 3))
    with pytest.raises(ShapeError, match="does not fit"):
        b.add(Window((4, 4), (1, 1), (0, 0)), x)
    assert b.add(Window((2, 2), (1, 1), (1, 1)), x).shape == (1, 1, 2, 2, 4, 4)


def test_duplicate_leaf_with_another_shape_is_an_error():
    b = Builder()
    b.param("W", (2, 2))
    with pytest.raises(ShapeError, match="use another name"):
        b.param("W", (3, 2))


def test_bad_shapes_and_constants():
    b = Builder()
    with pytest.raises(ShapeError, match="positive integer"):
        b.input("x", (0, 2))
    with pytest.raises(GraphError, match="finite"):
        b.const(float("nan"))
    with pytest.raises(GraphError, match="real number"):
        b.input("x", (2,)) + "1"  # type: ignore[operator]


@pytest.mark.parametrize(
    ("values", "shape", "expected"),
    [
        ([[1, 2.5], [True, 0]], (2, 2), (1.0, 2.5, 1.0, 0.0)),  # widened to the widest type, as NumPy would
        (np.arange(6).reshape(2, 3), (2, 3), (0, 1, 2, 3, 4, 5)),
        ([np.int64(1), 2], (2,), (1, 2)),
        (np.float32(2.5), (), (2.5,)),
        ([True, False], (2,), (True, False)),
    ],
)
def test_constants_from_nested_sequences_and_arrays(values, shape, expected):
    b = Builder()
    c = b.const(values)
    node = b.nodes[c.id]
    assert isinstance(node.op, Const) and node.shape == shape and node.op.values == expected
    assert [type(v) for v in node.op.values] == [type(v) for v in expected]


@pytest.mark.parametrize("values", [[[1, 2], [3]], [], "12", [1 + 2j], [sp.Integer(1)]])
def test_bad_constants_are_refused(values):
    with pytest.raises(GraphError, match="constants must"):
        Builder().const(values)


def test_constant_arguments_fold_into_the_body():
    b = Builder()
    x = b.input("x", (2, 3))
    y = x * b.const(3, (2, 3))
    node = b.nodes[y.id]
    assert node.args == (x.id,) and node.op.fn.expr == 3 * sp.Symbol("_a0", real=True)


def test_concat_and_slices_have_shapes():
    b = Builder()
    x = b.input("x", (2, 3))
    assert concat([x, x.take(1, 0, 1)], 1).shape == (2, 4)
    assert x.pad((1, 0), (0, 2)).shape == (3, 5)
    with pytest.raises(ShapeError, match="empty or outside"):
        x.take(1, 2, 5)


def test_einsum_spec_is_validated():
    b = Builder()
    x = b.input("x", (2, 2))
    with pytest.raises(GraphError, match="repeated index"):
        einsum("ii->i", x)
    with pytest.raises(GraphError, match="explicit output"):
        einsum("ij", x)


def test_fingerprint_tracks_content_and_names_are_data():
    def graph(name):
        b = Builder()
        x = b.input(name, (2,))
        return b.build(x.map(sp.exp).sum())

    assert graph("x").fingerprint() == graph("x").fingerprint()
    assert graph("x").fingerprint() != graph("x; import os").fingerprint()
    g = graph("__import__('os').system('true')")
    assert list(g.inputs) == ["__import__('os').system('true')"]


def test_elementwise_arity_is_not_capped() -> None:
    """70 distinct arguments (beyond the 64 placeholders once preallocated): value and gradient by hand."""
    import numpy as np
    import sympy as sp

    from symnn import grad
    from symnn.executor import Executor
    from symnn.ops import Elementwise

    n = 70
    b = Builder()
    xs = [b.param(f"p{i}", (2,)) for i in range(n)]
    a = sp.symbols(f"a0:{n}", real=True)
    t = b.elementwise(sp.Lambda(a, sum(a[i] * a[(i + 1) % n] for i in range(n))), *xs)
    g = b.build(t.sum())
    assert max(len(nd.args) for nd in g.nodes if isinstance(nd.op, Elementwise)) == n
    rng = np.random.default_rng(0)
    vals = {f"p{i}": rng.standard_normal(2) for i in range(n)}
    out = Executor(grad(g)).forward(vals)
    assert np.isclose(float(out["out"]), sum(float(vals[f"p{i}"] @ vals[f"p{(i + 1) % n}"]) for i in range(n)))
    for i in (0, 33, n - 1):
        want = vals[f"p{(i + 1) % n}"] + vals[f"p{(i - 1) % n}"]  # d/dp_i of the cyclic sum of products
        assert np.allclose(out[f"grad:p{i}"], want, rtol=1e-13, atol=1e-14)
