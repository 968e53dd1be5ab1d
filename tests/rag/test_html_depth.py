"""HTML nested deeper than Python's recursion limit is read, not refused.

Legacy pages open a ``<font>`` or ``<b>`` per paragraph and never close it, so the parser nests
each paragraph in all those before it. Past about 1,000 levels the page failed with 422
``parse_failed`` "Could not read the HTML file: maximum recursion depth exceeded" and none of
its text was stored; now it is read as any page."""

from __future__ import annotations

import uuid

import pytest

from rag.knowledge.parsing import parse


@pytest.mark.parametrize("tag", ["font size=2", "div"])
def test_a_page_nested_thousands_deep_is_read_whole(tag: str) -> None:
    words = [f"w{uuid.uuid4().hex[:10]}" for _ in range(3000)]
    body = "".join(f"<{tag}>Paragraph {w}.<br>" for w in words)
    page = f"<html><head><title>Old page</title></head><body><h1>Notes</h1>{body}</body></html>"
    parsed = parse(page.encode(), filename="old.html", content_type="text/html")
    assert parsed.title == "Old page"
    assert parsed.sections[0].heading_path == ["Notes"]
    text = parsed.text
    positions = [text.index(w) for w in words]  # every paragraph, in the page's order
    assert positions == sorted(positions)
