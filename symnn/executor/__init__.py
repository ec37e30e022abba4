"""The numeric autodiff executor: an oracle independent of the symbolic derivative rules.

It runs any Graph on arrays: the forward value, forward mode (a tangent sweep: JVP) and reverse
mode (an adjoint sweep over a tape: VJP and gradients). Elementwise bodies are compiled to
scalar programs over a fixed set of primitives whose derivatives are written by hand
(``kernels.partials``); contractions, windows and structural ops have their own numeric rules
(``rules``), registered as each op's ``"exec.value"``, ``"exec.jvp"`` and ``"exec.vjp"`` parts in
``symnn.registry``. It never imports ``symnn.diff`` nor calls ``sympy.diff``.
"""

from .kernels import KERNELS
from .run import Executor
from .scalar import Program, compile_lambda

__all__ = ["KERNELS", "Executor", "Program", "compile_lambda"]
