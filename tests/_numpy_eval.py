"""A plain NumPy interpreter for Graphs, written for the tests only.

It shares nothing with symnn's evaluators: each op is a few lines of NumPy written from the op's
documented meaning, and Elementwise bodies go through ``sympy.lambdify`` with this file's own
definitions of every supported function (keyed by canonical name, as in ``symnn.functions``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from symnn import ops
from symnn.functions import named_heads
from symnn.ir import Graph


def _sigmoid(x: Any) -> Any:
    return np.exp(-np.logaddexp(0.0, -x))


#: Every supported function, keyed by its canonical name (symnn.functions.FUNCTIONS).
_FUNCS = {
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "atan": np.arctan,
    "erf": np.vectorize(math.erf, otypes=[float]),
    "abs": np.abs,
    "sigmoid": _sigmoid,
    "softplus": lambda x: np.logaddexp(0.0, x),
    "relu": lambda x: np.where(x > 0, x, 0.0),
    "step": lambda x: np.where(x > 0, 1.0, 0.0),
    "sgn": np.sign,
    "maximum": lambda a, b: np.where(a >= b, a, b),
}
_NAMESPACE = {f"_{name}": f for name, f in _FUNCS.items()}  # named_heads prints relu(x) as _relu(x)


@cache
def _compile(fn: sp.Lambda) -> Any:
    return sp.lambdify(fn.variables, named_heads(fn.expr), modules=[_NAMESPACE, "numpy"])


def _window(x: np.ndarray, op: ops.Window) -> np.ndarray:
    # out[n, c, k..., o...] = xpad[n, c, o*stride + k]
    d = len(op.kernel)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in op.padding])
    outs = [
        (s + 2 * p - k) // st + 1 for s, k, st, p in zip(x.shape[2:], op.kernel, op.stride, op.padding, strict=True)
    ]
    out = np.zeros(x.shape[:2] + tuple(op.kernel) + tuple(outs))
    for ks in itertools.product(*(range(k) for k in op.kernel)):
        sl = tuple(slice(k, k + st * (o - 1) + 1, st) for k, st, o in zip(ks, op.stride, outs, strict=True))
        out[(slice(None), slice(None), *ks)] = xp[(slice(None), slice(None), *sl)]
    assert out.ndim == 2 + 2 * d
    return out


def _fold(w: np.ndarray, op: ops.Fold) -> np.ndarray:
    d = len(op.kernel)
    outs = w.shape[2 + d :]
    xp = np.zeros(w.shape[:2] + tuple(s + 2 * p for s, p in zip(op.spatial, op.padding, strict=True)))
    for ks in itertools.product(*(range(k) for k in op.kernel)):
        sl = tuple(slice(k, k + st * (o - 1) + 1, st) for k, st, o in zip(ks, op.stride, outs, strict=True))
        xp[(slice(None), slice(None), *sl)] += w[(slice(None), slice(None), *ks)]
    crop = tuple(slice(p, p + s) for p, s in zip(op.padding, op.spatial, strict=True))
    return xp[(slice(None), slice(None), *crop)]


def _lse(x: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def run(graph: Graph, values: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Evaluate every output of ``graph`` in float64; ``values`` maps leaf names to arrays."""
    vals: list[np.ndarray] = []
    for node in graph.nodes:
        op = node.op
        args = [vals[a] for a in node.args]
        if isinstance(op, ops.Input):
            v = np.asarray(values[op.name], dtype=float)
            assert v.shape == node.shape, (op.name, v.shape, node.shape)
        elif isinstance(op, ops.Const):
            if len(op.values) == 1:
                v = np.full(node.shape, float(op.values[0]))
            else:
                v = np.array([float(c) for c in op.values]).reshape(node.shape)
        elif isinstance(op, ops.Elementwise):
            v = np.broadcast_to(np.asarray(_compile(op.fn)(*args), dtype=float), node.shape)
        elif isinstance(op, ops.Einsum):
            v = np.einsum(op.spec, *args)
        elif isinstance(op, ops.Window):
            v = _window(args[0], op)
        elif isinstance(op, ops.Fold):
            v = _fold(args[0], op)
        elif isinstance(op, ops.Reshape):
            v = args[0].reshape(op.shape)
        elif isinstance(op, ops.Slice):
            v = args[0][tuple(slice(a, b) for a, b in zip(op.start, op.stop, strict=True))]
        elif isinstance(op, ops.Pad):
            v = np.pad(args[0], list(zip(op.before, op.after, strict=True)))
        elif isinstance(op, ops.Concat):
            v = np.concatenate(args, axis=op.axis)
        elif isinstance(op, ops.BroadcastTo):
            v = np.broadcast_to(args[0], op.shape)
        elif isinstance(op, ops.LogSumExp):
            v = _lse(args[0], op.axis)
        else:  # pragma: no cover
            raise NotImplementedError(type(op).__name__)
        assert v.shape == node.shape, (op, v.shape, node.shape)
        vals.append(v)
    return {nm: np.array(vals[o]) for nm, o in zip(graph.output_names, graph.outputs, strict=True)}


def random_values(graph: Graph, seed: int = 0, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Standard-normal values (times ``scale``) for every leaf of ``graph``."""
    rng = np.random.default_rng(seed)
    return {n.op.name: scale * rng.standard_normal(n.shape) for n in graph.leaves()}
