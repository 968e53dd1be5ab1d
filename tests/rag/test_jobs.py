"""The ingestion job: idempotent, re-runnable after a crash, counted once; in-process and on arq."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from arq.connections import RedisSettings
from arq.worker import Worker
from sqlalchemy import text

from api.container import Container
from api.routers.documents import ingestion_deps, job_registry
from core.db import Database
from core.jobs import ArqQueue, InProcessQueue, JobRegistry, worker_functions
from rag import ingestion
from rag import repository as repo
from tests.conftest import REDIS_URL, Owner


async def _text_doc(client: httpx.AsyncClient, owner: Owner, body: str) -> str:
    r = await client.post(
        owner.url("/documents"),
        json={"title": f"T {uuid.uuid4().hex[:6]}", "text": body},
        headers=owner.headers,
    )
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


async def _usage(owner_db: Database, workspace_id: str) -> tuple[int, int]:
    async with owner_db.transaction() as session:
        row = (
            await session.execute(
                text("SELECT documents, chunks FROM usage_counters WHERE workspace_id = :w"),
                {"w": workspace_id},
            )
        ).one()
    return int(row[0]), int(row[1])


async def test_in_process_queue_runs_drains_and_records_failures() -> None:
    seen: list[int] = []

    async def ok(ctx: dict[str, Any], n: int) -> None:
        seen.append(n)

    async def boom(ctx: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    queue = InProcessQueue(JobRegistry({"ok": ok, "boom": boom}), {}, concurrency=2)
    for n in range(5):
        await queue.enqueue("ok", n=n)
    await queue.enqueue("boom")
    await queue.drain()
    assert sorted(seen) == [0, 1, 2, 3, 4]
    assert [name for name, _ in queue.failures] == ["boom"]
    await queue.close()


async def test_rerun_is_idempotent_and_crashed_doc_recovers(
    client: httpx.AsyncClient, owner: Owner, jobs: Any, container: Container, owner_db: Database
) -> None:
    doc_id = await _text_doc(
        client, owner, "Parking is free for visitors after six in the evening."
    )
    await jobs.drain()
    deps = ingestion_deps(container)
    ws = uuid.UUID(owner.workspace_id)
    assert await _usage(owner_db, owner.workspace_id) == (1, 1)
    # Re-running the job on a ready document changes nothing.
    assert await ingestion.ingest_document(deps, ws, uuid.UUID(doc_id)) == "skipped"
    assert await _usage(owner_db, owner.workspace_id) == (1, 1)
    # A worker died mid-way: the row is left 'processing'; running the job again finishes it.
    async with deps.db.transaction(workspace_id=ws) as session:
        await repo.update_document(session, ws, uuid.UUID(doc_id), status="processing")
    assert await ingestion.ingest_document(deps, ws, uuid.UUID(doc_id)) == "ready"
    doc = (await client.get(owner.url(f"/documents/{doc_id}"), headers=owner.headers)).json()
    assert doc["status"] == "ready"
    assert doc["chunk_count"] == 1
    assert await _usage(owner_db, owner.workspace_id) == (1, 1)  # counted once, nothing re-embedded
    # A job for a deleted document is a no-op.
    assert await ingestion.ingest_document(deps, ws, uuid.uuid4()) == "missing"


async def test_arq_worker_runs_the_job_from_redis(
    client: httpx.AsyncClient, owner: Owner, container: Container
) -> None:
    queue_name = f"trulybot-test-{uuid.uuid4().hex[:8]}"
    arq_queue = await ArqQueue.connect(REDIS_URL, queue_name=queue_name)
    container.extras["jobs"] = arq_queue  # the API enqueues to Redis now
    deps = ingestion_deps(container)
    try:
        doc_id = await _text_doc(client, owner, "Our support line answers within two hours.")
        worker = Worker(
            functions=worker_functions(job_registry()),
            redis_settings=RedisSettings.from_dsn(REDIS_URL),
            queue_name=queue_name,
            burst=True,
            handle_signals=False,
            poll_delay=0.05,
            ctx={ingestion.DEPS_KEY: deps},
        )
        await worker.main()
        await worker.close()
        doc = (await client.get(owner.url(f"/documents/{doc_id}"), headers=owner.headers)).json()
        assert doc["status"] == "ready", doc
        assert worker.jobs_complete >= 1
        assert worker.jobs_failed == 0
    finally:
        await arq_queue.close()
