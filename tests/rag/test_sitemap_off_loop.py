"""A sitemap file's URLs are taken into the listing in a worker thread, as the file is parsed.

A 5 MB text sitemap lists about 400,000 URLs; each was spelled (``page_url``), deduplicated
and counted on the event loop of the server reading it, which held the loop about 0.8 s a
file (up to 50 files a listing), every request of every workspace waiting. Checked by where
the spelling runs, not by timing."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from rag.knowledge import sitemaps
from tests.fakes.http_handler import answer, serving


async def test_a_sitemap_s_urls_are_taken_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop_thread = threading.get_ident()
    threads: set[int] = set()
    real = sitemaps.page_url

    def spelled(url: str) -> str:
        threads.add(threading.get_ident())
        return real(url)

    monkeypatch.setattr(sitemaps, "page_url", spelled)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path == "/index.xml":
                body = (
                    '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                    f"<sitemap><loc>{base}/pages.txt</loc></sitemap></sitemapindex>"
                ).encode()
                answer(self, body, "application/xml")
            else:
                answer(self, "".join(f"{base}/p{i}\n" for i in range(300)).encode(), "text/plain")

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as base:
        listing = await sitemaps.read_sitemap(base + "/index.xml", allow_private=True)
    assert (len(listing.pages), listing.skipped) == (200, 100)
    assert threads
    assert loop_thread not in threads
