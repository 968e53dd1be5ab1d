"""A page whose server sends an ETag or Last-Modified holding a byte past ASCII (RFC 9110's
``obs-text``: a server that puts a file's name, or a localised date, in it).

httpx reads such a header as Latin-1 text, so the first fetch stored it; the next sync sent it
back as ``If-None-Match`` / ``If-Modified-Since``, which httpx encodes as ASCII: a
``UnicodeEncodeError``, no ``AppError``, so the page's check failed ``internal_error`` on
every sync for good (the stored validator never changed). Such a validator is not kept, as
one too long to store is not: the page is fetched whole each time, its content hash telling
whether it changed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from core.db import Database
from tests.rag.test_sources import Page, article, local_site, world


@dataclass
class OddTag(Page):
    odd: str = ""

    @property
    def tag(self) -> str:
        return self.odd


@pytest.mark.parametrize("header", ["etag", "last-modified"])
async def test_a_validator_past_ascii_does_not_fail_the_page_s_syncs(
    header: str, db: Database, owner_db: Database, redis_client: Redis
) -> None:
    odd = f'"caf\u00e9-{uuid.uuid4().hex[:8]}"'  # sent as the byte E9 (Latin-1)
    words = f"opening hours {uuid.uuid4().hex[:8]}"
    page = (
        OddTag(article("o", [words]), odd=odd)
        if header == "etag"
        else Page(article("o", [words]), etag=False, last_modified=f"Mardi 1 d\u00e9c {odd}")
    )
    with local_site() as site:
        site.pages["/odd"] = page
        async with world(db, owner_db, redis_client) as w:
            source = await w.add_url(site.url("/odd"))
            assert (await w.documents())[site.url("/odd")]["status"] == "ready"
            for _ in range(2):
                site.reset()
                record = await w.sync_now(source["id"])
                assert (record["status"], record["errors"]) == ("ok", []), record
                assert record["pages_unchanged"] == 1
                [(headers, status)] = site.hits("/odd")
                assert status == 200
            # An ASCII validator is still kept and sent (held before).
            site.pages["/odd"] = Page(article("o", [words]))
            await w.sync_now(source["id"])
            site.reset()
            record = await w.sync_now(source["id"])
            assert (record["status"], record["pages_unchanged"]) == ("ok", 1)
            [(headers, status)] = site.hits("/odd")
            assert (headers.get("If-None-Match"), status) == (site.pages["/odd"].tag, 304)


async def test_a_validator_past_ascii_stored_before_is_not_sent(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """Stored by an earlier version, such a validator is left out of the request (and the
    page's answer replaces it)."""
    words = f"price list {uuid.uuid4().hex[:8]}"
    with local_site() as site:
        site.pages["/stored"] = Page(article("s", [words]))
        async with world(db, owner_db, redis_client) as w:
            source = await w.add_url(site.url("/stored"))
            async with owner_db.transaction() as session:
                await session.execute(
                    text("UPDATE documents SET etag = :odd WHERE source = :url"),
                    {"odd": '"caf\u00e9"', "url": site.url("/stored")},
                )
            site.reset()
            record = await w.sync_now(source["id"])
            assert (record["status"], record["errors"]) == ("ok", []), record
            [(headers, status)] = site.hits("/stored")
            assert ("If-None-Match" not in headers, status) == (True, 200)
            site.reset()
            record = await w.sync_now(source["id"])
            [(headers, status)] = site.hits("/stored")
            assert (headers.get("If-None-Match"), status) == (site.pages["/stored"].tag, 304)
