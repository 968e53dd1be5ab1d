"""A sitemap posted with ``Prefer: respond-async`` is read by a job, not in the request: the
owner gets 202 with the sitemap's source (``state`` reading) at once, its pages appear as the
job finds them, a sitemap that cannot be read says why on its source, a read whose process died
is taken over by the scheduler once its lease has expired, the limits of a posted sitemap still
apply, and another workspace sees none of it. Through the API, against the tests' local site."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from redis.asyncio import Redis

from api.schedule import resume_queued_documents
from core.db import Database
from core.models import utcnow
from rag.knowledge import sync
from tests.conftest import signup
from tests.own_database import module_databases
from tests.rag.test_sources import Hold, Page, Site, World, article, local_site, world

ASYNC = {"Prefer": "respond-async"}

# On a database of its own (tests/own_database.py): sync_due_sources and the start's resume go
# through every source and live workspace, in the suite's database every other test's too (the
# resume test 4.4 s beside 1,500 workspaces, 1.5 s without; its counts of due sources too).
own_databases, db, owner_db = module_databases()


def _listing(site: Site, names: tuple[str, ...], words: str) -> None:
    """Pages /a, /b... of their own words and /sitemap.xml listing them."""
    for name in names:
        site.pages[f"/{name}"] = Page(article(name, [f"{words} page {name} words"]))
    site.sitemap([f"/{name}" for name in names])


async def _post(w: World, url: str) -> httpx.Response:
    return await w.client.post(
        w.owner.url("/documents"),
        json={"sitemap_url": url},
        headers={**w.owner.headers, **ASYNC},
    )


async def _source(w: World, source_id: str) -> dict[str, Any]:
    r = await w.client.get(w.owner.url(f"/sources/{source_id}"), headers=w.owner.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_the_answer_comes_before_the_sitemap_is_read_and_its_pages_follow(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        _listing(site, ("a", "b"), "background")
        hold = Hold()
        site.pages["/sitemap.xml"].hold = hold
        async with world(db, owner_db, redis_client) as w:
            r = await _post(w, site.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            assert r.headers["preference-applied"] == "respond-async"
            answer = r.json()
            assert answer["status"] == "reading"
            source = answer["source"]
            assert (source["kind"], source["url"], source["state"]) == (
                "sitemap",
                site.url("/sitemap.xml"),
                "reading",
            )
            await hold.wait_arrival()  # the job is reading the sitemap; the owner has the answer
            assert await w.documents() == {}
            assert (await _source(w, source["id"]))["state"] == "reading"
            hold.gate.set()
            await w.runtime.jobs.drain()
            documents = await w.documents()
            assert sorted(documents) == [site.url("/a"), site.url("/b")]
            assert all(d["status"] == "ready" for d in documents.values())
            state = await _source(w, source["id"])
            assert (state["state"], state["last_status"], state["syncing"]) == (
                "ready",
                "ok",
                False,
            )
            record = await w.last_sync(source["id"])
            assert (record["trigger"], record["pages_added"]) == ("submit", 2)


async def test_a_sitemap_that_cannot_be_read_says_why_on_its_source(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        site.pages["/sitemap.xml"] = Page(b"<html><body>Our shop</body></html>")
        async with world(db, owner_db, redis_client) as w:
            r = await _post(w, site.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            await w.runtime.jobs.drain()
            state = await _source(w, r.json()["source"]["id"])
            assert (state["state"], state["syncing"]) == ("failed", False)
            assert "text/html" in state["last_error"], state["last_error"]  # why, in words
            record = await w.last_sync(state["id"])
            [error] = record["errors"]
            assert (record["status"], error["message"]) == ("failed", state["last_error"])
            assert error["code"] == "unsupported_media_type", error
            assert await w.documents() == {}


async def test_a_read_whose_process_died_is_taken_over_once_its_lease_expires(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        _listing(site, ("a", "b", "c"), "resumed")
        hold = Hold()
        site.pages["/b"].hold = hold
        async with world(db, owner_db, redis_client) as w:
            r = await _post(w, site.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            source_id = r.json()["source"]["id"]
            await hold.wait_arrival()  # /a added; the read stalls on /b: its process is gone
            assert list(await w.documents()) == [site.url("/a")]
            assert (await _source(w, source_id))["state"] == "reading"
            # While its lease is live nobody takes it over; once expired, the scheduler does.
            lease = timedelta(seconds=w.runtime.settings.source_sync_lease_seconds)
            assert await sync.sync_due_sources(w.runtime.ingestion, utcnow()) == 0
            later = utcnow() + lease + timedelta(minutes=1)
            assert await sync.sync_due_sources(w.runtime.ingestion, later) == 1
            hold.gate.set()
            await w.runtime.jobs.drain()
            assert sorted(await w.documents()) == [site.url(p) for p in ("/a", "/b", "/c")]
            statuses = sorted(s["status"] for s in await w.syncs(source_id))
            assert statuses == ["interrupted", "ok"]
            assert (await _source(w, source_id))["state"] == "ready"


async def test_a_posted_sitemap_keeps_its_limits(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        _listing(site, ("a", "b", "c"), "capped")
        async with world(db, owner_db, redis_client, sitemap_max_pages=2) as w:
            r = await _post(w, site.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            await w.runtime.jobs.drain()
            assert len(await w.documents()) == 2  # SITEMAP_MAX_PAGES
            record = await w.last_sync(r.json()["source"]["id"])
            assert [e["code"] for e in record["errors"]] == ["sitemap_truncated"]
        site.reset()
        async with world(db, owner_db, redis_client, allow_private_urls=False) as w:
            refused = await _post(w, site.url("/sitemap.xml"))
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"]["code"] == "url_not_allowed"
            assert await w.sources() == []
            assert site.requests == []


async def test_the_documents_quota_stops_a_read_and_refuses_a_full_workspace(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        _listing(site, ("a", "b", "c"), "quota")
        async with world(db, owner_db, redis_client) as w:
            for i in range(19):  # the free plan stores 20 documents
                added = await w.client.post(
                    w.owner.url("/documents"),
                    json={"title": f"Note {i}", "text": f"Note number {i} of the shop."},
                    headers=w.owner.headers,
                )
                assert added.status_code == 202, added.text
            r = await _post(w, site.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            await w.runtime.jobs.drain()
            pages = [u for u in await w.documents() if u.startswith(site.base)]
            assert pages == [site.url("/a")]
            record = await w.last_sync(r.json()["source"]["id"])
            assert record["pages_added"] == 1
            assert {e["code"] for e in record["errors"]} == {"quota_exceeded"}
            full = await _post(w, site.url("/sitemap.xml"))
            assert full.status_code == 429, full.text
            assert full.json()["error"]["code"] == "quota_exceeded"


async def test_another_workspace_sees_no_posted_sitemap(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        site.pages["/a"] = Page(article("a", ["private page words"]))
        site.sitemap(["/a"])
        async with world(db, owner_db, redis_client) as w:
            r = await _post(w, site.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            source_id = r.json()["source"]["id"]
            await w.runtime.jobs.drain()
            other = await signup(w.client, f"Other {uuid.uuid4().hex[:6]}")
            got = await w.client.get(other.url(f"/sources/{source_id}"), headers=other.headers)
            assert got.status_code == 404
            listed = await w.client.get(other.url("/sources"), headers=other.headers)
            assert listed.json()["items"] == []
            docs = await w.client.get(other.url("/documents"), headers=other.headers)
            assert docs.json()["items"] == []


async def test_a_serve_started_again_without_redis_resumes_a_read_at_once(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """The single process without Redis died mid-read: at its next start the read's lease is
    given back, and the scheduler's next tick reads the sitemap again, not 30 minutes later."""
    with local_site() as site:
        _listing(site, ("a", "b"), "restarted")
        hold = Hold()
        site.pages["/b"].hold = hold
        async with world(db, owner_db, redis_client) as w:
            r = await _post(w, site.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            source_id = r.json()["source"]["id"]
            await hold.wait_arrival()
            assert await sync.sync_due_sources(w.runtime.ingestion, utcnow()) == 0
            await resume_queued_documents(w.runtime.lifecycle, w.runtime.ingestion, utcnow())
            assert await sync.sync_due_sources(w.runtime.ingestion, utcnow()) == 1
            hold.gate.set()
            await w.runtime.jobs.drain()
            assert sorted(await w.documents()) == [site.url("/a"), site.url("/b")]
            assert (await _source(w, source_id))["state"] == "ready"


async def test_a_round_that_fails_midway_says_failed_not_reading(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """A posted sitemap read in batches (SOURCE_SYNC_MAX_PAGES) whose sitemap cannot be read
    at the next batch: its round stops (nothing is due again, it is never re-synced), so it
    says failed and why, not 'reading' for ever (the dashboard's list polled every 2 s)."""
    with local_site() as site:
        _listing(site, ("a", "b", "c"), "midway")
        async with world(db, owner_db, redis_client, source_sync_max_pages=2) as w:
            r = await _post(w, site.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            source_id = r.json()["source"]["id"]
            await w.runtime.jobs.drain()
            midway = await _source(w, source_id)
            assert (midway["state"], midway["resumes_after"]) == ("reading", site.url("/b"))
            site.pages["/sitemap.xml"] = Page(b"<html><body>Our shop</body></html>")
            record = await w.sync_now(source_id)  # the round's next batch: the sitemap fails
            assert record["status"] == "failed"
            state = await _source(w, source_id)
            assert state["next_due_at"] is None  # nothing reads it again by itself
            assert (state["state"], state["syncing"]) == ("failed", False)
            assert "text/html" in state["last_error"], state["last_error"]
