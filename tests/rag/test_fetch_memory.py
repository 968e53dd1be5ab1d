"""Compression bombs: a fetch holds at most the byte cap plus a small buffer, whatever it is sent.

Each fetch runs in a child Python process against this test's own HTTP server; the child resets
its peak-RSS counter (VmHWM) right before the fetch and reports how far the peak rose above the
resident size it had just before. Unbounded decoding of the bodies below needs 256 MiB or more.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

import pytest

from tests.fakes.http_handler import serving
from tests.memory_child import run_child

DECODED = 256 * 1_048_576  # what every bomb below expands to
CAP = 5 * 1_048_576  # the default FETCH_MAX_BYTES
# The peak may rise by the cap, one decoded piece, one network read and allocator slack.
ALLOWED_RISE = 32 * 1_048_576


def _compress(chunks: Iterator[bytes], wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return b"".join(packer.compress(c) for c in chunks) + packer.flush()


def _zeros() -> Iterator[bytes]:
    block = bytes(1_048_576)
    for _ in range(DECODED // len(block)):
        yield block


GZIP, ZLIB = 16 + zlib.MAX_WBITS, zlib.MAX_WBITS


@dataclass(frozen=True)
class Body:
    data: bytes
    content_type: str
    encoding: str | None


@pytest.fixture(scope="module")
def bombs() -> Iterator[str]:
    gzipped = _compress(_zeros(), GZIP)
    bodies = {
        "/stacked.html": Body(_compress(iter([gzipped]), GZIP), "text/html", "gzip, gzip"),
        "/gzip.html": Body(gzipped, "text/html", "gzip"),
        "/deflate.txt": Body(_compress(_zeros(), ZLIB), "text/plain", "deflate"),
        "/sitemap.xml": Body(_compress(iter([gzipped]), GZIP), "application/xml", "gzip, gzip"),
        "/sitemap.xml.gz": Body(gzipped, "application/gzip", None),
        "/small.html": Body(b"<html><body><p>fine</p></body></html>", "text/html", None),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = bodies.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", body.content_type)
            if body.encoding:
                self.send_header("Content-Encoding", body.encoding)
            self.send_header("Content-Length", str(len(body.data)))
            self.end_headers()
            try:
                self.wfile.write(body.data)
            except (BrokenPipeError, ConnectionResetError):
                return  # the client stopped reading: that is the point

        def log_message(self, format: str, *args: object) -> None:
            return

    with serving(Handler) as base:
        yield base


CHILD = """
import asyncio, json, sys
from core.errors import AppError
from rag.knowledge.fetch import fetch_url
from rag.knowledge.sitemaps import fetch_sitemap

async def main(kind, base, path, cap):
    await fetch_url(base + "/small.html", allow_private=True)  # warm up the client code
    before = reset_peak()
    outcome = "ok"
    try:
        if kind == "sitemap":
            await fetch_sitemap(base + path, allow_private=True, max_bytes=cap)
        else:
            await fetch_url(base + path, allow_private=True, max_bytes=cap)
    except AppError as exc:
        outcome = exc.code
    print(json.dumps({"outcome": outcome, "rise": status("VmHWM") - before}))

asyncio.run(main(*sys.argv[1:4], int(sys.argv[4])))
"""


def _fetch_in_child(kind: str, base: str, path: str) -> dict[str, object]:
    return run_child(CHILD, kind, base, path, str(CAP), timeout=120)


@pytest.mark.parametrize(
    ("kind", "path", "outcome"),
    [
        ("page", "/stacked.html", "unsupported_encoding"),
        ("page", "/gzip.html", "fetch_too_large"),
        ("page", "/deflate.txt", "fetch_too_large"),
        ("sitemap", "/sitemap.xml", "unsupported_encoding"),
        ("sitemap", "/sitemap.xml.gz", "fetch_too_large"),
    ],
)
def test_compressed_bombs_stay_within_the_cap(
    bombs: str, kind: str, path: str, outcome: str
) -> None:
    result = _fetch_in_child(kind, bombs, path)
    rise = result["rise"]
    assert isinstance(rise, int)
    assert rise < ALLOWED_RISE, f"peak memory rose by {rise / 1_048_576:.0f} MiB"
    assert result["outcome"] == outcome
