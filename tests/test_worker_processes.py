"""`trulybot worker` as an operator runs it, in its own process on a Redis of its own: /readyz
sees whether one takes the queue, and a worker stopped mid-job leaves the job to the next.

/readyz with REDIS_URL and no worker: the API enqueues every job to Redis, so uploads stayed
``queued``, no mail was sent and no periodic job ran, while /readyz said "ready" (database ok,
redis ok) and nothing else told the operator who forgot the worker. Each worker now notes
itself as it polls the queue (core/worker_presence.py); /readyz reports ``worker`` (still 200:
the API serves) and says ``degraded`` while none is seen.

SIGTERM to a worker while a job runs (a rolling deploy, a scale-down): the worker exits, and
the job is run again by the next worker, not lost. The job waits on the embeddings provider (a
local fake that hangs) when the signal comes."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from core.embedded import EmbeddedPostgres
from core.jobs import ArqQueue
from rag.knowledge import jobs as knowledge_jobs
from tests.cli_process import kill_group
from tests.conftest import RuntimeFactory, client_for, idle_arq
from tests.fakes.openai_server import FakeOpenAI
from tests.operator_scratch import Scratch, _scalar, _scratch, queued_document
from tests.own_redis import start_redis
from tests.ports import free_port as _free_port
from tests.test_operator_recovery import DIMENSIONS
from tests.test_worker_redis_blip import (
    GUARD,
    _start_worker,
    _stop,
)


@pytest.fixture(scope="module")
async def ops(pg: EmbeddedPostgres) -> AsyncIterator[Scratch]:
    async for value in _scratch(pg, "trulybot_worker_processes"):
        yield value


async def test_readyz_says_when_no_worker_takes_the_queue(
    runtime_factory: RuntimeFactory,
) -> None:
    async with idle_arq(runtime_factory) as idle:
        ready = await idle.client.get("/readyz")
    assert ready.status_code == 200, ready.text  # the API still serves: never out of the balancer
    body = ready.json()
    assert body["status"] == "degraded", body
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["worker"].startswith("none seen in 30 s: uploads stay queued"), body


async def _worker_check(client: httpx.AsyncClient) -> str:
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    return str(ready.json()["checks"].get("worker"))


async def test_readyz_sees_a_running_worker_and_its_stop(
    ops: Scratch, runtime_factory: RuntimeFactory, tmp_path: Path
) -> None:
    port = _free_port()
    server = start_redis(port)
    url = f"redis://127.0.0.1:{port}/0"
    redis = Redis.from_url(url)
    queue = ArqQueue.lazy(url)  # serve's queue: arq's default, as the worker's
    worker = None
    try:
        async with (
            runtime_factory(redis=redis, jobs=queue, redis_url=url) as runtime,
            client_for(runtime) as client,
        ):
            assert (await _worker_check(client)).startswith("none seen")
            worker, _log = await _start_worker(ops, tmp_path, url)
            deadline = time.monotonic() + GUARD  # a guard against hanging, not a timing check
            while (said := await _worker_check(client)) != "ok":
                assert worker.poll() is None, said
                assert time.monotonic() < deadline, said
                await asyncio.sleep(0.2)
            assert (await client.get("/readyz")).json()["status"] == "ready"
            worker.send_signal(signal.SIGTERM)  # a clean stop takes its entry out at once
            assert await asyncio.to_thread(worker.wait, GUARD) == 0
            assert (await _worker_check(client)).startswith("none seen")
            # A job the worker had under way when stopped (the runtime's start-up mail.flush)
            # is back in the queue for the next worker, as arq does: none comes to this Redis.
            await redis.flushdb()
    finally:
        if worker is not None:
            kill_group(worker)
        await queue.close()
        await redis.aclose()
        _stop(server)


async def _status(ops: Scratch, document_id: uuid.UUID) -> tuple[str, str | None]:
    row = await _scalar(
        ops,
        "SELECT status || '/' || coalesce(error_code, '') FROM documents WHERE id = :d",
        d=document_id,
    )
    status, _, code = str(row).partition("/")
    return status, code or None


async def test_a_worker_stopped_mid_job_leaves_the_job_to_the_next_worker(
    ops: Scratch, tmp_path: Path
) -> None:
    dims = int(str(await _scalar(ops, DIMENSIONS)))
    port = _free_port()
    server = start_redis(port)
    url = f"redis://127.0.0.1:{port}/0"
    fake = FakeOpenAI(hang=True, embedding_dimensions=dims).start()
    queue = await ArqQueue.connect(url)
    provider = {
        "EMBEDDING_PROVIDER": "openai",
        "OPENAI_API_KEY": "sk-test-" + uuid.uuid4().hex,
        "OPENAI_BASE_URL": fake.base_url,
    }
    workers = []
    try:
        document_id = await queued_document(
            ops, "The help desk answers from nine to five, Monday to Friday."
        )
        await queue.enqueue(
            knowledge_jobs.INGEST_JOB,
            workspace_id=str(ops.workspace_id),
            document_id=str(document_id),
        )
        first, first_log = await _start_worker(ops, tmp_path, url, **provider)
        workers.append(first)
        # The job is under way: its embeddings request waits on the provider.
        assert await asyncio.to_thread(fake.hanging.wait, GUARD)
        first.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(first.wait, GUARD)
        said = first_log.read_text(errors="replace")
        assert code == 0, said[-4000:]
        assert "Traceback" not in said, said[-4000:]
        assert (await _status(ops, document_id))[0] != "ready"
        fake.hang = False  # the provider answers again
        second, second_log = await _start_worker(
            ops, tmp_path, url, log_name="worker2.log", **provider
        )
        workers.append(second)
        deadline = time.monotonic() + GUARD  # a guard against hanging, not a timing check
        while (status := await _status(ops, document_id))[0] != "ready":
            assert time.monotonic() < deadline, (status, second_log.read_text()[-4000:])
            await asyncio.sleep(0.2)
        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, GUARD) == 0
    finally:
        for worker in workers:
            kill_group(worker)
        await queue.close()
        fake.stop()
        _stop(server)
