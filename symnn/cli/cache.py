"""``symnn cache``: where the kernel cache is, its size, its entries (with BLAS or loops), ``--clear``, ``--warm``.

The directory is ``$SYMNN_CACHE_DIR``, else ``$XDG_CACHE_HOME/symnn``, else ``~/.cache/symnn``.
``--clear`` deletes only the files symnn wrote there (``symnn.codegen.inventory``). ``--warm``
compiles what every machine compiles once -- the kernels' shared helpers and the numeric
executor's functions, in float64 and float32 -- so that the first kernels and checks do not wait.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ..codegen import warm
from ..codegen.environment import environment, environment_id
from ..codegen.inventory import Inventory, clear, survey
from ..executor import Executor
from ..files import cache_dir, cache_source
from ..zoo import resolve

EXAMPLES = """
examples:
  symnn cache                                     where the kernel cache is, its size and entries
  symnn cache --clear
  symnn cache --warm                              compile the shared helpers and the executor once (e.g. in an image)
"""


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``symnn cache``."""
    what = p.add_mutually_exclusive_group()
    what.add_argument("--clear", action="store_true", help="delete every file symnn wrote in the cache (nothing else)")
    what.add_argument(
        "--warm",
        action="store_true",
        help="compile the kernels' shared helpers and the executor's functions now (float64 and float32), "
        "which a machine's first kernels and checks otherwise compile",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _size(n: int) -> str:
    """Bytes in the largest unit that keeps the number at or above 1: 0 B, 12.3 kB, 4.0 MB."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def _describe(info: dict[str, str]) -> str:
    return ", ".join(f"{k} {info[k]}" for k in ("blas", "numba", "llvmlite", "python", "cpu") if k in info)


def _print(inv: Inventory, source: str, current: dict[str, str]) -> None:
    print(f"kernel cache: {inv.root} (from {source})")
    other = f"; {inv.other_files} other files, not symnn's, left alone" if inv.other_files else ""
    print(f"size: {_size(inv.bytes)} in {inv.files} files written by symnn{other}")
    print(f"this environment: {environment_id(current)}: {_describe(current)}")
    for env in inv.environments:
        what = _describe(env.info) or "no environment.json"
        print(f"\nenvironment {env.id}{' (this one)' if env.current else ''}: {what}; {_size(env.bytes)}")
        if env.entries:
            print(f"  {'kind':<7} {'name':<17} {'dtype':<8} {'path':<6} {'compiled':<9} {'size':>9}  key")
        for e in env.entries:
            row = f"{e.kind:<7} {e.name:<17} {e.dtype:<8} {e.path:<6} {'yes' if e.compiled else 'no':<9}"
            print(f"  {row} {_size(e.bytes):>9}  {e.key[:16]}")
    if inv.numba_files:
        print(f"\nNumba's cache of symnn's own functions: {inv.numba_files} files, {_size(inv.numba_bytes)}")
    if inv.old_files:
        print(f"\n{inv.old_files} files of an older symnn (before one directory per environment): --clear removes them")


def _warm() -> tuple[dict[str, int], float]:
    """Compile every shared helper and the executor's sweeps (tape and planned) in both dtypes:
    the number of helpers per dtype, and the seconds it took."""
    start = time.perf_counter()
    helpers = {}
    g = resolve("mlp:3-4-1").graph()  # a graph with a product, a reduction and an activation
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        helpers[np.dtype(dtype).name] = len(warm(dtype))
        point = {n.op.name: rng.standard_normal(n.shape).astype(dtype) for n in g.leaves()}  # type: ignore[attr-defined]
        tangent = {name: np.ones_like(value) for name, value in point.items()}
        for tape in (True, False):
            executor = Executor(g, dtype, tape=tape)
            executor.grad(point)
            executor.jvp(point, tangent)
    return helpers, time.perf_counter() - start


def run(args: argparse.Namespace) -> int:
    """Show the cache (or clear it, or warm it, and say what was done); always 0."""
    root, source = cache_dir(), cache_source()
    if args.warm:
        helpers, seconds = _warm()
        if args.json:
            print(json.dumps({"root": str(root), "helpers": helpers, "seconds": seconds}))
        else:
            counts = ", ".join(f"{n} {dtype}" for dtype, n in helpers.items())
            print(f"warmed {root}: the kernels' shared helpers ({counts}) and the executor, in {seconds:.1f} s")
        return 0
    if args.clear:
        files, size = clear(root)
        left = survey(root).other_files
        if args.json:
            print(json.dumps({"root": str(root), "removed_files": files, "removed_bytes": size, "other_files": left}))
        else:
            other = f"; {left} other files, not symnn's, left alone" if left else ""
            print(f"removed {files} files ({_size(size)}) from {root}{other}")
        return 0
    current = environment()
    inv = survey(root, environment_id(current))
    if args.json:
        print(json.dumps({**inv.to_json(), "source": source, "current": current}, indent=2))
    else:
        _print(inv, source, current)
    return 0
