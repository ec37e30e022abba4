"""Regenerate every number, table and figure of the paper from the library.

Run: ``python paper/generate.py [--quick] [--out DIR] [--only NAME ...]``. Each generator module
``paper/gen/<name>.py`` has ``generate(out: Path, quick: bool) -> None`` and writes its macros
(``<name>.tex``), tables and data files into ``out`` (default ``paper/generated``). ``--quick``
shrinks every experiment to a smoke run (CI runs it); the full run is what ``make -C paper`` uses.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: The generators, in the order they run (cheap first).
GENERATORS = ("function_class", "sign_networks", "autodiff", "sgd", "double_descent", "verification", "performance")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke-sized experiments (for CI)")
    parser.add_argument("--out", type=Path, default=HERE / "generated", help="output directory")
    parser.add_argument("--only", nargs="+", choices=GENERATORS, help="run only these generators")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    # the library from this checkout, here and in every child process the generators start
    sys.path[:0] = [str(HERE), str(ROOT)]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    total = time.perf_counter()
    names = args.only or GENERATORS
    for k, name in enumerate(names, 1):
        print(f"[{k}/{len(names)}] {name} ...", flush=True)  # some run a minute: say which one is running
        start = time.perf_counter()
        module = importlib.import_module(f"gen.{name}")
        module.generate(args.out, args.quick)
        print(f"{name}: {time.perf_counter() - start:.1f} s", flush=True)
    print(f"total: {time.perf_counter() - total:.1f} s ({'quick' if args.quick else 'full'})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
