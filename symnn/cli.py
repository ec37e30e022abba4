"""The ``symnn`` command line: one function per subcommand, registered with ``@subcommand``.

Every ``SymnnError`` becomes one line ``symnn: error: ...`` on stderr and exit status 2;
success is 0. To add a subcommand, write ``configure(parser)`` (its arguments) and
``run(args) -> int``, and register them::

    def _compile_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("model")

    @subcommand("compile", "a standalone verified kernel module", _compile_args)
    def compile_(args: argparse.Namespace) -> int:
        ...
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .errors import GraphError, ModelError, SymnnError
from .ir import Graph

Run = Callable[[argparse.Namespace], int]
Configure = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Subcommand:
    """A subcommand: its name, one-line help, argument setup and body."""

    name: str
    help: str
    configure: Configure
    run: Run


SUBCOMMANDS: dict[str, Subcommand] = {}


def subcommand(name: str, help: str, configure: Configure) -> Callable[[Run], Run]:
    """Register ``run`` as the subcommand ``name`` whose arguments ``configure`` declares."""

    def register(run: Run) -> Run:
        SUBCOMMANDS[name] = Subcommand(name, help, configure, run)
        return run

    return register


# -- models -------------------------------------------------------------------------------------------
def load_graph(spec: str) -> Graph:
    """The Graph named by MODEL: a zoo name (``mlp:4-8-1``) or ``file.py:attr`` / ``module:attr``."""
    try:
        zoo = importlib.import_module("symnn.zoo")  # lazily: the zoo builds many layers
    except ModuleNotFoundError as e:
        if e.name != "symnn.zoo":
            raise
        obj: Any = _load_attribute(spec)
    else:
        obj = zoo.resolve(spec)
    return _as_graph(obj, spec)


def _as_graph(obj: Any, spec: str) -> Graph:
    if isinstance(obj, Graph):
        return obj
    if hasattr(obj, "graph") and callable(obj.graph):
        return _as_graph(obj.graph(), spec)
    raise ModelError(
        f"model {spec!r} is of type {type(obj).__name__}, not a symnn Graph or a model with .graph(); "
        "point MODEL at a Graph (e.g. built with symnn.Builder)"
    )


def _load_attribute(spec: str) -> Any:
    """``path/to/file.py:attr`` or ``package.module:attr``, without the zoo."""
    where, sep, attr = spec.rpartition(":")
    if not sep or not where or not attr:
        raise ModelError(
            f"unknown model {spec!r}: give path/to/file.py:attribute or package.module:attribute "
            "(the built-in zoo is not available in this installation)"
        )
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where)
        if not path.is_file():
            raise ModelError(f"model file {where!r} does not exist (from MODEL {spec!r})")
        mod_spec = importlib.util.spec_from_file_location(f"_symnn_model_{abs(hash(str(path.resolve())))}", path)
        if mod_spec is None or mod_spec.loader is None:
            raise ModelError(f"cannot load {where!r} as a Python file (from MODEL {spec!r})")
        module = importlib.util.module_from_spec(mod_spec)
        try:
            mod_spec.loader.exec_module(module)
        except SymnnError:
            raise
        except Exception as e:  # the user's code failed: say where, without a traceback
            raise ModelError(f"loading {where!r} failed: {type(e).__name__}: {e}") from None
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as e:
            raise ModelError(f"cannot import module {where!r} (from MODEL {spec!r}): {e}") from None
    if not hasattr(module, attr):
        public = sorted(n for n in vars(module) if not n.startswith("_"))
        raise ModelError(f"{where!r} has no attribute {attr!r}; it defines: {', '.join(public)}")
    return getattr(module, attr)


# -- derive ---------------------------------------------------------------------------------------------
def _derive_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="zoo name (e.g. mlp:4-8-1) or path/file.py:attr or module:attr")
    p.add_argument(
        "--mode",
        choices=("forward", "reverse", "both"),
        default="reverse",
        help="reverse: gradient of the scalar output; forward: the JVP program (default: reverse)",
    )
    p.add_argument("--format", choices=("text", "latex", "json"), default="text", help="output format")
    p.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")
    p.add_argument("--wrt", nargs="+", metavar="NAME", help="differentiate with respect to these leaves")
    p.add_argument("--scalar", action="store_true", help="expand to scalar equations with shared subexpressions")
    p.add_argument("--max-scalars", type=int, default=None, metavar="N", help="size bound for --scalar")


def _programs(graph: Graph, mode: str, wrt: list[str] | None) -> dict[str, tuple[str, Graph]]:
    """The primal program and the requested derivative programs, each with a heading."""
    from .diff import grad, jvp

    if wrt is None and not graph.params:
        raise GraphError(f"the model has no parameters; pass --wrt NAME with some of its inputs {list(graph.inputs)}")
    names = wrt if wrt is not None else list(graph.params)
    out = {"primal": ("primal program", graph)}
    if mode in ("reverse", "both"):
        g = grad(graph, wrt)
        out["reverse"] = (f"reverse mode: gradient of {g.output_names[0]!r} with respect to {', '.join(names)}", g)
    if mode in ("forward", "both"):
        out["forward"] = (f"forward mode: tangents with respect to {', '.join(names)}", jvp(graph, wrt))
    return out


@subcommand("derive", "symbolic forward/reverse derivatives as text, LaTeX or JSON", _derive_args)
def derive(args: argparse.Namespace) -> int:
    from .expand import DEFAULT_MAX
    from .printing import to_json, to_latex, to_text

    graph = load_graph(args.model)
    programs = _programs(graph, args.mode, args.wrt)
    bound = args.max_scalars if args.max_scalars is not None else DEFAULT_MAX
    if args.format == "json":
        doc = {
            "model": args.model,
            "mode": args.mode,
            "scalar": args.scalar,
            "programs": {
                key: {"title": title, **to_json(g, args.scalar, bound)} for key, (title, g) in programs.items()
            },
        }
        print(json.dumps(doc, indent=2))
        return 0
    render = to_latex if args.format == "latex" else to_text
    comment = "%" if args.format == "latex" else "#"
    parts = [f"{comment} {title}\n{render(g, args.scalar, bound)}" for title, g in programs.values()]
    print("\n\n".join(parts))
    return 0


# -- check ----------------------------------------------------------------------------------------------
def _check_args(p: argparse.ArgumentParser) -> None:
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
        nargs="+",
        choices=("fd", "complex-step", "mpmath", "adjoint", "executor", "exact"),
        default=("fd", "complex-step", "mpmath", "adjoint", "executor", "exact"),
        help="references to compare against (default: all)",
    )
    p.add_argument(
        "--paths",
        nargs="+",
        choices=("symbolic", "kernel", "executor"),
        default=("symbolic", "kernel", "executor"),
        help="derivative implementations to check, each in forward and reverse mode (default: all)",
    )
    p.add_argument(
        "--exact-max-scalars",
        type=int,
        default=120,
        metavar="N",
        help="run the exact sympy reference on graphs of at most N scalars (default 120)",
    )
    p.add_argument(
        "--jobs", type=int, default=2, help="worker processes for the exact reference (0: in this process; default 2)"
    )
    p.add_argument(
        "--exact-timeout",
        type=float,
        default=45.0,
        metavar="SECONDS",
        help="stop exact-reference workers still running this long after the start (default 45)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    g = p.add_argument_group("campaign", "random networks in chunks, on a Dask cluster, saved as they finish")
    g.add_argument("--campaign", type=int, metavar="N", help="check N random networks (verify.strategies) instead")
    g.add_argument("--workers", type=int, metavar="N", help="run the chunks on a local Dask cluster of N processes")
    g.add_argument("--scheduler", metavar="ADDRESS", help="run the chunks on a running Dask cluster (tcp://host:port)")
    g.add_argument("--results", metavar="DIR", help="save every finished chunk in DIR; a rerun skips them")
    g.add_argument("--chunks", type=int, metavar="N", help="number of chunks (default: one per network)")


@subcommand("check", "verify every derivative path of models against every oracle", _check_args)
def check(args: argparse.Namespace) -> int:
    campaign_options = (args.campaign, args.workers, args.scheduler, args.results, args.chunks)
    if any(v is not None for v in campaign_options):
        return _check_campaign(args)
    from verify.certified import is_kernel_file
    from verify.check import run

    kernels = [m for m in args.models if is_kernel_file(m)]
    if kernels:
        if len(kernels) != len(args.models):
            others = [m for m in args.models if m not in kernels]
            raise ModelError(f"check saved kernels {kernels} and models {others} in separate calls of symnn check")
        from verify.certified import run as recheck

        return recheck(kernels, model=args.model, as_json=args.json)
    if args.model is not None:
        raise ModelError("--model is for re-checking saved kernel files; name the models to check as arguments")
    return run(
        args.models,
        as_json=args.json,
        quiet=args.quiet,
        oracles=tuple(args.oracles),
        paths=tuple(args.paths),
        directions=args.directions,
        seed=args.seed,
        exact_max_scalars=args.exact_max_scalars,
        jobs=max(args.jobs, 0),
        exact_timeout=args.exact_timeout,
    )


def _check_campaign(args: argparse.Namespace) -> int:
    """``symnn check --campaign N``: random networks instead of MODELs (verify.campaign)."""
    from verify.check import run_campaign

    if args.campaign is None:
        raise ModelError("--workers, --scheduler, --results and --chunks go with --campaign N (random networks)")
    if args.models:
        raise ModelError(f"--campaign N checks random networks; check the models {args.models} in a separate call")
    return run_campaign(
        args.campaign,
        as_json=args.json,
        quiet=args.quiet,
        workers=args.workers,
        scheduler=args.scheduler,
        results=args.results,
        chunks=args.chunks,
        seed=args.seed,
        oracles=tuple(args.oracles),
        paths=tuple(args.paths),
        directions=args.directions,
        exact_max_scalars=args.exact_max_scalars,
    )


# -- boolean ------------------------------------------------------------------------------------------------
def _boolean_args(p: argparse.ArgumentParser) -> None:
    from verify.boolean.cli import configure  # the actions live with the package that implements them

    configure(p)


@subcommand("boolean", "sign networks and boolean representability, checked exhaustively and exactly", _boolean_args)
def boolean(args: argparse.Namespace) -> int:
    from verify.boolean.cli import run

    return run(args)


# -- compile ------------------------------------------------------------------------------------------------
def _compile_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="zoo name (e.g. mlp:4-8-1) or path/file.py:attr or module:attr")
    p.add_argument("-o", "--output", required=True, metavar="PATH", help="where to write the kernel module")
    p.add_argument(
        "--mode",
        choices=("grad", "forward", "jvp", "hvp"),
        default="grad",
        help="grad: loss and parameter gradients (default); forward; jvp: tangents; hvp: Hessian-vector products",
    )
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="arithmetic (default float64)")
    p.add_argument(
        "--verify",
        action="store_true",
        help="import the saved module in a fresh process and check it against the executor and finite differences",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the --verify point and directions (default 0)")
    p.add_argument("--json", action="store_true", help="machine-readable report")


@subcommand("compile", "a standalone Numba kernel module, optionally verified in a fresh process", _compile_args)
def compile_(args: argparse.Namespace) -> int:
    from .compile_cmd import run

    return run(args.model, args.output, args.mode, args.dtype, args.verify, args.seed, args.json)


# -- bench --------------------------------------------------------------------------------------------------
def _bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="few repeats (a smoke run; the figures are rough)")
    p.add_argument("--json", action="store_true", help="machine-readable results")
    p.add_argument("--workloads", nargs="+", metavar="W", help="run only these workloads (W1..W5)")
    p.add_argument("--no-symbolic", action="store_true", help="skip the symbolic benchmarks S1, S3, S4")


@subcommand("bench", "the gradient benchmarks W1-W5 against installed peers (benchmarks/gradients.py)", _bench_args)
def bench(args: argparse.Namespace) -> int:
    import subprocess

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "gradients.py"
    if not script.is_file():
        raise SymnnError(f"the benchmark script {script} is missing; symnn bench runs from a source checkout of symnn")
    argv = [sys.executable, str(script)]
    argv += ["--quick"] * args.quick + ["--json"] * args.json + ["--no-symbolic"] * args.no_symbolic
    if args.workloads:
        argv += ["--workloads", *args.workloads]
    return subprocess.run(argv).returncode


# -- train ------------------------------------------------------------------------------------------------
def _train_args(p: argparse.ArgumentParser) -> None:
    from .train.cli import configure

    configure(p)


@subcommand("train", "minibatch SGD on the digits with a convergence verdict, history and plot", _train_args)
def train(args: argparse.Namespace) -> int:
    from .train.cli import run

    return run(args)


# -- entry point ------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symnn",
        description="Networks as SymPy graphs: symbolic derivatives, compiled kernels, independent checks.",
    )
    parser.add_argument("--version", action="version", version=f"symnn {__version__}")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for cmd in SUBCOMMANDS.values():
        p = subs.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.configure(p)
        p.set_defaults(run=cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 2 usage or symnn error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.run(args))
    except SystemExit as e:  # argparse: --help, --version, usage errors
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    except SymnnError as e:
        message = " ".join(str(e).split())
        print(f"symnn: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `symnn derive ... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
