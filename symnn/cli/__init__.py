"""The ``symnn`` command line: the only code that parses argv or prints for a user.

One module per subcommand (``derive``, ``compile``, ``check``, ``boolean``, ``train``, ``bench``),
each with ``configure(parser)`` and ``run(args) -> int``, loaded only when its subcommand runs, so
``symnn --help`` and ``symnn --version`` import neither numpy nor numba. ``main`` turns every
``SymnnError`` into one line ``symnn: error: ...`` on stderr and exit status 2. Another subcommand
registers with one function::

    @subcommand("echo", "print a word", lambda p: p.add_argument("word"))
    def echo(args: argparse.Namespace) -> int:
        print(args.word)
        return 0
"""

from .main import BUILTIN, SUBCOMMANDS, Subcommand, build_parser, main, subcommand

__all__ = ["BUILTIN", "SUBCOMMANDS", "Subcommand", "build_parser", "main", "subcommand"]
