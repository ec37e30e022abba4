"""``symnn compile MODEL -o kernel.py [--verify]``: a standalone kernel module, checked in a fresh process.

The mode picks the program (``symnn.codegen.program``): ``grad`` (loss and the gradient of every
parameter, the default), ``value`` (the model's outputs), ``jvp`` (outputs and tangents, inputs
``tangent:<param>``) or ``hvp`` (loss, gradient and the Hessian-vector products ``hvp:<param>``).
``--verify`` certifies the saved file (``verify.certify``): run in a fresh process, compared with
the executor and central differences, the certificate embedded when every check passes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from verify.certify import KernelRunError, certify, check_line, check_record, refuse_large

from .. import zoo
from ..codegen import MODES, OLD_MODES, compile, program
from ..errors import GraphError
from ..files import check_output
from .derive import MODEL_HELP
from .modes import add_mode_argument
from .progress import Progress

EXAMPLES = """
examples:
  symnn compile mlp:4-8-1 -o kernel.py            loss and gradient as a standalone Numba module
  symnn compile mlp:4-8-1 -o kernel.py --verify   checked in a fresh process, certificate embedded
  symnn compile conv -o conv_hvp.py --mode hvp    Hessian-vector products
  symnn compile mlp:4-8-1 -o jvp.py --mode jvp    forward mode (derive --mode jvp prints the same program)
"""


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``symnn compile``."""
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("-o", "--output", required=True, metavar="PATH", help="where to write the kernel module")
    add_mode_argument(
        p,
        MODES,
        OLD_MODES,
        "compile",
        "the program, named as symnn derive --mode names it: grad (reverse mode: loss and parameter gradients; "
        "default), value (the model's values alone; 'forward' before), jvp (forward mode: tangents), "
        "hvp (Hessian-vector products)",
    )
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="arithmetic (default float64)")
    p.add_argument(
        "--verify",
        action="store_true",
        help="import the saved module in a fresh process and check it against the executor and finite differences",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the --verify point and directions (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--json", action="store_true", help="machine-readable report")


def run(args: argparse.Namespace) -> int:
    """Compile and save (and with --verify certify) the kernel; 0 on success, 1 if --verify disagrees."""
    if args.seed < 0:
        raise GraphError(f"--seed must be >= 0, got {args.seed}")
    inputs = [args.model.rpartition(":")[0]] if ":" in args.model else []
    check_output(args.output, inputs, what="-o")  # never the model's own source, never a device or directory
    graph = zoo.resolve(args.model).graph()
    prog = program(graph, args.mode)
    if args.verify:
        refuse_large(prog, args.mode)  # before the compile: a check that cannot fit in memory is refused now
    dtype = np.dtype(args.dtype)
    # Numba takes seconds; the fresh-process check more
    bar = Progress(2 if args.verify else 1, "compile", enabled=not args.quiet)
    bar.start(f"generating and compiling the {args.mode} kernel of {args.model}")
    kernel = compile(prog, dtype=dtype)
    bar.advance()
    path = Path(args.output)
    report: dict[str, Any] = {
        "model": args.model,
        "mode": args.mode,
        "dtype": dtype.name,
        "path": str(path),
        "inputs": {k: list(v) for k, v in kernel.inputs.items()},
        "outputs": {k: list(v) for k, v in kernel.outputs.items()},
    }
    lines = [
        f"symnn compile: {args.model} ({args.mode}, {dtype.name}) -> {path}",
        f"  inputs:  {', '.join(f'{k} {v}' for k, v in kernel.inputs.items())}",
        f"  outputs: {', '.join(f'{k} {v}' for k, v in kernel.outputs.items())}",
    ]
    status = 0
    if not args.verify:
        kernel.save(path)
    else:
        lines.append(f"verify: {path} imported and run in a fresh Python process at a random point (seed {args.seed})")
        cert = None
        bar.start(f"checking {path} in a fresh process against the executor and finite differences")
        try:
            checks, cert = certify(graph, prog, kernel, path, args.mode, args.seed, args.model)
        except KernelRunError as e:
            checks = []
            report["verify_error"] = str(e)
            lines.append(f"  FAIL {e}")
        lines += [check_line(c) for c in checks]
        report["checks"] = [check_record(c) for c in checks]
        status = 0 if cert is not None else 1
        report["ok"] = status == 0
        report["certificate"] = cert
        if cert is not None:
            lines.append(f"verify: ok; certificate embedded in {path} (source sha256 {cert['source_sha256'][:16]}...)")
            lines.append(f"  re-check it any time: symnn check {path}")
        else:
            lines.append("verify: FAILED (the saved module disagrees; see above); no certificate written")
    bar.close()
    print(json.dumps(report, indent=2) if args.json else "\n".join(lines))
    return status
