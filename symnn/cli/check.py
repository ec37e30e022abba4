"""``symnn check [MODEL ...]``: every derivative path of models against every oracle, with a progress bar.

Four forms: MODELs (zoo names with sizes, ``file.py:attr``; default: the zoo) checked by
``verify.check.check_models``; saved kernel files (``kernel.py``) whose embedded certificates are
re-run (``verify.certify.recheck``); ``--campaign N`` random networks in chunks (``verify.campaign``);
``--impl file.py:fn [--model SPEC]`` a user's own loss-and-gradient function
(``verify.check_implementation``; only the files named are run).
The exit status is 0 if everything passed, 1 if a check failed, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import TextIO

from verify.campaign import check_campaign, session
from verify.campaign import run as run_plan
from verify.certify import is_kernel_file, recheck
from verify.check import EXACT_TIMEOUT, check_models, default_models
from verify.implementation import check_implementation
from verify.options import IMPLEMENTATIONS, MODEL_CHECK, CheckOptions
from verify.report import FAILING, render
from verify.strategies import one_hot
from verify.tolerance import ORACLES

from .. import zoo
from ..errors import ModelError
from .arguments import listed
from .progress import Progress, chunk_progress

#: The list options (symnn.cli.arguments.regroup): the words after them that are choices join their list.
LISTS: dict[str, tuple[str, ...] | None] = {"--oracles": ORACLES, "--paths": IMPLEMENTATIONS}

CAMPAIGN_OPTIONS = ("campaign", "workers", "scheduler", "results", "chunks")
#: Seconds per random direction and model: 0.012 s measured on mlp (``symnn check mlp --directions 3000``
#: took 42.7 s, 3 directions 10.3 s, on the project's 2-core machine); larger models take longer.
SECONDS_PER_DIRECTION = 0.01
#: ``--directions`` whose estimate passes this many seconds is refused before anything runs.
MAX_DIRECTION_SECONDS = 3600.0


EXAMPLES = """
examples:
  symnn check                                     every zoo model, every path, every oracle
  symnn check mlp:4-8-1 conv --json               two models, machine-readable
  symnn check --oracles fd,mpmath --paths kernel mlp   some oracles and paths only (comma lists)
  symnn check kernel.py                           re-run the certificate embedded in a saved kernel
  symnn check --impl mine.py:loss_and_grads --model mlp:4-8-1 --rename W1=0.W b1=0.b W2=2.W b2=2.b
  symnn check --campaign 20 --results runs/       20 random networks, resumable
"""


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``symnn check``."""
    p.add_argument(
        "models",
        nargs="*",
        metavar="MODEL",
        help="zoo names with optional sizes, or file.py:attr (default: the zoo); or saved kernel files (kernel.py) "
        "whose embedded certificates are re-checked",
    )
    p.add_argument(
        "--model",
        metavar="SPEC",
        help="with kernel files: rebuild the certified model from SPEC (needed when the certificate names a file or "
        "module, which symnn check never imports on its own)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--seed", type=int, default=0, help="seed of the points, directions and cotangents (default 0)")
    p.add_argument("--directions", type=int, default=3, metavar="K", help="random directions per check (default 3)")
    p.add_argument(
        "--oracles",
        type=listed(ORACLES),
        action="extend",
        metavar="NAME[,NAME...]",
        help=f"references to compare against, a comma list ({','.join(ORACLES)}; default: all)",
    )
    p.add_argument(
        "--paths",
        type=listed(IMPLEMENTATIONS),
        action="extend",
        metavar="NAME[,NAME...]",
        help=f"derivative implementations, forward and reverse mode each ({','.join(IMPLEMENTATIONS)}; default: all)",
    )
    p.add_argument(
        "--exact-max-scalars",
        type=int,
        default=MODEL_CHECK.exact_max_scalars,
        metavar="N",
        help=f"run the exact sympy reference on graphs of at most N scalars (default {MODEL_CHECK.exact_max_scalars})",
    )
    p.add_argument(
        "--jobs", type=int, default=2, help="worker processes for the exact reference (0: in this process; default 2)"
    )
    p.add_argument(
        "--exact-timeout",
        type=float,
        default=EXACT_TIMEOUT,
        metavar="SECONDS",
        help=f"stop exact-reference workers still running this long after the start (default {EXACT_TIMEOUT:g})",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    u = p.add_argument_group("your own code", "check a loss-and-gradient function against --model (or itself)")
    u.add_argument(
        "--impl",
        metavar="FILE.py:FN",
        help="your function FN(values) -> (loss, grads) (or FN(params, inputs)); with --model SPEC it is compared "
        "with SPEC's symbolic gradient, without it with its own finite differences and complex step (needs --shapes)",
    )
    u.add_argument("--examples", type=int, default=20, metavar="N", help="Hypothesis-drawn points (default 20)")
    u.add_argument(
        "--rename", nargs="+", default=(), metavar="YOURS=MODEL", help="map your parameter names to the model's: W1=0.W"
    )
    u.add_argument("--shapes", nargs="+", default=(), metavar="NAME=2x3", help="leaf shapes without --model")
    u.add_argument("--inputs", nargs="+", default=(), metavar="NAME", help="leaves that are data, not parameters")
    u.add_argument("--one-hot", nargs="+", default=(), metavar="NAME", help="leaves drawn as one-hot rows (labels)")
    u.add_argument("--order", type=int, choices=(1, 2), default=1, help="2: also check FN's hvp (see --hvp)")
    u.add_argument(
        "--hvp", metavar="FILE.py:FN", help="your Hessian-vector product HVP(values, v) -> H v, for --order 2"
    )
    g = p.add_argument_group("campaign", "random networks in chunks, on a Dask cluster, saved as they finish")
    g.add_argument("--campaign", type=int, metavar="N", help="check N random networks (verify.strategies) instead")
    g.add_argument("--workers", type=int, metavar="N", help="run the chunks on a local Dask cluster of N processes")
    g.add_argument("--scheduler", metavar="ADDRESS", help="run the chunks on a running Dask cluster (tcp://host:port)")
    g.add_argument("--results", metavar="DIR", help="save every finished chunk in DIR; a rerun skips them")
    g.add_argument("--chunks", type=int, metavar="N", help="number of chunks (default: one per network)")


def run(args: argparse.Namespace) -> int:
    """Check the models, the saved kernels, a campaign or a user's function; 0 if everything passed, else 1."""
    if args.seed < 0:  # numpy's generators take seeds >= 0
        raise ModelError(f"--seed must be >= 0, got {args.seed}")
    if any(getattr(args, k) is not None for k in CAMPAIGN_OPTIONS) and args.impl is None:
        return _campaign(args)
    _check_directions(args)
    if args.impl is not None:
        return _implementation(args)
    kernels = [m for m in args.models if is_kernel_file(m)]
    if kernels:
        if len(kernels) != len(args.models):
            others = [m for m in args.models if m not in kernels]
            raise ModelError(f"check saved kernels {kernels} and models {others} in separate calls of symnn check")
        return _kernels(kernels, args.model, args.json)
    if args.model is not None:
        raise ModelError("--model is for re-checking saved kernel files; name the models to check as arguments")
    return _models(args.models, _options(args), args.json, args.quiet, max(args.jobs, 0), args.exact_timeout)


def _check_directions(args: argparse.Namespace) -> None:
    """Refuse ``--directions K`` whose estimate, K x models x ``SECONDS_PER_DIRECTION``, passes the bound.

    In a campaign the bound is per network (the campaign's own estimate, ``verify.campaign.estimate``,
    bounds the number of networks).
    """
    checks = 1 if args.campaign else len(args.models) or len(default_models())
    seconds = args.directions * checks * SECONDS_PER_DIRECTION
    if seconds > MAX_DIRECTION_SECONDS:
        largest = max(1, int(MAX_DIRECTION_SECONDS / (checks * SECONDS_PER_DIRECTION)))
        what = "per network" if args.campaign else f"over {checks} model(s)"
        raise ModelError(
            f"--directions {args.directions} {what} would take at least about {seconds:,.0f} s "
            f"({SECONDS_PER_DIRECTION:g} s per direction and model, measured on mlp), above the limit of "
            f"{MAX_DIRECTION_SECONDS:,.0f} s; use --directions {largest} or fewer"
        )


def _options(args: argparse.Namespace) -> CheckOptions:
    """The check's options: ``symnn check``'s defaults (``MODEL_CHECK``) with the flags given."""
    return MODEL_CHECK.replace(
        oracles=tuple(dict.fromkeys(args.oracles or ORACLES)),
        paths=tuple(dict.fromkeys(args.paths or IMPLEMENTATIONS)),
        directions=args.directions,
        seed=args.seed,
        exact_max_scalars=args.exact_max_scalars,
    )


def _pairs(items: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ModelError(f"{what} takes NAME=VALUE pairs, got {item!r}")
        out[key] = value
    return out


def _shape(text: str, name: str) -> tuple[int, ...]:
    if text in ("", "()", "scalar"):
        return ()
    try:
        shape = tuple(int(n) for n in text.split("x"))
    except ValueError:
        raise ModelError(f"--shapes {name}={text}: write a shape as 2x3 (or scalar)") from None
    if min(shape) < 1:
        raise ModelError(f"--shapes {name}={text}: sizes must be >= 1")
    return shape


def _implementation(args: argparse.Namespace) -> int:
    """``symnn check --impl file.py:fn [--model SPEC]``: the report of ``verify.check_implementation``."""
    if args.models:
        raise ModelError(f"--impl checks your function against --model SPEC; drop the arguments {args.models}")
    impl = zoo.load_object(args.impl)
    if not callable(impl):
        raise ModelError(f"{args.impl} is a {type(impl).__name__}, not a function")
    hvp = zoo.load_object(args.hvp) if args.hvp else None
    if args.order == 2 and hvp is None:
        raise ModelError("--order 2 needs --hvp FILE.py:FN, your Hessian-vector product")
    shapes = {k: _shape(v, k) for k, v in _pairs(args.shapes, "--shapes").items()}
    if args.model is None and not shapes:
        raise ModelError("without --model SPEC, give --shapes NAME=2x3 ... for every argument of your function")
    report = check_implementation(
        impl,
        args.model,
        _options(args).replace(examples=max(args.examples, 1), order=args.order),
        hvp=hvp,
        shapes=shapes or None,
        inputs=tuple(args.inputs),
        rename=_pairs(args.rename, "--rename"),
        leaves={name: one_hot for name in args.one_hot},
        name=args.impl,
    )
    if args.json:
        print(json.dumps(report.to_json(), indent=2, default=str))
    else:
        print(report.table())
        examples = report.info["examples"]
        if report.ok:
            print(f"{args.impl} agrees with {args.model or 'its own finite differences'} at {examples} drawn points")
        else:
            print(f"{report.info['first']}\nsmallest failing example: shapes {report.info['shapes']}")
    return 0 if report.ok else 1


class Bar:
    """``check_models``' messages (``MODEL: stage``) on the one progress bar: a step per model."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.progress = Progress(total, "checking", stream)
        self.current = ""

    def __call__(self, message: str) -> None:
        if message.startswith("loading "):
            return
        model, _, stage = message.rpartition(": ")
        if stage == "done":
            self.progress.advance()
        elif model != self.current:
            self.current = model
            self.progress.start(model)
        elif self.progress.tty:  # the stage within a model: only the terminal line shows it
            self.progress.update(message=message)

    def close(self) -> None:
        self.progress.close()


def _models(
    specs: Sequence[str], options: CheckOptions, as_json: bool, quiet: bool, jobs: int, exact_timeout: float
) -> int:
    """``symnn check [MODEL ...]``: the table (or JSON) on stdout, the progress bar on stderr."""
    names = list(specs) if specs else default_models()
    bar = None if quiet else Bar(len(names))
    t0 = time.perf_counter()
    try:
        results = check_models(names, options, jobs=jobs, exact_timeout=exact_timeout, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    ok = all(rep.ok for _, rep in results)
    if as_json:
        doc = {"ok": ok, "seconds": round(seconds, 2), "models": [rep.to_json() for _, rep in results]}
        print(json.dumps(doc, indent=2))
    else:
        print(render(results))
        verdict = "all checks passed" if ok else "SOME CHECKS FAILED"
        print(f"{verdict} ({len(results)} models, {seconds:.1f} s)")
    return 0 if ok else 1


def _kernels(paths: Sequence[str], model: str | None, as_json: bool) -> int:
    """``symnn check FILE.py ...``: re-run every certificate; 0 if every kernel is verified, else 1."""
    results = [recheck(p, model) for p in paths]
    if as_json:
        print(json.dumps({"ok": all(r.ok for r in results), "kernels": [r.to_json() for r in results]}, indent=2))
    else:
        print("\n\n".join(r.render() for r in results))
    return 0 if results and all(r.ok for r in results) else 1


def _campaign(args: argparse.Namespace) -> int:
    """``symnn check --campaign N``: N random networks against every oracle, in chunks (on Dask with
    ``--workers``/``--scheduler``, saved in ``--results``); 0 if all passed, else 1."""
    if args.campaign is None:
        raise ModelError("--workers, --scheduler, --results and --chunks go with --campaign N (random networks)")
    if args.models:
        raise ModelError(f"--campaign N checks random networks; check the models {args.models} in a separate call")
    networks, seed = args.campaign, args.seed
    plan = check_campaign(networks, _options(args), chunks=args.chunks)  # refuses too many networks first
    _check_directions(args)

    with session(args.workers, args.scheduler) as where, Progress(None, "chunks", enabled=not args.quiet) as bar:
        outcome = run_plan(plan, results=args.results, progress=chunk_progress(bar), **where)
    docs = outcome.value
    ok = all(d["report"]["ok"] for d in docs)
    campaign = {
        "networks": networks,
        "seed": seed,
        "chunks": outcome.chunks,
        "reused": outcome.reused,
        "where": outcome.where,
        "seconds": round(outcome.seconds, 2),
        "redone": list(outcome.notes),
    }
    if args.json:
        print(json.dumps({"ok": ok, "campaign": campaign, "networks": docs}, indent=2))
        return 0 if ok else 1
    for note in outcome.notes:  # saved chunks that failed their digest or schema, computed again
        print(f"campaign: not trusted: {note}")
    for d in docs:
        rep = d["report"]
        bad = [f"{r['path']} vs {r['oracle']}: {r['verdict']}" for r in rep["rows"] if r["verdict"] in FAILING]
        verdict = "ok  " if rep["ok"] else "FAIL"
        print(f"{verdict} #{d['index']:<4} {rep['compared']:>5} comparisons  {d['network']}")
        for line in bad[:3]:
            print(f"       {line}")
    failed = sum(not d["report"]["ok"] for d in docs)
    verdict = "all checks passed" if ok else f"{failed} of {networks} NETWORKS FAILED"
    print(
        f"{verdict} ({networks} random networks, seed {seed}, {outcome.chunks} chunks, {outcome.where}, "
        f"{outcome.seconds:.1f} s)"
    )
    return 0 if ok else 1
