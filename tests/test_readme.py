"""Every concrete ``symnn ...`` command the READMEs show is one the command line accepts.

Commands are parsed, not run (the campaigns they show take hours): a renamed option, a removed
mode or a value the parser refuses fails here. Synopsis lines with placeholders (MODEL, [...], a|b)
are skipped; so are commands naming files the reader writes first.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from symnn.cli.arguments import regroup
from symnn.cli.main import BUILTIN, UsageError, _chosen, _load, build_parser

ROOT = Path(__file__).resolve().parent.parent
READMES = [ROOT / "README.md", ROOT / "examples" / "README.md"]
PLACEHOLDER = re.compile(r"\bMODEL\b|\bSPEC\b|\.\.\.|[\[\]|<>]|\bN\b")


def _commands() -> list[str]:
    found: list[str] = []
    for readme in READMES:
        text = readme.read_text(encoding="utf-8")
        inline = re.findall(r"`(symnn [^`]+)`", text)
        blocks = [ln.strip() for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S) for ln in block.splitlines()]
        for line in inline + [ln for ln in blocks if ln.startswith("symnn ")]:
            command = line.split("  #")[0].split(" # ")[0].strip()
            if not PLACEHOLDER.search(command) and command not in found:
                found.append(command)
    return found


COMMANDS = _commands()


def test_the_readmes_show_commands():
    assert len(COMMANDS) >= 10, COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_a_readme_command_parses(command):
    argv = shlex.split(command)[1:]
    chosen = _chosen(argv)
    assert chosen in BUILTIN, f"{command!r}: no subcommand {chosen!r}"
    parser = build_parser(argv)
    try:
        parser.parse_args(regroup(argv, _load(chosen).lists))
    except (SystemExit, UsageError) as e:
        pytest.fail(f"{command!r} does not parse: {e}")
