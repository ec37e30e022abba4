"""Flat-vector kernels of scalar graphs: all parameters in one vector, all outputs in one vector.

``compile_flat(graph)`` takes a graph whose every node is a scalar (what ``symnn.formula``
builds, and its ``grad``/``jvp``/``hvp``) and returns a ``FlatKernel``: ``kernel(theta, data)``
reads the parameters from one float vector ``theta`` and the data inputs from one vector
``data``, and returns the outputs as one vector. ``kernel.params``, ``kernel.inputs`` and
``kernel.outputs`` are ``Layout``s (name -> slice, as jax's ``ravel_pytree`` or CasADi's
``vertcat`` give): ``layout.ravel({name: value})`` packs, ``layout.unravel(vector)`` unpacks.
For a ``grad`` graph, ``kernel.value_and_grad(theta, data)`` returns (loss, gradient vector in
``theta``'s layout), which is what ``scipy.optimize.minimize(..., jac=True)`` calls::

    k = compile_flat(grad(formula(loss, params, inputs)))
    res = scipy.optimize.minimize(k.value_and_grad, k.params.ravel(start), args=(k.inputs.ravel(x),), jac=True)

A call costs a few microseconds whatever the number of parameters: one Numba call on three
vectors, no per-name checks. The inputs of a ``jvp``/``hvp`` graph include its tangents
(``tangent:<leaf>``), after the data, in ``kernel.inputs`` order.

How the code is laid out (the "packed" strategy; ``symnn.compile`` keeps one statement or fused
loop per node, which suits tensor graphs and small scalar graphs): every scalar lives in one
register vector ``w`` (parameters, then inputs, then constants, then computed values). Nodes
are scheduled by level (a leaf has level 0, a node one more than its deepest argument); the
nodes of one level with the same body (an MLP's 10,000 products ``W_ij x_j`` share a few bodies)
become one loop ``for k in range(n): w[base + k] = f(w[idx[..k]], ...)`` over packed index
arrays, and a body used once is one straight-line statement. The statements are split into
Numba functions of at most ``MAX_LINES`` lines, so compile time grows with the number of
distinct (level, body) pairs, not with the number of nodes.

>>> import numpy as np, sympy as sp
>>> from symnn.formula import formula
>>> from symnn.diff import grad
>>> w, x = sp.symbols("w x")
>>> k = compile_flat(grad(formula((w * x - 1) ** 2, params=[w], inputs=[x])))
>>> k.params.names, k.outputs.names
(('w',), ('out', 'grad:w'))
>>> loss, g = k.value_and_grad(np.array([2.0]), np.array([3.0]))
>>> float(loss), g.tolist()
(25.0, [30.0])
"""

from __future__ import annotations

import base64
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

from ..errors import GraphError, ShapeError
from ..files import atomic_write
from ..ir import Graph, arg_symbols
from ..jit import trusted_cache_dir
from ..ops import Const, Elementwise, Input
from .cache import (
    KERNELS_SUBDIR,
    cache_key,
    check_numba_files,
    kernels_dir,
    load_module,
    lookup,
    record_environment,
    secret,
    store,
)
from .environment import cython_blas, environment, environment_id
from .module import CODEGEN_VERSION, dtype_name
from .runtime import helper_block
from .scalar import ScalarPrinter, stabilize

#: Most lines of one generated Numba function: longer straight-line code is split (compile time
#: of one function grows faster than linearly with its length).
MAX_LINES = 400

#: Bump when the flat module's source changes (with CODEGEN_VERSION, part of its cache key).
FLAT_VERSION = 1


@dataclass(frozen=True)
class Layout:
    """Where each named array sits in one flat vector: ``slices[k]`` of shape ``shapes[k]``.

    >>> lay = Layout(("a", "b"), ((), (2,)))
    >>> lay.size, lay.slice("b")
    (3, slice(1, 3, None))
    >>> v = lay.ravel({"a": 1.0, "b": [2.0, 3.0]})
    >>> v.tolist(), lay.unravel(v)["b"].tolist()
    ([1.0, 2.0, 3.0], [2.0, 3.0])
    """

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @cached_property
    def sizes(self) -> tuple[int, ...]:
        return tuple(math.prod(s) for s in self.shapes)

    @cached_property
    def size(self) -> int:
        return sum(self.sizes)

    @cached_property
    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for name, n in zip(self.names, self.sizes, strict=True):
            out[name] = slice(start, start + n)
            start += n
        return out

    def slice(self, name: str) -> slice:
        try:
            return self.slices[name]
        except KeyError:
            raise GraphError(f"no entry named {name!r}; the layout has {list(self.names)}") from None

    def ravel(self, values: Mapping[str, Any], dtype: Any = np.float64) -> np.ndarray:
        """One vector of every named value, in this layout's order (each value given once)."""
        missing = [n for n in self.names if n not in values]
        unknown = [n for n in values if n not in self.slices]
        if missing or unknown:
            raise GraphError(f"ravel: missing {missing}, unknown {unknown}; the layout has {list(self.names)}")
        out = np.empty(self.size, dtype)
        for name, sl, shape in zip(self.names, self.slices.values(), self.shapes, strict=True):
            a = np.asarray(values[name], dtype)
            if a.shape != shape:
                raise ShapeError(f"ravel: {name!r} has shape {a.shape}, expected {shape}")
            out[sl] = a.reshape(-1)
        return out

    def unravel(self, vector: np.ndarray) -> dict[str, np.ndarray]:
        """{name: view of ``vector`` in its shape}: the inverse of ``ravel``."""
        vector = np.asarray(vector)
        if vector.shape != (self.size,):
            raise ShapeError(f"unravel: a vector of shape {vector.shape}, expected ({self.size},)")
        return {n: vector[sl].reshape(s) for (n, sl), s in zip(self.slices.items(), self.shapes, strict=True)}


@dataclass(frozen=True)
class _Step:
    """One loop (or, for n == 1, one statement): ``w[base + k] = fn(w[idx[off + j n + k]] ...)``."""

    fn: sp.Lambda
    nodes: tuple[int, ...]


def _schedule(graph: Graph) -> list[_Step]:
    """Computed nodes grouped by (level, body), in an order that respects the dependencies."""
    level = [0] * len(graph.nodes)
    groups: dict[tuple[int, sp.Lambda], list[int]] = {}
    for i, n in enumerate(graph.nodes):
        if isinstance(n.op, (Input, Const)):
            continue
        level[i] = 1 + max(level[a] for a in n.args)
        groups.setdefault((level[i], n.op.fn), []).append(i)  # type: ignore[attr-defined]
    order = sorted(groups.items(), key=lambda kv: (kv[0][0], kv[1][0]))
    return [_Step(fn, tuple(ids)) for (_, fn), ids in order]


def check_scalar(graph: Graph) -> None:
    """Raise ``GraphError`` unless every node is a scalar leaf, constant or Elementwise node."""
    for i, n in enumerate(graph.nodes):
        if n.shape != () or not isinstance(n.op, (Input, Const, Elementwise)):
            raise GraphError(
                f"compile_flat needs a graph of scalars (what symnn.formula builds); node %{i} is "
                f"{type(n.op).__name__} of shape {n.shape}: use symnn.compile for tensor graphs"
            )


class _Body:
    """The printed lines of one body, cached: ``x0..`` its arguments, ``s0..`` CSE temporaries."""

    def __init__(self, dtype: str) -> None:
        self.dtype = dtype
        self.helpers: set[str] = set()
        self._cache: dict[sp.Lambda, tuple[list[str], str]] = {}

    def lines(self, fn: sp.Lambda) -> tuple[list[str], str]:
        hit = self._cache.get(fn)
        if hit is None:
            xs = arg_symbols(len(fn.variables))
            names = {a: f"x{k}" for k, a in enumerate(xs)}
            temps, (result,) = sp.cse([stabilize(fn.expr)], symbols=sp.numbered_symbols("s", real=True), order="none")
            printer = ScalarPrinter(names | {t: str(t) for t, _ in temps}, self.dtype)
            hit = ([f"{t} = {printer.doprint(e)}" for t, e in temps], printer.doprint(result))
            self.helpers |= printer.helpers
            self._cache[fn] = hit
        return hit


def generate_flat(graph: Graph, dtype: str = "float64") -> tuple[str, np.ndarray]:
    """The module source and its packed index array (int64)."""
    check_scalar(graph)
    params, inputs = graph.leaf_ids("param"), graph.leaf_ids("input")
    consts = [i for i, n in enumerate(graph.nodes) if isinstance(n.op, Const)]
    reg: dict[int, int] = {i: r for r, i in enumerate(params + inputs + consts)}
    steps = _schedule(graph)
    for s in steps:
        for i in s.nodes:
            reg[i] = len(reg)
    printer = _Body(dtype)
    idx: list[int] = []
    blocks: list[list[str]] = []
    base = len(params) + len(inputs) + len(consts)
    for s in steps:
        pre, result = printer.lines(s.fn)
        n, arity = len(s.nodes), len(s.fn.variables)
        node_args = [graph.nodes[i].args for i in s.nodes]
        if n == 1:
            reads = [f"x{j} = w[{reg[a]}]" for j, a in enumerate(node_args[0])]
            blocks.append([*reads, *pre, f"w[{base}] = {result}"])
        else:
            off = len(idx)
            for j in range(arity):
                idx.extend(reg[args[j]] for args in node_args)
            reads = [f"    x{j} = w[idx[{off + j * n} + k]]" for j in range(arity)]
            body = [f"    {line}" for line in pre]
            blocks.append([f"for k in range({n}):", *reads, *body, f"    w[{base} + k] = {result}"])
        base += n
    out_off = len(idx)
    idx.extend(reg[o] for o in graph.outputs)

    parts: list[list[str]] = [[]]
    for block in blocks:
        if parts[-1] and len(parts[-1]) + len(block) > MAX_LINES:
            parts.append([])
        parts[-1].extend(block)
    if not parts[-1]:
        parts.pop()

    values = [float(graph.nodes[i].op.values[0]) for i in consts]  # type: ignore[attr-defined]
    n_p, n_in, n_c = len(params), len(inputs), len(consts)
    src = [
        f'"""Flat-vector kernel by symnn (codegen version {CODEGEN_VERSION}), {dtype}; needs numpy and numba.',
        "",
        f"compute(theta, data, consts, idx, out) -> int: theta holds the {n_p} parameters, data the {n_in}",
        f"inputs, out receives the {len(graph.outputs)} outputs (orders: PARAM_NAMES, INPUT_NAMES, OUTPUT_NAMES);",
        "consts is CONSTS and idx is IDX. Returns 0, or 1 (computing nothing) if a vector has the wrong length.",
        '"""',
        "",
        "import base64",
        "import math",
        "import zlib",
        "",
        "import numpy as np",
        "from numba import njit, types",
        "",
        f"DTYPE = np.dtype(np.{dtype})",
        f"PARAM_NAMES = ({''.join(ascii(_leaf(graph, i)) + ', ' for i in params)})",
        f"INPUT_NAMES = ({''.join(ascii(_leaf(graph, i)) + ', ' for i in inputs)})",
        f"OUTPUT_NAMES = ({''.join(ascii(n) + ', ' for n in graph.output_names)})",
        f"CONSTS = np.array([{', '.join(map(repr, values))}], dtype=DTYPE)",
        f"IDX = np.frombuffer(zlib.decompress(base64.b64decode({_packed(idx)!r})), dtype='<i8').copy()",
        "",
        helper_block(printer.helpers, dtype),
        "",
        f"_V = types.Array(types.{dtype}, 1, 'C')",
        "_IX = types.Array(types.int64, 1, 'C')",
        "",
    ]
    opts = 'cache=True, error_model="numpy"'
    for k, lines in enumerate(parts):
        src += ["", f"@njit(types.void(_V, _IX), {opts})", f"def _part{k}(w, idx):"]
        src += [f"    {line}" for line in lines]
        src.append("")
    calls = [f"    _part{k}(w, idx)" for k in range(len(parts))]
    src += [
        "",
        f"@njit(types.int64(_V, _V, _V, _IX, _V), {opts})",
        "def compute(theta, data, consts, idx, out):",
        f"    if theta.shape[0] != {n_p} or data.shape[0] != {n_in} or out.shape[0] != {len(graph.outputs)}:",
        "        return 1",
        f"    w = np.empty({base}, DTYPE)",
        f"    w[:{n_p}] = theta",
        f"    w[{n_p}:{n_p + n_in}] = data",
        f"    w[{n_p + n_in}:{n_p + n_in + n_c}] = consts",
        *calls,
        f"    for k in range({len(graph.outputs)}):",
        f"        out[k] = w[idx[{out_off} + k]]",
        "    return 0",
        "",
    ]
    return "\n".join(src), np.asarray(idx, dtype=np.int64)


def _leaf(graph: Graph, i: int) -> str:
    return graph.nodes[i].op.name  # type: ignore[attr-defined]


def _packed(idx: list[int]) -> bytes:
    return base64.b64encode(zlib.compress(np.asarray(idx, dtype="<i8").tobytes(), 6))


class FlatKernel:
    """A compiled scalar graph called on flat vectors: ``kernel(theta, data) -> outputs vector``.

    Attributes: ``params``, ``inputs``, ``outputs`` (``Layout``s), ``source`` (the generated
    module), ``compute`` (the Numba function), ``cache_hit`` (the module came from the disk cache).
    """

    def __init__(self, graph: Graph, module: Any, source: str, cache_hit: bool) -> None:
        self.params = Layout(tuple(module.PARAM_NAMES), tuple(() for _ in module.PARAM_NAMES))
        self.inputs = Layout(tuple(module.INPUT_NAMES), tuple(() for _ in module.INPUT_NAMES))
        self.outputs = Layout(tuple(module.OUTPUT_NAMES), tuple(() for _ in module.OUTPUT_NAMES))
        self.dtype = np.dtype(module.DTYPE)
        self.source = source
        self.cache_hit = cache_hit
        self.compute = module.compute
        self._consts, self._idx = module.CONSTS, module.IDX
        self._no_data = np.empty(0, self.dtype)
        names = self.outputs.names
        self._is_grad = len(names) == len(self.params.names) + 1 and names[1:] == tuple(
            f"grad:{p}" for p in self.params.names
        )

    def __call__(self, theta: np.ndarray, data: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """The outputs, in ``self.outputs`` order, as one vector (written into ``out`` if given)."""
        dt = self.dtype
        theta = np.ascontiguousarray(theta, dt)
        data = self._no_data if data is None else np.ascontiguousarray(data, dt)
        if out is None:
            out = np.empty(self.outputs.size, dt)
        if self.compute(theta, data, self._consts, self._idx, out):
            raise ShapeError(
                f"flat kernel: theta has shape {theta.shape}, data {data.shape}, out {out.shape}; expected "
                f"({self.params.size},), ({self.inputs.size},), ({self.outputs.size},)"
            )
        return out

    def value_and_grad(self, theta: np.ndarray, data: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """(value, gradient in theta's layout) of a ``grad`` graph: ``minimize(..., jac=True)`` calls this."""
        if not self._is_grad:
            raise GraphError(
                f"value_and_grad needs the kernel of grad(graph) over every parameter; its outputs are "
                f"{list(self.outputs.names[:5])}...: use kernel(theta, data)"
            )
        out = self(theta, data)
        return float(out[0]), out[1:]

    def save(self, path: str | Path) -> Path:
        """Write the standalone module (numpy and numba only)."""
        path = Path(path)
        atomic_write(path, self.source.encode("utf-8"))
        return path

    def __repr__(self) -> str:
        sizes = f"params={self.params.size} inputs={self.inputs.size} outputs={self.outputs.size}"
        return f"<FlatKernel {self.dtype.name} {sizes}>"


def compile_flat(graph: Graph, dtype: Any = np.float64) -> FlatKernel:
    """Generate, cache and load the flat-vector kernel of the scalar graph ``graph``.

    As ``symnn.compile``, the module is kept in the disk cache by content hash, and Numba's
    machine code beside it, so a second call (in any process) compiles nothing.
    """
    if not isinstance(graph, Graph):
        raise GraphError(f"compile_flat needs a symnn Graph, got {type(graph).__name__}")
    name = dtype_name(dtype)
    check_scalar(graph)
    with cython_blas():  # Numba's first load checks for BLAS: without importing scipy.linalg here
        return _compile_flat(graph, name)


def _compile_flat(graph: Graph, name: str) -> FlatKernel:
    key = cache_key(f"flat{FLAT_VERSION}:" + graph.fingerprint(), name)
    env = environment()
    env_id = environment_id(env)
    # the same checked, signed, per-environment cache as symnn.compile (see the README's trust model)
    root = trusted_cache_dir(None, KERNELS_SUBDIR, env_id, "__pycache__")
    directory = kernels_dir(root, env_id)
    signing = secret(root)
    found = lookup(directory, key, signing, env_id)
    hit = found is not None
    if found is None:
        source, _ = generate_flat(graph, name)
        record_environment(directory, dict(env))
        path = store(directory, key, source, {"dtype": name, "kind": "flat", "environment": env_id}, signing)
    else:
        path, source = found
    check_numba_files(path.parent, path.name)
    return FlatKernel(graph, load_module(path, source), source, hit)


__all__ = ["FLAT_VERSION", "MAX_LINES", "FlatKernel", "Layout", "compile_flat", "generate_flat"]
