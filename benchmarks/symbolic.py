"""Symbolic derivation benchmarks S1, S3 and S4 of BENCHMARKS.md (they ship as ``symnn.bench.symbolic``).

Run: ``python benchmarks/symbolic.py [--quick] [--json]`` (``symnn bench`` runs them after W1-W5).
"""

from __future__ import annotations

import argparse
import json

from symnn.bench.symbolic import format_symbolic, run, s1, s3, s4

__all__ = ["main", "s1", "s3", "s4"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats and depths (CI)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = run(args.quick)
    print(json.dumps(res, indent=2) if args.json else format_symbolic(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
