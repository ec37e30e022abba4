"""The programs a model compiles to: the model itself, its gradient, JVP or HVP program.

>>> from symnn.ir import Builder
>>> b = Builder()
>>> w = b.param("w", (2,))
>>> program(b.build((w * w).sum()), "grad").output_names
('out', 'grad:w')
"""

from __future__ import annotations

from ..diff import grad, hvp, jvp
from ..errors import GraphError
from ..ir import Graph

#: The modes of ``symnn compile --mode``: forward (the model), grad (loss and gradients), jvp, hvp.
MODES = ("grad", "forward", "jvp", "hvp")


def program(graph: Graph, mode: str) -> Graph:
    """The graph that ``mode`` compiles: the model itself, its gradient, JVP or HVP program."""
    if mode not in MODES:
        raise GraphError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if mode == "forward":
        return graph
    if not graph.params:
        raise GraphError(f"--mode {mode} differentiates with respect to the parameters, but the model has none")
    if mode != "jvp" and graph.shape(graph.outputs[0]) != ():
        raise GraphError(
            f"--mode {mode} needs a scalar first output (a loss), but {graph.output_names[0]!r} has shape "
            f"{graph.shape(graph.outputs[0])}; use --mode forward or jvp"
        )
    return {"grad": grad, "jvp": jvp, "hvp": hvp}[mode](graph)


__all__ = ["MODES", "program"]
