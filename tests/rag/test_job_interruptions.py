"""A document never stays ``queued`` or ``processing`` with nothing to finish it (found by the
topology soak, bench/topology_soak.py): an upload while the queue (Redis) is unreachable, and a
job cancelled mid-way (a job timeout, a worker shutting down), end ``failed`` with a reason."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from api import ingestion
from core.jobs import ArqQueue, JobArg
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge.embedders import HashEmbedder
from tests.conftest import RuntimeFactory, client_for, signup
from tests.own_redis import start_redis
from tests.ports import free_port as _free_port


class OwnRedis:
    """A redis-server of this test's own, on a fixed port: killed and started again by it."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = start_redis(self.port)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=10)


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    redis = OwnRedis()
    redis.start()
    yield redis
    redis.kill()


async def test_an_upload_while_the_queue_is_down_ends_failed_with_a_reason(
    runtime_factory: RuntimeFactory, own_redis: OwnRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingestion, "ENQUEUE_DELAYS", (0.0, 0.0))
    queue = await ArqQueue.connect(
        own_redis.url, queue_name=f"trulybot-test-{uuid.uuid4().hex[:8]}"
    )
    try:
        async with runtime_factory(jobs=queue) as runtime, client_for(runtime) as client:
            owner = await signup(client)
            own_redis.kill()  # Redis goes away after the API connected to it
            # The upload itself is accepted (the row is committed before the enqueue) ...
            r = await client.post(
                owner.url("/documents"),
                json={"title": "Hours", "text": "We open at nine on weekdays."},
                headers=owner.headers,
            )
            assert r.status_code == 202, r.text
            # ... and its job, not enqueued, does not leave it queued for good.
            doc = await client.get(owner.url(f"/documents/{r.json()['id']}"), headers=owner.headers)
            assert doc.json()["status"] == "failed"
            assert doc.json()["error_code"] == "queue_unavailable"
            assert "retry" in doc.json()["error"]
            own_redis.start()  # back (empty), for the runtime's own shutdown
    finally:
        await queue.close()


class HeldJobs:
    """A job queue that keeps what is enqueued and runs nothing (a worker that never came)."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[str, dict[str, JobArg]]] = []

    async def enqueue(self, name: str, *, _job_id: str | None = None, **kwargs: JobArg) -> str:
        self.enqueued.append((name, kwargs))
        return str(len(self.enqueued))

    async def drain(self) -> None:
        return None

    async def close(self) -> None:
        return None


class BlockingEmbedder(HashEmbedder):
    """Hangs in the document embedding until released: a job caught mid-way."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.entered.set()
        await self.release.wait()
        return await super().embed_documents(texts)


async def test_a_cancelled_job_leaves_the_document_failed_and_a_rerun_finishes_it(
    runtime_factory: RuntimeFactory,
) -> None:
    embedder = BlockingEmbedder()
    queue = HeldJobs()  # the test runs the job itself
    try:
        async with (
            runtime_factory(embedder=embedder, jobs=queue) as runtime,
            client_for(runtime) as client,
        ):
            owner = await signup(client)
            r = await client.post(
                owner.url("/documents"),
                json={"title": "Parking", "text": "Parking is free after six in the evening."},
                headers=owner.headers,
            )
            assert r.status_code == 202, r.text
            doc_id, ws = uuid.UUID(r.json()["id"]), uuid.UUID(owner.workspace_id)
            job = asyncio.create_task(knowledge_jobs.ingest_document(runtime.ingestion, ws, doc_id))
            await embedder.entered.wait()  # mid-way: embedding; then the job timeout strikes
            job.cancel()
            with pytest.raises(asyncio.CancelledError):
                await job
            url = owner.url(f"/documents/{doc_id}")
            doc = (await client.get(url, headers=owner.headers)).json()
            assert doc["status"] == "failed"
            assert doc["error_code"] == "interrupted"
            # arq runs a job cancelled by a worker's shutdown again: that run finishes it.
            embedder.release.set()
            assert await knowledge_jobs.ingest_document(runtime.ingestion, ws, doc_id) == "ready"
            doc = (await client.get(url, headers=owner.headers)).json()
            assert doc["status"] == "ready"
            assert doc["error_code"] is None
            assert knowledge_jobs.INGEST_JOB in [name for name, _ in queue.enqueued]
    finally:
        await queue.close()
