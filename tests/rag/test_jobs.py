"""The ingestion job: idempotent, re-runnable after a crash, counted once; in-process and on arq."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from arq.connections import RedisSettings
from arq.worker import Worker
from redis.asyncio import Redis
from sqlalchemy import text

from api.job_registry import job_registry
from api.middleware import request_id_var
from api.runtime import Runtime
from core.db import Database
from core.jobs import ArqQueue, InProcessQueue, JobRegistry, worker_functions
from core.mail import MAILER_KEY
from core.models import utcnow
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge.repository import documents as document_repo
from tests.conftest import (
    REDIS_URL,
    Owner,
    RuntimeFactory,
    client_for,
    idle_arq,
    insert_document,
    json_logs,
    queued_text_document,
    signup,
)
from tests.own_database import module_databases

# On a database of its own (tests/own_database.py): the analytics rollup queues a refresh per
# live workspace with something new, in the suite's database every other test's too (5.5 s beside
# 1,500 of them, 20 s of a loaded full run, for a test of a fraction of a second).
own_databases, db, owner_db = module_databases()


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


async def test_a_queued_job_logs_the_request_that_enqueued_it() -> None:
    """One slot: the second job starts when the first ends, from the first job's task. It still
    carries the request id of the request that enqueued it (it carried the first one's)."""
    seen: dict[str, str | None] = {}

    async def record(ctx: dict[str, Any], *, marker: str) -> None:
        await asyncio.sleep(0)
        seen[marker] = request_id_var.get()

    queue = InProcessQueue(JobRegistry({"record": record}), {}, concurrency=1)

    async def request(request_id: str) -> None:
        token = request_id_var.set(request_id)
        try:
            await queue.enqueue("record", marker=request_id)
        finally:
            request_id_var.reset(token)

    await asyncio.gather(request("req-a"), request("req-b"))
    await queue.drain()
    assert seen == {"req-a": "req-a", "req-b": "req-b"}


async def test_rerun_is_idempotent_and_crashed_doc_recovers(
    client: httpx.AsyncClient, owner: Owner, jobs: Any, runtime: Runtime, owner_db: Database
) -> None:
    doc_id = await _text_doc(
        client, owner, "Parking is free for visitors after six in the evening."
    )
    await jobs.drain()
    deps = runtime.ingestion
    ws = uuid.UUID(owner.workspace_id)
    assert await _usage(owner_db, owner.workspace_id) == (1, 1)
    # Re-running the job on a ready document changes nothing.
    assert await knowledge_jobs.ingest_document(deps, ws, uuid.UUID(doc_id)) == "skipped"
    assert await _usage(owner_db, owner.workspace_id) == (1, 1)
    # A worker died mid-way: the row is left 'processing'; running the job again finishes it.
    async with deps.db.transaction(workspace_id=ws) as session:
        await document_repo.update_document(session, ws, uuid.UUID(doc_id), status="processing")
    assert await knowledge_jobs.ingest_document(deps, ws, uuid.UUID(doc_id)) == "ready"
    doc = (await client.get(owner.url(f"/documents/{doc_id}"), headers=owner.headers)).json()
    assert doc["status"] == "ready"
    assert doc["chunk_count"] == 1
    assert await _usage(owner_db, owner.workspace_id) == (1, 1)  # counted once, nothing re-embedded
    # A job for a deleted document is a no-op.
    assert await knowledge_jobs.ingest_document(deps, ws, uuid.uuid4()) == "missing"


async def test_documents_still_waiting_when_the_server_stops_stay_queued_for_the_next_start(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime, owner_db: Database
) -> None:
    """Without Redis, jobs wait in the process: when it stops, the documents whose job never
    ran stay queued, and the next start enqueues them again (tests/rag/test_stop_requeue.py);
    they became failed (interrupted), and after every restart the owner pressed Retry."""
    ws = uuid.UUID(owner.workspace_id)
    docs = [await insert_document(owner_db, ws, f"waiting {i}") for i in range(3)]
    async with owner_db.transaction() as session:
        await session.execute(
            text("UPDATE documents SET status = 'queued' WHERE workspace_id = :w"), {"w": ws}
        )
    started = asyncio.Event()

    async def stuck(ctx: dict[str, Any], **_: Any) -> None:
        started.set()
        await asyncio.Event().wait()  # a long document: still running at the stop

    registry = JobRegistry({knowledge_jobs.INGEST_JOB: stuck}, abandoned=knowledge_jobs.ABANDONED)
    queue = InProcessQueue(registry, {knowledge_jobs.DEPS_KEY: runtime.ingestion}, concurrency=1)
    for doc in docs:
        await queue.enqueue(knowledge_jobs.INGEST_JOB, workspace_id=str(ws), document_id=str(doc))
    await started.wait()
    await queue.close()
    listed = {}
    for doc in docs:
        got = await client.get(owner.url(f"/documents/{doc}"), headers=owner.headers)
        listed[doc] = (got.json()["status"], got.json().get("error_code"))
    # The running one is the job's own to end (the real job puts itself back in the queue
    # when the queue's stop cancels it); the two that never ran are left as they were.
    assert listed == {
        docs[0]: ("queued", None),
        docs[1]: ("queued", None),
        docs[2]: ("queued", None),
    }


async def test_arq_worker_runs_the_job_from_redis(runtime_factory: RuntimeFactory) -> None:
    queue_name = f"trulybot-test-{uuid.uuid4().hex[:8]}"
    arq_queue = await ArqQueue.connect(REDIS_URL, queue_name=queue_name)
    try:
        # The API enqueues to Redis; a worker (as `trulybot worker` builds it) runs the job.
        async with runtime_factory(jobs=arq_queue) as runtime, client_for(runtime) as client:
            await _arq_round_trip(client, await signup(client), runtime, queue_name)
    finally:
        await arq_queue.close()


async def _arq_round_trip(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime, queue_name: str
) -> None:
    doc_id = await _text_doc(client, owner, "Our support line answers within two hours.")
    worker = Worker(
        functions=worker_functions(job_registry()),
        redis_settings=RedisSettings.from_dsn(REDIS_URL),
        queue_name=queue_name,
        burst=True,
        handle_signals=False,
        poll_delay=0.05,
        ctx={knowledge_jobs.DEPS_KEY: runtime.ingestion, MAILER_KEY: runtime.mailer},
    )
    await worker.main()
    await worker.close()
    doc = (await client.get(owner.url(f"/documents/{doc_id}"), headers=owner.headers)).json()
    assert doc["status"] == "ready", doc
    assert worker.jobs_complete >= 1
    assert worker.jobs_failed == 0


async def test_a_jobs_log_lines_carry_its_workspace(runtime: Runtime, owner: Owner) -> None:
    """A worker has no request around a job: the job itself tags its log lines."""
    ws = uuid.UUID(owner.workspace_id)
    document_id = await queued_text_document(runtime, owner, title="Hours", body="Open 9 to 5.")
    ctx = {knowledge_jobs.DEPS_KEY: runtime.ingestion}
    with json_logs() as lines:
        assert await knowledge_jobs.ingest_document_job(ctx, str(ws), str(document_id)) == "ready"
    [ready] = [line for line in lines if str(line.get("event", "")).endswith("reused, 0 removed)")]
    assert ready["workspace_id"] == owner.workspace_id
    assert ready["logger"] == "rag.knowledge.jobs"


# --- fairness between workspaces ------------------------------------------------------------


class Recorder:
    """A job that records which job started; workspace A's jobs hold their slot until released,
    like a huge upload."""

    def __init__(self, expected_starts: int) -> None:
        self.started: list[str] = []
        self.release = asyncio.Event()
        self._expected = expected_starts
        self.enough = asyncio.Event()

    async def __call__(self, ctx: dict[str, Any], workspace_id: str, label: str) -> str:
        self.started.append(label)
        if len(self.started) >= self._expected:
            self.enough.set()
        if label.startswith("A"):
            await self.release.wait()
        return label

    async def wait(self) -> None:
        async with asyncio.timeout(30):  # a guard against hanging, not a timing assertion
            await self.enough.wait()


async def test_in_process_queue_keeps_a_slot_for_other_workspaces(runtime: Runtime) -> None:
    jobs = runtime.jobs  # the queue the API runs jobs on
    assert isinstance(jobs, InProcessQueue)
    work = Recorder(expected_starts=2)
    jobs.registry.register("work", work)
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    await jobs.enqueue("work", workspace_id=a, label="A1")  # a huge upload holds one slot
    await jobs.enqueue("work", workspace_id=a, label="A2")  # and another is queued behind it
    await jobs.enqueue("work", workspace_id=b, label="B1")  # another tenant's one-liner
    await work.wait()
    assert work.started == ["A1", "B1"]
    work.release.set()
    await jobs.drain()
    assert work.started == ["A1", "B1", "A2"]


async def test_in_process_queue_serves_waiting_workspaces_in_turn() -> None:
    work = Recorder(expected_starts=5)
    queue = InProcessQueue(JobRegistry({"work": work}), {}, concurrency=2, per_workspace=1)
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    for workspace, label in [(a, "A1"), (a, "A2"), (b, "B1"), (b, "B2"), (b, "B3"), (c, "C1")]:
        await queue.enqueue("work", workspace_id=workspace, label=label)
    await work.wait()
    # A holds one slot; B and C take turns on the other instead of B's whole backlog first.
    assert work.started == ["A1", "B1", "C1", "B2", "B3"]
    work.release.set()
    await queue.drain()
    assert work.started[-1] == "A2"
    await queue.close()


def test_the_jobs_someone_waits_for_are_outside_the_workspace_share() -> None:
    """An export, the analytics, notifications and the owner's webhook retries do not queue
    behind the workspace's ingestion (an owner's export waited 7.5 minutes behind a 10 MiB
    upload), nor does the cancel of a Razorpay subscription that charges the owner's card (nor
    the sweep's job that sends the waiting ones: it belongs to no workspace); ingestion, syncs,
    index builds and a purge keep the share."""
    registry = job_registry()
    assert {name for name in registry.functions if not registry.capped(name)} == {
        "build_workspace_export",
        "refresh_analytics",
        "notifications.dispatch",
        "mail.flush",
        "webhook_retry",
        "cancel_razorpay_subscription",
        "send_razorpay_cancels",
    }
    for name in ("ingest_document", "sync_source", "maintain_vector_index", "purge_workspace"):
        assert registry.capped(name), name


async def test_an_uncapped_job_runs_beside_its_workspaces_ingestion() -> None:
    work = Recorder(expected_starts=2)
    registry = JobRegistry({"ingest": work, "export": work}, uncapped={"export"})
    queue = InProcessQueue(registry, {}, concurrency=2, per_workspace=1)
    a = str(uuid.uuid4())
    await queue.enqueue("ingest", workspace_id=a, label="A1")  # holds A's share
    await queue.enqueue("ingest", workspace_id=a, label="A2")  # waits for it
    await queue.enqueue("export", workspace_id=a, label="export")
    await work.wait()
    assert work.started == ["A1", "export"]
    work.release.set()
    await queue.drain()
    assert work.started == ["A1", "export", "A2"]
    await queue.close()


@asynccontextmanager
async def arq_workers(
    registry: JobRegistry, work: Recorder, jobs: list[tuple[str, str, str]], max_jobs: int
) -> AsyncIterator[tuple[Worker, asyncio.Task[Any]]]:
    """``jobs`` (name, workspace, label) queued in Redis, then a burst worker with a share of
    one job per workspace and ``max_jobs`` slots, running until the block ends; everything is
    released and closed after it."""
    queue_name = f"trulybot-test-{uuid.uuid4().hex[:8]}"
    arq_queue = await ArqQueue.connect(REDIS_URL, queue_name=queue_name)
    for name, workspace, label in jobs:
        await arq_queue.enqueue(name, workspace_id=workspace, label=label)
    worker = Worker(
        functions=worker_functions(registry, per_workspace=1, lease_seconds=60, retry_delay=0.02),
        redis_settings=RedisSettings.from_dsn(REDIS_URL),
        queue_name=queue_name,
        max_jobs=max_jobs,
        burst=True,
        handle_signals=False,
        poll_delay=0.02,
    )
    running = asyncio.create_task(worker.main())
    try:
        yield worker, running
    finally:
        work.release.set()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await worker.close()
        await arq_queue.close()


async def _finished(worker: Worker, running: asyncio.Task[Any], redis_client: Redis) -> None:
    """The burst worker ran everything, failed nothing and gave every lease back."""
    async with asyncio.timeout(30):  # a guard against hanging, not a timing assertion
        await running
    assert worker.jobs_failed == 0
    assert await redis_client.keys("trulybot:jobs:lease:*") == []


async def test_arq_runs_an_uncapped_job_beside_its_workspaces_ingestion(
    redis_client: Redis,
) -> None:
    work = Recorder(expected_starts=2)

    async def export(ctx: dict[str, Any], workspace_id: str, label: str) -> str:
        return await work(ctx, workspace_id, label)  # arq runs coroutine functions only

    registry = JobRegistry({"ingest": work, "export": export}, uncapped={"export"})
    a = str(uuid.uuid4())
    jobs = [("ingest", a, "A1"), ("ingest", a, "A2"), ("export", a, "export")]
    async with arq_workers(registry, work, jobs, max_jobs=3) as (worker, running):
        await work.wait()
        # One ingestion holds A's share, the other waits; the export runs beside it.
        assert sorted(work.started) in (["A1", "export"], ["A2", "export"])
        work.release.set()
        await _finished(worker, running, redis_client)
        assert sorted(work.started) == ["A1", "A2", "export"]


async def test_arq_workers_keep_a_slot_for_other_workspaces(redis_client: Redis) -> None:
    work = Recorder(expected_starts=2)
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    jobs = [("work", a, "A1"), ("work", a, "A2"), ("work", b, "B1")]
    async with arq_workers(JobRegistry({"work": work}), work, jobs, max_jobs=2) as (
        worker,
        running,
    ):
        await work.wait()
        # One of A's jobs holds a slot (which one the two workers' pulls decide); B's job has
        # the other, and A's second job waits.
        assert sorted(label[0] for label in work.started) == ["A", "B"]
        work.release.set()
        await _finished(worker, running, redis_client)
        assert sorted(work.started) == ["A1", "A2", "B1"]
        assert work.started[2].startswith("A")


# --- keyed jobs: one waiting per stable id --------------------------------------------------


async def test_a_keyed_job_waits_once_per_id_in_process() -> None:
    release = asyncio.Event()
    ran: list[str] = []

    async def refresh(ctx: dict[str, Any], workspace_id: str) -> None:
        await release.wait()
        ran.append(workspace_id)

    queue = InProcessQueue(JobRegistry({"refresh": refresh}, keyed={"refresh"}), {}, concurrency=1)
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    assert await queue.enqueue("refresh", _job_id=f"refresh:{a}", workspace_id=a)  # runs
    assert await queue.enqueue("refresh", _job_id=f"refresh:{b}", workspace_id=b)  # waits
    assert await queue.enqueue("refresh", _job_id=f"refresh:{a}", workspace_id=a) == ""
    assert await queue.enqueue("refresh", _job_id=f"refresh:{b}", workspace_id=b) == ""
    release.set()
    await queue.drain()
    assert sorted(ran) == sorted([a, b])
    # Once it has run, the id is free again.
    assert await queue.enqueue("refresh", _job_id=f"refresh:{a}", workspace_id=a)
    await queue.drain()
    assert sorted(ran) == sorted([a, a, b])
    await queue.close()


async def test_a_keyed_job_waits_once_per_id_on_arq() -> None:
    ran: list[str] = []

    async def refresh(ctx: dict[str, Any], workspace_id: str) -> str:
        ran.append(workspace_id)
        return "done"

    registry = JobRegistry({"refresh": refresh}, keyed={"refresh"})
    queue_name = f"trulybot-test-{uuid.uuid4().hex[:8]}"
    queue = await ArqQueue.connect(REDIS_URL, queue_name=queue_name)
    a = str(uuid.uuid4())
    key = f"refresh:{a}"
    try:
        assert await queue.enqueue("refresh", _job_id=key, workspace_id=a) == key
        assert await queue.enqueue("refresh", _job_id=key, workspace_id=a) == ""
        assert await queue.pool.zcard(queue_name) == 1
        await _burst(registry, queue_name)
        assert ran == [a]
        # Its result is not kept (arq keeps one an hour and refuses the id meanwhile).
        assert await queue.enqueue("refresh", _job_id=key, workspace_id=a) == key
        await _burst(registry, queue_name)
        assert ran == [a, a]
    finally:
        await queue.pool.delete(queue_name, f"arq:job:{key}", f"arq:result:{key}")
        await queue.close()


async def _burst(registry: JobRegistry, queue_name: str) -> None:
    worker = Worker(
        functions=worker_functions(registry),
        redis_settings=RedisSettings.from_dsn(REDIS_URL),
        queue_name=queue_name,
        burst=True,
        handle_signals=False,
        poll_delay=0.05,
    )
    await worker.main()
    await worker.close()


async def test_the_analytics_rollup_queues_one_refresh_per_workspace_while_one_waits(
    runtime_factory: RuntimeFactory,
) -> None:
    """Workers lagging: every five minutes added one more refresh per workspace to the queue."""
    async with idle_arq(runtime_factory) as arq:
        owner = await signup(arq.client, f"Rollup {uuid.uuid4().hex[:8]}")
        [job] = [j for j in arq.runtime.scheduler.jobs if j.name == "analytics_rollup"]
        for _ in range(3):  # no worker takes them
            await job.run(utcnow())
        refreshes = [j for j in await arq.waiting() if j.function == "refresh_analytics"]
        mine = [j for j in refreshes if j.kwargs["workspace_id"] == owner.workspace_id]
        assert len(mine) == 1
        assert len(refreshes) == len({j.kwargs["workspace_id"] for j in refreshes})
