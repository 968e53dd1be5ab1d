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
FENCE = re.compile(r"^[ \t]*```.*?^[ \t]*```", re.MULTILINE | re.DOTALL)
SPAN = re.compile(r"`[^`]+`")


def invocations(text: str, *, comments: bool = False) -> list[tuple[str, str]]:
    """Each ``trulybot CMD`` in ``text`` and what follows it, read whole where the documents
    break it: an inline code span over two lines (``trulybot`` ending one, the command the next
    one), a shell line continued with a backslash, and, with ``comments`` (.env.example), a
    comment's next line."""
    if comments:
        text = re.sub(r"(?m)^#[ \t]?", "", text)
    text = re.sub(r"[ \t]*\\\n[ \t]*", " ", text)  # a shell line continued
    parts, end = [], 0
    for block in FENCE.finditer(text):  # a code block's lines are commands of their own
        parts += [_spans_joined(text[end : block.start()]), block.group()]
        end = block.end()
    parts.append(_spans_joined(text[end:]))
    return [match.groups() for match in INVOCATION.finditer("".join(parts))]


def _spans_joined(prose: str) -> str:
    def joined(span: re.Match[str]) -> str:
        found = span.group()
        return found if "\n\n" in found else re.sub(r"\s*\n\s*", " ", found)

    return SPAN.sub(joined, prose)


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
        for name, rest in invocations(path.read_text(), comments=path.name == ".env.example"):
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


def test_a_command_the_documents_break_over_lines_is_read_whole() -> None:
    """The documents are wrapped at 100 columns: `trulybot` ending a line and its command and
    flags on the next went unread (eight of them in docs/ and .env.example)."""
    assert invocations("or run `trulybot\nreindex --lexical` now") == [("reindex", " --lexical")]
    assert invocations("```\ntrulybot ingest docs/ \\\n  --workspce acme\n```") == [
        ("ingest", " docs/ --workspce acme")
    ]
    said = "# measure it with `trulybot\n# fetch-reranker --chek` first"
    assert invocations(said, comments=True) == [("fetch-reranker", " --chek")]
    # Lines of a code block are commands of their own; prose outside spans reads as before.
    assert invocations("```\ntrulybot migrate\ntrulybot serve --port 8000\n```") == [
        ("migrate", ""),
        ("serve", " --port 8000"),
    ]
