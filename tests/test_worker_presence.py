"""/readyz with REDIS_URL and no `trulybot worker`: the API enqueues every job to Redis, so
uploads stayed ``queued``, no mail was sent and no periodic job ran, while /readyz said
"ready" (database ok, redis ok) and nothing else told the operator who forgot the worker.
Each worker now notes itself as it polls the queue (core/worker_presence.py); /readyz reports
``worker`` (still 200: the API serves) and says ``degraded`` while none is seen."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from core.embedded import EmbeddedPostgres
from core.jobs import ArqQueue
from tests.conftest import RuntimeFactory, client_for, idle_arq
from tests.test_operator_commands import Scratch, _scratch
from tests.test_worker_redis_blip import (
    GUARD,
    _free_port,
    _kill,
    _redis_server,
    _start_worker,
    _stop,
)


@pytest.fixture(scope="module")
async def ops(pg: EmbeddedPostgres) -> AsyncIterator[Scratch]:
    async for value in _scratch(pg, "trulybot_worker_presence"):
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
    server = _redis_server(port)
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
    finally:
        if worker is not None:
            _kill(worker)
        await queue.close()
        await redis.aclose()
        _stop(server)
