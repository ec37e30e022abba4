"""``symnn bench``: the benchmarks W1-W5, T1 and S1/S3/S4 against every installed peer (``symnn.bench``).

BLAS reads its thread count when NumPy loads it, so a run whose thread variables are not pinned
starts itself again in a child process with them pinned (``symnn.bench.threads.pinned_env``);
threadpoolctl, when installed, also limits the pools and reports what it sees.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import subprocess
import sys

from ..bench import run as bench_run
from ..bench.threads import describe, is_pinned, pinned_env
from .arguments import listed

#: The list options (symnn.cli.arguments.regroup): `--workloads W1 T1` still works.
LISTS: dict[str, tuple[str, ...] | None] = {"--workloads": tuple(bench_run.ALL)}

EXAMPLES = """
examples:
  symnn bench --quick                             a smoke run of every workload
  symnn bench --workloads W1,T1 --json            two workloads, machine-readable
"""


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``symnn bench``."""
    p.add_argument("--quick", action="store_true", help="few repeats, no compile timing (a smoke run; rough figures)")
    p.add_argument("--json", action="store_true", help="machine-readable results")
    p.add_argument(
        "--workloads",
        type=listed(bench_run.ALL),
        action="extend",
        metavar="W[,W...]",
        help=f"run only these, a comma list ({','.join(bench_run.ALL)}; default: all)",
    )
    p.add_argument("--no-symbolic", action="store_true", help="skip the symbolic benchmarks S1, S3, S4")
    p.add_argument("--no-compile", action="store_true", help="skip the cold/cached compile timing of the kernels")
    p.add_argument("--threads", type=int, default=1, metavar="N", help="BLAS/Numba/torch threads, one value (1)")


def _argv(args: argparse.Namespace) -> list[str]:
    """The command line that gives ``args`` again (for the pinned child process)."""
    argv = ["--workloads", *(args.workloads or bench_run.ALL), "--threads", str(args.threads)]
    for flag in ("quick", "json", "no_symbolic", "no_compile"):
        argv += [f"--{flag.replace('_', '-')}"] * bool(getattr(args, flag))
    return argv


def _threadpoolctl(threads: int) -> str:
    """Limit BLAS/OpenMP pools through threadpoolctl when installed; what it sees afterwards."""
    if importlib.util.find_spec("threadpoolctl") is None:
        return "threadpoolctl not installed"
    tpc = importlib.import_module("threadpoolctl")
    tpc.threadpool_limits(limits=threads)  # stays in force for the rest of this process
    seen = ", ".join(f"{i['internal_api']} {i['num_threads']}" for i in tpc.threadpool_info())
    return f"threadpoolctl sees: {seen or 'no pool'}"


def run(args: argparse.Namespace) -> int:
    """Run the benchmarks with pinned threads and print the table (or JSON); 0 on success."""
    if not is_pinned(args.threads):
        argv = [sys.executable, "-m", "symnn.cli", "bench", *_argv(args)]
        return subprocess.run(argv, env=pinned_env(args.threads), check=False).returncode
    threads = f"{describe(args.threads)}; {_threadpoolctl(args.threads)}"

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    doc = bench_run.run(
        [w for w in bench_run.ALL if w in args.workloads],
        quick=args.quick,
        with_compile=not args.no_compile,
        with_symbolic=not args.no_symbolic,
        blas_threads=threads,
        log=log,
    )
    print(json.dumps(doc, indent=2) if args.json else bench_run.format_run(doc))
    return 0
