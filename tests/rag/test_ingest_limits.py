"""One tenant cannot stall ingestion for the others: submission rate, chunk quota before
embedding, and bounded parsing, as an owner sees them over HTTP."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from redis.asyncio import Redis
from sqlalchemy import text

from core.db import Database
from tests.conftest import Owner, signup
from tests.rag.test_documents_api import CountingEmbedder, copy_chunks, custom_client, get_doc

# Limits every other class high enough that only the ingest limit can refuse here.
OPEN = {"rate_limits": "on", "rate_limit_ip": "10000/minute", "rate_limit_auth": "10000/minute"}


async def _text(client: httpx.AsyncClient, who: Owner, text: str) -> httpx.Response:
    return await client.post(
        who.url("/documents"),
        json={"title": f"Note {uuid.uuid4().hex[:8]}", "text": text},
        headers=who.headers,
    )


async def test_document_submissions_are_rate_limited_per_workspace(
    db: Database, redis_client: Redis
) -> None:
    async with custom_client(db, redis_client, rate_limit_ingest="3/minute", **OPEN) as (c, _):
        busy, calm = await signup(c, "Busy"), await signup(c, "Calm")
        first = await _text(c, busy, "The shop opens at nine.")
        assert first.status_code == 202
        assert first.headers["ratelimit-limit"] == "3"
        assert first.headers["ratelimit-remaining"] == "2"
        doc_id = first.json()["id"]
        put = await c.put(
            busy.url(f"/documents/{doc_id}"),
            json={"text": "The shop opens at ten."},
            headers=busy.headers,
        )
        assert put.status_code == 202  # a replacement is a submission too
        assert (await _text(c, busy, "Deliveries arrive on Mondays.")).status_code == 202
        refused = [
            await _text(c, busy, "Returns take a week."),
            await c.post(busy.url(f"/documents/{doc_id}/retry"), headers=busy.headers),
            await c.put(
                busy.url(f"/documents/{doc_id}"),
                json={"text": "The shop opens at eleven."},
                headers=busy.headers,
            ),
            await c.post(
                busy.url("/documents"),
                json={"sitemap_url": "http://example.invalid/sitemap.xml"},
                headers=busy.headers,
            ),
        ]
        for response in refused:
            assert response.status_code == 429, response.text
            error = response.json()["error"]
            assert error["code"] == "rate_limited"
            assert error["details"]["route_class"] == "ingest"
            assert int(response.headers["retry-after"]) >= 1
            assert response.headers["ratelimit-limit"] == "3"
            assert response.headers["ratelimit-remaining"] == "0"
        # Nothing of the refused submissions was stored or changed.
        listed = (await c.get(busy.url("/documents"), headers=busy.headers)).json()
        assert listed["total"] == 2
        assert (await get_doc(c, busy, doc_id))["revision"] == 2
        # Another workspace has its own budget.
        assert (await _text(c, calm, "Parking is free.")).status_code == 202


async def test_chunk_quota_is_checked_before_anything_is_embedded(
    db: Database, redis_client: Redis, owner_db: Database
) -> None:
    counting = CountingEmbedder()
    async with custom_client(
        db, redis_client, embedder=counting, chunk_tokens=8, chunk_overlap_tokens=0
    ) as (c, runtime):
        who = await signup(c, "Chunky")
        # About 2,500 chunks of eight tokens: more than the free plan's 2,000.
        sentences = " ".join(f"Sentence {i} says something." for i in range(2500))
        big = await c.post(
            who.url("/documents"), json={"title": "Big", "text": sentences}, headers=who.headers
        )
        assert big.status_code == 202
        jobs = runtime.jobs
        await jobs.drain()
        doc = await get_doc(c, who, big.json()["id"])
        assert doc["status"] == "failed"
        assert counting.embedded == []  # nothing was embedded to be thrown away
        assert doc["error_code"] == "quota_exceeded"
        assert "2000 chunks" in doc["error"]
        retry = await c.post(who.url(f"/documents/{doc['id']}/retry"), headers=who.headers)
        assert retry.status_code == 202
        await jobs.drain()
        assert (await get_doc(c, who, doc["id"]))["error_code"] == "quota_exceeded"
        assert counting.embedded == []  # and nothing on the retry either
        async with owner_db.transaction() as session:
            stored = await session.scalar(
                text("SELECT count(*) FROM chunks WHERE workspace_id = :w"),
                {"w": who.workspace_id},
            )
        assert stored == 0


async def test_two_documents_finishing_together_cannot_both_pass_the_chunk_quota(
    db: Database, redis_client: Redis, owner_db: Database
) -> None:
    """Two ingestions of one workspace at once (JOBS_PER_WORKSPACE=2), ~1,200 chunks each on
    the free plan's 2,000: each fits alone, not both. Holding the workspace's stored-quota lock
    until both jobs wait on it makes them reach their commits together, every run; the second
    to commit must count the first one's chunks and fail, not store 2,400."""
    async with custom_client(
        db, redis_client, chunk_tokens=8, chunk_overlap_tokens=0, jobs_per_workspace=2
    ) as (c, runtime):
        who = await signup(c, f"Racing chunks {uuid.uuid4().hex[:6]}")
        ids = []
        async with owner_db.transaction() as holder:
            await holder.execute(
                text("SELECT pg_advisory_xact_lock(hashtext('stored_quota'), hashtext(:ws))"),
                {"ws": who.workspace_id},
            )
            for n in range(2):
                body = " ".join(f"Doc {n} sentence {i} says something." for i in range(1200))
                r = await c.post(
                    who.url("/documents"),
                    json={"title": f"Half {n}", "text": body},
                    headers=who.headers,
                )
                assert r.status_code == 202, r.text
                ids.append(r.json()["id"])
            # Until both jobs wait on the workspace's lock (a bound against a hang only).
            for _ in range(1200):
                async with owner_db.transaction() as s:
                    waiting = await s.scalar(
                        text(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                            " AND NOT granted AND objid::bigint"
                            " = (hashtext(:ws)::bigint & 4294967295)"
                        ),
                        {"ws": who.workspace_id},
                    )
                if waiting >= 2:
                    break
                await asyncio.sleep(0.05)
            assert waiting == 2, "both ingestions should be waiting on the workspace's lock"
        await runtime.jobs.drain()
        docs = [await get_doc(c, who, doc_id) for doc_id in ids]
        async with owner_db.transaction() as session:
            stored = await session.scalar(
                text("SELECT count(*) FROM chunks WHERE workspace_id = :w"),
                {"w": who.workspace_id},
            )
    assert stored <= 2000, f"{stored} chunks stored on a 2,000-chunk plan"
    assert sorted(d["status"] for d in docs) == ["failed", "ready"], docs
    [refused] = [d for d in docs if d["status"] == "failed"]
    assert refused["error_code"] == "quota_exceeded"
    assert "2000 chunks" in refused["error"]
    [kept] = [d for d in docs if d["status"] == "ready"]
    assert stored == kept["chunk_count"]


async def test_a_workspace_at_its_chunk_quota_refuses_a_document_before_parsing_it(
    db: Database, redis_client: Redis, owner_db: Database
) -> None:
    """A workspace whose other documents already hold its plan's chunks (documents uploaded
    together and queued while it had room, or a retry once it is full): the document cannot
    fit whatever it makes (every document makes one chunk at least), so it is refused before it
    is parsed and chunked (a 10 MB document spent about 30 s chunking to be refused after). The
    proof it was not parsed: a PDF that cannot be read fails ``quota_exceeded`` on its retry,
    not ``parse_failed`` again. A new revision of the document holding the chunks still fits."""
    counting = CountingEmbedder()
    async with custom_client(db, redis_client, embedder=counting) as (c, runtime):
        who = await signup(c, f"Full {uuid.uuid4().hex[:6]}")
        first = await _text(c, who, "The shop opens at nine.")
        assert first.status_code == 202, first.text
        broken = b"%PDF-1.7\n" + b"\x8f not a pdf " * 64
        unreadable = await c.post(
            who.url("/documents"),
            files={"file": ("broken.pdf", broken, "application/pdf")},
            headers=who.headers,
        )
        assert unreadable.status_code == 202, unreadable.text
        await runtime.jobs.drain()
        kept, doc_id = first.json()["id"], unreadable.json()["id"]
        assert (await get_doc(c, who, kept))["status"] == "ready"
        assert (await get_doc(c, who, doc_id))["error_code"] == "parse_failed"
        await copy_chunks(owner_db, kept, 1999)  # the free plan's 2,000 chunks, all kept's
        embedded_before = len(counting.embedded)
        retry = await c.post(who.url(f"/documents/{doc_id}/retry"), headers=who.headers)
        assert retry.status_code == 202, retry.text
        await runtime.jobs.drain()
        doc = await get_doc(c, who, doc_id)
        assert (doc["status"], doc["error_code"]) == ("failed", "quota_exceeded"), doc
        assert "2000 chunks" in doc["error"]
        assert "other documents hold 2000" in doc["error"], doc["error"]
        assert len(counting.embedded) == embedded_before
        # The document that holds the chunks gets a new revision: it replaces its own.
        put = await c.put(
            who.url(f"/documents/{kept}"),
            json={"text": "The shop opens at ten."},
            headers=who.headers,
        )
        assert put.status_code == 202, put.text
        await runtime.jobs.drain()
        assert (await get_doc(c, who, kept))["status"] == "ready"
