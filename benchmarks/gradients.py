"""Gradient benchmarks W1-W5 of BENCHMARKS.md (plus T1 and S1/S3/S4): ``symnn bench`` from a checkout.

Run: ``python benchmarks/gradients.py [--quick] [--json] [--workloads W1 W3] [--no-symbolic] [--no-compile]``.
The workloads, the peers, the runner and the table ship with symnn as ``symnn.bench``; this
script only runs its command line (``symnn.cli.bench``), which pins BLAS threads before NumPy loads.
"""

from __future__ import annotations

import argparse
import sys

from symnn.cli import bench


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.configure(ap)
    return bench.run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
