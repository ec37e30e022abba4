"""The exact cross-check for every layer, activation, loss and architecture (issue 2, item 6).

At small shapes, the expanded reverse-mode gradient and the expanded forward-mode JVP equal
sympy.diff of the expanded forward expression (rewritten to elementary functions first) at
rational points: exactly where the values are rational, to 40 digits otherwise.
"""

from __future__ import annotations

import pytest

from verify.exact import check_exact
from verify.spec import layer_rows

ROWS = layer_rows()


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_layer_rules_equal_sympy_diff(row):
    if row.inexact:
        pytest.skip(row.inexact)
    report = check_exact(row.make(), seed=3)
    assert report.ok, report.mismatches[:5]
    assert report.compared >= 2


def test_only_the_stacked_transformer_is_exempt():
    assert [r.name for r in ROWS if r.inexact] == ["Transformer"]


def test_every_layer_class_has_a_row():
    import symnn.layers as L

    covered = {r.name.split(":")[0] for r in ROWS}
    classes = [
        n for n in L.__all__ if n[0].isupper() and n not in {"ACTIVATIONS", "Layer", "Params", "Flatten", "MeanPool"}
    ]
    missing = [n for n in classes if n not in covered]
    assert not missing, f"layers without an exact-check row in verify/spec.py: {missing}"
