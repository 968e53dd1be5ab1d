"""Content codings the fetcher decodes, at their edges: a gzip body of several members (RFC 1952
2.2, sent by servers and CDNs that compress a page piece by piece) is read whole, with the byte
caps counting every member; a body that ends inside its compressed stream is refused, not taken
for the whole page; a sitemap file that is a multi-member ``.gz`` is read whole too.

Before: reading stopped at the end of the first member, so the rest of the page (or of the
sitemap's listing) was silently lost."""

from __future__ import annotations

import contextlib
import gzip
import uuid
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from rag.knowledge.addresses import FetchFailed
from rag.knowledge.fetch import FetchTooLarge, fetch_url
from rag.knowledge.sitemaps import fetch_sitemap
from tests.fakes.http_handler import serving

Answer = tuple[bytes, str, dict[str, str]]  # body, content type, other headers


def _words(n: int) -> list[str]:
    return [f"w{uuid.uuid4().hex}" for _ in range(n)]


def _members(*parts: bytes) -> bytes:
    return b"".join(gzip.compress(part) for part in parts)


@pytest.fixture
def site() -> Iterator[tuple[str, dict[str, Answer]]]:
    answers: dict[str, Answer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, content_type, headers = answers[self.path]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as base:
        yield base, answers


GZIP = {"Content-Encoding": "gzip"}


async def test_a_page_of_several_gzip_members_is_read_whole(
    site: tuple[str, dict[str, Answer]],
) -> None:
    base, answers = site
    words = _words(3)
    parts = [f"<p>{w}</p>".encode() for w in words]
    html = b"<html><body>" + b"".join(parts) + b"</body></html>"
    # Cut where the servers cut: the head, each paragraph, the tail, each its own member.
    body = _members(b"<html><body>", *parts, b"</body></html>")
    answers["/members.html"] = (body, "text/html", GZIP)
    page = await fetch_url(base + "/members.html", allow_private=True)
    assert page.data == html


async def test_a_member_cut_across_reads_is_still_joined(
    site: tuple[str, dict[str, Answer]],
) -> None:
    """Large members (past one network read each) and an empty one between them."""
    base, answers = site
    first = b"".join(w.encode() + b"\n" for w in _words(20_000))  # about 680 KB
    second = b"".join(w.encode() + b"\n" for w in _words(20_000))
    answers["/big.txt"] = (_members(first, b"", second), "text/plain", GZIP)
    page = await fetch_url(base + "/big.txt", allow_private=True, max_bytes=2 * 1_048_576)
    assert page.data == first + second


async def test_the_cap_counts_every_member(site: tuple[str, dict[str, Answer]]) -> None:
    """A bomb spread over members: each inflates to 1 MiB from about 1 KB; refused with its
    stable code once the members together pass the cap, whichever member passes it."""
    base, answers = site
    member = gzip.compress(b"\0" * 1_048_576)
    answers["/bomb.html"] = (member * 8, "text/html", GZIP)
    with pytest.raises(FetchTooLarge) as info:
        await fetch_url(base + "/bomb.html", allow_private=True, max_bytes=3 * 1_048_576)
    assert (info.value.code, info.value.status_code) == ("fetch_too_large", 413)
    # Just under the cap, the same members are read whole.
    answers["/three.html"] = (member * 3, "text/html", GZIP)
    page = await fetch_url(base + "/three.html", allow_private=True, max_bytes=3 * 1_048_576)
    assert len(page.data) == 3 * 1_048_576
    # Truncating instead of refusing, the page is cut at the cap.
    cut = await fetch_url(
        base + "/bomb.html", allow_private=True, max_bytes=3 * 1_048_576, truncate=True
    )
    assert cut.truncated
    assert len(cut.data) == 3 * 1_048_576


async def test_empty_members_do_not_read_on_past_the_raw_cap(
    site: tuple[str, dict[str, Answer]],
) -> None:
    """Members that inflate to nothing (20 bytes each) are counted by the raw-byte cap."""
    base, answers = site
    answers["/empty-members.html"] = (gzip.compress(b"") * 20_000, "text/html", GZIP)
    with pytest.raises(FetchTooLarge):
        await fetch_url(base + "/empty-members.html", allow_private=True, max_bytes=100_000)


async def test_junk_after_the_last_member_is_not_a_member(
    site: tuple[str, dict[str, Answer]],
) -> None:
    """Bytes after a member that start no gzip header (padding, junk) end the body, as before;
    ones that start a header but are no member make the body undecodable."""
    base, answers = site
    html = b"<html><body><p>page</p></body></html>"
    answers["/padded.html"] = (_members(html) + b"\0" * 64, "text/html", GZIP)
    page = await fetch_url(base + "/padded.html", allow_private=True)
    assert page.data == html
    answers["/bad-second.html"] = (_members(html) + b"\x1f\x8b\x08garbage", "text/html", GZIP)
    with pytest.raises(FetchFailed, match="could not be decoded"):
        await fetch_url(base + "/bad-second.html", allow_private=True)


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_a_body_that_ends_inside_its_compressed_stream_is_refused(
    site: tuple[str, dict[str, Answer]], coding: str
) -> None:
    """A body cut short (a server or proxy that closed the connection early, without a length)
    was taken for the whole page: its first part was ingested as if it were all of it."""
    base, answers = site
    text = b"".join(w.encode() + b"\n" for w in _words(2_000))
    whole = gzip.compress(text) if coding == "gzip" else zlib.compress(text)
    answers["/cut.txt"] = (whole[: len(whole) // 2], "text/plain", {"Content-Encoding": coding})
    with pytest.raises(FetchFailed, match="ended before") as info:
        await fetch_url(base + "/cut.txt", allow_private=True)
    assert info.value.code == "fetch_failed"
    answers["/whole.txt"] = (whole, "text/plain", {"Content-Encoding": coding})
    assert (await fetch_url(base + "/whole.txt", allow_private=True)).data == text


async def test_an_empty_body_with_a_coding_is_an_empty_page(
    site: tuple[str, dict[str, Answer]],
) -> None:
    base, answers = site
    answers["/empty.txt"] = (b"", "text/plain", GZIP)
    assert (await fetch_url(base + "/empty.txt", allow_private=True)).data == b""


async def test_a_sitemap_gz_of_several_members_is_read_whole(
    site: tuple[str, dict[str, Answer]],
) -> None:
    base, answers = site
    head = b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    urls = [f"{base}/{w}" for w in _words(4)]
    entries = [f"<url><loc>{u}</loc></url>".encode() for u in urls]
    answers["/sitemap.xml.gz"] = (_members(head, *entries, b"</urlset>"), "application/gzip", {})
    assert await fetch_sitemap(base + "/sitemap.xml.gz", allow_private=True) == urls
