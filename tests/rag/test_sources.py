"""Sources that re-sync (rag/knowledge/sync.py) against a local site of our own that changes
its pages between syncs: conditional requests, changed chunks only, sitemap pages added and
removed (after two syncs gone), no duplicates, bounded and resumable sitemap syncs, and the
scheduler's lease (racing schedulers run a sync once; a crashed sync runs again).

The site is a real HTTP server on 127.0.0.1; the SSRF guard lets it through only because these
runtimes set ALLOW_PRIVATE_URLS, the existing test mechanism for loopback."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from api.runtime import Runtime
from api.schedule import scheduled_jobs
from core.db import Database
from core.models import utcnow
from core.scheduler import Every, ScheduledJob, Scheduler
from rag.knowledge import sitemaps, sync
from rag.knowledge.jobs import DEPS_KEY
from rag.knowledge.repository import sources as source_repo
from tests.conftest import Owner, client_for, make_runtime, make_settings, signup
from tests.fakes.embedders import CountingEmbedder
from tests.fakes.receiver import receiver

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


# --- the site ---------------------------------------------------------------------------------


@dataclass
class Hold:
    gate: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    async def wait_arrival(self) -> None:
        assert await asyncio.to_thread(self.arrived.acquire, True, 30), "no request arrived"


@dataclass
class Page:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    etag: bool = True
    last_modified: str | None = None
    hold: Hold | None = None
    """Answered only once ``hold.gate`` is set (each arrival released on ``hold.arrived``)."""

    @property
    def tag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass
class Site:
    base: str
    pages: dict[str, Page] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], int]] = field(default_factory=list)
    """(path, request headers, answered status) in arrival order."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base + path

    def hits(self, path: str) -> list[tuple[dict[str, str], int]]:
        with self.lock:
            return [(h, s) for p, h, s in self.requests if p == path]

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()

    def sitemap(self, paths: Sequence[str]) -> None:
        entries = "".join(f"<url><loc>{self.url(p)}</loc></url>" for p in paths)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'
        ).encode()
        self.pages["/sitemap.xml"] = Page(body, "application/xml", etag=False)


@contextmanager
def local_site() -> Iterator[Site]:
    holder: dict[str, Site] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site = holder["site"]
            page = site.pages.get(self.path)
            if page is not None and page.hold is not None:
                page.hold.arrived.release()
                page.hold.gate.wait(30)
            status, extra, body = 404, {}, b"not here"
            if page is not None and page.status != 200:
                status = page.status
            elif page is not None:
                if page.etag:
                    extra["ETag"] = page.tag
                if page.last_modified:
                    extra["Last-Modified"] = page.last_modified
                match = page.etag and self.headers.get("If-None-Match") == page.tag
                since = (
                    not page.etag
                    and page.last_modified is not None
                    and self.headers.get("If-Modified-Since") == page.last_modified
                )
                status, body = (304, b"") if match or since else (200, page.body)
            with site.lock:
                site.requests.append((self.path, dict(self.headers.items()), status))
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            if status != 304:
                ctype = page.content_type if page is not None and status == 200 else "text/plain"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 304:
                self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder["site"] = Site(base=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["site"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def article(tag: str, sections: Sequence[str]) -> bytes:
    """An HTML page of headed sections; each section is long enough to be its own chunk."""
    parts = [f"<html><head><title>Guide {tag}</title></head><body>"]
    for i, words in enumerate(sections):
        parts.append(f"<h2>Part {i} of {tag}</h2><p>{' '.join([words] * 12)}</p>")
    parts.append("</body></html>")
    return "".join(parts).encode()


@dataclass
class World:
    client: httpx.AsyncClient
    runtime: Runtime
    owner: Owner
    embedder: CountingEmbedder
    owner_db: Database

    async def add_url(self, url: str) -> dict[str, Any]:
        """Post a web page, let it be ingested, and return its (only) source."""
        r = await self.client.post(
            self.owner.url("/documents"), json={"url": url}, headers=self.owner.headers
        )
        assert r.status_code == 202, r.text
        await self.runtime.jobs.drain()
        [source] = [s for s in await self.sources() if s["url"] == url]
        return source

    async def add_sitemap(self, url: str) -> None:
        """Post a sitemap (read in the request) and let its pages be ingested."""
        r = await self.client.post(
            self.owner.url("/documents"), json={"sitemap_url": url}, headers=self.owner.headers
        )
        assert r.status_code == 202, r.text
        await self.runtime.jobs.drain()

    async def sources(self) -> list[dict[str, Any]]:
        r = await self.client.get(self.owner.url("/sources"), headers=self.owner.headers)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    async def sync_now(self, source_id: str) -> dict[str, Any]:
        r = await self.client.post(
            self.owner.url(f"/sources/{source_id}/sync"), headers=self.owner.headers
        )
        assert r.status_code == 202, r.text
        await self.runtime.jobs.drain()
        return await self.last_sync(source_id)

    async def syncs(self, source_id: str) -> list[dict[str, Any]]:
        r = await self.client.get(
            self.owner.url(f"/sources/{source_id}/syncs"), headers=self.owner.headers
        )
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    async def last_sync(self, source_id: str) -> dict[str, Any]:
        return (await self.syncs(source_id))[0]

    async def documents(self) -> dict[str, dict[str, Any]]:
        """The workspace's documents by URL (asserting no URL appears twice)."""
        r = await self.client.get(
            self.owner.url("/documents?limit=100"), headers=self.owner.headers
        )
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        by_url = {d["source"]: d for d in items}
        assert len(by_url) == len(items), "duplicate documents"
        return by_url


@asynccontextmanager
async def world(
    db: Database, owner_db: Database, redis: Redis, **settings: Any
) -> AsyncIterator[World]:
    embedder = CountingEmbedder()
    overrides = {"allow_private_urls": True, "chunk_tokens": 120, "chunk_overlap_tokens": 0}
    overrides.update(settings)
    async with (
        make_runtime(make_settings(**overrides), db, redis, embedder=embedder) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, "Fresh")
        yield World(client, runtime, owner, embedder, owner_db)


# --- tests ------------------------------------------------------------------------------------


async def test_a_page_source_costs_one_conditional_request_and_reembeds_only_changed_chunks(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    sections = [f"alpha{i} bravo{i} charlie{i} delta{i}" for i in range(4)]
    with local_site() as site:
        site.pages["/guide"] = Page(article("g", sections))
        async with world(db, owner_db, redis_client) as w:
            source = await w.add_url(site.url("/guide"))
            doc = (await w.documents())[site.url("/guide")]
            assert doc["status"] == "ready"
            assert doc["chunk_count"] >= 4
            assert len(w.embedder.embedded) == doc["chunk_count"]
            assert (source["kind"], source["url"], source["schedule"]) == (
                "page",
                site.url("/guide"),
                "never",
            )

            # Unchanged: one request, conditional on the ETag the first fetch stored; a 304.
            site.reset()
            w.embedder.embedded.clear()
            record = await w.sync_now(source["id"])
            assert record["status"] == "ok"
            assert (record["pages_checked"], record["pages_unchanged"]) == (1, 1)
            assert record["pages_changed"] == record["pages_added"] == 0
            hits = site.hits("/guide")
            assert len(hits) == 1
            headers, status = hits[0]
            assert headers.get("If-None-Match") == site.pages["/guide"].tag
            assert status == 304
            assert w.embedder.embedded == []

            # One section edited: one new chunk embedded, the others kept.
            edited = [*sections[:2], "echo2 foxtrot2 golf2 hotel2", *sections[3:]]
            site.pages["/guide"] = Page(article("g", edited))
            site.reset()
            record = await w.sync_now(source["id"])
            assert (record["status"], record["pages_changed"]) == ("ok", 1)
            assert len(site.hits("/guide")) == 1  # the sync's fetch; the job used its bytes
            assert w.embedder.embedded, "the changed chunk was not embedded"
            # Only the edited section is embedded again (each embedded text carries its heading
            # path in front), and nothing of the untouched sections.
            embedded = w.embedder.embedded
            assert all("Part 2 of g" in t for t in embedded), [t[:80] for t in embedded]
            assert any("echo2" in t for t in embedded)
            assert not any("alpha" in t or "delta" in t for t in embedded)
            doc = (await w.documents())[site.url("/guide")]
            assert doc["status"] == "ready"
            # The three untouched sections kept their chunks and vectors: all else is new.
            assert len(w.embedder.embedded) == doc["chunk_count"] - 3
            assert doc["revision"] == 2

            # And again unchanged: a 304 for the new ETag, nothing embedded.
            w.embedder.embedded.clear()
            site.reset()
            record = await w.sync_now(source["id"])
            assert record["pages_unchanged"] == 1
            [(headers, status)] = site.hits("/guide")
            assert (headers.get("If-None-Match"), status) == (site.pages["/guide"].tag, 304)
            assert w.embedder.embedded == []
            assert len(await w.documents()) == 1


async def test_last_modified_is_honoured_when_there_is_no_etag(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    stamp = "Tue, 01 Dec 2026 10:00:00 GMT"
    with local_site() as site:
        site.pages["/hours"] = Page(
            article("h", ["open nine to six on weekdays"]), etag=False, last_modified=stamp
        )
        async with world(db, owner_db, redis_client) as w:
            source = await w.add_url(site.url("/hours"))
            site.reset()
            w.embedder.embedded.clear()
            record = await w.sync_now(source["id"])
            [(headers, status)] = site.hits("/hours")
            assert "If-None-Match" not in headers
            assert (headers.get("If-Modified-Since"), status) == (stamp, 304)
            assert record["pages_unchanged"] == 1
            assert w.embedder.embedded == []
            source = (await w.sources())[0]
            assert source["last_modified"] == stamp
            assert source["etag"] is None


async def test_a_page_gone_once_is_kept_and_gone_twice_is_removed(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        site.pages["/old"] = Page(article("o", ["legacy pricing table"]))
        async with world(db, owner_db, redis_client) as w:
            source = await w.add_url(site.url("/old"))
            site.pages["/old"].status = 410
            record = await w.sync_now(source["id"])
            assert (record["pages_removed"], record["status"]) == (0, "ok")
            assert site.url("/old") in await w.documents()  # once: kept
            assert (await w.sources())[0]["consecutive_missing"] == 1
            # Back for a sync: the count starts again.
            site.pages["/old"].status = 200
            await w.sync_now(source["id"])
            assert (await w.sources())[0]["consecutive_missing"] == 0
            site.pages["/old"].status = 404
            await w.sync_now(source["id"])
            assert site.url("/old") in await w.documents()
            record = await w.sync_now(source["id"])
            assert record["pages_removed"] == 1
            assert await w.documents() == {}


async def test_a_sitemap_sync_adds_new_pages_removes_dropped_ones_and_never_duplicates(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        for name in ("a", "b", "c"):
            site.pages[f"/{name}"] = Page(article(name, [f"topic {name} words"]))
        site.sitemap(["/a", "/b", "/c"])
        async with world(db, owner_db, redis_client) as w:
            r = await w.client.post(
                w.owner.url("/documents"),
                json={"sitemap_url": site.url("/sitemap.xml")},
                headers=w.owner.headers,
            )
            assert r.status_code == 202, r.text
            await w.runtime.jobs.drain()
            assert sorted(await w.documents()) == [site.url(p) for p in ("/a", "/b", "/c")]
            [source] = await w.sources()
            assert source["kind"] == "sitemap"

            # /d is new; /c is dropped from the sitemap (still served); /b answers 410.
            site.pages["/d"] = Page(article("d", ["topic d words"]))
            site.pages["/b"].status = 410
            site.sitemap(["/a", "/b", "/d"])
            w.embedder.embedded.clear()
            record = await w.sync_now(source["id"])
            assert record["pages_added"] == 1
            assert record["pages_removed"] == 0
            assert record["pages_checked"] == 4
            docs = await w.documents()
            assert sorted(docs) == [site.url(p) for p in ("/a", "/b", "/c", "/d")]
            assert docs[site.url("/d")]["status"] == "ready"
            assert w.embedder.embedded
            assert all("topic d" in t or "Guide d" in t for t in w.embedder.embedded)

            # Gone a second time in a row: removed.
            record = await w.sync_now(source["id"])
            assert (record["pages_removed"], record["pages_added"]) == (2, 0)
            assert sorted(await w.documents()) == [site.url("/a"), site.url("/d")]

            # Repeated syncs: nothing new, nothing duplicated, no embedding.
            w.embedder.embedded.clear()
            for _ in range(2):
                record = await w.sync_now(source["id"])
                assert record["pages_added"] == record["pages_changed"] == 0
            assert sorted(await w.documents()) == [site.url("/a"), site.url("/d")]
            assert w.embedder.embedded == []
            # Listed but gone (/b, 410) is asked again each sync and never re-added.
            assert [status for _, status in site.hits("/b")][-2:] == [410, 410]
            # The sitemap posted again by hand: the same documents, the same source.
            site.sitemap(["/a", "/d"])
            r = await w.client.post(
                w.owner.url("/documents"),
                json={"sitemap_url": site.url("/sitemap.xml")},
                headers=w.owner.headers,
            )
            await w.runtime.jobs.drain()
            assert sorted(await w.documents()) == [site.url("/a"), site.url("/d")]
            assert len(await w.sources()) == 1


async def test_a_large_sitemap_sync_is_bounded_and_the_next_run_continues(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    paths = [f"/p{i}" for i in range(5)]
    with local_site() as site:
        site.pages["/p0"] = Page(article("p0", ["first page words"]))
        site.sitemap(["/p0"])
        async with world(db, owner_db, redis_client, source_sync_max_pages=2) as w:
            await w.client.post(
                w.owner.url("/documents"),
                json={"sitemap_url": site.url("/sitemap.xml")},
                headers=w.owner.headers,
            )
            await w.runtime.jobs.drain()
            [source] = await w.sources()
            for i, path in enumerate(paths):
                site.pages[path] = Page(article(path[1:], [f"page {i} words"]))
            site.sitemap(paths)
            first = await w.sync_now(source["id"])
            assert (first["pages_checked"], first["complete"], first["status"]) == (
                2,
                False,
                "partial",
            )
            state = (await w.sources())[0]
            assert state["resumes_after"] is not None
            assert state["next_due_at"] is not None  # due again: the next tick continues
            # The scheduler's job continues where the bound stopped it, twice, then the round ends.
            await _make_first_due(w, source["id"])
            checked = [first["pages_checked"]]
            for _ in range(2):
                await _make_first_due(w, source["id"])
                await sync.sync_due_sources(w.runtime.ingestion, utcnow())
                await w.runtime.jobs.drain()
                checked.append((await w.last_sync(source["id"]))["pages_checked"])
            assert checked == [2, 2, 1]
            last = await w.last_sync(source["id"])
            assert (last["complete"], last["status"]) == (True, "ok")
            assert sorted(await w.documents()) == sorted(site.url(p) for p in paths)
            state = (await w.sources())[0]
            assert state["resumes_after"] is None
            assert state["next_due_at"] is None


async def _make_first_due(w: World, source_id: str) -> None:
    """Due long ago: ahead of whatever other tests left due in the shared database."""
    async with w.owner_db.transaction() as session:
        await session.execute(
            text("UPDATE sources SET next_due_at = :t WHERE id = :id"),
            {"t": LONG_AGO, "id": source_id},
        )


async def _records(owner_db: Database, source_id: str) -> list[str]:
    async with owner_db.transaction() as session:
        rows = await session.execute(
            text("SELECT status FROM source_syncs WHERE source_id = :id ORDER BY started_at"),
            {"id": source_id},
        )
        return [r[0] for r in rows]


async def test_racing_schedulers_run_a_due_sync_once_and_a_crashed_sync_runs_again(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        site.pages["/faq"] = Page(article("f", ["returns within thirty days"]))
        async with world(db, owner_db, redis_client) as w:
            source = await w.add_url(site.url("/faq"))
            r = await w.client.put(
                w.owner.url(f"/sources/{source['id']}/schedule"),
                json={"schedule": "daily"},
                headers=w.owner.headers,
            )
            assert r.status_code == 200
            assert r.json()["schedule"] == "daily"
            due = datetime.fromisoformat(r.json()["next_due_at"])
            assert timedelta(hours=23) < due - utcnow() <= timedelta(days=1)
            await _make_first_due(w, source["id"])
            site.reset()

            # Six schedulers (replicas and workers) tick at once, each with the deployment's job
            # list: the sync runs once.
            name = f"sync_due_sources-{uuid.uuid4().hex[:8]}"
            jobs = list(
                scheduled_jobs(
                    w.runtime.lifecycle,
                    w.runtime.ingestion,
                    w.runtime.notifications,
                    w.runtime.notifier,
                )
            )
            [job] = [j for j in jobs if j.name == "sync_due_sources"]
            mine = ScheduledJob(name, Every(timedelta(minutes=2)), job.run)
            schedulers = [Scheduler(db, [mine]) for _ in range(6)]
            await asyncio.gather(*(s.tick() for s in schedulers))
            # And the source lease alone, without the scheduler's row: claims racing directly.
            await asyncio.gather(
                *(sync.sync_due_sources(w.runtime.ingestion, utcnow()) for _ in range(4))
            )
            await w.runtime.jobs.drain()
            assert await _records(owner_db, source["id"]) == ["ok"]
            assert len(site.hits("/faq")) == 1
            state = (await w.sources())[0]
            assert state["syncing"] is False
            nxt = datetime.fromisoformat(state["next_due_at"])
            assert timedelta(hours=23) < nxt - utcnow() <= timedelta(days=1)

            # A sync whose process died: its record says running, its lease is left behind.
            ws = uuid.UUID(w.owner.workspace_id)
            sid = uuid.UUID(source["id"])
            async with db.transaction(workspace_id=ws) as session:
                await source_repo.start_sync(session, ws, sid, trigger="schedule")
                await source_repo.update_source(
                    session,
                    ws,
                    sid,
                    leased_by="dead-process",
                    lease_until=utcnow() + timedelta(minutes=5),
                    next_due_at=LONG_AGO,
                )
            # While the lease is live nobody takes it over ...
            await sync.sync_due_sources(w.runtime.ingestion, utcnow())
            await w.runtime.jobs.drain()
            assert await _records(owner_db, source["id"]) == ["ok", "running"]
            r = await w.client.post(
                w.owner.url(f"/sources/{source['id']}/sync"), headers=w.owner.headers
            )
            assert (r.status_code, r.json()["error"]["code"]) == (409, "sync_in_progress")
            # ... once it has expired, the next tick runs the sync again.
            await sync.sync_due_sources(w.runtime.ingestion, utcnow() + timedelta(minutes=6))
            await w.runtime.jobs.drain()
            assert await _records(owner_db, source["id"]) == ["ok", "interrupted", "ok"]


async def test_a_failing_source_is_flagged_recorded_and_the_owner_told_once(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site, receiver() as hook:
        site.pages["/x"] = Page(article("x", ["some words"]))
        async with world(db, owner_db, redis_client, source_failing_after=2) as w:
            r = await w.client.patch(
                w.owner.url(""), json={"webhook_url": hook.url()}, headers=w.owner.headers
            )
            assert r.status_code == 200, r.text
            source = await w.add_url(site.url("/x"))
            site.pages["/x"].status = 500
            first = await w.sync_now(source["id"])
            assert first["status"] == "failed"
            assert first["pages_failed"] == 1
            assert first["errors"][0]["url"] == site.url("/x")
            assert (await w.sources())[0]["failing"] is False
            await w.runtime.notifier.drain()
            assert hook.received == []
            for _ in range(2):  # flagged at the second failure; told once
                await w.sync_now(source["id"])
            await w.runtime.notifier.drain()
            state = (await w.sources())[0]
            assert (state["failing"], state["consecutive_failures"]) == (True, 3)
            # Why, on the source and in the alert (a page source's error was null there).
            assert state["last_error"] == "The server answered HTTP 500"
            [alert] = hook.received
            payload = json.loads(alert.body)
            assert alert.headers.get("x-trulybot-event") == payload["event"] == "source.failing"
            assert payload["data"]["source_id"] == source["id"]
            assert payload["data"]["consecutive_failures"] == 2
            assert payload["data"]["error"] == "The server answered HTTP 500"
            assert site.url("/x") in await w.documents()  # a failing page is not removed
            site.pages["/x"].status = 200
            await w.sync_now(source["id"])
            state = (await w.sources())[0]
            assert (state["failing"], state["consecutive_failures"]) == (False, 0)
            assert state["last_error"] is None


async def test_sources_are_per_workspace_and_bad_input_is_a_clear_4xx(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        site.pages["/y"] = Page(article("y", ["words"]))
        async with world(db, owner_db, redis_client) as w:
            source = await w.add_url(site.url("/y"))
            other = await signup(w.client, "Other")
            for method, path, body in (
                ("GET", f"/sources/{source['id']}/syncs", None),
                ("POST", f"/sources/{source['id']}/sync", None),
                ("PUT", f"/sources/{source['id']}/schedule", {"schedule": "daily"}),
            ):
                r = await w.client.request(
                    method, other.url(path), json=body, headers=other.headers
                )
                assert r.status_code == 404, (path, r.text)
            r = await w.client.put(
                w.owner.url(f"/sources/{source['id']}/schedule"),
                json={"schedule": "hourly"},
                headers=w.owner.headers,
            )
            assert r.status_code == 422
            assert r.json()["error"]["code"] == "validation_error"
            assert (await w.sources())[0]["schedule"] == "never"


async def test_the_ssrf_guard_applies_to_every_sync_fetch(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """A source added where loopback was allowed, synced by a deployment where it is not: the
    sync refuses the address before connecting (the guard is fetch.py's, on every hop)."""
    with local_site() as site:
        site.pages["/in"] = Page(article("in", ["internal words"]))
        async with world(db, owner_db, redis_client) as w:
            source = await w.add_url(site.url("/in"))
            site.reset()
            async with (
                make_runtime(make_settings(), db, redis_client) as strict,
                client_for(strict) as c,
            ):
                r = await c.post(
                    w.owner.url(f"/sources/{source['id']}/sync"), headers=w.owner.headers
                )
                assert r.status_code == 202, r.text
                await strict.jobs.drain()
            record = await w.last_sync(source["id"])
            assert (record["status"], record["pages_failed"]) == ("failed", 1)
            assert record["errors"][0]["code"] == "url_not_allowed"
            assert site.requests == []
            assert site.url("/in") in await w.documents()


def _index(site: Site, children: dict[str, Sequence[str]]) -> None:
    """/sitemap.xml: an index of the given child sitemaps, each a urlset of its paths."""
    for child, paths in children.items():
        entries = "".join(f"<url><loc>{site.url(p)}</loc></url>" for p in paths)
        site.pages[child] = Page(
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'.encode(),
            "application/xml",
            etag=False,
        )
    entries = "".join(f"<sitemap><loc>{site.url(c)}</loc></sitemap>" for c in children)
    site.pages["/sitemap.xml"] = Page(
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}'
        "</sitemapindex>".encode(),
        "application/xml",
        etag=False,
    )


async def _post_sitemap(w: World, url: str) -> httpx.Response:
    r = await w.client.post(
        w.owner.url("/documents"), json={"sitemap_url": url}, headers=w.owner.headers
    )
    await w.runtime.jobs.drain()
    return r


async def test_a_child_sitemap_that_cannot_be_read_removes_none_of_its_pages(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        for name in ("k1", "k2", "m1", "m2"):
            site.pages[f"/{name}"] = Page(article(name, [f"child page {name} words"]))
        _index(site, {"/keep.xml": ["/k1", "/k2"], "/more.xml": ["/m1", "/m2"]})
        async with world(db, owner_db, redis_client) as w:
            r = await _post_sitemap(w, site.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            assert len(await w.documents()) == 4
            [source] = await w.sources()
            site.pages["/more.xml"].status = 503
            for _ in range(3):  # more than the two syncs after which an unlisted page goes
                record = await w.sync_now(source["id"])
                assert record["status"] == "partial"
                assert (record["pages_removed"], record["pages_failed"]) == (0, 0)
                assert record["pages_checked"] == 2  # the pages of the sitemap that was read
                [error] = record["errors"]
                assert (error["url"], error["code"]) == (site.url("/more.xml"), "fetch_failed")
                assert "503" in error["message"]
            assert sorted(await w.documents()) == sorted(
                site.url(p) for p in ("/k1", "/k2", "/m1", "/m2")
            )
            state = (await w.sources())[0]
            assert state["last_status"] == "partial"
            assert "503" in state["last_error"]
            # Readable again: a complete, ok sync, and nothing was counted missing meanwhile.
            site.pages["/more.xml"].status = 200
            record = await w.sync_now(source["id"])
            assert (record["status"], record["errors"], record["pages_checked"]) == ("ok", [], 4)
            assert all(d["status"] == "ready" for d in (await w.documents()).values())


async def test_a_sitemap_that_answers_junk_or_lists_nothing_fails_the_sync_and_removes_nothing(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        for name in ("j1", "j2"):
            site.pages[f"/{name}"] = Page(article(name, [f"junk test page {name} words"]))
        site.sitemap(["/j1", "/j2"])
        async with world(db, owner_db, redis_client, source_failing_after=3) as w:
            r = await _post_sitemap(w, site.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            [source] = await w.sources()
            answers = [
                (Page(b"Service temporarily degraded, try later", "text/plain"), "invalid_sitemap"),
                (Page(b"<html><body>Maintenance</body></html>", "text/xml"), "invalid_sitemap"),
                (
                    Page(
                        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"/>', "text/xml"
                    ),
                    "empty_sitemap",
                ),
            ]
            for page, code in answers:
                site.pages["/sitemap.xml"] = page
                record = await w.sync_now(source["id"])
                assert (record["status"], record["pages_removed"]) == ("failed", 0), record
                assert record["errors"][-1]["code"] == code
                assert sorted(await w.documents()) == [site.url("/j1"), site.url("/j2")]
            state = (await w.sources())[0]
            assert (state["consecutive_failures"], state["failing"]) == (3, True)
            # Posted by hand, the same answers are a clear 422 with the same codes.
            for page, code in answers:
                site.pages["/sitemap.xml"] = page
                r = await _post_sitemap(w, site.url("/sitemap.xml"))
                assert (r.status_code, r.json()["error"]["code"]) == (422, code)
            site.sitemap(["/j1", "/j2"])
            record = await w.sync_now(source["id"])
            assert (record["status"], record["pages_checked"]) == ("ok", 2)
            assert (await w.sources())[0]["failing"] is False


async def test_a_sitemap_cut_at_its_page_cap_says_so_and_removes_only_pages_it_no_longer_lists(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        paths = [f"/cap{i}" for i in range(5)]
        for path in [*paths, "/new0", "/new1"]:
            site.pages[path] = Page(article(path[1:], [f"capped page {path[1:]} words"]))
        site.sitemap(paths)
        async with world(db, owner_db, redis_client, sitemap_max_pages=3) as w:
            r = await _post_sitemap(w, site.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            assert (r.json()["count"], r.json()["skipped"]) == (3, 2)
            stored = [site.url(p) for p in paths[:3]]
            assert sorted(await w.documents()) == stored
            [source] = await w.sources()
            # The site puts its new pages first: the stored ones are now past the cap.
            site.sitemap(["/new0", "/new1", *paths])
            for _ in range(2):
                record = await w.sync_now(source["id"])
                assert (record["status"], record["pages_removed"]) == ("ok", 0)
                [note] = record["errors"]
                assert (note["url"], note["code"]) == (
                    site.url("/sitemap.xml"),
                    "sitemap_truncated",
                )
                assert "4 more page(s)" in note["message"]
            assert sorted(await w.documents()) == sorted(
                [*stored, site.url("/new0"), site.url("/new1")]
            )
            # A page truly gone from the full listing still goes after two syncs.
            site.sitemap(["/new0", "/new1", "/cap0", "/cap2", "/cap3", "/cap4"])
            for _ in range(2):
                record = await w.sync_now(source["id"])
            assert record["pages_removed"] == 1
            assert site.url("/cap1") not in await w.documents()
            assert site.url("/cap2") in await w.documents()


async def test_a_sitemap_listing_a_url_too_long_to_store_adds_the_other_pages(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """One <loc> with a long query string (3,200 characters): the whole submission was a 500
    (the unique index cannot hold the row) and none of the site's pages was added."""
    long_path = "/p?ref=" + "".join(uuid.uuid4().hex for _ in range(100))
    with local_site() as site:
        site.pages["/a"] = Page(article("a", ["short address words"]))
        site.pages[long_path] = Page(article("long", ["long address words"]))
        site.sitemap(["/a", long_path])
        async with world(db, owner_db, redis_client) as w:
            r = await _post_sitemap(w, site.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            assert (r.json()["count"], r.json()["too_long"]) == (1, 1)
            assert sorted(await w.documents()) == [site.url("/a")]
            [source] = await w.sources()
            record = await w.sync_now(source["id"])
            assert (record["status"], record["pages_added"]) == ("ok", 0), record
            [note] = record["errors"]
            assert (note["url"], note["code"]) == (site.url("/sitemap.xml"), "url_too_long")
            assert sorted(await w.documents()) == [site.url("/a")]
            assert not site.hits(long_path)


async def test_a_posted_sitemap_downloads_holding_no_database_connection_and_few_at_once(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        maps = [f"/held{i}.xml" for i in range(3)]
        holds = [Hold(), Hold()]  # the third sitemap answers at once
        for i, path in enumerate(maps):
            site.pages[f"/held{i}"] = Page(article(f"held{i}", [f"held page {i} words"]))
            site.sitemap([f"/held{i}"])
            site.pages[path] = site.pages.pop("/sitemap.xml")
            site.pages[path].hold = holds[i] if i < len(holds) else None
        async with world(db, owner_db, redis_client, sitemap_fetches_at_once=2) as w:
            # Two workspaces: one workspace may hold half the slots (SitemapSlots.share).
            other = await signup(w.client, "Other")
            posts = [
                asyncio.create_task(_post_sitemap(w, site.url(maps[0]))),
                asyncio.create_task(
                    w.client.post(
                        other.url("/documents"),
                        json={"sitemap_url": site.url(maps[1])},
                        headers=other.headers,
                    )
                ),
            ]
            try:
                for hold in holds:
                    await hold.wait_arrival()
                # Both downloads are under way and neither request holds a connection.
                assert sitemaps.sitemap_fetch_slots(w.runtime.settings).running == 2
                pool = w.runtime.db.engine.pool
                assert isinstance(pool, QueuePool)
                assert pool.checkedout() == 0
                async with owner_db.transaction() as session:
                    idle = await session.scalar(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                            " current_database() AND state LIKE 'idle in transaction%'"
                        )
                    )
                assert idle == 0
                # A third waits for a free slot: its sitemap is asked only after the first
                # download ended, while the second is still held.
                posts.append(asyncio.create_task(_post_sitemap(w, site.url(maps[2]))))
                holds[0].gate.set()
                third = await posts[2]
                assert third.status_code == 202, third.text
                answered = [path for path, _, _ in site.requests if path in maps]
                assert answered == [maps[0], maps[2]]
            finally:
                for hold in holds:
                    hold.gate.set()
                responses = await asyncio.gather(*posts)
            assert [r.status_code for r in responses] == [202, 202, 202], responses[0].text
            assert sorted(await w.documents()) == sorted(site.url(f"/held{i}") for i in (0, 2))
            assert len(await w.sources()) == 2


def _held_sitemaps(site: Site, name: str, count: int) -> tuple[list[str], list[Hold]]:
    """``count`` sitemaps of one page each, whose answers wait for their ``Hold``; the site's
    ``/sitemap.xml`` lists one more page and answers at once."""
    maps = [f"/{name}{i}.xml" for i in range(count)]
    holds = [Hold() for _ in maps]
    for i, path in enumerate(maps):
        site.pages[f"/{name}{i}"] = Page(article(f"{name}{i}", [f"{name} page {i} words"]))
        site.sitemap([f"/{name}{i}"])
        site.pages[path] = site.pages.pop("/sitemap.xml")
        site.pages[path].hold = holds[i]
    site.pages[f"/{name}-quick"] = Page(article("quick", ["quick page words"]))
    site.sitemap([f"/{name}-quick"])
    return maps, holds


async def _another_account_is_read_meanwhile(
    w: World, site: Site, holds: list[Hold], posts: list[asyncio.Task[httpx.Response]]
) -> None:
    """Once a share of the held downloads is under way, another account's sitemap is read at
    once while the rest still wait for one of their own to end; then every held one is let go
    and answered."""
    slots = sitemaps.sitemap_fetch_slots(w.runtime.settings)
    try:
        arrived: list[int] = []
        for _ in range(slots.share):
            arrived.append(await _first_arrival(holds, arrived))
        assert slots.running == slots.share
        other = await signup(w.client, "Other")
        r = await w.client.post(
            other.url("/documents"),
            json={"sitemap_url": site.url("/sitemap.xml")},
            headers=other.headers,
        )
        assert r.status_code == 202, r.text
        assert r.json()["count"] == 1
        waiting = [i for i in range(len(holds)) if i not in arrived]
        assert not any(holds[i].arrived.acquire(blocking=False) for i in waiting)
    finally:
        for hold in holds:
            hold.gate.set()
        answers = await asyncio.gather(*posts)
    assert [a.status_code for a in answers] == [202] * len(posts), answers[0].text
    assert slots.running == 0


async def test_one_workspace_posting_slow_sitemaps_leaves_slots_for_the_others(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """One workspace keeps four slow sitemaps in flight (four requests a minute, far under the
    ingest rate limit): every slot was its, and another workspace's sitemap waited behind them
    until its own request timed out (504), never even downloaded."""
    with local_site() as site:
        maps, holds = _held_sitemaps(site, "slow", 4)
        async with world(db, owner_db, redis_client, request_timeout_seconds=20) as w:
            slots = sitemaps.sitemap_fetch_slots(w.runtime.settings)
            assert (slots.limit, slots.share) == (4, 2)
            posts = [asyncio.create_task(_post_sitemap(w, site.url(p))) for p in maps]
            await _another_account_is_read_meanwhile(w, site, holds, posts)


async def test_one_persons_workspaces_together_leave_slots_for_the_others(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """The share is per person too: two workspaces of one account (FREE_WORKSPACES_PER_ACCOUNT
    is 2) each kept two slow sitemaps in flight and held every slot, and another account's
    sitemap waited until it was refused (503 ``sitemap_busy``)."""
    with local_site() as site:
        maps, holds = _held_sitemaps(site, "mine", 4)
        async with world(db, owner_db, redis_client, request_timeout_seconds=20) as w:
            second = await w.client.post(
                "/api/v1/workspaces", json={"name": "Second"}, headers=w.owner.headers
            )
            assert second.status_code == 201, second.text
            urls = [
                w.owner.url("/documents"),
                f"/api/v1/workspaces/{second.json()['id']}/documents",
            ]
            posts = [
                asyncio.create_task(
                    w.client.post(
                        urls[i % 2], json={"sitemap_url": site.url(p)}, headers=w.owner.headers
                    )
                )
                for i, p in enumerate(maps)
            ]
            await _another_account_is_read_meanwhile(w, site, holds, posts)


async def _first_arrival(holds: Sequence[Hold], seen: Sequence[int]) -> int:
    """The index of a held request that arrived, among those not ``seen`` yet."""
    for _ in range(300):
        for i, hold in enumerate(holds):
            if i not in seen and hold.arrived.acquire(blocking=False):
                return i
        await asyncio.sleep(0.1)
    raise AssertionError("no held request arrived")


async def test_a_sitemap_batch_in_which_every_page_fails_moves_the_round_on_and_flags_the_source(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    paths = [f"/batch{i}" for i in range(6)]
    with local_site() as site:
        for path in paths:
            site.pages[path] = Page(article(path[1:], [f"batch page {path[1:]} words"]))
        site.sitemap(paths)
        settings = {"source_sync_max_pages": 2, "source_failing_after": 2}
        async with world(db, owner_db, redis_client, **settings) as w:
            r = await _post_sitemap(w, site.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            [source] = await w.sources()
            # The middle batch (batch2, batch3) fails every time; batch5 has changed.
            site.pages["/batch2"].status = site.pages["/batch3"].status = 500
            site.pages["/batch5"] = Page(article("batch5", ["batch page five rewritten"]))
            records = [await w.sync_now(source["id"]) for _ in range(3)]
            assert [r["status"] for r in records] == ["partial", "failed", "ok"]
            assert [r["complete"] for r in records] == [False, False, True]
            assert records[1]["pages_failed"] == 2
            # Past the failed batch: the last one was checked (and its change found).
            assert (records[2]["pages_checked"], records[2]["pages_changed"]) == (2, 1)
            state = (await w.sources())[0]
            # The round's success did not clear the failed batch.
            assert (state["consecutive_failures"], state["failing"]) == (1, False)
            # The next round fails the same batch: flagged, with its error.
            records = [await w.sync_now(source["id"]) for _ in range(2)]
            assert [r["status"] for r in records] == ["partial", "failed"]
            state = (await w.sources())[0]
            assert (state["consecutive_failures"], state["failing"]) == (2, True)
            assert state["last_error"] == "The server answered HTTP 500"
            assert sorted(await w.documents()) == sorted(site.url(p) for p in paths)
            # Fixed: a whole round without a failure clears the flag.
            site.pages["/batch2"].status = site.pages["/batch3"].status = 200
            records = [await w.sync_now(source["id"]) for _ in range(2)]
            assert [r["status"] for r in records] == ["ok", "partial"]  # ends, then starts anew
            assert (await w.sources())[0]["failing"] is True  # that round had a failed batch
            records = [await w.sync_now(source["id"]) for _ in range(2)]
            assert [r["status"] for r in records] == ["partial", "ok"]
            state = (await w.sources())[0]
            assert (state["consecutive_failures"], state["failing"]) == (0, False)


async def test_a_page_deleted_from_a_sitemap_stays_deleted_and_the_source_can_go(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """An owner deletes one page of a sitemap source: the next syncs leave it out (it came
    back at once), until the sitemap is submitted again. Deleting the source removes it and
    every page it brought (it was a 405, and the site could not be taken out)."""
    with local_site() as site:
        for name in ("a", "b", "c"):
            site.pages[f"/{name}"] = Page(article(name, [f"topic {name} words"]))
        site.sitemap(["/a", "/b", "/c"])
        async with world(db, owner_db, redis_client) as w:
            r = await _post_sitemap(w, site.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            await w.runtime.jobs.drain()
            docs = await w.documents()
            gone = await w.client.delete(
                w.owner.url(f"/documents/{docs[site.url('/b')]['id']}"), headers=w.owner.headers
            )
            assert gone.status_code == 204
            [source] = await w.sources()
            assert source["excluded_urls"] == [site.url("/b")]
            for _ in range(2):
                record = await w.sync_now(source["id"])
                assert record["pages_added"] == 0, record
            assert sorted(await w.documents()) == [site.url("/a"), site.url("/c")]
            # Submitted again by hand: every page it lists, the deleted one too.
            assert (await _post_sitemap(w, site.url("/sitemap.xml"))).status_code == 202
            await w.runtime.jobs.drain()
            assert sorted(await w.documents()) == [site.url(p) for p in ("/a", "/b", "/c")]
            [source] = await w.sources()
            assert source["excluded_urls"] == []
            # The whole source goes, with its pages; another workspace's id is a 404.
            theirs = await signup(w.client, "Other")
            foreign = await w.client.delete(
                theirs.url(f"/sources/{source['id']}"), headers=theirs.headers
            )
            assert foreign.status_code == 404
            deleted = await w.client.delete(
                w.owner.url(f"/sources/{source['id']}"), headers=w.owner.headers
            )
            assert deleted.status_code == 204, deleted.text
            assert await w.documents() == {}
            assert await w.sources() == []
            again = await w.client.delete(
                w.owner.url(f"/sources/{source['id']}"), headers=w.owner.headers
            )
            assert again.status_code == 404


async def test_a_page_deleted_while_its_sitemap_syncs_stays_deleted(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """The owner deletes a page while a sync of its sitemap downloads the sitemap (the
    scheduler syncs every two minutes): the sync had read the source before the deletion, so
    it added the page back, ready and answering, until two more syncs dropped it."""
    with local_site() as site:
        for name in ("a", "b"):
            site.pages[f"/{name}"] = Page(article(name, [f"topic {name} words"]))
        site.sitemap(["/a", "/b"])
        async with world(db, owner_db, redis_client) as w:
            r = await _post_sitemap(w, site.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            await w.runtime.jobs.drain()
            docs = await w.documents()
            [source] = await w.sources()
            hold = Hold()
            site.pages["/sitemap.xml"].hold = hold
            started = await w.client.post(
                w.owner.url(f"/sources/{source['id']}/sync"), headers=w.owner.headers
            )
            assert started.status_code == 202, started.text
            try:
                await hold.wait_arrival()  # the sync has begun and downloads the sitemap
                gone = await w.client.delete(
                    w.owner.url(f"/documents/{docs[site.url('/b')]['id']}"),
                    headers=w.owner.headers,
                )
                assert gone.status_code == 204, gone.text
            finally:
                hold.gate.set()
            await w.runtime.jobs.drain()
            record = await w.last_sync(source["id"])
            assert (record["status"], record["pages_added"]) == ("ok", 0), record
            assert sorted(await w.documents()) == [site.url("/a")]
            found = await w.client.post(
                w.owner.url("/search"),
                json={"query": "topic b words", "mode": "fulltext"},
                headers=w.owner.headers,
            )
            assert site.url("/b") not in [hit["url"] for hit in found.json()["results"]]


async def test_a_sync_stopped_by_a_shutdown_gives_its_lease_back(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """A sync cancelled mid-fetch (the process stopping) marks its record interrupted and
    frees the source at once; it stayed "syncing", and Sync now answered 409, until the lease
    expired 30 minutes later. A sync queued but never started (the in-process queue closing)
    gives its lease back too."""
    hold = Hold()
    with local_site() as site:
        site.pages["/slow"] = Page(article("s", ["opening hours for the bakery"]))
        async with world(db, owner_db, redis_client) as w:
            source = await w.add_url(site.url("/slow"))
            ws, sid = uuid.UUID(w.owner.workspace_id), uuid.UUID(source["id"])
            site.pages["/slow"].hold = hold
            async with db.transaction(workspace_id=ws) as session:
                await source_repo.update_source(
                    session,
                    ws,
                    sid,
                    leased_by="stopping",
                    lease_until=utcnow() + timedelta(minutes=30),
                )
            running = asyncio.create_task(
                sync.sync_source(w.runtime.ingestion, ws, sid, holder="stopping", trigger="manual")
            )
            await hold.wait_arrival()
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
            hold.gate.set()
            state = (await w.sources())[0]
            assert state["syncing"] is False
            assert await _records(owner_db, source["id"]) == ["interrupted"]
            again = await w.client.post(
                w.owner.url(f"/sources/{source['id']}/sync"), headers=w.owner.headers
            )
            assert again.status_code == 202, again.text
            await w.runtime.jobs.drain()
            assert await _records(owner_db, source["id"]) == ["interrupted", "ok"]
            # Queued, never started: the abandoned handler frees the lease.
            async with db.transaction(workspace_id=ws) as session:
                await source_repo.update_source(
                    session,
                    ws,
                    sid,
                    leased_by="queued",
                    lease_until=utcnow() + timedelta(minutes=30),
                )
            ctx = {DEPS_KEY: w.runtime.ingestion}
            await sync.sync_abandoned_job(ctx, str(ws), str(sid), "queued")
            assert (await w.sources())[0]["syncing"] is False
