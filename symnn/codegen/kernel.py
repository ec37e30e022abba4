"""``compile(graph)``: a Graph as a cached, checked Numba kernel.

>>> import numpy as np
>>> from symnn.ir import Builder
>>> b = Builder()
>>> w = b.param("w", (3,))
>>> k = compile(b.build((w * w).sum()))
>>> float(k(w=np.array([1.0, 2.0, 3.0]))["out"])
14.0
>>> w = np.array([1.0, 2.0, 3.0])
>>> step = k.prepare({"w": w})  # checked once; then runs on w's current contents
>>> w[:] = 2.0
>>> float(step()["out"])
12.0
"""

from __future__ import annotations

import html
import os
import tempfile
import types
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numba.core.dispatcher import Dispatcher

from .. import errors
from ..files import atomic_write, cache_dir
from ..ir import Graph
from ..jit import trusted_cache_dir
from .cache import (
    KERNELS_SUBDIR,
    cache_key,
    check_numba_files,
    discard,
    kernels_dir,
    load_module,
    lookup,
    record_environment,
    secret,
    store,
)
from .environment import cython_blas, environment, environment_id
from .module import CODEGEN_VERSION, dtype_name, generate
from .runtime import HELPERS, helper_module, link, linked_helpers, unlink
from .scalar import HELPERS as SCALAR_HELPERS


class Kernel:
    """A compiled graph: ``kernel(**arrays)`` or ``kernel(arrays)`` -> {output name: array}.

    Every output is returned as an array of its shape in the kernel's dtype; a scalar output
    (a loss) is a 0-d array (``float(result["out"])`` for a Python float). Arrays passed in
    ``out={name: array}`` are written in place and returned, so a loop that passes the same
    buffers allocates nothing. Inputs are checked first: a missing or unknown name or a
    wrong dtype raises ``GraphError``, a wrong shape ``ShapeError``, before anything runs.

    Attributes: ``source`` (the generated module), ``fingerprint`` (its cache key),
    ``dtype``, ``inputs``/``params``/``outputs`` (name -> shape), ``run(arrays, out=None)``
    (the call without keyword handling: the fastest checked call), ``prepare(arrays, out=None)``
    (a ``Prepared`` call bound to those arrays, checked once: for loops that refill them in place,
    as ``symnn.train`` does), ``compute`` (the Numba
    function itself, unchecked but for shapes; see ``source``), ``cache_hit`` (the source came
    from the disk cache), ``cached_source`` (the cached module: ``source`` importing the helpers),
    ``path`` (``"blas"`` if its matrix products call BLAS, else ``"loops"``: read from the compiled
    helpers themselves), ``environment`` (what its machine code depends on: ``environment()``).
    """

    def __init__(
        self,
        linked: str,
        source: str,
        fingerprint: str,
        module: Any,
        helpers: Iterable[Any],
        cache_hit: bool,
        graph_fingerprint: str = "",
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.source = source
        self.graph_fingerprint = graph_fingerprint
        self.fingerprint = fingerprint
        self.dtype = np.dtype(module.DTYPE)
        self.inputs: dict[str, tuple[int, ...]] = dict(zip(module.INPUT_NAMES, module.INPUT_SHAPES, strict=True))
        self.params = {
            n: s
            for n, s, kind in zip(module.INPUT_NAMES, module.INPUT_SHAPES, module.INPUT_KINDS, strict=True)
            if kind == "param"
        }
        self.outputs: dict[str, tuple[int, ...]] = dict(zip(module.OUTPUT_NAMES, module.OUTPUT_SHAPES, strict=True))
        self.compute = module.compute
        self.cache_hit = cache_hit
        module.ShapeError = errors.ShapeError  # the module alone raises its own ValueError subclasses
        module.GraphError = errors.GraphError
        self.run = self._run = module.run
        self._modules = [module, *helpers]
        # the gemm helpers (and only they) probe for BLAS when imported: what they found is what was compiled
        self.path = "blas" if any(getattr(m, "HAVE_BLAS", False) for m in self._modules[1:]) else "loops"
        self.environment = dict(environment or {})
        self.cached_source = linked  # what the cache holds: `source` importing the shared helpers

    def __call__(
        self,
        arrays: Mapping[str, np.ndarray] | None = None,
        /,
        *,
        out: Mapping[str, np.ndarray] | None = None,
        **named: np.ndarray,
    ) -> dict[str, np.ndarray]:
        if named:
            arrays = {**arrays, **named} if arrays else named
        elif arrays is None:
            arrays = {}
        return self._run(arrays, out)

    def prepare(self, arrays: Mapping[str, np.ndarray], /, out: Mapping[str, np.ndarray] | None = None) -> Prepared:
        """This kernel bound to ``arrays`` and the ``out`` buffers (new ones if None), checked once.

        ``prepared()`` computes what ``kernel(arrays, out=out)`` would on the arrays' current
        contents, without looking at names, dtypes or layouts again: for a loop that refills the same
        arrays in place. Every input must be a C-contiguous array of the kernel's dtype (a copy could
        not see the refills); else ``GraphError``.
        """
        result = self._run(arrays, out)  # every check of the ordinary call, once
        bound = []
        for name in self.inputs:
            a = arrays[name]
            if type(a) is not np.ndarray or a.dtype != self.dtype or not a.flags.c_contiguous:
                raise errors.GraphError(
                    f"prepare binds the arrays themselves, so input {name!r} must be a C-contiguous numpy array of "
                    f"dtype {self.dtype.name}: pass np.ascontiguousarray(a, dtype=np.{self.dtype.name})"
                )
            bound.append(a)
        return Prepared(self._modules[0], bound, result)

    @property
    def machine_code_cached(self) -> bool:
        """Whether Numba loaded ``compute`` from its disk cache and compiled none of the module's functions."""
        dispatchers = [f for m in self._modules for f in vars(m).values() if isinstance(f, Dispatcher)]
        return sum(self.compute.stats.cache_hits.values()) > 0 and not any(
            sum(f.stats.cache_misses.values()) for f in dispatchers
        )

    def save(self, path: str | Path) -> Path:
        """Write the standalone module (needs only numpy and numba; its docstring says how to call it).

        To save it with a verification certificate, use ``verify.certify.save_certified``
        (or ``symnn compile MODEL -o PATH --verify``).
        """
        path = Path(path)
        atomic_write(path, self.source.encode("utf-8"))
        return path

    def signature(self) -> str:
        """``kernel(x: float64[2, 4], W: float64[8, 4], ...) -> {out: float64[]}``: names, dtype and shapes."""

        def typed(shapes: Mapping[str, tuple[int, ...]]) -> str:
            return ", ".join(f"{n}: {self.dtype.name}[{', '.join(map(str, s))}]" for n, s in shapes.items())

        return f"kernel({typed(self.inputs)}) -> {{{typed(self.outputs)}}}"

    def __repr__(self) -> str:
        # an in-memory kernel is never certified: certificates live in saved files (verify.certify)
        return f"<Kernel {self.signature()}, path={self.path}, not certified (saved files are: compile --verify)>"

    def _repr_html_(self) -> str:
        rows = [
            ("signature", self.signature()),
            ("params", ", ".join(self.params) or "none"),
            ("path", f"{self.path} (matrix products {'call BLAS' if self.path == 'blas' else 'run as loops'})"),
            ("from the cache", "yes" if self.cache_hit else "no"),
            ("certified", "no: certificates are in saved files (symnn compile MODEL -o k.py --verify)"),
        ]
        body = "".join(f'<tr><th style="text-align:left">{k}</th><td>{html.escape(v)}</td></tr>' for k, v in rows)
        return f'<table><caption style="text-align:left">symnn Kernel</caption>{body}</table>'


class Prepared:
    """``kernel.prepare(arrays, out)``: ``prepared()`` -> the same {output name: array} dict each call.

    It holds views of its own of the bound arrays (sharing their memory), so reshaping or retyping
    the caller's arrays in place cannot make the compiled code read past them; it calls the compiled
    function without the dispatcher's typing of each argument, which the views were checked for once.
    """

    def __init__(self, module: Any, inputs: list[np.ndarray], result: dict[str, np.ndarray]) -> None:
        self.result = result
        # views of our own: nobody else can assign their shape, dtype or strides
        self._args = tuple(a.view(np.ndarray) for a in [*inputs, *result.values()])
        self._entry = getattr(module, "_ENTRY", module.compute)

    def __call__(self) -> dict[str, np.ndarray]:
        if self._entry(*self._args):  # cannot happen: the views keep the shapes that were checked
            raise errors.ShapeError("a prepared kernel's arrays changed shape; prepare it again")
        return self.result


def compile(graph: Graph, dtype: Any = np.float64) -> Kernel:
    """Generate, cache and load the Numba kernel of ``graph`` computing in ``dtype``.

    A second call for the same graph, in this process or another, finds the module in the
    disk cache (``symnn.files.cache_dir()``, one directory per environment: BLAS, Numba, CPU) and
    Numba's machine code beside it: nothing is generated or compiled again. The helpers the kernels
    call (matrix products, reductions, stable scalar functions) are cached once as modules of their
    own. A kernel whose large matrix products fall back to loops (no SciPy, whose exported BLAS
    ``?gemm`` they call) warns once per process with the fix. A cache directory that others can write, or
    that is not the user's, is refused with ``CacheError`` (``symnn.jit.trusted_cache_dir``).
    """
    if not isinstance(graph, Graph):
        raise errors.GraphError(f"compile needs a symnn Graph, got {type(graph).__name__}")
    name = dtype_name(dtype)
    with cython_blas():  # SciPy's BLAS without importing scipy.linalg: half of loading a cached kernel
        return _compile(graph, name)


def warm(dtype: Any = np.float64, graph: Graph | None = None) -> list[str]:
    """Compile the shared helpers into the kernel cache: those ``graph``'s kernel calls, or every one.

    A machine's first kernels compile the helpers they call (matrix products, reductions, stable
    scalar functions: ~0.2 s each, once per machine and dtype); later kernels find them cached.
    ``symnn cache --warm`` pays that up front, e.g. when a container image is built. Returns the
    helpers' names.
    """
    name = dtype_name(dtype)
    if graph is None:
        names = set(HELPERS) | set(SCALAR_HELPERS)
    elif isinstance(graph, Graph):
        names = generate(graph, name, "")[1]
    else:
        raise errors.GraphError(f"warm needs a symnn Graph or None, got {type(graph).__name__}")
    with cython_blas():
        env, directory, signing = _place()
        return sorted(_helpers(directory, names, name, env, signing))


def _place() -> tuple[dict[str, str], Path, bytes]:
    """This environment, its directory in the kernel cache, and the cache's signing key."""
    env = environment()
    root = _root(environment_id(env))
    return env, kernels_dir(root, environment_id(env)), _secret(root)


def _compile(graph: Graph, name: str) -> Kernel:
    fingerprint = graph.fingerprint()
    key = cache_key(fingerprint, name)
    env, directory, signing = _place()
    meta = {"dtype": name, "fingerprint": fingerprint, "environment": environment_id(env)}
    found = _lookup(directory, key, meta, signing)
    if found is not None:
        path, text = found
        wanted = linked_helpers(text)
        helpers = _helpers(directory, wanted, name, env, signing)
        if {n: m.__name__ for n, m in helpers.items()} == wanted:
            module = _load(key, path, text, _with_path(meta, wanted, env), signing)
            kernel = Kernel(text, unlink(text, name), key, module, helpers.values(), True, fingerprint, env)
            return _checked_path(kernel, wanted)
        # its helpers have changed since it was written: generate it again
    standalone, names = generate(graph, name, key)
    helpers = _helpers(directory, names, name, env, signing)
    text = link(standalone, {n: m.__name__ for n, m in helpers.items()})
    meta = _with_path(meta, names, env)
    path = _store(directory, key, text, meta, env, signing)
    module = _load(key, path, text, meta, signing)
    kernel = Kernel(text, standalone, key, module, helpers.values(), False, fingerprint, env)
    return _checked_path(kernel, names)


def _with_path(meta: dict[str, str], helpers: Iterable[str], env: Mapping[str, str]) -> dict[str, str]:
    """``meta`` with the path the helpers take here: ``blas`` if a product goes to BLAS and BLAS is there."""
    blas = env["blas"] == "yes" and any(h.startswith("_gemm_") for h in helpers)
    return {**meta, "path": "blas" if blas else "loops"}


_warned_loops = False


def _checked_path(kernel: Kernel, helpers: Iterable[str]) -> Kernel:
    """Warn (once per process) if a product large enough for BLAS was compiled as loops."""
    global _warned_loops
    if kernel.path == "loops" and any(h.startswith("_gemm_") for h in helpers) and not _warned_loops:
        _warned_loops = True
        warnings.warn(
            "symnn kernels compute their large matrix products with loops here, several times slower than "
            "BLAS: the kernels call the BLAS that SciPy exports, and scipy.linalg.cython_blas cannot be "
            "imported in this environment. Install SciPy (pip install scipy) and compile again; the kernel "
            "cache keeps the two versions apart.",
            errors.SymnnWarning,
            stacklevel=3,
        )
    return kernel


def _root(environment: str) -> Path:
    """The checked cache directory; one that cannot be created is left to ``_store``'s private fallback."""
    try:
        return trusted_cache_dir(None, KERNELS_SUBDIR, environment, "__pycache__")
    except errors.CacheError:
        raise
    except OSError:  # e.g. a read-only home: nothing is found there, and _store writes to a private directory
        return cache_dir()


def _secret(root: Path) -> bytes:
    """The cache's signing key; a cache where it cannot be written signs for this process only."""
    try:
        return secret(root)
    except errors.CacheError:
        raise
    except OSError:  # a read-only cache: nothing found there verifies, _store falls back to a private directory
        return os.urandom(32)


def _load(key: str, path: Path, text: str, meta: dict[str, str], signing: bytes) -> types.ModuleType:
    """Load a cached module; one that Numba cannot compile leaves the cache (a copy stays for the report)."""
    check_numba_files(path.parent, path.name)
    try:
        return load_module(path, text)
    except Exception as first:
        error: Exception = first
    if not _intact(path, text):  # another process removed it meanwhile: put it back, try once more
        try:
            return load_module(store(path.parent, key, text, meta, signing), text)
        except Exception as again:
            error = again
    kept = path.with_name(path.stem + ".failed.py")
    atomic_write(kept, text.encode("utf-8"))
    discard(path.parent, key, path.name)
    raise errors.GraphError(
        f"Numba could not compile the generated module ({type(error).__name__}: {str(error)[:2000]}). "
        f"This is a bug in symnn's code generator: please report it with the module kept at {kept}"
    ) from error


def _intact(path: Path, text: str) -> bool:
    try:
        return path.read_bytes() == text.encode("utf-8")
    except OSError:
        return False


def _helpers(
    directory: Path, names: Iterable[str], dtype: str, env: Mapping[str, str], signing: bytes
) -> dict[str, types.ModuleType]:
    """The modules of the shared helpers ``names``, from the cache or written to it, loaded."""
    out = {}
    for name in sorted(names):
        key = cache_key(f"helper:{name}", dtype)
        meta = {"helper": name, "dtype": dtype, "environment": environment_id(env)}
        if name.startswith("_gemm_"):
            meta = _with_path(meta, [name], env)
        found = _lookup(directory, key, meta, signing)
        if found is None:
            source = helper_module(name, dtype, CODEGEN_VERSION)
            found = _store(directory, key, source, meta, env, signing), source
        out[name] = _load(key, *found, meta, signing)
    return out


def _lookup(directory: Path, key: str, meta: dict[str, str], signing: bytes) -> tuple[Path, str] | None:
    try:
        return lookup(directory, key, signing, meta["environment"])
    except OSError:
        return None


def _store(
    directory: Path, key: str, source: str, meta: dict[str, str], env: Mapping[str, str], signing: bytes
) -> Path:
    try:
        record_environment(directory, dict(env))
        return store(directory, key, source, meta, signing)
    except OSError as e:
        fallback = Path(tempfile.mkdtemp(prefix="symnn-kernels-"))
        warnings.warn(
            f"cannot write the kernel cache in {directory} ({e}); using {fallback} for this process. "
            "Set SYMNN_CACHE_DIR to a writable directory.",
            RuntimeWarning,
            stacklevel=3,
        )
        return store(fallback, key, source, meta, signing)
