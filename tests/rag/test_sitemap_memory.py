"""Sitemap bombs: reading a sitemap holds a bounded number of listed URLs, whatever it lists.

A sitemap file may be up to FETCH_MAX_BYTES (tens of thousands of URLs) and a listing reads up to
50 of them: an index whose children are indexes of tens of thousands of children each, or
urlsets of as many pages, made millions of URLs held at once by the API process serving the
request (840 MB for one submission of 75,000 per file). Each read runs in a child Python
process against this test's own HTTP server, which reports how far its peak resident size rose.
"""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from tests.fakes.http_handler import serving
from tests.memory_child import run_child

PER_FILE = 30_000  # URLs each file lists (about 2 MB of XML: under the 5 MB cap)
# 49 files of 30,000 distinct URLs each held at once need 150 MiB or more.
ALLOWED_RISE = 64 * 1_048_576


def _xml(root: str, entry: str, locs: Iterator[str]) -> bytes:
    items = "".join(f"<{entry}><loc>{loc}</loc></{entry}>" for loc in locs)
    return f'<?xml version="1.0"?><{root}>{items}</{root}>'.encode()


@pytest.fixture(scope="module")
def bombs() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            base = f"http://{self.headers['Host']}"
            # /index/<kind>: an index of PER_FILE children; /child/<kind>/<n>: one of them,
            # itself an index (kind "maps") or a urlset (kind "pages") of PER_FILE URLs.
            parts = self.path.strip("/").split("/")
            if parts[0] == "index":
                body = _xml(
                    "sitemapindex",
                    "sitemap",
                    (f"{base}/child/{parts[1]}/{i}" for i in range(PER_FILE)),
                )
            elif parts[:2] == ["child", "maps"]:
                body = _xml(
                    "sitemapindex",
                    "sitemap",
                    (f"{base}/grandchild/{parts[2]}/{i}" for i in range(PER_FILE)),
                )
            elif parts[:2] == ["child", "pages"]:
                body = _xml(
                    "urlset", "url", (f"{base}/page/{parts[2]}/{i}" for i in range(PER_FILE))
                )
            else:
                body = _xml("urlset", "url", iter([f"{base}/page/leaf"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("ETag", '"v1"')  # every file may be kept for a conditional read
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                return

        def log_message(self, format: str, *args: object) -> None:
            return

    with serving(Handler) as base:
        yield base


CHILD = """
import asyncio, json, sys
from rag.knowledge.fetch import fetch_url
from rag.knowledge.sitemaps import pack_files, read_sitemap

async def main(url, small):
    await read_sitemap(small, allow_private=True)  # warm up the client and parser code
    before = reset_peak()
    listing = await read_sitemap(url, allow_private=True)
    rise = status("VmHWM") - before
    print(json.dumps({
        "rise": rise,
        "pages": len(listing.pages),
        "skipped": listing.skipped,
        "errors": [[e["code"], e["message"]] for e in listing.errors],
        "kept": sum(len(f.locs) for f in listing.files.values()),
        "packed": len(pack_files(listing.files) or b""),
    }))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def _read_in_child(base: str, path: str) -> dict[str, object]:
    return run_child(CHILD, base + path, base + "/leaf.xml")


def test_an_index_of_huge_indexes_holds_no_more_than_it_reads(bombs: str) -> None:
    result = _read_in_child(bombs, "/index/maps")
    rise = result["rise"]
    assert isinstance(rise, int)
    assert rise < ALLOWED_RISE, f"peak memory rose by {rise / 1_048_576:.0f} MiB"
    # 50 files read (the root and 49 children); every other child listed is said, not read.
    assert result["errors"] == [
        ["sitemap_limit", f"{50 * PER_FILE - 49} sitemap file(s) not read: more than 50 in all"]
    ]
    assert result["pages"] == 0


def test_huge_urlsets_are_counted_not_all_kept(bombs: str) -> None:
    result = _read_in_child(bombs, "/index/pages")
    rise = result["rise"]
    assert isinstance(rise, int)
    assert rise < ALLOWED_RISE, f"peak memory rose by {rise / 1_048_576:.0f} MiB"
    assert result["pages"] == 200  # SITEMAP_MAX_PAGES' default
    assert result["skipped"] == 49 * PER_FILE - 200
    # What is kept for the next read's conditional requests (and stored with the source) is
    # bounded too: files past the bound are simply read again next time.
    kept = result["kept"]
    assert isinstance(kept, int)
    assert 0 < kept <= 100_000
    packed = result["packed"]
    assert isinstance(packed, int)
    assert packed < 2 * 1_048_576
