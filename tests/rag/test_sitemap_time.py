"""Posting a sitemap without `Prefer: respond-async` answers within REQUEST_TIMEOUT_SECONDS
(rag/knowledge/web_submissions.py; with it, the sitemap is read by a job:
tests/rag/test_sitemap_background.py).

The sitemap is read inside the request, and its files (up to 50, one after another) and its
sites' robots.txt (up to 16, four at a time) were each given FETCH_TIMEOUT_SECONDS: an index of
slow child files, or pages on slow sites, ran the request into its timeout, and the owner got
504 ``request_timeout`` with nothing added. Now the files are read for the first 40% of the
request's time and the robots.txt files until 75% of it; what was not read in time is left out
and said. Scaled down: REQUEST_TIMEOUT_SECONDS=10, FETCH_TIMEOUT_SECONDS=8, servers that do not
answer until the test ends."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from typing import Any

from redis.asyncio import Redis

from core.db import Database
from tests.rag.test_sources import (
    Hold,
    Page,
    World,
    _post_sitemap,
    article,
    local_site,
    world,
)

TIMES = {"request_timeout_seconds": 10, "fetch_timeout_seconds": 8}


async def _posted(w: World, url: str) -> dict[str, Any]:
    r = await _post_sitemap(w, url)
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    return body


def _index(base: str, names: list[str]) -> Page:
    entries = "".join(f"<sitemap><loc>{base}{name}</loc></sitemap>" for name in names)
    body = (
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"{entries}</sitemapindex>"
    )
    return Page(body.encode(), "application/xml", etag=False)


async def test_an_index_of_slow_sitemap_files_adds_what_was_read_in_time(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    hold = Hold()
    with local_site() as site:
        try:
            site.pages["/a"] = Page(article("a", ["words of page a"]))
            site.sitemap(["/a"])
            site.pages["/fast.xml"] = site.pages.pop("/sitemap.xml")
            slow = [f"/slow{i}.xml" for i in range(3)]
            for name in slow:
                site.pages[name] = Page(b"<urlset/>", "application/xml", hold=hold)
            site.pages["/index.xml"] = _index(site.base, ["/fast.xml", *slow])
            async with world(db, owner_db, redis_client, **TIMES) as w:
                body = await _posted(w, site.url("/index.xml"))
                assert (body["count"], body["unread_sitemaps"]) == (1, 3)
                assert sorted(await w.documents()) == [site.url("/a")]
        finally:
            hold.gate.set()


async def test_pages_on_slow_sites_are_left_out_in_time(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    hold = Hold()
    with ExitStack() as stack, local_site() as home:
        try:
            others = [stack.enter_context(local_site()) for _ in range(5)]
            home.pages["/a"] = Page(article("home", ["words of the home page"]))
            listed = [home.url("/a")]
            for i, site in enumerate(others):
                site.pages["/robots.txt"] = Page(b"User-agent: *\n", "text/plain", hold=hold)
                site.pages["/b"] = Page(article(f"other{i}", [f"words of other site {i}"]))
                listed.append(site.url("/b"))
            home.pages["/list.txt"] = Page("\n".join(listed).encode(), "text/plain", etag=False)
            async with world(db, owner_db, redis_client, **TIMES) as w:
                body = await _posted(w, home.url("/list.txt"))
                assert (body["count"], body["robots_unavailable"]) == (1, 5)
                assert sorted(await w.documents()) == [home.url("/a")]
                assert not any(site.hits("/b") for site in others)
        finally:
            hold.gate.set()


async def test_a_sitemap_that_gets_no_download_slot_in_time_is_a_clear_503(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """One download at a time (SITEMAP_FETCHES_AT_ONCE=1), held by a sitemap that does not
    answer (FETCH_TIMEOUT_SECONDS past the request's time): both it and the next sitemap,
    waiting for the download slot, got 504. Now the first is refused in its time with
    ``fetch_failed`` and the next with 503 ``sitemap_busy`` once a longer wait would leave it
    no time to read its own sitemap; nothing was added, and posting it again works."""
    hold = Hold()
    with local_site() as site:
        try:
            site.pages["/a"] = Page(article("a", ["words of page a"]))
            site.sitemap(["/a"])
            site.pages["/held.xml"] = Page(b"<urlset/>", "application/xml", hold=hold)
            slow = {**TIMES, "fetch_timeout_seconds": 12, "sitemap_fetches_at_once": 1}
            async with world(db, owner_db, redis_client, **slow) as w:
                first = asyncio.create_task(_post_sitemap(w, site.url("/held.xml")))
                await hold.wait_arrival()
                waiting = asyncio.create_task(_post_sitemap(w, site.url("/sitemap.xml")))
                held = await first
                assert held.status_code == 422, held.text
                assert held.json()["error"]["code"] == "fetch_failed"
                second = await waiting
                assert second.status_code == 503, second.text
                assert second.json()["error"]["code"] == "sitemap_busy"
                assert await w.documents() == {}
                again = await _post_sitemap(w, site.url("/sitemap.xml"))
                assert again.status_code == 202, again.text
        finally:
            hold.gate.set()
