"""Sitemap syncs that share pages, run past their lease, or meet a full chunks quota
(review "hooks" F3, F4, F6), against the local site of tests/rag/test_sources.py."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from core.db import Database
from core.models import utcnow
from rag.knowledge import sync
from rag.knowledge.repository import sources as source_repo
from tests.rag.test_sources import Hold, Page, _post_sitemap, article, local_site, world
from workspaces.plans import PLANS


async def test_a_changed_page_is_updated_with_the_chunks_quota_full(
    db: Database, owner_db: Database, redis_client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At exactly 100% of its chunks quota a workspace could refresh no page: the sync checked
    "one more chunk" and refused with quota_exceeded, though the page only replaces its own."""
    sections = [f"alpha{i} bravo{i} charlie{i} delta{i}" for i in range(4)]
    with local_site() as site:
        site.pages["/guide"] = Page(article("g", sections))
        async with world(db, owner_db, redis_client) as w:
            source = await w.add_url(site.url("/guide"))
            doc = (await w.documents())[site.url("/guide")]
            free = PLANS["free"]
            limits = {**free.limits, "chunks": doc["chunk_count"]}
            monkeypatch.setitem(PLANS, "free", replace(free, limits=limits))
            edited = [*sections[:2], "alpha2 bravo2 charlie2 zulu22", sections[3]]
            site.pages["/guide"] = Page(article("g", edited))
            record = await w.sync_now(source["id"])
            assert (record["pages_changed"], record["pages_failed"]) == (1, 0), record
            doc = (await w.documents())[site.url("/guide")]
            assert (doc["status"], doc["revision"]) == ("ready", 2), (
                doc["error"],
                doc["chunk_count"],
            )
            # A page that would grow past the quota is still refused, by the job, before
            # anything is embedded; its last good version keeps answering.
            site.pages["/guide"] = Page(article("g", [*edited, "india5 juliet5 kilo5 lima5"]))
            record = await w.sync_now(source["id"])
            assert record["pages_changed"] == 1
            doc = (await w.documents())[site.url("/guide")]
            assert (doc["status"], doc["error_code"]) == ("failed", "quota_exceeded")
            assert "last good version" in doc["error"]


async def _two_sitemaps(w, site) -> dict[str, str]:  # type: ignore[no-untyped-def]
    for name in ("a", "b", "c"):
        site.pages[f"/{name}"] = Page(article(name, [f"topic {name} words"]))
    for path, pages in (("/one.xml", ["/a", "/b"]), ("/two.xml", ["/b", "/c"])):
        site.sitemap(pages)
        site.pages[path] = site.pages.pop("/sitemap.xml")
    ids = {}
    for path in ("/one.xml", "/two.xml"):
        r = await _post_sitemap(w, site.url(path))
        assert r.status_code == 202, r.text
    for source in await w.sources():
        ids[source["url"].rsplit("/", 1)[1]] = source["id"]
    return ids


async def test_a_page_two_sitemaps_list_stays_deleted_and_outlives_one_of_them(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """A page both sitemaps list: deleted by its owner, the other sitemap's sync brought it
    back; and deleting one sitemap deleted the pages the other still lists."""
    with local_site() as site:
        async with world(db, owner_db, redis_client) as w:
            ids = await _two_sitemaps(w, site)
            docs = await w.documents()
            assert sorted(docs) == [site.url(p) for p in ("/a", "/b", "/c")]
            # Kept by one of them only: neither sync takes it from the other or fetches it twice.
            site.reset()
            for name in ("one.xml", "two.xml"):
                assert (await w.sync_now(ids[name]))["status"] == "ok"
            assert len(site.hits("/b")) == 1
            # Deleting /one.xml keeps /b, which /two.xml lists; /a goes.
            gone = await w.client.delete(
                w.owner.url(f"/sources/{ids['one.xml']}"), headers=w.owner.headers
            )
            assert gone.status_code == 204, gone.text
            assert sorted(await w.documents()) == [site.url("/b"), site.url("/c")]
            assert (await w.documents())[site.url("/b")]["id"] == docs[site.url("/b")]["id"]
            site.reset()
            record = await w.sync_now(ids["two.xml"])
            assert (record["pages_checked"], record["pages_added"]) == (2, 0), record
            assert len(site.hits("/b")) == 1  # now /two.xml keeps it fresh

            # Both posted again; the owner deletes /b: neither sitemap brings it back.
            assert (await _post_sitemap(w, site.url("/one.xml"))).status_code == 202
            ids = {s["url"].rsplit("/", 1)[1]: s["id"] for s in await w.sources()}
            b = (await w.documents())[site.url("/b")]["id"]
            r = await w.client.delete(w.owner.url(f"/documents/{b}"), headers=w.owner.headers)
            assert r.status_code == 204
            for _ in range(2):
                for name in ("one.xml", "two.xml"):
                    record = await w.sync_now(ids[name])
                    assert record["pages_added"] == 0, record
            assert sorted(await w.documents()) == [site.url("/a"), site.url("/c")]


async def test_a_page_one_sitemap_drops_goes_to_the_other_that_lists_it(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        async with world(db, owner_db, redis_client) as w:
            ids = await _two_sitemaps(w, site)
            b = (await w.documents())[site.url("/b")]["id"]
            # /one.xml keeps /b (it was first; a sync of it took /b over before, too).
            assert (await w.sync_now(ids["one.xml"]))["status"] == "ok"
            # It drops /b: gone from it twice, /b goes to /two.xml, which still lists it.
            site.sitemap(["/a"])
            site.pages["/one.xml"] = site.pages.pop("/sitemap.xml")
            for _ in range(2):
                record = await w.sync_now(ids["one.xml"])
                assert record["pages_removed"] == 0, record
            assert (await w.documents())[site.url("/b")]["id"] == b
            site.reset()
            record = await w.sync_now(ids["two.xml"])
            assert (record["pages_added"], record["pages_unchanged"]) == (0, 2), record
            assert len(site.hits("/b")) == 1


async def test_a_sync_that_outlived_its_lease_stops_instead_of_running_beside_the_next(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """A sync held past its lease while another took the source over: both counted the page
    the sitemap dropped missing, so it was removed after one absence."""
    with local_site() as site:
        for name in ("a", "b"):
            site.pages[f"/{name}"] = Page(article(name, [f"topic {name} words"]))
        site.sitemap(["/a", "/b"])
        async with world(db, owner_db, redis_client) as w:
            assert (await _post_sitemap(w, site.url("/sitemap.xml"))).status_code == 202
            [source] = await w.sources()
            ws, sid = uuid.UUID(w.owner.workspace_id), uuid.UUID(source["id"])
            site.sitemap(["/a"])  # /b dropped: once
            page_a = site.pages["/a"] = Page(article("a", ["topic a rewritten"]))
            hold = page_a.hold = Hold()
            async with db.transaction(workspace_id=ws) as session:
                await source_repo.update_source(
                    session, ws, sid, leased_by="first", lease_until=utcnow() + timedelta(hours=1)
                )
            first = asyncio.create_task(
                sync.sync_source(w.runtime.ingestion, ws, sid, holder="first", trigger="manual")
            )
            try:
                await hold.wait_arrival()  # the first sync waits for /a
                # Its lease runs out (a stalled worker) and the scheduler takes the source.
                async with db.transaction(workspace_id=ws) as session:
                    await source_repo.update_source(
                        session, ws, sid, lease_until=utcnow() - timedelta(seconds=1)
                    )
                    now = utcnow()
                    assert await source_repo.claim_one(
                        session,
                        ws,
                        sid,
                        now=now,
                        holder="second",
                        lease_until=now + timedelta(hours=1),
                    )
                page_a.hold = None
                second = await sync.sync_source(
                    w.runtime.ingestion, ws, sid, holder="second", trigger="schedule"
                )
                assert second == "ok"
            finally:
                hold.gate.set()
            outcome = await first
            await w.runtime.jobs.drain()
            assert site.url("/b") in await w.documents(), "removed after one absence"
            assert outcome == "lease_lost"
            records = await w.syncs(source["id"])
            assert sorted(r["status"] for r in records) == ["interrupted", "ok"]
            [stopped] = [r for r in records if r["status"] == "interrupted"]
            assert stopped["errors"][-1]["code"] == "lease_lost"
            # The second sync's state stands: /b counted missing once, the source free.
            state = (await w.sources())[0]
            assert state["syncing"] is False
