"""The README documents the whole command line and names only modules that exist (after sqlite-utils'
`test_commands_are_documented`)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from pexxero.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(command words, its visible options) for every command and subcommand of the parser."""
    options = [a for a in parser._actions if a.option_strings and a.help is not argparse.SUPPRESS
               and not isinstance(a, argparse._HelpAction)]
    yield prefix, options
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, prefix + (name,))


COMMANDS = list(_commands(build_parser()))


@pytest.mark.parametrize("words,options", COMMANDS, ids=[" ".join(w) or "pexxero" for w, _ in COMMANDS])
def test_every_command_and_option_is_in_the_readme(words, options):
    if words:
        assert re.search(r"pexxero(\s+\[[^\]]*\])*\s+" + r"\s+".join(map(re.escape, words)) + r"\b", README), (
            f"README has no line for `pexxero {' '.join(words)}`")
    for option in options:
        assert any(flag in README for flag in option.option_strings), (
            f"README does not mention {option.option_strings[0]} of `pexxero {' '.join(words)}`")


def test_the_module_table_names_only_modules_that_exist():
    named = set(re.findall(r"`((?:pexxero|pages|bench|tests)/[\w/]+(?:\.py)?/?)`", README))
    assert named, "the README names no module"
    missing = sorted(n for n in named if not (ROOT / n).exists())
    assert not missing, f"the README names modules that do not exist: {missing}"
    # `pexxero/clients/xero.py`, `xero_limits.py`: a bare name in a table row sits beside its folder's first name
    for row in re.findall(r"^\| `(pexxero/[\w/]+)\.py`(.*?)\|", README, flags=re.M):
        folder = Path(row[0]).parent
        for bare in re.findall(r"`(\w+\.py)`", row[1]):
            assert (ROOT / folder / bare).exists(), f"the README names {folder}/{bare}, which does not exist"
