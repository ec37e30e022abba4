"""``symnn boolean construct|verify|threshold|count|min-width|shatter``: one function per action.

Each action prints text, or JSON with ``--json``; the exit status is 0 on success, 1 when a check
fails (a network that does not compute its target, methods that disagree), and 2 on bad input
(``symnn.cli.main`` turns a SymnnError into one line on stderr). Every certificate is re-checked
exactly right before it is printed. The library functions live in ``verify.boolean``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from verify.boolean.construct import SignNetwork, construct
from verify.boolean.counts import count_threshold
from verify.boolean.errors import FunctionSpecError, NetworkError, WitnessError
from verify.boolean.exhaustive import Symmetric, evaluate, random_network
from verify.boolean.exhaustive import verify as verify_network
from verify.boolean.minwidth import min_width, width_distribution
from verify.boolean.shatter import cube_unit_vc, network_vc, radon_dichotomy, shatter_simplex
from verify.boolean.table import boolean_function, cube
from verify.boolean.threshold import check_threshold_certificate, threshold
from verify.campaign import count_threshold as count_campaign
from verify.campaign import min_width_campaign, session, verify_campaign
from verify.campaign import run as run_plan

from .progress import Progress, chunk_progress

FUNC_HELP = (
    "the function: bits '0110' (f(0) f(1) ... with x_0 the lowest bit of the input index), hex '0x6996', "
    "a name 'parity:4' | 'majority:3' | 'and:3' | 'or:3' | 'atleast:5:2' | 'random:4:SEED', "
    "or an expression 'x0 & ~x1 | x2' (& | ^ ~ and or xor not)"
)

Action = Callable[[argparse.Namespace], int]
ACTIONS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Action]] = {}


def action(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None]) -> Callable[[Action], Action]:
    def register(run: Action) -> Action:
        ACTIONS[name] = (help, configure, run)
        return run

    return register


EXAMPLES = """
examples:
  symnn boolean construct parity:4                a sign network for parity of 4 bits
  symnn boolean threshold majority:3              exact decision with a certificate
  symnn boolean count 3 4                         threshold functions of 3 and 4 variables (OEIS A000609)
  symnn boolean min-width 0x6996                  the minimum width of a function, with its proof
"""


def configure(p: argparse.ArgumentParser) -> None:
    """Arguments of ``symnn boolean``: one sub-action each."""
    subs = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, (help, conf, run) in ACTIONS.items():
        sp = subs.add_parser(name, help=help, description=help)
        conf(sp)
        sp.add_argument("--json", action="store_true", help="machine-readable output")
        sp.set_defaults(boolean_run=run)


def run(args: argparse.Namespace) -> int:
    return int(args.boolean_run(args))


def _emit(args: argparse.Namespace, doc: dict[str, Any], text: str) -> None:
    print(json.dumps(doc, indent=2, default=_jsonable) if args.json else text)


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, float) and v == float("inf"):
        return "inf"
    raise TypeError(f"not JSON serializable: {type(v).__name__}")


def _func_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("function", metavar="FUNC", nargs=None if required else "?", help=FUNC_HELP)
    p.add_argument("-d", type=int, default=None, help="number of variables (when FUNC does not say)")


def _function(args: argparse.Namespace) -> Any:
    return boolean_function(args.function, args.d)


# -- campaigns: chunks on a Dask cluster, saved as they finish (verify.campaign) -----------------------------
CAMPAIGN_OPTIONS = ("workers", "scheduler", "results", "chunks")


def _campaign_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("campaign", "split the work into chunks, run them on Dask, save each as it finishes")
    g.add_argument("--workers", type=int, metavar="N", help="run the chunks on a local Dask cluster of N processes")
    g.add_argument("--scheduler", metavar="ADDRESS", help="run the chunks on a running Dask cluster (tcp://host:port)")
    g.add_argument("--results", metavar="DIR", help="save every finished chunk in DIR; a rerun skips them")
    g.add_argument("--chunks", type=int, metavar="N", help="number of chunks (default: by the size of the work)")
    g.add_argument("--quiet", action="store_true", help="no progress bar of the chunks on stderr")


def _campaign(args: argparse.Namespace) -> bool:
    """Whether any campaign option was given (otherwise the command runs exactly as without campaigns)."""
    return any(getattr(args, k, None) is not None for k in CAMPAIGN_OPTIONS)


def _campaign_doc(outcomes: list[Any]) -> dict[str, Any]:
    return {
        "chunks": sum(o.chunks for o in outcomes),
        "reused": sum(o.reused for o in outcomes),
        "where": outcomes[0].where if outcomes else "in-process",
        "seconds": round(sum(o.seconds for o in outcomes), 4),
        "redone": [n for o in outcomes for n in o.notes],
    }


def _campaign_line(args: argparse.Namespace, doc: dict[str, Any]) -> str:
    saved = f", {doc['reused']} read back from {args.results}" if args.results else ""
    line = f"campaign: {doc['chunks']} chunks, {doc['where']}{saved}, {doc['seconds']:.2f} s"
    return "\n".join([line, *(f"campaign: not trusted: {n}" for n in doc["redone"])])


def _fmt_margin(v: float) -> str:
    return "none (no hidden units)" if v == float("inf") else (f"{int(v)}" if float(v).is_integer() else f"{v:g}")


# -- construct -------------------------------------------------------------------------------------------
def _construct_args(p: argparse.ArgumentParser) -> None:
    _func_args(p)
    p.add_argument("--literal", action="store_true", help="b2 = 0: the output bias moves to an always-on unit")


@action("construct", "a sign network with min(#true, #false) hidden units computing FUNC", _construct_args)
def construct_(args: argparse.Namespace) -> int:
    f = _function(args)
    net = construct(f, literal=args.literal)
    ev = verify_network(net, f)  # the certificate: every input, exactly
    if not ev.ok:
        raise WitnessError(f"the constructed network fails on input {ev.first_mismatch}: {ev}")
    doc = {
        "function": f.hex if f.d <= 6 else f.name,
        "d": f.d,
        "true_points": f.n_true,
        "false_points": f.n_false,
        "network": net.to_json(),
        "verified": ev.as_dict(),
    }
    lines = [
        f"function {doc['function']} of d = {f.d} variables: {f.n_true} true, {f.n_false} false points",
        f"sign network sign(W2 . sign(W1 x + b1) + b2) with k = {net.k} hidden units (bound min(#true, #false) = "
        f"{min(f.n_true, f.n_false)}{' + 1 always-on unit' if args.literal else ''}), integer weights:",
        _matrix("W1", net.W1.tolist()),
        f"b1 = {net.b1.tolist()}",
        f"W2 = {net.W2.tolist()}",
        f"b2 = {net.b2}",
        f"checked on all {ev.inputs} inputs, exactly: {'ok' if ev.ok else 'FAILED'}; no sign(0) anywhere; "
        f"smallest |pre-activation|: hidden {_fmt_margin(ev.hidden_margin)}, output {_fmt_margin(ev.output_margin)}",
    ]
    _emit(args, doc, "\n".join(lines))
    return 0


def _points(d: int) -> list[tuple[int, ...]]:
    return [tuple(x) for x in cube(d).tolist()]


def _matrix(name: str, rows: list[list[Any]]) -> str:
    if not rows:
        return f"{name} = [] (no hidden units)"
    body = "\n".join("   " + " ".join(f"{v:>3}" for v in r) for r in rows)
    return f"{name} =\n{body}"


# -- verify ----------------------------------------------------------------------------------------------
def _verify_args(p: argparse.ArgumentParser) -> None:
    _func_args(p, required=False)
    p.add_argument(
        "--network", metavar="FILE", help="a network as written by `construct --json` (default: construct one)"
    )
    p.add_argument("--random", nargs=2, type=int, metavar=("D", "K"), help="a random integer network (benchmark B1/B2)")
    p.add_argument("--seed", type=int, default=0, help="seed of --random")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=600.0,
        help="refuse passes (in a campaign: chunks) estimated to take longer (default 600)",
    )
    _campaign_args(p)


_SYMMETRIC = re.compile(r"^(parity|xor|majority|and|or):(\d+)$")


@action("verify", "evaluate a sign network on all 2^d inputs (compiled, exact) and compare with FUNC", _verify_args)
def verify_(args: argparse.Namespace) -> int:
    target: Any = None
    if args.function is not None:
        m = _SYMMETRIC.match(args.function.strip())
        if m and int(m.group(2)) > 20 and (args.network or args.random):  # large d: no table needed
            target = Symmetric.named(m.group(1), int(m.group(2)))
        else:
            target = _function(args)
    if args.network and args.random:
        raise FunctionSpecError("give either --network FILE or --random D K, not both")
    if args.seed < 0:
        raise NetworkError(f"--seed must be >= 0, got {args.seed}")
    if not args.max_seconds > 0:  # also nan: an estimate compared with nan never refuses
        raise FunctionSpecError(f"--max-seconds must be a positive number of seconds, got {args.max_seconds}")
    if args.network:
        path = Path(args.network)
        if not path.is_file():
            raise NetworkError(f"network file {args.network!r} does not exist")
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise NetworkError(f"network file {args.network!r} is not readable UTF-8 JSON ({e})") from None
        net = SignNetwork.from_json(text)
        source = f"network from {args.network}"
    elif args.random:
        d, k = args.random
        if d < 0 or k < 0:
            raise NetworkError(f"--random needs D >= 0 and K >= 0, got {d} {k}")
        net = random_network(d, k, seed=args.seed)
        source = f"random integer network d = {d}, k = {k}, seed {args.seed}"
    elif target is not None:
        net = construct(target)
        source = "constructed network"
    else:
        raise FunctionSpecError("give FUNC, --network FILE (with FUNC as target) or --random D K")
    outcomes = []
    if _campaign(args):
        plan = verify_campaign(net, target, args.chunks, args.max_seconds)
        with session(args.workers, args.scheduler) as where, Progress(None, "chunks", enabled=not args.quiet) as bar:
            outcomes.append(run_plan(plan, results=args.results, progress=chunk_progress(bar), **where))
        ev = dataclasses.replace(outcomes[0].value, seconds=outcomes[0].seconds)
    else:
        ev, _ = evaluate(net, target, max_seconds=args.max_seconds)
    doc = {"source": source, "d": net.d, "k": net.k, **ev.as_dict()}
    status = "ok" if ev.ok else ("FAILED" if target is not None else "evaluated")
    lines = [
        f"{source}: d = {net.d}, k = {net.k}; all {ev.inputs:,} inputs in {ev.seconds:.4f} s "
        f"({'exact integer arithmetic' if ev.exact else 'float64'})",
        f"positive outputs {ev.positives:,}; zero pre-activations: hidden {ev.hidden_zero:,} (input, unit) pairs, "
        f"output {ev.output_zero:,}; smallest |pre-activation|: hidden {_fmt_margin(ev.hidden_margin)}, "
        f"output {_fmt_margin(ev.output_margin)}",
    ]
    if target is not None:
        lines.append(
            f"target {ev.target}: {ev.mismatches:,} mismatches"
            + (f" (first at input {ev.first_mismatch})" if ev.mismatches else "")
            + f" -> {status}"
        )
    if outcomes:
        doc["campaign"] = _campaign_doc(outcomes)
        lines.append(_campaign_line(args, doc["campaign"]))
    _emit(args, doc, "\n".join(lines))
    return 0 if (target is None or ev.ok) else 1


# -- threshold -------------------------------------------------------------------------------------------
@action("threshold", "decide exactly whether FUNC is a threshold function, with a certificate", _func_args)
def threshold_(args: argparse.Namespace) -> int:
    r = threshold(_function(args))
    if not check_threshold_certificate(r):
        raise WitnessError("the threshold certificate failed its re-check before printing")
    doc = r.as_dict()
    name = doc["function"]
    if r.is_threshold:
        text = (
            f"{name} IS a threshold function: f(x) = sign({_affine(r.weights or (), r.bias or 0)})\n"
            f"certificate checked exactly on all {2**r.f.d} inputs; smallest f(x)(w.x + b) = {r.margin}"
        )
    else:
        t, f = r.radon_true, r.radon_false
        text = (
            f"{name} is NOT a threshold function. Certificate (Farkas/Radon): these true points\n"
            f"  {list(t)}\nand these false points\n  {list(f)}\n"
            f"are {len(t)} each and have the same coordinate sum {[sum(c) for c in zip(*t, strict=True)]}, so any "
            "w, b would give sum_true (w.x + b) > 0 > sum_false (w.x + b) for equal sums: impossible.\n"
            "certificate checked exactly"
        )
    _emit(args, doc, text)
    return 0


def _affine(w: tuple[int, ...], b: int) -> str:
    terms = [f"{'-' if c < 0 else '+'} {abs(c) if abs(c) != 1 else ''}x{j}" for j, c in enumerate(w) if c]
    s = " ".join(terms).lstrip("+ ").replace("- ", "-", 1) if terms else "0"
    if terms and terms[0].startswith("-"):
        s = "-" + s.lstrip("-").lstrip()
    return f"{s} {'-' if b < 0 else '+'} {abs(b)}" if b else s


# -- count -----------------------------------------------------------------------------------------------
def _count_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("n", type=int, nargs="+", help="number(s) of variables (0..5 for lp, 0..6 for regions)")
    p.add_argument("--method", choices=("lp", "regions", "both"), default="both")
    _campaign_args(p)


@action("count", "count threshold functions of n variables by two independent exact methods", _count_args)
def count_(args: argparse.Namespace) -> int:
    campaign = None
    if _campaign(args):
        outcomes: list[Any] = []
        with session(args.workers, args.scheduler) as where:
            results = [
                count_campaign(n, args.method, args.chunks, results=args.results, outcomes=outcomes, **where)
                for n in args.n
            ]
        campaign = _campaign_doc(outcomes)
    else:
        results = [count_threshold(n, args.method) for n in args.n]
    ok = all(r.agree for r in results)
    lines = [f"{'n':>2}  {'lp':>10}  {'regions':>10}  {'OEIS A000609':>13}  agree  seconds (lp, regions)"]
    for r in results:
        c = r.counts
        lines.append(
            f"{r.n:>2}  {c.get('lp', '-'):>10}  {c.get('regions', '-'):>10}  {r.oeis if r.oeis else '-':>13}  "
            f"{'yes' if r.agree else 'NO':>5}  {', '.join(f'{v:.2f}' for v in r.seconds.values())}"
        )
    doc: dict[str, Any] = {"results": [r.as_dict() for r in results], "agree": ok}
    if campaign is not None:
        doc["campaign"] = campaign
        lines.append(_campaign_line(args, campaign))
    _emit(args, doc, "\n".join(lines))
    return 0 if ok else 1


# -- min-width -----------------------------------------------------------------------------------------------
def _minwidth_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("function", metavar="FUNC", nargs="?", help=FUNC_HELP)
    p.add_argument("-d", type=int, default=None, help="number of variables (when FUNC does not say)")
    p.add_argument("--distribution", type=int, metavar="N", help="minimum widths of all functions of N <= 4 variables")
    p.add_argument("--max-width", type=int, default=5, help="search up to this many hidden units (<= 5)")
    p.add_argument("--max-nodes", type=int, default=10**7, help="search budget per width (default 10^7 nodes)")
    _campaign_args(p)


@action(
    "min-width",
    "exact minimum number of hidden units for FUNC (d <= 5), or the distribution for N <= 4",
    _minwidth_args,
)
def min_width_(args: argparse.Namespace) -> int:
    campaign = None
    if not 0 <= args.max_width <= 5 or args.max_nodes < 1:
        raise FunctionSpecError(
            f"--max-width must be in 0..5 and --max-nodes >= 1, got {args.max_width} and {args.max_nodes}"
        )
    if _campaign(args) and args.distribution is None:
        raise FunctionSpecError("--workers, --scheduler, --results and --chunks apply to --distribution N only")
    if args.distribution is not None:
        if not 0 <= args.distribution <= 4:
            raise FunctionSpecError(f"--distribution N needs 0 <= N <= 4, got {args.distribution}")
        if args.function is not None:
            raise FunctionSpecError("give FUNC or --distribution N, not both")
        if _campaign(args):
            plan = min_width_campaign(args.distribution, args.max_nodes, args.chunks)
            bar = Progress(None, "chunks", enabled=not args.quiet)
            with session(args.workers, args.scheduler) as where, bar:
                out = run_plan(plan, results=args.results, progress=chunk_progress(bar), **where)
            dist = dataclasses.replace(out.value, seconds=out.seconds)
            campaign = _campaign_doc([out])
        else:
            dist = width_distribution(args.distribution, args.max_nodes)
        lines = [
            f"minimum width of all {sum(dist.counts.values()):,} functions of {dist.d} variables "
            f"({len(dist.classes)} NPN classes, {dist.seconds:.1f} s):",
            *(f"  width {w}: {n:>6,} functions" for w, n in sorted(dist.counts.items())),
            f"every function checked with its own witness network on all inputs: {dist.checked:,}; "
            f"all lower bounds exact: {'yes' if dist.exact else 'NO'}",
        ]
        doc = dist.as_dict()
        if campaign is not None:
            doc["campaign"] = campaign
            lines.append(_campaign_line(args, campaign))
        _emit(args, doc, "\n".join(lines))
        return 0 if dist.exact else 1
    if args.function is None:
        raise FunctionSpecError("give FUNC, or --distribution N")
    f = _function(args)
    r = min_width(f, max_width=args.max_width, max_nodes=args.max_nodes)
    net = r.network
    # re-check the witness right before printing, in plain integer arithmetic (independent of the kernel)
    if [net(x) for x in _points(f.d)] != f.table.tolist():
        raise WitnessError("the witness network failed its re-check before printing")
    head = (
        f"minimum width of {r.as_dict()['function']}: {r.width}"
        if r.exact
        else f"minimum width of {r.as_dict()['function']}: between {r.lower} and {r.width} (search budget reached)"
    )
    lines = [
        head,
        *("  " + p for p in r.proof),
        f"witness network (k = {net.k}, checked on all inputs):",
        _matrix("W1", net.W1.tolist()),
        f"b1 = {net.b1.tolist()}",
        f"W2 = {net.W2.tolist()}",
        f"b2 = {net.b2}",
    ]
    _emit(args, r.as_dict(), "\n".join(lines))
    return 0


# -- shatter -----------------------------------------------------------------------------------------------------
def _shatter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", type=int, required=True, help="dimension")
    p.add_argument("-k", type=int, nargs="*", default=None, help="widths for the network rows (d <= 4; default all)")


@action("shatter", "VC dimension checks: one unit in R^d and on the cube, small networks on the cube", _shatter_args)
def shatter_(args: argparse.Namespace) -> int:
    d = args.d
    if d < 1:
        raise FunctionSpecError(f"-d must be at least 1, got {d}")
    if args.k is not None and any(k < 1 for k in args.k):
        raise FunctionSpecError(f"-k widths must be at least 1, got {args.k}")
    simplex = shatter_simplex(d)
    rng = random.Random(0)
    pts = [tuple(Fraction(rng.randint(-9, 9), rng.randint(1, 5)) for _ in range(d)) for _ in range(d + 2)]
    radon = radon_dichotomy(pts)
    cube_vc = cube_unit_vc(d)
    nets = network_vc(d, args.k) if d <= 4 else []
    doc = {
        "d": d,
        "unit_in_R^d": {
            "simplex_points": [list(p) for p in simplex.points],
            "dichotomies_realized": simplex.realized,
            "dichotomies": simplex.dichotomies,
            "random_d_plus_2_points": [[str(v) for v in p] for p in pts],
            "unrealizable_labels": list(radon.labels),
            "radon_weights": list(radon.y),
        },
        "unit_on_cube": {
            "vc": cube_vc.vc,
            "shattered_example": [list(p) for p in cube_vc.shattered_example],
            "subsets_of_size_d_plus_2_refuted": cube_vc.subsets_refuted,
            "subsets_of_size_d_plus_2": cube_vc.subsets_total,
            "exhaustive": cube_vc.exhaustive,
        },
        "networks_on_cube": [n.as_dict() for n in nets],
    }
    lines = [
        f"one sign unit in R^{d}: shatters 0, e_1..e_{d} ({simplex.realized} of {simplex.dichotomies} dichotomies, "
        "each with checked integer weights)",
        f"  {d + 2} random rational points {[tuple(str(v) for v in p) for p in pts]}: labels {list(radon.labels)} "
        f"are not realizable (Radon weights {list(radon.y)}, checked)",
        f"one sign unit on {{-1,+1}}^{d}: VC dimension {cube_vc.vc}; "
        + (
            f"all {cube_vc.subsets_total:,} subsets of {d + 2} points refuted by checked Radon certificates"
            if cube_vc.exhaustive
            else f"{cube_vc.subsets_refuted} random subsets of {d + 2} points refuted (Radon's theorem covers the rest)"
        ),
    ]
    if nets:
        lines.append(f"networks of width k on {{-1,+1}}^{d} (exact, from the minimum width of every function):")
        lines.append(
            f"  {'k':>2}  {'VC on cube':>10}  {'weights W':>9}  {'2W log2(e(k+1))':>16}  functions of width <= k"
        )
        for n in nets:
            lines.append(f"  {n.k:>2}  {n.vc:>10}  {n.weights:>9}  {n.bound:>16.1f}  {n.functions:,}")
    else:
        lines.append("networks on the cube: exact only for d <= 4 (every function of d variables classified)")
    _emit(args, doc, "\n".join(lines))
    return 0
