"""Markdown is read in time linear in its size, however its lines are written.

Before, the inline patterns (links, images, bold, HTML tags), the heading pattern and the
front matter's title backtracked over the rest of the line at each place they could start: a
line of 25 KB of "**a " took 5 s to read, 50 KB 24 s, and a Markdown file of 250 KB (a tenth
of what an upload may be) failed with ``parse_timeout`` after holding a parser for the whole
of PARSE_TIMEOUT_SECONDS. Now such a file is read within that limit with its words kept.
"""

from __future__ import annotations

import uuid

from rag.knowledge.formats import parse_markdown
from rag.knowledge.parse_isolation import parse_isolated
from rag.knowledge.parsing import ParseLimits

N = 100_000  # characters per hostile line: each one alone took the old parser minutes


def _hostile_markdown(words: list[str]) -> bytes:
    lines = [
        "---",
        f"title: {words[0]}" + " " * N + "end",  # a title with a run of spaces inside
        "---",
        f"# {words[1]}" + " " * N + "tail",  # a heading with a run of spaces inside
        f"{words[2]} " + "[" * N,  # brackets that never close
        f"{words[3]} " + "![" * (N // 2),  # images that never close
        f"{words[4]} " + "[a](" * (N // 4),  # link targets that never close
        f"{words[5]} " + "**a " * (N // 4),  # bold that never closes
        f"{words[6]} " + "__a " * (N // 4),
        f"{words[7]} " + "<a" * (N // 2),  # tags that never close
    ]
    return "\n\n".join(lines).encode()


def test_hostile_lines_are_read_within_the_parse_limits() -> None:
    words = [f"w{uuid.uuid4().hex[:10]}" for _ in range(8)]
    parsed = parse_isolated(
        _hostile_markdown(words),
        filename="notes.md",
        content_type="text/markdown",
        limits=ParseLimits(),  # the defaults: PARSE_TIMEOUT_SECONDS=60
    )
    assert parsed.title.startswith(words[0])
    assert parsed.title.endswith("end")
    for word in words[1:]:
        assert word in parsed.text


def test_inline_markup_is_still_taken_out() -> None:
    text = (
        "# Guide #\n\n"
        "See [the docs](https://example.com/a_(b)) and ![logo](l.png), **bold *it* here**,"
        " __under__, `code` and <span class='x'>tagged</span>.\n"
    )
    title, sections = parse_markdown(text)
    assert title == "Guide"
    body = sections[0].text
    assert "See the docs and logo, bold *it* here, under, code and tagged." in body
    assert "](" not in body
