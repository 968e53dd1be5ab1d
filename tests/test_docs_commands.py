"""The `trulybot` commands the documents show exist as written: an operator copying one from
README.md, .env.example or docs/ gets the command and the flags it names, not argparse's
"invalid choice" or "unrecognized arguments" (exit 2). And the README's "Operating it" table
lists every command. Read from the parser itself, so a renamed flag fails here."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from api.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / ".env.example", *sorted((ROOT / "docs").glob("*.md"))]
# `trulybot CMD` and the flags that follow it on the same line, up to the end of a code span,
# a table cell or a comment.
INVOCATION = re.compile(r"\btrulybot ([a-z][a-z-]+)([^`\n|#]*)")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    """The options of ``parser`` and of its own subcommands (``billing reconcile``)."""
    found: set[str] = set()
    for action in parser._actions:
        found.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for nested in action.choices.values():
                found |= _flags(nested)
    return found


def test_every_command_and_flag_the_documents_show_exists() -> None:
    commands = _commands()
    wrong = []
    for path in DOCUMENTS:
        for match in INVOCATION.finditer(path.read_text()):
            name, rest = match.groups()
            where = f"{path.relative_to(ROOT)}: trulybot {name}{rest.rstrip()}"
            if name not in commands:
                wrong.append(f"{where} (no such command)")
                continue
            known = _flags(commands[name])
            wrong += [f"{where} ({flag})" for flag in FLAG.findall(rest) if flag not in known]
    assert not wrong, "\n".join(wrong)


def test_the_readme_lists_every_command() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Operating it", 1)[1].split("\n\n", 2)[1]
    missing = [name for name in _commands() if f"`trulybot {name}" not in table]
    assert not missing, missing
