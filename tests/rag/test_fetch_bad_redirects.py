"""A redirect to an address no request can reach (a host that is not valid IDNA:
``http://xn--/``, ``http://xn--ls8h.la/``) is ``url_not_allowed``, as any address the fetcher
refuses.

Joining such a ``Location`` to the page's URL raised ``idna``'s error, no ``AppError``: a page
of a sitemap redirecting so failed the whole sync of its source (every later page unchecked,
every round), and a page's own ingestion ``internal_error``."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from redis.asyncio import Redis

from core.db import Database
from rag.knowledge.addresses import UrlNotAllowed
from rag.knowledge.fetch import fetch_url
from tests.fakes.http_handler import answer, serving
from tests.rag.test_sources import article, world

BAD_TARGETS = ["http://xn--/", "http://xn--ls8h.la/", "http://xn--zz-xxxxxxxxx.com/"]


class Redirecting:
    """A site whose ``/sitemap.xml`` lists ``/a`` and ``/b`` (and ``extra``, when set); ``/b``
    redirects to ``target`` once it is set."""

    def __init__(self) -> None:
        self.target: str | None = None
        self.extra: str | None = None
        self.lock = threading.Lock()
        self.words = f"words {uuid.uuid4().hex[:8]}"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                base = f"http://127.0.0.1:{self.server.server_address[1]}"
                with site.lock:
                    target = site.target
                if self.path == "/b" and target is not None:
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path == "/sitemap.xml":
                    body = (
                        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                        f"<url><loc>{base}/a</loc></url><url><loc>{base}/b</loc></url>"
                        + (f"<url><loc>{site.extra}</loc></url>" if site.extra else "")
                        + "</urlset>"
                    ).encode()
                    ctype = "application/xml"
                elif self.path in ("/a", "/b"):
                    body, ctype = article(self.path[1:], [site.words]), "text/html"
                else:
                    body, ctype = b"", "text/plain"
                answer(self, body, ctype, 200 if body else 404)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def redirecting() -> Iterator[tuple[str, Redirecting]]:
    site = Redirecting()
    with serving(site.handler()) as base:
        yield base, site


@pytest.mark.parametrize("target", BAD_TARGETS)
async def test_a_redirect_to_an_invalid_host_is_url_not_allowed(
    redirecting: tuple[str, Redirecting], target: str
) -> None:
    base, site = redirecting
    site.target = target
    with pytest.raises(UrlNotAllowed) as info:
        await fetch_url(base + "/b", allow_private=True)
    assert (info.value.code, info.value.details["url"]) == ("url_not_allowed", base + "/b")


async def test_such_a_redirect_fails_its_page_not_the_sitemap_s_sync(
    redirecting: tuple[str, Redirecting], db: Database, owner_db: Database, redis_client: Redis
) -> None:
    base, site = redirecting
    async with world(db, owner_db, redis_client) as w:
        await w.add_sitemap(base + "/sitemap.xml")
        docs = await w.documents()
        assert {url: d["status"] for url, d in docs.items()} == {
            base + "/a": "ready",
            base + "/b": "ready",
        }
        [source] = await w.sources()
        site.target = BAD_TARGETS[0]
        record = await w.sync_now(source["id"])
        assert record["status"] != "failed", record
        assert [(e["url"], e["code"]) for e in record["errors"]] == [
            (base + "/b", "url_not_allowed")
        ]
        assert record["pages_checked"] == 2
