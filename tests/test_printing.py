"""The equation printer: readable renderings per op, names, linear size, LaTeX and JSON well-formed."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import sympy as sp

from symnn.diff import grad, hvp, jvp, vjp
from symnn.expand import expand, leaf_symbols
from symnn.functions import sigmoid
from symnn.ir import Builder, concat, einsum
from symnn.ops import ALL_OPS, Const, Fold, Window
from symnn.printing import equations, latex_name, scalar_equations, to_json, to_latex, to_text
from symnn.registry import has
from verify.spec import OP_SPECS


def balanced(tex: str) -> bool:
    """Braces nest properly (escaped braces \\{ \\} do not count) and \\left pairs with \\right."""
    depth = 0
    for tok in re.findall(r"\\[{}]|[{}]", tex):
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and tex.count(r"\left") == tex.count(r"\right")


def texts(graph) -> list[str]:
    return [b.text for b in equations(graph)]


def test_every_op_has_a_renderer():
    missing = [op.__name__ for op in (*ALL_OPS, Const) if not has(op, "print")]
    assert not missing


@pytest.mark.parametrize("row", sorted(OP_SPECS))
def test_every_op_row_renders_with_its_derivatives(row):
    g = OP_SPECS[row].graph()
    for prog in (g, jvp(g), vjp(g)):
        bindings = equations(prog)
        names = [b.name for b in bindings]
        assert len(names) == len(set(names))
        assert set(prog.output_names) <= set(names)
        for b in bindings:
            assert b.text.startswith(b.name) and " = " in b.text
            assert balanced(b.latex), b.latex
        assert balanced(to_latex(prog))
    ops = {b.op for b in equations(g)}
    assert row.split(":")[0] in ops


def test_every_op_appears_in_the_printed_op_rows():
    seen = {b.op for row in OP_SPECS.values() for b in equations(row.graph())}
    assert {op.__name__ for op in ALL_OPS} <= seen


def test_matmul_and_activation_read_like_the_math():
    b = Builder()
    x, w = b.input("x", (2, 3)), b.param("W", (4, 3))
    g = b.build((x @ w.T).map(sp.tanh))
    eqs = equations(g)
    assert [e.text for e in eqs] == ["v1[i,j] = sum_k x[i,k] * W[j,k]", "out[i,j] = tanh(v1[i,j])"]
    assert eqs[0].latex == r"v_{1,ij} = \sum_{k} x_{ik} W_{jk}"
    assert eqs[1].latex == r"\mathrm{out}_{ij} = \tanh{\left(v_{1,ij} \right)}"
    assert eqs[0].op == "Einsum" and eqs[0].args == ("x", "W") and eqs[0].shape == (2, 4)


def test_broadcast_arguments_get_their_own_indices():
    b = Builder()
    x, bias, col = b.input("x", (2, 3)), b.param("b", (3,)), b.param("c", (2, 1))
    (eq,) = equations(b.build(b.elementwise(lambda p, q, r: (p + q) * r, x, bias, col)))
    assert eq.text == "out[i,j] = c[i,0]*(b[j] + x[i,j])"
    assert eq.latex == r"\mathrm{out}_{ij} = c_{i,0} \left(b_{j} + x_{ij}\right)"


def test_sigmoid_uses_its_latex():
    b = Builder()
    (eq,) = equations(b.build(b.input("z", (2,)).map(sigmoid)))
    assert eq.latex == r"\mathrm{out}_{i} = \sigma\left(z_{i}\right)"


def test_logsumexp_window_fold_slice_pad_concat_broadcast_render():
    b = Builder()
    x = b.input("x", (1, 1, 4))
    win = b.add(Window((2,), (2,), (1,)), x)
    fold = b.add(Fold((4,), (2,), (2,), (1,)), win)
    y = b.input("y", (2, 3))
    outs = [
        win,
        fold,
        y.logsumexp(1),
        y.slice((1, 0), (2, 2)),
        y.pad((1, 0), (0, 2)),
        concat([y, y], 0),
        b.input("r", (3,)).broadcast_to((2, 3)),
        y.reshape((3, 2)),
    ]
    names = ["win", "fold", "lse", "sl", "pd", "cat", "bc", "rs"]
    by_name = {e.name: e for e in equations(b.build(*outs, names=names))}
    assert by_name["win"].text == "win[i,j,k,l] = x[i,j,k+2*l-1]  (0 outside x)"
    assert by_name["win"].latex.startswith(r"\mathrm{win}_{ijkl} = x_{i,j,k+2l-1}")
    assert by_name["fold"].text == "fold[i,j,k] = sum_{l,m: l+2*m-1=k} win[i,j,l,m]"
    assert by_name["lse"].text == "lse[i] = logsumexp_j y[i,j]"
    assert by_name["lse"].latex == r"\mathrm{lse}_{i} = \log \sum_{j} e^{y_{ij}}"
    assert by_name["sl"].text == "sl = y[1:2,0:2]"
    assert by_name["sl"].latex == r"\mathrm{sl}_{ij} = y_{i+1,j}"
    assert by_name["pd"].text == "pd = pad(y, before=(1, 0), after=(0, 2))"
    assert by_name["cat"].text == "cat = concat(y, y; axis=0)"
    assert by_name["bc"].text == "bc[i,j] = r[j]"
    assert by_name["rs"].text == "rs = reshape(y, (3, 2))"


def test_derivative_names():
    assert latex_name("grad:W") == r"\bar{W}"
    assert latex_name("tangent:out") == r"\dot{\mathrm{out}}"
    assert latex_name("cotangent:y", "i") == r"\bar{y}_{i}"
    assert latex_name("hvp:W1", "ij") == r"\dot{\bar{W}}_{1,ij}"
    assert latex_name("alpha") == r"\alpha"
    assert latex_name("W_q", "ij") == r"W_{\mathrm{q},ij}"
    assert latex_name("Wq") == r"W_{\mathrm{q}}"
    assert latex_name("grad:0.W", "ij") == r"\bar{W}^{(0)}_{ij}"
    assert latex_name("1.0.b1") == r"b^{(1.0)}_{1}"
    assert latex_name("enc.head0.Wk") == r"W^{(\text{enc.head0})}_{\mathrm{k}}"


@pytest.mark.parametrize("name", ["x; import os", "a{b", "}", "50%", "a_b_c", r"\input{/etc/passwd}", "x = y"])
def test_any_leaf_name_prints_as_balanced_latex(name):
    b = Builder()
    g = b.build(b.param(name, (2,)).map(sp.exp).sum())
    tex = to_latex(grad(g))
    assert balanced(tex)
    assert r"\input{" not in tex
    assert name in to_text(g)
    # each row has exactly one alignment point
    rows = tex.split("\n")[1:-1]
    assert all(r.count("&=") == 1 for r in rows)


def test_intermediate_names_avoid_leaf_names():
    b = Builder()
    v1 = b.input("v1", (2,))
    g = b.build(((v1 * 2).map(sp.tanh) + 1).sum())
    names = [e.name for e in equations(g)]
    assert "v1" not in names
    assert len(names) == len(set(names))


def test_outputs_that_are_leaves_constants_or_repeated_get_bindings():
    b = Builder()
    x = b.param("x", (2,))
    u = b.param("u", (3,))
    y = x.map(sp.tanh)
    g = b.build(y, y, x, names=["a", "b", "c"])
    by_name = {e.name: e for e in equations(g)}
    assert by_name["b"].text == "b = a" and by_name["b"].op == "alias"
    assert by_name["c"].text == "c = x"
    gz = grad(b.build((x * x).sum() + u.sum() * 0))  # u has no influence: its gradient is 0
    zero = {e.name: e for e in equations(gz)}["grad:u"]
    assert zero.text == "grad:u[i] = 0" and zero.op == "Const"


def test_a_const_table_gets_its_own_binding():
    b = Builder()
    x = b.input("x", (2, 2))
    (c, out) = equations(b.build(x * b.const([[1, 2], [3, 4]])))
    assert c.text == "c1 = [[1, 2], [3, 4]]" and c.op == "Const"
    assert c.latex == r"c_{1} = \begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}"
    assert out.text == "out[i,j] = c1[i,j]*x[i,j]"


def tanh_chain(depth: int, width: int = 4):
    b = Builder()
    h = b.input("x", (3, width))
    for k in range(depth):
        w = b.param(f"W{k}", (width, width))
        c = b.param(f"b{k}", (width,))
        h = (h @ w.T + c).map(sp.tanh)
    return b.build(h.sum())


@pytest.mark.parametrize("derive", [lambda g: g, grad, jvp])
def test_output_grows_linearly_with_depth(derive):
    sizes = {d: len(to_text(derive(tanh_chain(d)))) for d in (5, 10, 20)}
    # affine in depth: equal increments per layer, within a few characters of index width
    per_layer_a = (sizes[10] - sizes[5]) / 5
    per_layer_b = (sizes[20] - sizes[10]) / 10
    assert per_layer_a > 0
    assert abs(per_layer_b - per_layer_a) / per_layer_a < 0.15
    assert sizes[20] / sizes[10] < 2.2
    counts = {d: len(equations(derive(tanh_chain(d)))) for d in (5, 10, 20)}
    assert counts[20] - counts[10] == 2 * (counts[10] - counts[5])  # a fixed number of bindings per layer


def test_latex_is_an_align_environment():
    tex = to_latex(grad(tanh_chain(2)))
    lines = tex.split("\n")
    assert lines[0] == r"\begin{align*}" and lines[-1] == r"\end{align*}"
    body = lines[1:-1]
    assert all(line.endswith(r" \\") for line in body[:-1]) and not body[-1].endswith(r"\\")
    assert balanced(tex)


def test_json_round_trips():
    g = hvp(tanh_chain(2))
    doc = to_json(g)
    assert json.loads(json.dumps(doc)) == doc
    assert doc["params"]["W0"] == [4, 4] and doc["inputs"]["x"] == [3, 4]
    assert [o["name"] for o in doc["outputs"]] == list(g.output_names)
    names = [b["name"] for b in doc["bindings"]]
    assert set(g.output_names) <= set(names)
    for b in doc["bindings"]:
        assert set(b) == {"name", "op", "args", "shape", "text", "latex"}
        # arguments are leaves, earlier bindings or inline numbers
        earlier = set(names[: names.index(b["name"])]) | set(doc["params"]) | set(doc["inputs"])
        assert all(a in earlier or re.fullmatch(r"-?[\d./]+", a) for a in b["args"]), b


def test_scalar_equations_reproduce_the_expansion():
    b = Builder()
    x, w = b.input("x", (2,)), b.param("w", (2,))
    g = grad(b.build((x * w).sum().map(sp.tanh)))
    eqs = scalar_equations(g)
    assert [e.name for e in eqs if e.op == "scalar"] == ["out", "grad:w[0]", "grad:w[1]"]
    assert any(e.op == "cse" for e in eqs)  # tanh(...) is shared by the value and the gradient
    # substituting the subexpressions back gives the expanded program
    env: dict[str, sp.Expr] = {"tanh": sp.tanh}
    got = {}
    syms = {s.name: s for arr in leaf_symbols(g).values() for s in np.ravel(arr)}
    plain = {n.replace("[", "_").replace("]", ""): s for n, s in syms.items()}  # x[0] -> x_0 to parse
    for e in eqs:
        rhs = re.sub(r"(\w)\[(\d+)\]", r"\1_\2", e.text.split(" = ", 1)[1])
        expr = sp.sympify(rhs, locals={**plain, **env})
        if e.op == "cse":
            env[e.name] = expr
        else:
            got[e.name] = expr
    want = expand(g)
    x0, x1, w0, w1 = (syms[n] for n in ("x[0]", "x[1]", "w[0]", "w[1]"))
    t = sp.tanh(w0 * x0 + w1 * x1)
    assert sp.simplify(got["out"] - t) == 0 and sp.simplify(want["out"][()] - t) == 0
    assert sp.simplify(got["grad:w[1]"] - (1 - t**2) * x1) == 0
    tex = to_latex(g, scalar=True)
    assert balanced(tex) and r"\bar{w}_{0}" in tex and "x_{1}" in tex


def test_scalar_text_respects_the_size_bound():
    from symnn.errors import SizeError

    with pytest.raises(SizeError, match="max_scalars=10"):
        to_text(tanh_chain(1), scalar=True, max_scalars=10)


def test_einsum_with_a_scalar_factor_and_no_sum():
    b = Builder()
    u, v = b.input("u", (2,)), b.input("v", (3,))
    (eq,) = equations(b.build(einsum("a,b->ab", u, v)))
    assert eq.text == "out[i,j] = u[i] * v[j]"
    assert eq.latex == r"\mathrm{out}_{ij} = u_{i} v_{j}"
