"""Charsets as owners' servers declare them, read as browsers read them.

- A charset naming ISO-8859-1 (``iso-8859-1``, ``latin1``, quoted or not, in the Content-Type
  or in the page's ``<meta>``): browsers read Windows-1252 (the WHATWG Encoding standard), and
  a Western page's curly quotes, dashes and euro signs (bytes 0x80-0x9F) were read as C1
  control characters and stored so.
- A charset given twice (the first counts), quoted, in upper case, or contradicted by a byte
  order mark (the mark wins): pinned, they were read right.
- Through the API: a page sent with two Content-Type lines and one labelled ISO-8859-1 are
  ingested as they read; one cut short of its Content-Length fails with nothing stored.
"""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis

from core.db import Database
from rag.knowledge.fetch import fetch_url
from tests.conftest import signup
from tests.rag.test_documents_api import chunks_of, custom_client, get_doc
from tests.rag.test_fetch_headers import Answer, html_page, site, text_of, type_lines

__all__ = ["site"]  # the fixture, served here too

CHARSETS = {
    # The labels browsers read as Windows-1252 (the WHATWG Encoding standard), whatever case.
    "iso-8859-1-html": ("text/html; charset=ISO-8859-1", "cp1252"),
    "iso-8859-1-quoted": ('text/html; charset="iso-8859-1"', "cp1252"),
    "latin1-text": ("text/plain; charset=latin1", "cp1252"),
    "iso_8859-1-text": ("text/plain; charset=iso_8859-1", "cp1252"),
    "us-ascii-html": ("text/html; charset=us-ascii", "cp1252"),
    "ascii-text": ("text/plain; charset=ascii", "cp1252"),
    "iso-8859-1-markdown": ("text/markdown; charset=iso-8859-1", "cp1252"),
    # Quoted, twice (the first counts, as in browsers), upper case.
    "utf-8-quoted": ('text/html; charset="utf-8"', "utf-8"),
    "twice-first-counts": ("text/plain; charset=utf-8; charset=iso-8859-1", "utf-8"),
    "twice-first-counts-latin": ("text/html; charset=windows-1252; charset=utf-8", "cp1252"),
    "upper-name": ("text/plain; CHARSET=UTF-8", "utf-8"),
}


@pytest.mark.parametrize(("header", "encoding"), list(CHARSETS.values()), ids=list(CHARSETS))
async def test_the_declared_charset_is_read_as_browsers_read_it(
    site: tuple[str, dict[str, Answer]], header: str, encoding: str
) -> None:
    """A Western page in Windows-1252 (curly quotes, a euro sign, a dash: bytes 0x80-0x9F)
    whose server says ISO-8859-1: the bytes were read as C1 control characters."""
    base, answers = site
    word = f"w{uuid.uuid4().hex}"
    line = f"Caf\u00e9 {word} don\u2019t \u201cquote\u201d \u2013 5 \u20ac"
    if header.startswith("text/html"):
        data = f"<html><body><p>{line}</p></body></html>".encode(encoding)
    else:
        data = line.encode(encoding)
    answers["/page"] = (type_lines(header), data)
    page = await fetch_url(base + "/page", allow_private=True)
    assert text_of(page.data, page.content_type) == line


BOMS = {"utf-8": b"\xef\xbb\xbf", "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}


@pytest.mark.parametrize("kind", ["text/html", "text/plain"])
@pytest.mark.parametrize("encoding", list(BOMS))
async def test_a_byte_order_mark_beats_the_header_s_charset(
    site: tuple[str, dict[str, Answer]], encoding: str, kind: str
) -> None:
    base, answers = site
    line = f"Caf\u00e9 w{uuid.uuid4().hex} don\u2019t"
    text = f"<html><body><p>{line}</p></body></html>" if kind == "text/html" else line
    answers["/page"] = (
        type_lines(f"{kind}; charset=iso-8859-1"),
        BOMS[encoding] + text.encode(encoding),
    )
    page = await fetch_url(base + "/page", allow_private=True)
    assert text_of(page.data, page.content_type) == line


async def test_pages_with_such_headers_are_ingested_or_failed_with_their_code(
    db: Database, redis_client: Redis, site: tuple[str, dict[str, Answer]]
) -> None:
    """Through the API: a page sent with two Content-Type lines, and one labelled ISO-8859-1 in
    Windows-1252, are read whole; a page cut short of its Content-Length fails ``fetch_failed``
    with nothing stored."""
    base, answers = site
    words = {path: f"w{uuid.uuid4().hex}" for path in ("/twice", "/latin", "/cut")}
    answers["/twice"] = (
        type_lines("text/html", "text/html; charset=windows-1252"),
        html_page(words["/twice"]).encode("cp1252"),
    )
    answers["/latin"] = (
        type_lines("text/html; charset=iso-8859-1"),
        html_page(words["/latin"]).encode("cp1252"),
    )
    answers["/cut"] = (
        [("Content-Type", "text/html"), ("Content-Length", "99999")],
        html_page(words["/cut"]).encode(),
    )
    async with custom_client(db, redis_client, allow_private_urls=True) as (c, runtime):
        who = await signup(c, f"Headers {uuid.uuid4().hex[:8]}")
        sent = {}
        for path in words:
            answer = await c.post(
                who.url("/documents"), json={"url": base + path}, headers=who.headers
            )
            assert answer.status_code == 202, answer.text
            sent[path] = answer.json()["id"]
        await runtime.jobs.drain()
        for path, content_type in (
            ("/twice", "text/html; charset=windows-1252"),
            ("/latin", "text/html; charset=iso-8859-1"),
        ):
            document = await get_doc(c, who, sent[path])
            assert (document["status"], document["content_type"]) == ("ready", content_type)
            text = " ".join(chunk["text"] for chunk in await chunks_of(c, who, sent[path]))
            assert f"Caf\u00e9 {words[path]} don\u2019t" in text
        cut = await get_doc(c, who, sent["/cut"])
        assert (cut["status"], cut["error_code"]) == ("failed", "fetch_failed"), cut
        assert await chunks_of(c, who, sent["/cut"]) == []


@pytest.mark.parametrize(
    "declaration",
    ['<meta charset="iso-8859-1">', "<meta charset=latin1>"],
    ids=["meta-quoted", "meta-latin1"],
)
def test_a_page_declaring_iso_8859_1_in_its_markup_is_read_as_windows_1252(
    declaration: str,
) -> None:
    line = f"Caf\u00e9 w{uuid.uuid4().hex} don\u2019t \u2013 5 \u20ac"
    page = f"<html><head>{declaration}</head><body><p>{line}</p></body></html>"
    assert text_of(page.encode("cp1252"), "text/html") == line


def test_a_byte_windows_1252_leaves_undefined_keeps_the_rest_of_the_page() -> None:
    """Python's Windows-1252 refuses five bytes browsers read as C1 controls: a text with one
    is read as ISO-8859-1 (as before), an HTML page with that byte replaced."""
    word = f"w{uuid.uuid4().hex}"
    data = f"Caf\u00e9 {word} ".encode("cp1252") + b"\x81 end"
    assert text_of(data, "text/plain; charset=iso-8859-1") == f"Caf\u00e9 {word} \x81 end"
    html = b"<html><body><p>" + data + b"</p></body></html>"
    assert text_of(html, "text/html; charset=iso-8859-1") == f"Caf\u00e9 {word} \ufffd end"


# Every label the WHATWG Encoding standard reads as Windows-1252 but ASCII's (which fall to
# detection, tested above), Python's ``latin-1``, in upper case too.
WINDOWS_1252_LABELS = [
    *("iso-8859-1", "ISO-8859-1", "iso8859-1", "iso88591", "iso_8859-1", "iso_8859-1:1987"),
    *("iso-ir-100", "latin1", "latin-1", "l1", "cp819", "ibm819", "csisolatin1"),
    *("windows-1252", "Windows-1252", "cp1252", "x-cp1252"),
]


@pytest.mark.parametrize("kind", ["text/plain", "text/html"])
@pytest.mark.parametrize("label", WINDOWS_1252_LABELS)
def test_every_name_of_iso_8859_1_is_read_as_windows_1252(label: str, kind: str) -> None:
    line = f"Caf\u00e9 w{uuid.uuid4().hex} don\u2019t \u2013 5 \u20ac"
    data = line.encode("cp1252")
    if kind == "text/html":
        data = b"<html><body><p>" + data + b"</p></body></html>"
    assert text_of(data, f"{kind}; charset={label}") == line


@pytest.mark.parametrize("label", WINDOWS_1252_LABELS)
def test_a_byte_windows_1252_leaves_undefined_keeps_the_rest_of_a_text(label: str) -> None:
    """The five bytes (0x81 0x8D 0x8F 0x90 0x9D) are read as browsers read them, the C1
    controls of their number. Before, a text with one was read as ISO-8859-1 whole: its
    quotes, dashes and euro signs were C1 controls again (``don\\x92t``); labelled
    windows-1252, it was left to detection and the byte replaced."""
    line = f"Caf\u00e9 w{uuid.uuid4().hex} don\u2019t \u2013 5 \u20ac"
    data = line.encode("cp1252") + b" \x81\x8d\x8f\x90\x9d end"
    assert text_of(data, f"text/plain; charset={label}") == f"{line} \x81\x8d\x8f\x90\x9d end"
