"""What a sitemap sync does when part of the world is broken (review "hooks" F5 and its
unconfirmed list): a listed host whose robots.txt cannot be read, a page that turns
unparseable, an unchanged sitemap (asked conditionally), a dual-stack host whose first address
does not answer. Against the local site of tests/rag/test_sources.py and tests/fakes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from core.db import Database
from rag.knowledge.addresses import UrlNotAllowed
from rag.knowledge.fetch import fetch_url
from tests.fakes.dns import ManyAnswersResolver
from tests.fakes.http_handler import serving
from tests.rag.test_sources import Page, _post_sitemap, article, local_site, world


@contextmanager
def refused_port() -> Iterator[int]:
    """A port of 127.0.0.1 bound but not listening: connecting is refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


async def test_one_listed_host_whose_robots_txt_cannot_be_read_leaves_the_rest_synced(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """A sitemap listing one page on a dead host failed every sync (robots_unavailable), so no
    page of the site was refreshed again and the source was flagged failing."""
    with local_site() as site, refused_port() as dead:
        site.pages["/a"] = Page(article("a", ["topic a words"]))
        site.sitemap(["/a"])
        async with world(db, owner_db, redis_client) as w:
            assert (await _post_sitemap(w, site.url("/sitemap.xml"))).status_code == 202
            [source] = await w.sources()
            stale = f"http://127.0.0.1:{dead}/post"
            entries = "".join(
                f"<url><loc>{u}</loc></url>" for u in (site.url("/a"), stale, site.url("/b"))
            )
            site.pages["/sitemap.xml"] = Page(
                f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'.encode(),
                "application/xml",
                etag=False,
            )
            site.pages["/a"] = Page(article("a", ["topic a rewritten"]))
            site.pages["/b"] = Page(article("b", ["topic b words"]))
            record = await w.sync_now(source["id"])
            assert (record["status"], record["pages_changed"], record["pages_added"]) == (
                "ok",
                1,
                1,
            ), record
            [note] = [e for e in record["errors"] if e["code"] == "robots_unavailable"]
            assert "1 listed page(s)" in note["message"]
            assert sorted(await w.documents()) == [site.url("/a"), site.url("/b")]
            # Posted again: the same, a 202 with the withheld page counted.
            r = await _post_sitemap(w, site.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            assert r.json()["robots_unavailable"] == 1
            # The sitemap's own site unreadable still fails the sync, removing nothing.
            site.pages["/robots.txt"] = Page(b"busy", "text/plain", status=503)
            record = await w.sync_now(source["id"])
            assert record["status"] == "failed"
            assert sorted(await w.documents()) == [site.url("/a"), site.url("/b")]


async def _failed_mails(owner_db: Database, document_id: str) -> int:
    async with owner_db.transaction() as session:
        return int(
            await session.scalar(
                text(
                    "SELECT count(*) FROM notification_events WHERE kind = 'ingestion.failed'"
                    " AND data->>'document_id' = :id"
                ),
                {"id": document_id},
            )
            or 0
        )


async def test_a_page_that_turns_unparseable_keeps_its_last_version_flagged_and_mails_once(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """A re-synced page whose new bytes cannot be ingested kept answering from its old chunks,
    and each daily sync made a new revision and a new ingestion.failed mail."""
    empty = b"<html><head><title>x</title></head><body></body></html>"
    with local_site() as site:
        site.pages["/hours"] = Page(article("h", ["bakery opens at nine sharp"]))
        async with world(db, owner_db, redis_client) as w:
            source = await w.add_url(site.url("/hours"))
            site.pages["/hours"] = Page(empty)
            record = await w.sync_now(source["id"])
            assert record["pages_changed"] == 1
            doc = (await w.documents())[site.url("/hours")]
            assert doc["status"] == "failed"
            assert "last good version" in doc["error"]
            assert doc["chunk_count"] > 0
            revision = doc["revision"]
            assert await _failed_mails(owner_db, doc["id"]) == 1
            # The last good version still answers, and the owner was told so.
            found = await w.client.post(
                w.owner.url("/search"),
                json={"query": "bakery opens at nine", "mode": "fulltext"},
                headers=w.owner.headers,
            )
            assert site.url("/hours") in [hit["url"] for hit in found.json()["results"]]
            # The same bytes on the next syncs: not run again, no new mail, flagged each time.
            for _ in range(2):
                record = await w.sync_now(source["id"])
                assert (record["pages_changed"], record["pages_failed"]) == (0, 1), record
                assert record["errors"][0]["code"] == doc["error_code"]
                assert "last good version" in record["errors"][0]["message"]
            doc = (await w.documents())[site.url("/hours")]
            assert (doc["status"], doc["revision"]) == ("failed", revision)
            assert await _failed_mails(owner_db, doc["id"]) == 1
            # Fixed on the site: the next sync takes it.
            site.pages["/hours"] = Page(article("h", ["bakery opens at ten now"]))
            record = await w.sync_now(source["id"])
            assert (record["status"], record["pages_changed"]) == ("ok", 1)
            assert (await w.documents())[site.url("/hours")]["status"] == "ready"


async def test_an_unchanged_sitemap_and_its_child_files_are_not_downloaded_again(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        for name in ("a", "b"):
            site.pages[f"/{name}"] = Page(article(name, [f"topic {name} words"]))
        site.sitemap(["/a", "/b"])
        site.pages["/child.xml"] = site.pages.pop("/sitemap.xml")
        site.pages["/child.xml"].etag = True
        index = (
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{site.url('/child.xml')}</loc></sitemap></sitemapindex>"
        ).encode()
        site.pages["/index.xml"] = Page(index, "application/xml")
        async with world(db, owner_db, redis_client) as w:
            assert (await _post_sitemap(w, site.url("/index.xml"))).status_code == 202
            [source] = await w.sources()
            for _ in range(2):  # twice: a page counted missing twice would be removed
                site.reset()
                record = await w.sync_now(source["id"])
                assert (record["status"], record["pages_unchanged"]) == ("ok", 2), record
                for path in ("/index.xml", "/child.xml"):
                    [(headers, status)] = site.hits(path)
                    assert headers.get("If-None-Match") == site.pages[path].tag
                    assert status == 304
            assert sorted(await w.documents()) == [site.url("/a"), site.url("/b")]
            # A changed child is downloaded and read.
            site.pages["/c"] = Page(article("c", ["topic c words"]))
            site.sitemap(["/a", "/b", "/c"])
            site.pages["/child.xml"] = site.pages.pop("/sitemap.xml")
            site.pages["/child.xml"].etag = True
            site.reset()
            record = await w.sync_now(source["id"])
            assert record["pages_added"] == 1, record
            assert [status for _, status in site.hits("/child.xml")] == [200]
            assert [status for _, status in site.hits("/index.xml")] == [304]


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello from {self.headers.get('Host')}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


async def test_a_dual_stack_host_is_reached_at_its_next_address_each_one_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host whose first address is unreachable (an IPv6 that does not route) failed every
    fetch: only the first address was tried. 127.0.0.2 refuses (the server listens on
    127.0.0.1 alone)."""
    name = "dual.stack.test"
    monkeypatch.setattr(
        socket, "getaddrinfo", ManyAnswersResolver(name, ["127.0.0.2", "127.0.0.1"])
    )
    with serving(_Hello) as base:
        port = base.rsplit(":", 1)[1]
        url = f"http://{name}:{port}/page.txt"
        page = await fetch_url(url, allow_private=False, allow_networks=["127.0.0.0/8"], timeout=10)
        assert page.data == f"hello from {name}:{port}".encode()
        # Every address is checked before any is tried: one outside what is allowed refuses.
        with pytest.raises(UrlNotAllowed):
            await fetch_url(url, allow_private=False, allow_networks=["127.0.0.1/32"], timeout=10)
