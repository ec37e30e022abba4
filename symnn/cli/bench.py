"""``symnn bench``: the gradient benchmarks W1-W5 against installed peers (runs benchmarks/gradients.py)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from ..errors import SymnnError

#: The benchmark script of a source checkout.
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gradients.py"


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``symnn bench``."""
    p.add_argument("--quick", action="store_true", help="few repeats (a smoke run; the figures are rough)")
    p.add_argument("--json", action="store_true", help="machine-readable results")
    p.add_argument("--workloads", nargs="+", metavar="W", help="run only these workloads (W1..W5)")
    p.add_argument("--no-symbolic", action="store_true", help="skip the symbolic benchmarks S1, S3, S4")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark script in a child process; its exit status."""
    if not SCRIPT.is_file():
        raise SymnnError(f"the benchmark script {SCRIPT} is missing; symnn bench runs from a source checkout of symnn")
    argv = [sys.executable, str(SCRIPT)]
    argv += ["--quick"] * args.quick + ["--json"] * args.json + ["--no-symbolic"] * args.no_symbolic
    if args.workloads:
        argv += ["--workloads", *args.workloads]
    return subprocess.run(argv).returncode
