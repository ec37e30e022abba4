"""List options that never swallow a positional argument.

An option with ``nargs="+"`` before a positional takes every word after it (``--oracles fd mlp``
made ``mlp`` an oracle); ``listed`` options take exactly one word, a comma list, and may repeat
(``action="extend"``): ``--oracles fd,mpmath mlp`` or ``--oracles fd --oracles mpmath mlp``.
``regroup`` keeps the space-separated form working: the words after such an option that are
among its choices join its comma list, and the first word that is not is left as a positional.

>>> regroup(["check", "--oracles", "fd", "mpmath", "mlp"], {"--oracles": ("fd", "mpmath")})
['check', '--oracles', 'fd,mpmath', 'mlp']

>>> p = argparse.ArgumentParser()
>>> _ = p.add_argument("--oracles", type=listed(("fd", "mpmath")), action="extend")
>>> _ = p.add_argument("model")
>>> p.parse_args(["--oracles", "fd,mpmath", "mlp"])
Namespace(oracles=['fd', 'mpmath'], model='mlp')
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence

__all__ = ["listed", "regroup"]


def listed(choices: Sequence[str] | None = None) -> Callable[[str], list[str]]:
    """An argparse ``type``: ``"a,b"`` -> ``["a", "b"]``, each checked against ``choices`` when given."""

    def parse(text: str) -> list[str]:
        items = [s.strip() for s in text.split(",") if s.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma list of names, got {text!r}")
        unknown = [s for s in items if choices is not None and s not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}; choose from {', '.join(choices or ())}")
        return items

    return parse


def regroup(argv: Sequence[str], lists: Mapping[str, Sequence[str] | None]) -> list[str]:
    """``argv`` with the space-separated words of the list options in ``lists`` joined into comma lists.

    An option with choices takes the following words that are choices (or comma lists of them); one
    without (leaf names: any word could be the positional) takes one word, a comma list.
    """
    out: list[str] = []
    words = list(argv)
    i = 0
    while i < len(words):
        word, i = words[i], i + 1
        out.append(word)
        choices = lists.get(word)
        if word not in lists or choices is None or i >= len(words):
            continue
        taken = [words[i]]
        i += 1
        while i < len(words) and _among(words[i], choices):
            taken.append(words[i])
            i += 1
        out.append(",".join(taken))
    return out


def _among(word: str, choices: Sequence[str]) -> bool:
    """Whether ``word`` is one of ``choices`` or a comma list of them."""
    return not word.startswith("-") and all(part in choices for part in word.split(",") if part)
