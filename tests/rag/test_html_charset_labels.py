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


def _ascii_word() -> str:
    return f"w{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize(
    ("charset", "bad"),
    [
        ("shift_jis", b"\xff\xfe"),  # no Shift_JIS sequence
        ("windows-1252", b"\x81"),  # a byte Windows-1252 leaves undefined
        ("us-ascii", "é".encode()),  # a UTF-8 page its server calls ASCII
        ("euc-kr", b"\xff"),
    ],
)
def test_a_byte_the_declared_charset_refuses_loses_that_byte_not_the_page(
    charset: str, bad: bytes
) -> None:
    """libxml2 stops at the first byte it cannot convert and the page read as nothing at all
    (``nothing_extractable``): one stray byte in a Shift_JIS page emptied it, as it did before
    the merge. The page is read, the byte replaced (as a browser does)."""
    title, before, after = _ascii_word(), _ascii_word(), _ascii_word()
    head = f"<html><head><title>{title}</title></head><body><p>{before} ".encode()
    page = head + bad + f" {after}</p><p>{after}</p></body></html>".encode()
    for content_type, data in (
        (f"text/html; charset={charset}", page),
        ("text/html", page.replace(b"<head>", f"<head><meta charset={charset}>".encode())),
    ):
        parsed = parse(data, filename="page.html", content_type=content_type)
        assert parsed.title == title
        words = parsed.text.split()
        assert words[0] == before
        assert words[-2:] == [after, after]
