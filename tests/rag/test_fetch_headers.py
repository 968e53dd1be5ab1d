"""Response headers as owners' servers send them, read as browsers read them.

- Content-Type sent twice (a server and a proxy each adding it, or a framework's default beside
  the page's own): the lines are combined as the WHATWG Fetch standard's "extract a MIME type"
  does: the last type that parses decides, with the charset of an earlier line of the same type
  when it names none. Before: the joined value (``text/html, text/html``) was no type, 415.
- ``Content-Encoding: none`` (and ``identity``), in any case and with spaces, is no coding.
  Before: ``none`` was refused ``unsupported_encoding``.
- A Content-Length that is wrong: a body that ends before it, a length that is no number, two
  lengths that differ are ``fetch_failed`` (422), never a 500; bytes past it are no part of the
  page (as in browsers and curl). Pinned: they were right.
- The parser against the WHATWG standards' examples.

Charsets: tests/rag/test_fetch_charsets.py (which serves its pages with ``site`` too).
"""

from __future__ import annotations

import contextlib
import gzip
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from core.errors import UnsupportedMediaType
from rag.knowledge import robots
from rag.knowledge.addresses import FetchFailed
from rag.knowledge.content_types import (
    MAX_READ,
    extract_mime_type,
    parse_mime_type,
    response_type,
)
from rag.knowledge.fetch import UnsupportedEncoding, fetch_url
from rag.knowledge.parsing import parse
from tests.fakes.http_handler import serving

Headers = list[tuple[str, str]]
Answer = tuple[Headers, bytes]  # header lines in order (a name may repeat), body


@pytest.fixture
def site() -> Iterator[tuple[str, dict[str, Answer]]]:
    answers: dict[str, Answer] = {}  # read at each request: a test adds its own

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            headers, body = answers[self.path]
            self.send_response(200)
            for name, value in headers:
                self.send_header(name, value)
            if not any(name.lower() == "content-length" for name, _ in headers):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)  # HTTP/1.0: the connection closes after it

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as base:
        yield base, answers


def html_page(word: str) -> str:
    return (
        f"<html><head><title>T</title></head><body><p>Caf\u00e9 {word} don\u2019t</p></body></html>"
    )


def text_of(data: bytes, content_type: str) -> str:
    return parse(data, filename=None, content_type=content_type).text


def type_lines(*values: str) -> Headers:
    return [("Content-Type", value) for value in values]


TWO_TYPES = {
    "same-twice": (["text/html", "text/html"], "text/html"),
    "charset-then-bare": (["text/html; charset=utf-8", "text/html"], "text/html; charset=utf-8"),
    "bare-then-charset": (["text/html", "text/html; charset=utf-8"], "text/html; charset=utf-8"),
    "other-type-first": (["text/plain; charset=gbk", "text/html"], "text/html"),
    "charset-kept-other-parameter": (
        ["text/html; charset=utf-8", "text/html; x=y"],
        "text/html; x=y; charset=utf-8",
    ),
    "any-type-last": (["text/html", "*/*"], "text/html"),
    "no-type-last": (["text/html", "not a type"], "text/html"),
    "image-first": (["image/png", "text/html"], "text/html"),
    "one-line-comma": (["text/html, text/html"], "text/html"),
    "empty-value-last": (["text/html,"], "text/html"),
}


@pytest.mark.parametrize(("lines", "kept"), list(TWO_TYPES.values()), ids=list(TWO_TYPES))
async def test_content_type_sent_twice_is_combined_as_browsers_do(
    site: tuple[str, dict[str, Answer]], lines: list[str], kept: str
) -> None:
    base, answers = site
    word = f"w{uuid.uuid4().hex}"
    data = html_page(word).encode()
    answers["/page"] = (type_lines(*lines), data)
    page = await fetch_url(base + "/page", allow_private=True)
    assert (page.content_type, page.media_type, page.data) == (kept, "text/html", data)
    assert text_of(page.data, page.content_type) == f"Caf\u00e9 {word} don\u2019t"


async def test_the_charset_of_the_deciding_line_decodes_the_page(
    site: tuple[str, dict[str, Answer]],
) -> None:
    base, answers = site
    word = f"w{uuid.uuid4().hex}"
    answers["/latin"] = (
        type_lines("text/plain; charset=utf-8", "text/plain; charset=windows-1252"),
        f"Caf\u00e9 {word}".encode("cp1252"),
    )
    page = await fetch_url(base + "/latin", allow_private=True)
    assert page.content_type == "text/plain; charset=windows-1252"
    assert text_of(page.data, page.content_type) == f"Caf\u00e9 {word}"


@pytest.mark.parametrize(
    "lines",
    [["text/html", "image/png"], ["text/html", "application/json"], ["*/*", "*/*"]],
    ids=["image-last", "json-last", "any-type-only"],
)
async def test_the_last_type_decides_a_conflict(
    site: tuple[str, dict[str, Answer]], lines: list[str]
) -> None:
    """Browsers read the last type that parses: a page whose last line is an image's is not
    read as HTML because an earlier line said so."""
    base, answers = site
    answers["/page"] = (type_lines(*lines), html_page("x").encode())
    with pytest.raises(UnsupportedMediaType) as info:
        await fetch_url(base + "/page", allow_private=True)
    assert info.value.status_code == 415


CODINGS = {
    "none": ("none", False),
    "none-capital": ("None", False),
    "none-upper-spaced": ("  NONE  ", False),
    "identity-none": ("identity, none", False),
    "identity-upper": ("IDENTITY", False),
    "gzip-upper": ("GZIP", True),
    "gzip-spaced": ("  gzip  ", True),
    "gzip-identity": ("gzip, identity", True),
    "identity-gzip": ("identity, gzip", True),
    "gzip-none": ("gzip, none", True),
    "none-gzip-upper": ("None, Gzip", True),
}


@pytest.mark.parametrize(("coding", "gzipped"), list(CODINGS.values()), ids=list(CODINGS))
async def test_content_encoding_none_is_no_coding(
    site: tuple[str, dict[str, Answer]], coding: str, gzipped: bool
) -> None:
    base, answers = site
    data = html_page(f"w{uuid.uuid4().hex}").encode()
    body = gzip.compress(data) if gzipped else data
    answers["/page"] = ([("Content-Type", "text/html"), ("Content-Encoding", coding)], body)
    page = await fetch_url(base + "/page", allow_private=True)
    assert page.data == data


async def test_content_encoding_lines_are_read_together(
    site: tuple[str, dict[str, Answer]],
) -> None:
    base, answers = site
    data = html_page(f"w{uuid.uuid4().hex}").encode()
    headers = [("Content-Type", "text/html"), ("Content-Encoding", "gzip")]
    answers["/page"] = ([*headers, ("Content-Encoding", "none")], gzip.compress(data))
    assert (await fetch_url(base + "/page", allow_private=True)).data == data
    answers["/twice"] = ([*headers, ("Content-Encoding", "gzip")], gzip.compress(data))
    with pytest.raises(UnsupportedEncoding):  # two codings: refused as "gzip, gzip" is
        await fetch_url(base + "/twice", allow_private=True)


@pytest.mark.parametrize("coding", ["br", "none, br", "compress", "gzip, gzip"])
async def test_codings_not_decoded_are_still_refused(
    site: tuple[str, dict[str, Answer]], coding: str
) -> None:
    base, answers = site
    answers["/page"] = ([("Content-Type", "text/html"), ("Content-Encoding", coding)], b"<p>x</p>")
    with pytest.raises(UnsupportedEncoding) as info:
        await fetch_url(base + "/page", allow_private=True)
    assert (info.value.code, info.value.status_code) == ("unsupported_encoding", 422)


async def test_a_body_past_its_content_length_is_cut_there(
    site: tuple[str, dict[str, Answer]],
) -> None:
    """As browsers and curl do (RFC 9112 6.3): the bytes after the declared length are no part
    of the response."""
    base, answers = site
    answers["/page"] = ([("Content-Type", "text/plain"), ("Content-Length", "4")], b"abcdefgh")
    page = await fetch_url(base + "/page", allow_private=True)
    assert page.data == b"abcd"


LENGTHS = {
    "longer-than-body": ([("Content-Length", "9999")], False),
    "longer-than-gzip-body": ([("Content-Length", "9999"), ("Content-Encoding", "gzip")], True),
    "shorter-than-gzip-body": ([("Content-Length", "20"), ("Content-Encoding", "gzip")], True),
    "not-a-number": ([("Content-Length", "abc")], False),
    "negative": ([("Content-Length", "-1")], False),
    "two-values": ([("Content-Length", "10"), ("Content-Length", "12")], False),
    "two-values-one-line": ([("Content-Length", "10, 12")], False),
}


@pytest.mark.parametrize(("headers", "gzipped"), list(LENGTHS.values()), ids=list(LENGTHS))
async def test_a_wrong_content_length_is_fetch_failed(
    site: tuple[str, dict[str, Answer]], headers: Headers, gzipped: bool
) -> None:
    base, answers = site
    data = html_page(f"w{uuid.uuid4().hex}").encode() * 20
    body = gzip.compress(data) if gzipped else data
    answers["/page"] = ([("Content-Type", "text/html"), *headers], body)
    with pytest.raises(FetchFailed) as info:
        await fetch_url(base + "/page", allow_private=True)
    assert (info.value.code, info.value.status_code) == ("fetch_failed", 422)


async def test_a_content_length_given_twice_alike_is_read(
    site: tuple[str, dict[str, Answer]],
) -> None:
    base, answers = site
    data = html_page(f"w{uuid.uuid4().hex}").encode()
    length = str(len(data))
    for path, lines in {"/two": [length, length], "/one": [f"{length}, {length}"]}.items():
        answers[path] = (
            [("Content-Type", "text/html")] + [("Content-Length", v) for v in lines],
            data,
        )
        assert (await fetch_url(base + path, allow_private=True)).data == data


PARSED = {  # WHATWG MIME Sniffing's examples (serialized here with "; " between parts)
    "basic": ("text/html;charset=gbk", "text/html; charset=gbk"),
    "upper": ("TEXT/HTML;CHARSET=GBK", "text/html; charset=GBK"),
    "duplicate-first-counts": (
        "text/html;charset=gbk;charset=windows-1255",
        "text/html; charset=gbk",
    ),
    "space-before-equals": ("text/html;charset =gbk", "text/html"),
    "space-before-semicolon": ("text/html ;charset=gbk", "text/html; charset=gbk"),
    "space-after-equals": ("text/html;charset= gbk", 'text/html; charset=" gbk"'),
    "single-quotes": ("text/html;charset='gbk'", "text/html; charset='gbk'"),
    "name-only": ("text/html;test;charset=gbk", "text/html; charset=gbk"),
    "empty-value": ("text/html;test=;charset=gbk", "text/html; charset=gbk"),
    "lone-quote": ('text/html;";charset=gbk', "text/html; charset=gbk"),
    "empty-parameters": ("text/html ; ; charset=gbk", "text/html; charset=gbk"),
    "quoted": ('text/html;charset="gbk"', "text/html; charset=gbk"),
    "unterminated-quote": ('text/html;charset="gbk', "text/html; charset=gbk"),
    "quote-after": ('text/html;charset=gbk"', 'text/html; charset="gbk\\""'),
    "escapes": ('text/html;charset="\\g\\b\\k"', "text/html; charset=gbk"),
    "after-quotes-dropped": ('text/html;charset="gbk"x', "text/html; charset=gbk"),
    "braces": ("text/html;charset={gbk}", 'text/html; charset="{gbk}"'),
    "trailing-backslash": ('x/x;test="\\', 'x/x; test="\\\\"'),
    "latin1-value": ("text/html;test=\u00ff;charset=gbk", 'text/html; test="\u00ff"; charset=gbk'),
    "past-latin1-value": ("x/x;test=\ufffd;x=x", "x/x; x=x"),
    "empty": ("", None),
    "tab": ("\t", None),
    "no-slash": ("bogus", None),
    "no-subtype": ("bogus/", None),
    "space-subtype": ("bogus/ ", None),
    "two-slashes": ("bogus/bogus/;", None),
    "not-tokens": ("</>", None),
    "paren": ("text/html(;doesnot=matter", None),
    "past-latin1-type": ("\u0100/\u0100", None),
}


@pytest.mark.parametrize(("value", "serialized"), list(PARSED.values()), ids=list(PARSED))
def test_a_type_is_parsed_as_the_whatwg_parses_it(value: str, serialized: str | None) -> None:
    mime = parse_mime_type(value)
    assert (mime.serialized() if mime else None) == serialized


EXTRACTED = {  # WHATWG Fetch's examples (web-platform-tests' content-types.json)
    "empty-first": (["", "text/plain"], "text/plain"),
    "empty-last": (["text/plain", ""], "text/plain"),
    "last-wins": (["text/html", "text/plain"], "text/plain"),
    "charset-of-other-type-dropped": (["text/plain;charset=gbk", "text/html"], "text/html"),
    "own-charset": (
        ["text/plain;charset=gbk", "text/html;charset=windows-1254"],
        "text/html; charset=windows-1254",
    ),
    "charset-inherited": (["text/plain;charset=gbk", "text/plain"], "text/plain; charset=gbk"),
    "charset-replaced": (
        ["text/plain;charset=gbk", "text/plain;charset=windows-1252"],
        "text/plain; charset=windows-1252",
    ),
    "quoted-comma": (
        ["text/html;charset=gbk", 'text/html;x=",text/plain'],
        'text/html; x=",text/plain"; charset=gbk',
    ),
    "type-between": (["text/html;charset=gbk", "text/plain", "text/html"], "text/html"),
    "any-last": (["text/plain", "*/*"], "text/plain"),
    "any-first": (["*/*", "text/html"], "text/html"),
    "any-with-charset": (["text/html", "*/*;charset=gbk"], "text/html"),
    "quote-across-lines": (['text/html;x="', "text/plain"], 'text/html; x=", text/plain"'),
    "lone-quote-across-lines": (['text/html;"', "text/plain"], "text/html"),
    "nothing": (["bogus", "*/*"], None),
}


@pytest.mark.parametrize(("lines", "extracted"), list(EXTRACTED.values()), ids=list(EXTRACTED))
def test_header_lines_give_the_type_the_whatwg_extracts(
    lines: list[str], extracted: str | None
) -> None:
    mime = extract_mime_type(", ".join(lines))  # httpx's join of the lines
    assert (mime.serialized() if mime else None) == extracted


async def test_a_robots_txt_sent_with_two_content_types_has_its_rules_read(
    site: tuple[str, dict[str, Answer]],
) -> None:
    """A robots.txt refused 415 is read as no robots file at all: every page of the site was
    allowed, those its rules disallow too."""
    base, answers = site
    body = b"User-agent: *\nDisallow: /private\n"
    answers["/robots.txt"] = (type_lines("text/plain", "text/plain; charset=utf-8"), body)
    robots.forget_recent()
    try:
        rules = await robots.read_robots(base, allow_private=True)
    finally:
        robots.forget_recent()
    assert not rules.allows(base + "/private/page")
    assert rules.allows(base + "/public")


async def test_a_content_type_past_what_is_read_so_is_read_as_before(
    site: tuple[str, dict[str, Answer]],
) -> None:
    """Reading a 100 KiB header value by value cost the event loop up to 90 ms: past
    ``MAX_READ`` it is read as it was, its type what comes before its first ``;``."""
    base, answers = site
    data = html_page(f"w{uuid.uuid4().hex}").encode()
    padding = "x" * MAX_READ
    answers["/long"] = (type_lines(f"text/html; charset=utf-8; p={padding}"), data)
    page = await fetch_url(base + "/long", allow_private=True)
    assert (page.content_type, page.data) == ("text/html; charset=utf-8", data)
    answers["/many"] = (type_lines(*["text/html"] * (MAX_READ // 10)), data)
    with pytest.raises(UnsupportedMediaType):
        await fetch_url(base + "/many", allow_private=True)
    answers["/few"] = (type_lines(*["text/html"] * (MAX_READ // 12)), data)
    assert (await fetch_url(base + "/few", allow_private=True)).content_type == "text/html"


def test_the_cut_over_is_at_max_read_characters_exactly() -> None:
    """Up to ``MAX_READ`` characters a header of two values is read as browsers read it; one
    character more and it is read as before: its type is all that comes before its first
    ``;`` (``text/html, text/html``: refused 415). A single value reads the same on both
    sides of the cut-over."""
    two = "text/html, text/html; p="
    at, past = (two + "x" * (size - len(two)) for size in (MAX_READ, MAX_READ + 1))
    assert response_type(at) == (at.partition(", ")[2], "text/html")
    assert response_type(past) == (past, "text/html, text/html")
    one = "text/html; charset=utf-8; p="
    for size in (MAX_READ - 1, MAX_READ, MAX_READ + 1):
        value = one + "x" * (size - len(one))
        assert response_type(value) == (value, "text/html")
        assert response_type(value.upper())[1] == "text/html"  # lower case on both sides


def test_a_single_value_is_kept_as_it_was_sent() -> None:
    """One value is not rewritten (its case, quotes and spaces inside kept, as before the
    header was read as browsers read it); only the spaces around it go."""
    assert response_type(' Text/HTML;Charset="UTF-8" \t') == (
        'Text/HTML;Charset="UTF-8"',
        "text/html",
    )
    assert response_type("text/plain ; charset=latin1") == (
        "text/plain ; charset=latin1",
        "text/plain",
    )
