"""An HTML page whose charset label libxml2 does not know is read in the next encoding tried.

The page is decoded as BeautifulSoup decoded it: the charset its Content-Type declares, a byte
order mark, its own ``<meta charset>``, then UTF-8 and Windows-1252, the next one tried when one
is refused. A label libxml2 cannot open (a server's ``charset=utf8mb4``, a page's
``<meta charset=x-user-defined>``) raised LookupError when the parser was made, before the next
encoding was tried: the page failed ``parse_failed`` though it was plain UTF-8.
"""

from __future__ import annotations

import uuid

import pytest

from rag.knowledge.parsing import parse


def _word() -> str:
    return f"café{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize("label", ["utf8mb4", "x-unknown-label", "x-user-defined"])
def test_a_content_type_charset_libxml2_does_not_know_falls_back(label: str) -> None:
    title, body = _word(), _word()
    page = f"<html><head><title>{title}</title></head><body><p>{body}</p></body></html>"
    parsed = parse(page.encode(), filename="page.html", content_type=f"text/html; charset={label}")
    assert parsed.title == title
    assert parsed.text == body


@pytest.mark.parametrize("label", ["x-unknown-label", "x-user-defined"])
def test_a_meta_charset_libxml2_does_not_know_falls_back(label: str) -> None:
    title, body = _word(), _word()
    page = f"<html><head><meta charset={label}><title>{title}</title></head><p>{body}</p></html>"
    parsed = parse(page.encode(), filename="page.html", content_type="text/html")
    assert parsed.title == title
    assert parsed.text == body
