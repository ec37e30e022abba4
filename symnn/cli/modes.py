"""The one ``--mode`` vocabulary of ``symnn derive`` and ``symnn compile``: the names of the programs.

    grad     reverse mode: the loss and its gradient          (symnn.diff.grad)
    jvp      forward mode: the outputs and their tangents      (symnn.diff.jvp)
    hvp      forward over reverse: loss, gradient and H v      (symnn.diff.hvp)
    value    the model's values alone                          (compile; derive always prints them)
    both     grad and jvp                                      (derive)

derive's old spellings, ``reverse`` (now ``grad``) and ``forward`` (now ``jvp``), and compile's
``forward`` (now ``value``; ``symnn.codegen.OLD_MODES``) still work for one release and say so in one
line on stderr.

>>> parse = mode_type(("grad", "jvp"), {}, "derive")
>>> parse("jvp")
'jvp'
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence

__all__ = ["DERIVE_DEPRECATED", "DERIVE_MODES", "add_mode_argument", "mode_type"]

#: ``symnn derive --mode``: the derivative programs printed after the primal one.
DERIVE_MODES = ("grad", "jvp", "hvp", "both")

#: derive's spellings before the vocabulary was shared with compile: old -> new (removed in the next release).
DERIVE_DEPRECATED = {"reverse": "grad", "forward": "jvp"}


def mode_type(modes: Sequence[str], deprecated: Mapping[str, str], command: str) -> Callable[[str], str]:
    """An argparse ``type`` for ``--mode``: one of ``modes``, or an old spelling mapped to its new name with a note."""

    def parse(text: str) -> str:
        if text in deprecated:
            new = deprecated[text]
            print(
                f"symnn {command}: note: --mode {text} is now --mode {new} (the same program); "
                f"the old spelling will be removed in the next release",
                file=sys.stderr,
            )
            return new
        if text not in modes:
            raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(modes)})")
        return text

    return parse


def add_mode_argument(
    parser: argparse.ArgumentParser, modes: Sequence[str], deprecated: Mapping[str, str], command: str, help: str
) -> None:
    """``--mode`` of ``command``: one of ``modes`` (default grad), old spellings mapped with a note."""
    parser.add_argument(
        "--mode",
        type=mode_type(modes, deprecated, command),
        default="grad",
        metavar="{" + ",".join(modes) + "}",
        help=help,
    )
