"""HTML is read in time linear in its size, however deep its anchors and headers nest.

Dropping page chrome asked, for each link, for the text of everything under it (is it a
heading's permalink, "¶"?), and for each ``<header>``, whether an ``<article>`` is above it by
walking up to the root. Legacy pages leave ``<a name=...>`` anchors unclosed, so the parser nests
each paragraph in every anchor before it: both questions then cost the depth of the page, for
each of thousands of tags. 340 KB of ``<a name=x><div>...`` took 300 s to read and 20,000 nested
headers 280 s: such an upload held a parser for all of PARSE_TIMEOUT_SECONDS and failed
``parse_timeout``. Now the page is read within that limit, each word in its place.
"""

from __future__ import annotations

import uuid

from rag.knowledge.chunking import chunk_document
from rag.knowledge.parse_isolation import parse_isolated
from rag.knowledge.parsing import ParsedDocument, ParseLimits, parse

N = 10_000  # paragraphs, each nested in all the anchors (and headers) before it


def _words(n: int) -> list[str]:
    return [f"w{uuid.uuid4().hex[:10]}" for _ in range(n)]


def _read_in_a_child(title: str, body: str) -> ParsedDocument:
    """The page ``body`` titled ``title``, parsed as a job parses it, within the default limits
    (PARSE_TIMEOUT_SECONDS=60)."""
    page = f"<html><head><title>{title}</title></head><body>{body}</body></html>"
    return parse_isolated(
        page.encode(), filename="page.html", content_type="text/html", limits=ParseLimits()
    )


def test_a_page_of_unclosed_anchors_and_headers_is_read_within_the_parse_limits() -> None:
    words = _words(N)
    body = "".join(f'<a name="s{i}"><header><div>Paragraph {word}.' for i, word in enumerate(words))
    parsed = _read_in_a_child("Old manual", f"<article>{body}</article>")
    assert parsed.title == "Old manual"
    text = parsed.text
    positions = [text.index(word) for word in words]  # headers in an article are content
    assert positions == sorted(positions)


def test_chrome_is_still_dropped() -> None:
    kept, dropped = uuid.uuid4().hex, uuid.uuid4().hex
    page = f"""<html><body>
    <header>Site header {dropped}</header>
    <article><header><h1>Post title</h1> by {kept}a</header>
      <p>Body {kept}b <a href="#x">¶</a> <a href="/y">a real link {kept}c</a></p>
      <div class="navfooter">Prev Up Home {dropped}</div>
      <p hidden>{dropped}</p><nav>{dropped}</nav>
    </article>
    <footer>{dropped}</footer></body></html>"""
    parsed = parse(page.encode(), filename="post.html", content_type="text/html")
    text = parsed.text
    for suffix in "abc":
        assert kept + suffix in text
    assert dropped not in text
    assert "¶" not in text


H = 24_000  # headings, each nested in the unclosed <font> of all those before it (0.6 MB)


def test_headings_nested_in_unclosed_fonts_are_read_within_the_parse_limits() -> None:
    """BeautifulSoup built the tree in Python and, for each node appended to a parent that had
    children already, walked up to the root: a page whose unclosed ``<font>`` nested each
    heading in those before it took time quadratic in its headings (8,000: 17 s; 24,000:
    about 150 s, ``parse_timeout``). Now it is read whole, each heading a section of its own."""
    words = _words(H)
    body = "".join(f"<font><h2>Heading {i}</h2>Text {word}." for i, word in enumerate(words))
    parsed = _read_in_a_child("Legacy notes", body)
    assert parsed.title == "Legacy notes"
    assert len(parsed.sections) == H
    for i, (section, word) in enumerate(zip(parsed.sections, words, strict=True)):
        assert section.heading_path == [f"Heading {i}"]
        assert section.text == f"Heading {i}\n\nText {word}."
    pieces = chunk_document(parsed, min_tokens=40)  # tiny sections merged by the floor
    assert len(pieces) < H
    assert all(piece.token_count >= 40 for piece in pieces[:-1])
    text, at = "\n".join(piece.text for piece in pieces), 0
    for word in words:  # each in its place
        at = text.index(word, at)
