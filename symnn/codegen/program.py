"""The programs a model compiles to: the model itself, its gradient, JVP or HVP program.

>>> from symnn.ir import Builder
>>> b = Builder()
>>> w = b.param("w", (2,))
>>> program(b.build((w * w).sum()), "grad").output_names
('out', 'grad:w')
"""

from __future__ import annotations

from ..diff import grad, hvp, jvp, require_scalar
from ..errors import GraphError
from ..ir import Graph

#: The modes of ``symnn compile --mode``: value (the model itself), grad (loss and gradients), jvp, hvp.
MODES = ("grad", "value", "jvp", "hvp")

#: Spellings of earlier releases: "forward" meant the model's values, which reads as forward mode (jvp).
OLD_MODES = {"forward": "value"}


def program(graph: Graph, mode: str) -> Graph:
    """The graph that ``mode`` compiles: the model itself, its gradient, JVP or HVP program."""
    mode = OLD_MODES.get(mode, mode)
    if mode not in MODES:
        raise GraphError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if mode == "value":
        return graph
    if not graph.params:
        raise GraphError(f"--mode {mode} differentiates with respect to the parameters, but the model has none")
    if mode != "jvp":
        require_scalar(graph, mode, "--mode value or jvp")
    return {"grad": grad, "jvp": jvp, "hvp": hvp}[mode](graph)


__all__ = ["MODES", "OLD_MODES", "program"]
