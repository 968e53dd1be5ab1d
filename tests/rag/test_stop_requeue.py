"""Without Redis the jobs run inside `trulybot serve`. When it stops (SIGTERM, Ctrl-C) the uploads
still in its queue, and the one it was processing, go back to ``queued`` and the next start runs
them: they ended ``failed`` (``interrupted``) and the owner pressed Retry after every restart. A
document whose job is running at every stop comes back a few times only (``MAX_STOP_REQUEUES``)."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from core.db import Database
from core.jobs import InProcessQueue
from core.models import utcnow
from rag.knowledge import requeue, unfinished
from tests.conftest import RuntimeFactory, client_for, queued_text_document, signup
from tests.rag.test_job_interruptions import BlockingEmbedder


async def test_uploads_in_the_queue_when_the_server_stops_run_at_the_next_start(
    runtime_factory: RuntimeFactory,
) -> None:
    embedder = BlockingEmbedder()
    async with runtime_factory(embedder=embedder) as runtime, client_for(runtime) as client:
        owner = await signup(client)
        ids = []
        for n in range(3):  # one runs (one job per workspace at once), two wait behind it
            r = await client.post(
                owner.url("/documents"),
                json={"title": f"Hours {n}", "text": f"Desk {n} opens at nine on weekdays."},
                headers=owner.headers,
            )
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
        await embedder.entered.wait()  # the first is being embedded when the server stops
        assert isinstance(runtime.jobs, InProcessQueue)
        await runtime.jobs.close()  # what the server's shutdown does
        for doc_id in ids:
            got = (
                await client.get(owner.url(f"/documents/{doc_id}"), headers=owner.headers)
            ).json()
            assert (got["status"], got["error_code"]) == ("queued", None), got
        workspace_id = uuid.UUID(owner.workspace_id)

    # The next start: what the previous run left queued is enqueued again, and runs.
    async with runtime_factory() as runtime, client_for(runtime) as client:
        resumed = await requeue.requeue_left(runtime.ingestion, workspace_id, utcnow())
        assert resumed == 3
        await runtime.jobs.drain()
        for doc_id in ids:
            got = (
                await client.get(owner.url(f"/documents/{doc_id}"), headers=owner.headers)
            ).json()
            assert got["status"] == "ready", got


async def _stop_requeues(owner_db: Database, document_id: uuid.UUID) -> int:
    async with owner_db.transaction() as session:
        return int(
            (
                await session.execute(
                    text("SELECT stop_requeues FROM documents WHERE id = :d"), {"d": document_id}
                )
            ).scalar_one()
        )


async def test_a_document_running_at_every_stop_comes_back_a_few_times_only(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    async with runtime_factory() as runtime, client_for(runtime) as client:
        owner = await signup(client)
        ws = uuid.UUID(owner.workspace_id)
        doc = await queued_text_document(
            runtime, owner, title="Endless", body="A document the server is always stopped on."
        )
        for stop in range(1, unfinished.MAX_STOP_REQUEUES + 1):
            assert await unfinished.requeue_after_stop(runtime.db, ws, doc)
            assert await _stop_requeues(owner_db, doc) == stop
        # One stop more: failed (interrupted), for the owner to look at and retry.
        assert not await unfinished.requeue_after_stop(runtime.db, ws, doc)
        got = (await client.get(owner.url(f"/documents/{doc}"), headers=owner.headers)).json()
        assert (got["status"], got["error_code"]) == ("failed", "interrupted"), got
        assert "stopped while processing it" in got["error"]
        assert await requeue.requeue_left(runtime.ingestion, ws, utcnow()) == 0  # not queued
        # A Retry counts afresh.
        retried = await client.post(owner.url(f"/documents/{doc}/retry"), headers=owner.headers)
        assert retried.status_code == 202, retried.text
        assert await _stop_requeues(owner_db, doc) == 0


async def test_a_document_left_processing_is_not_run_again_at_the_start(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """A process killed mid-job ran no handler: its document stays ``processing`` and is
    ``abandoned`` by the sweep, never run again on its own (it may be what killed it)."""
    async with runtime_factory() as runtime, client_for(runtime) as client:
        owner = await signup(client)
        ws = uuid.UUID(owner.workspace_id)
        doc = await queued_text_document(
            runtime, owner, title="Killer", body="A document its process died on."
        )
        async with owner_db.transaction() as session:
            await session.execute(
                text("UPDATE documents SET status = 'processing' WHERE id = :d"), {"d": doc}
            )
        assert await requeue.requeue_left(runtime.ingestion, ws, utcnow()) == 0
