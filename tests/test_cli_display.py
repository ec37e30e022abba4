"""The command line's drawings and notations: ``derive --format dot``, ``derive --notation matrix``."""

from __future__ import annotations

import json

import pytest

from symnn import cli
from symnn.cli.arguments import regroup
from symnn.cli.main import BUILTIN, _load, build_parser
from symnn.zoo import list_models


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_derive_dot_prints_one_digraph_per_program(capsys):
    code, out, err = run(capsys, "derive", "mlp:3-4-1", "--format", "dot")
    assert code == 0 and err == ""
    assert out.count("digraph G {") == 2  # primal and reverse
    assert "// primal program" in out and "// reverse mode" in out
    assert 'label="grad:0.W"' in out  # the gradient's outputs are nodes of their own


def test_derive_matrix_notation_in_text_latex_and_json(capsys):
    code, out, _ = run(capsys, "derive", "mlp:3-4-1", "--notation", "matrix")
    assert code == 0 and "v1 = x @ 0.W^T" in out and "grad:0.W = v10^T @ x" in out
    code, out, _ = run(capsys, "derive", "mlp:3-4-1", "--notation", "matrix", "--format", "latex")
    assert code == 0 and r"v_{1} &= x {W^{(0)}}^{T}" in out and r"\circ" in out
    code, out, _ = run(capsys, "derive", "mlp:3-4-1", "--notation", "matrix", "--json")
    doc = json.loads(out)
    assert doc["notation"] == "matrix"
    texts = [b["text"] for b in doc["programs"]["grad"]["bindings"]]
    assert "grad:2.W = v8^T @ v3" in texts


def test_derive_index_notation_stays_the_default(capsys):
    code, out, _ = run(capsys, "derive", "mlp:3-4-1")
    assert code == 0 and "v1[i,j] = sum_k x[i,k] * 0.W[j,k]" in out and "@" not in out


def test_derive_scalar_refuses_a_large_model_before_expanding(capsys, monkeypatch):
    import symnn.printing

    def never(*args, **kwargs):
        raise AssertionError("expanded although the estimate was over the bound")

    monkeypatch.setattr(symnn.printing, "scalar_equations", never)
    code, out, err = run(capsys, "derive", "transformer", "--scalar")
    assert code == 2 and out == ""
    assert "--max-terms" in err and "terms (estimated from the shapes)" in err


def test_derive_scalar_of_a_small_model_still_expands(capsys):
    code, out, _ = run(capsys, "derive", "mlp:2-2-1", "--scalar")
    assert code == 0 and "grad:0.W[0,0] = " in out


def test_expression_size_counts_the_terms_of_a_product():
    from symnn.ir import Builder
    from symnn.printing import expression_size

    b = Builder()
    x, w = b.input("x", (2, 3)), b.param("W", (4, 3))
    # 8 outputs, each a sum of 3 products of 2 leaves
    assert expression_size(b.build(x @ w.T)) == 8 * 3 * 2


def test_under_json_errors_are_json_on_stdout(capsys):
    for argv in (
        ["derive", "nosuch", "--json"],
        ["check", "--bogus", "--json"],
        ["derive", "nosuch", "--format", "json"],
    ):
        code, out, err = run(capsys, *argv)
        doc = json.loads(out)
        assert code == 2 and err == ""
        assert doc["ok"] is False and doc["error"]
    code, out, err = run(capsys, "derive", "nosuch")
    assert code == 2 and out == "" and err.startswith("symnn: error: unknown model 'nosuch'")


def test_list_options_do_not_swallow_the_model():
    from symnn.cli.arguments import regroup
    from symnn.cli.check import LISTS

    assert regroup(["check", "--oracles", "fd", "mlp"], LISTS) == ["check", "--oracles", "fd", "mlp"]
    assert regroup(["check", "--oracles", "fd", "adjoint", "mlp", "--paths", "kernel"], LISTS) == [
        "check",
        "--oracles",
        "fd,adjoint",
        "mlp",
        "--paths",
        "kernel",
    ]
    args = cli.build_parser(["check"]).parse_args(
        ["check", "--oracles", "fd,adjoint", "mlp:2-2-1", "--paths", "kernel"]
    )
    assert args.models == ["mlp:2-2-1"] and args.oracles == ["fd", "adjoint"] and args.paths == ["kernel"]


def test_derive_wrt_before_the_model(capsys):
    code, out, _ = run(capsys, "derive", "--wrt", "x", "mlp:2-2-1")
    assert code == 0 and "grad:x" in out


def _examples(text: str) -> list[list[str]]:
    """The commands of an examples block: each line's words up to its description (two spaces) or a pipe."""
    import shlex

    lines = text.split("examples:", 1)[1].splitlines()
    commands = [line.strip().split("  ")[0].split(" | ")[0] for line in lines if line.strip().startswith("symnn ")]
    return [shlex.split(c)[1:] for c in commands]


@pytest.mark.parametrize("name", list(BUILTIN))
def test_every_subcommand_help_ends_with_examples_that_parse(name, capsys):
    code, out, _ = run(capsys, name, "--help")
    assert code == 0 and "examples:" in out
    examples = _examples(out)
    assert examples and all(argv[0] in BUILTIN for argv in examples)
    for argv in examples:
        if argv[0] != name:
            continue
        parser = build_parser(argv)
        args = parser.parse_args(regroup(argv, _load(name).lists))  # a usage error raises UsageError
        assert args.command == name


def test_models_lists_the_zoo_with_sizes(capsys):
    code, out, _ = run(capsys, "models", "--json")
    rows = json.loads(out)["models"]
    assert [r["name"] for r in rows] == list_models()
    mlp = next(r for r in rows if r["name"] == "mlp")
    # the default mlp:4-8-1: W (8, 4), b (8,), W (1, 8), b (1,)
    assert mlp["spec"] == "mlp:4-8-1" and mlp["parameters"] == 8 * 4 + 8 + 8 + 1
    code, out, _ = run(capsys, "models")
    assert code == 0 and all(r["spec"] in out for r in rows)
