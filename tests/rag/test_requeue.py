"""A document ``queued`` with no job behind it (the enqueue after the commit never happened: a
crash or a deploy between the two, Redis lost, an arq job expired) is enqueued again by the
scheduled ``requeue_queued_documents``; one whose job still waits is not queued twice."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from core.embedded import EmbeddedPostgres
from core.jobs import ArqQueue
from core.models import utcnow
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge import requeue, sync
from tests.conftest import (
    REDIS_URL,
    IdleArq,
    Owner,
    RuntimeFactory,
    client_for,
    idle_arq,
    queued_text_document,
    signup,
)
from tests.dashboard.conftest import web_login
from tests.own_database import own_database
from tests.rag.test_sources import Page, article, local_site


@pytest.fixture(scope="module")
async def databases(pg: EmbeddedPostgres) -> AsyncIterator[tuple[Database, Database]]:
    async with own_database(pg, "trulybot_requeue") as both:
        yield both


@pytest.fixture(scope="module")
def db(databases: tuple[Database, Database]) -> Database:
    """This file's tests run on a database of their own (tests/own_database.py): the sweep
    enqueues the stale documents of every live workspace, and in the suite's database those
    of the tests before it (queued more than ten minutes ago by then) were all ingested
    again here: 16 and 13 s of a full run for two tests of half a second."""
    return databases[0]


@pytest.fixture(scope="module")
def owner_db(databases: tuple[Database, Database]) -> Database:
    return databases[1]


async def _queued_for(owner_db: Database, document_id: uuid.UUID, age: timedelta) -> None:
    async with owner_db.transaction() as session:
        await session.execute(
            text("UPDATE documents SET updated_at = :at WHERE id = :id"),
            {"at": utcnow() - age, "id": document_id},
        )


async def _status(client: httpx.AsyncClient, owner: Owner, document_id: uuid.UUID) -> str:
    r = await client.get(owner.url(f"/documents/{document_id}"), headers=owner.headers)
    return str(r.json()["status"])


async def test_a_document_queued_with_no_job_is_enqueued_again(
    runtime: Runtime, client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    # Committed queued; the process stopped before enqueueing its job.
    document_id = await queued_text_document(
        runtime, owner, title=f"Hours {uuid.uuid4().hex[:8]}", body="Open at nine, closed at five."
    )
    [job] = [j for j in runtime.scheduler.jobs if j.name == "requeue_queued_documents"]
    await job.run(utcnow())  # queued moments ago: its job may still be on the way
    await runtime.jobs.drain()
    assert await _status(client, owner, document_id) == "queued"
    await _queued_for(owner_db, document_id, requeue.QUEUED_TOO_LONG + timedelta(minutes=1))
    await job.run(utcnow())
    await runtime.jobs.drain()
    assert await _status(client, owner, document_id) == "ready"
    later = utcnow() + timedelta(hours=1)  # ready: nothing more to enqueue
    assert await requeue.requeue_stale(runtime.ingestion, uuid.UUID(owner.workspace_id), later) == 0


async def test_a_document_whose_job_still_waits_is_not_queued_twice(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """Workers lagging more than the threshold: the sweep adds no second job."""
    async with idle_arq(runtime_factory) as arq:
        owner = await signup(arq.client, f"Lagging {uuid.uuid4().hex[:8]}")
        r = await arq.client.post(
            owner.url("/documents"),
            json={"title": "Hours", "text": "Open nine to five."},
            headers=owner.headers,
        )
        assert r.status_code == 202, r.text
        document_id = uuid.UUID(r.json()["id"])
        await _queued_for(owner_db, document_id, requeue.QUEUED_TOO_LONG * 3)
        ws = uuid.UUID(owner.workspace_id)
        assert await requeue.requeue_stale(arq.runtime.ingestion, ws, utcnow()) == 0
        mine = [j for j in await arq.waiting() if j.kwargs.get("document_id") == str(document_id)]
        assert len(mine) == 1
        # Its job lost (Redis lost, the job expired): enqueued again.
        await arq.queue.pool.delete(arq.queue_name, f"arq:job:{mine[0].job_id}")
        assert await requeue.requeue_stale(arq.runtime.ingestion, ws, utcnow()) == 1
        assert [j.kwargs["document_id"] for j in await arq.waiting()] == [str(document_id)]


async def test_a_document_left_processing_by_a_killed_process_fails_for_the_owner_to_retry(
    runtime: Runtime,
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The process running the job died (SIGKILL, out of memory): no handler ran and the
    document said ``processing`` for good, with no Retry in the dashboard."""
    document_id = await queued_text_document(
        runtime, owner, title=f"Hours {uuid.uuid4().hex[:8]}", body="Open at nine, closed at five."
    )
    ws = uuid.UUID(owner.workspace_id)

    async def killed(*args: object, **kwargs: object) -> str:
        raise SystemExit("killed")  # like SIGKILL: no ``except Exception`` handler runs

    monkeypatch.setattr(knowledge_jobs, "_process", killed)
    with pytest.raises(SystemExit):
        await knowledge_jobs.ingest_document(runtime.ingestion, ws, document_id)
    monkeypatch.undo()
    assert await _status(client, owner, document_id) == "processing"
    [job] = [j for j in runtime.scheduler.jobs if j.name == "requeue_queued_documents"]
    # Not written for less than the threshold: a live job may still own it.
    await _queued_for(owner_db, document_id, requeue.PROCESSING_TOO_LONG - timedelta(minutes=5))
    await job.run(utcnow())
    await runtime.jobs.drain()
    assert await _status(client, owner, document_id) == "processing"

    await _queued_for(owner_db, document_id, requeue.PROCESSING_TOO_LONG + timedelta(minutes=1))
    await job.run(utcnow())
    await runtime.jobs.drain()
    r = await client.get(owner.url(f"/documents/{document_id}"), headers=owner.headers)
    got = r.json()
    assert (got["status"], got["error_code"]) == ("failed", "abandoned")
    assert "retry" in got["error"]
    # A stray start of its job (arq's, once the dead worker's mark expires) leaves it failed.
    assert await knowledge_jobs.ingest_document(runtime.ingestion, ws, document_id) == "skipped"
    login = await web_login(client, owner.email, owner.password)
    assert login.status_code == 303, login.text
    page = await client.get(f"/app/w/{owner.workspace_id}/knowledge/documents")
    assert page.status_code == 200, page.text
    assert f"/documents/{document_id}/retry" in page.text  # the dashboard's Retry button

    retried = await client.post(owner.url(f"/documents/{document_id}/retry"), headers=owner.headers)
    assert retried.status_code == 202, retried.text
    await runtime.jobs.drain()
    assert await _status(client, owner, document_id) == "ready"


async def test_a_page_a_sync_requeues_gets_one_job_for_its_revision(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """A sync enqueued a changed page's ingestion without the revision's job id: with workers
    lagging past the threshold, the sweep added a second job for the same revision, and both
    embedded the page (one committed). Now the sync's job is the revision's, and the sweep
    adds nothing while it waits."""
    name = f"trulybot-test-{uuid.uuid4().hex[:8]}"
    queue = await ArqQueue.connect(REDIS_URL, queue_name=name)
    try:
        with local_site() as site:
            site.pages["/p"] = Page(article("p", ["alpha bravo charlie delta echo"]))
            async with (
                runtime_factory(jobs=queue, allow_private_urls=True) as rt,
                client_for(rt) as client,
            ):
                arq = IdleArq(rt, client, queue, name)
                owner = await signup(client, f"Syncing {uuid.uuid4().hex[:8]}")
                ws = uuid.UUID(owner.workspace_id)
                r = await client.post(
                    owner.url("/documents"), json={"url": site.url("/p")}, headers=owner.headers
                )
                assert r.status_code == 202, r.text
                document_id = uuid.UUID(r.json()["id"])
                # A worker takes the first job: ingested, gone from the queue.
                await knowledge_jobs.ingest_document(rt.ingestion, ws, document_id)
                ids = await queue.pool.zrange(name, 0, -1)
                await queue.pool.delete(name, *[b"arq:job:" + i for i in ids])
                assert await _status(client, owner, document_id) == "ready"

                site.pages["/p"] = Page(article("p", ["foxtrot golf hotel india juliet"]))
                sources = await client.get(owner.url("/sources"), headers=owner.headers)
                [source] = sources.json()["items"]
                async with owner_db.transaction() as session:
                    await session.execute(
                        text(
                            "UPDATE sources SET leased_by = 'test', lease_until = :until"
                            " WHERE id = :id"
                        ),
                        {"until": utcnow() + timedelta(minutes=30), "id": source["id"]},
                    )
                status = await sync.sync_source(
                    rt.ingestion, ws, uuid.UUID(source["id"]), holder="test", trigger="manual"
                )
                assert status == "ok"
                page = await client.get(
                    owner.url(f"/documents/{document_id}"), headers=owner.headers
                )
                assert page.json()["status"] == "queued"
                revision = page.json()["revision"]
                mine = [
                    j for j in await arq.waiting() if j.kwargs["document_id"] == str(document_id)
                ]
                assert [j.job_id for j in mine] == [requeue.job_id(document_id, revision)]
                # Workers lag past the threshold: the sweep finds the page queued, adds nothing.
                await _queued_for(owner_db, document_id, requeue.QUEUED_TOO_LONG * 3)
                assert await requeue.requeue_stale(rt.ingestion, ws, utcnow()) == 0
                mine = [
                    j for j in await arq.waiting() if j.kwargs["document_id"] == str(document_id)
                ]
                assert len(mine) == 1
                ids = await queue.pool.zrange(name, 0, -1)
                await queue.pool.delete(name, *[b"arq:job:" + i for i in ids])
    finally:
        await queue.close()
