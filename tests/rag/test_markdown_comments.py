"""HTML comments in Markdown are not document text.

Markdown hides what sits between ``<!--`` and ``-->`` (Node's API docs keep each function's
version history in a YAML block inside one; linters' switches, "type=misc" notes, TODOs):
the parser stored it as text, for the assistant to quote ("<!-- YAML added: v0.1.90 -->").
In 126 of 888 Markdown files on a Debian machine comment markup reached the stored text."""

from __future__ import annotations

import uuid

from rag.knowledge.formats import parse_markdown


def test_comments_are_left_out_and_the_text_around_them_kept() -> None:
    words = [f"w{uuid.uuid4().hex[:10]}" for _ in range(6)]
    hidden = [f"h{uuid.uuid4().hex[:10]}" for _ in range(4)]
    text = "\n".join(
        [
            f"# Guide <!-- {hidden[0]} -->",
            "",
            f"{words[0]} <!-- {hidden[1]} --> {words[1]}",
            "<!-- YAML",
            f"added: {hidden[2]}",
            "-->",
            f"{words[2]} <!--",
            f"{hidden[3]} --> {words[3]}",
            "",
            f"Write `<!-- {words[4]} -->` to hide a line. {words[5]}",
        ]
    )
    title, sections = parse_markdown(text)
    body = "\n".join(section.text for section in sections)
    assert title == "Guide"
    for word in hidden:
        assert word not in body
    assert "<!--" not in body.replace(f"<!-- {words[4]} -->", "")
    assert f"{words[0]} {words[1]}" in body
    assert f"{words[2]} {words[3]}" in " ".join(body.split())
    assert f"Write <!-- {words[4]} --> to hide a line. {words[5]}" in body  # code is kept


def test_a_comment_that_never_closes_is_text() -> None:
    """As Markdown shows it: a stray "<!--" does not hide the rest of the file."""
    words = [f"w{uuid.uuid4().hex[:10]}" for _ in range(3)]
    text = f"{words[0]} <!-- {words[1]} -->\n\nThen x <!-- y\n\n{words[2]}\n"
    body = "\n".join(section.text for section in parse_markdown(text)[1])
    assert words[1] not in body
    assert words[0] in body
    assert "Then x <!-- y" in body
    assert words[2] in body
