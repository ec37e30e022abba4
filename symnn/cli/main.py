"""The root of the command line: ``symnn [--version] COMMAND ...``, its subcommands and its error handling.

A built-in subcommand is a module of this package named in ``BUILTIN`` with its one-line help; the
module is imported (and its arguments declared) only when its subcommand is the one that runs.

>>> main(["--version"])  # doctest: +ELLIPSIS
symnn ...
0
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import itertools
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .. import __version__
from ..errors import SymnnError
from .arguments import regroup

Run = Callable[[argparse.Namespace], int]
Configure = Callable[[argparse.ArgumentParser], None]

#: The built-in subcommands: name -> (module with ``configure(parser)`` and ``run(args)``, one-line help).
BUILTIN: dict[str, tuple[str, str]] = {
    "derive": ("symnn.cli.derive", "symbolic forward/reverse derivatives as text, LaTeX or JSON"),
    "check": ("symnn.cli.check", "verify every derivative path of models against every oracle"),
    "boolean": ("symnn.cli.boolean", "sign networks and boolean representability, checked exhaustively and exactly"),
    "compile": ("symnn.cli.compile", "a standalone Numba kernel module, optionally verified in a fresh process"),
    "bench": ("symnn.cli.bench", "the benchmarks W1-W5, T1, S1/S3/S4 against the installed peers (symnn.bench)"),
    "train": ("symnn.cli.train", "minibatch SGD on the digits with a convergence verdict, history and plot"),
    "ops": ("symnn.cli.ops", "the op registry: every op, every part, and where each part is defined"),
    "cache": ("symnn.cli.cache", "the kernel cache: where it is, its size, its entries (BLAS or loops); --clear"),
    "models": ("symnn.cli.models", "the built-in model zoo: default sizes, loss, inputs, parameter and node counts"),
}


@dataclass(frozen=True)
class Subcommand:
    """A subcommand: its name, one-line help, argument setup and body."""

    name: str
    help: str
    configure: Configure
    run: Run
    lists: dict[str, tuple[str, ...] | None] = field(default_factory=dict)  # list options: their choices
    examples: str = ""  # shown under the subcommand's --help


#: Subcommands registered with ``@subcommand`` (besides the built-in ones, or replacing one).
SUBCOMMANDS: dict[str, Subcommand] = {}


def subcommand(name: str, help: str, configure: Configure) -> Callable[[Run], Run]:
    """Register ``run`` as the subcommand ``name`` whose arguments ``configure`` declares."""

    def register(run: Run) -> Run:
        SUBCOMMANDS[name] = Subcommand(name, help, configure, run)
        return run

    return register


def _load(name: str) -> Subcommand:
    """The subcommand ``name``: registered, or a built-in whose module is imported now."""
    if name in SUBCOMMANDS:
        return SUBCOMMANDS[name]
    module_name, help = BUILTIN[name]
    module = importlib.import_module(module_name)
    lists, examples = getattr(module, "LISTS", {}), getattr(module, "EXAMPLES", "")
    return Subcommand(name, help, module.configure, module.run, lists, examples)


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line: the first argument that is not an option."""
    return next((a for a in argv if not a.startswith("-")), None)


class UsageError(SymnnError, ValueError):
    """A command line the parser refused (unknown option, missing argument, bad choice)."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, ``symnn: error: ...`` (exit 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("symnn").strip()
        where = f"{command}: " if command else ""
        raise UsageError(f"{where}{' '.join(message.split())}; see `{self.prog} --help`")


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser of ``symnn``; only the subcommand that ``argv`` names declares its arguments."""
    parser = Parser(
        prog="symnn",
        description="Networks as SymPy graphs: symbolic derivatives, compiled kernels, independent checks.",
    )
    parser.add_argument("--version", action="version", version=f"symnn {__version__}")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _chosen(argv)
    helps = {name: help for name, (_, help) in BUILTIN.items()} | {n: c.help for n, c in SUBCOMMANDS.items()}
    for name, help in helps.items():
        p = subs.add_parser(name, help=help, description=help, formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == chosen:
            cmd = _load(name)
            p.epilog = cmd.examples.strip("\n") or None
            cmd.configure(p)
            p.set_defaults(run=cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 1 a check failed, 2 usage or symnn error, 130 Ctrl-C).

    Every failure ends in one line ``symnn: error: ...`` on stderr, never a traceback (set
    ``SYMNN_DEBUG=1`` to see the traceback of an unexpected error).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = _wants_json(argv)
    try:
        parser = build_parser(argv)
        chosen = _chosen(argv)
        if chosen in BUILTIN or chosen in SUBCOMMANDS:  # `--oracles fd mpmath MODEL`: the list stops before MODEL
            argv = regroup(argv, _load(chosen).lists)
        args = parser.parse_args(argv)
        with _interrupts_in_callbacks() as swallowed:
            code = int(args.run(args))
        if swallowed:
            raise KeyboardInterrupt
        return code
    except SystemExit as e:  # argparse: --help, --version, usage errors
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    except SymnnError as e:
        return _error(str(e), as_json)
    except BrokenPipeError:  # e.g. `symnn derive ... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:  # files are written atomically: nothing is left half-written
        _error("interrupted (Ctrl-C); files already written are whole, nothing was left half-written", as_json)
        return 130
    except RecursionError:
        return _error(
            "the input is nested too deeply for Python's recursion limit (RecursionError); simplify it", as_json
        )
    except MemoryError:
        return _error("out of memory; try smaller sizes", as_json)
    except OSError as e:  # a file system refusal: permissions, a full disk, a read-only place
        where = f" ({e.filename})" if e.filename else ""
        return _error(f"{e.strerror or e}{where}; check the path and its permissions", as_json)
    except Exception as e:
        if os.environ.get("SYMNN_DEBUG"):
            raise
        return _error(
            f"internal error ({type(e).__name__}: {e}); this is a bug in symnn, please report it "
            "(SYMNN_DEBUG=1 shows the traceback)",
            as_json,
        )


@contextlib.contextmanager
def _interrupts_in_callbacks() -> Iterator[list[bool]]:
    """Remember a Ctrl-C that C code swallowed; the list it yields is non-empty when there was one.

    A KeyboardInterrupt raised inside a ctypes callback (llvmlite calls back into Python while
    Numba compiles) cannot propagate: ctypes reports it to ``sys.unraisablehook`` and goes on, so
    the command would finish with exit 0 after the user pressed Ctrl-C. The hook records it
    instead (no "Exception ignored" text), and ``main`` ends with the Ctrl-C line and exit 130.
    """
    swallowed: list[bool] = []
    previous = sys.unraisablehook

    def hook(info: Any) -> None:
        if info.exc_type is not None and issubclass(info.exc_type, KeyboardInterrupt):
            swallowed.append(True)
        else:
            previous(info)

    sys.unraisablehook = hook
    try:
        yield swallowed
    finally:
        sys.unraisablehook = previous


def _wants_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for JSON (``--json`` or ``--format json``): then errors are JSON too."""
    return (
        "--json" in argv
        or "--format=json" in argv
        or any(pair == ("--format", "json") for pair in itertools.pairwise(argv))
    )


def _error(message: str, as_json: bool = False) -> int:
    """``symnn: error: message`` as one line on stderr (with --json: ``{"ok": false, "error": ...}`` on stdout); 2."""
    message = " ".join(message.split())
    if as_json:
        print(json.dumps({"ok": False, "error": message}), flush=True)
    else:
        print(f"symnn: error: {message}", file=sys.stderr)
    return 2


__all__ = ["BUILTIN", "SUBCOMMANDS", "Parser", "Subcommand", "UsageError", "build_parser", "main", "subcommand"]
