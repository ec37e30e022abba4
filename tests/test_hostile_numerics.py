"""Issue 19 items 5a, 6 and 7: reserved leaf names, numerics at the edges, work refused with an estimate."""

from __future__ import annotations

import numpy as np
import pytest

from symnn.codegen import compile
from symnn.diff import jvp
from symnn.errors import GraphError
from symnn.ir import Builder


# -- 5a: a user's leaf never passes for a derivative's input -------------------------------------------------------
@pytest.mark.parametrize("name", ["tangent:w", "cotangent:loss", "grad:w", "hvp:w", "tangent2:w", "grad12:x"])
@pytest.mark.parametrize("kind", ["input", "param"])
def test_reserved_leaf_names_are_refused_at_build_time(name: str, kind: str) -> None:
    b = Builder()
    with pytest.raises(GraphError, match=f"leaf name '{name}' is reserved.*rename it"):
        getattr(b, kind)(name, (3,))


@pytest.mark.parametrize("name", ["tangents:w", "gradient:w", "probe:w", "tangent_w", "my tangent:w"])
def test_names_that_only_look_alike_are_fine(name: str) -> None:
    Builder().input(name, (3,))


def test_the_renamed_leaf_gives_the_tangent_by_hand() -> None:
    """loss = sum(w * v) with v an input: d loss along t is sum(t * v) = 2 * (1 + 2 + 3) = 12."""
    b = Builder()
    w, v = b.param("w", (3,)), b.input("tangent_w", (3,))
    out = compile(jvp(b.build((w * v).sum(), names=["loss"])))
    got = out(w=np.array([1.0, 2.0, 3.0]), tangent_w=np.full(3, 2.0), **{"tangent:w": np.array([1.0, 2.0, 3.0])})
    assert float(got["tangent:loss"]) == 12.0
