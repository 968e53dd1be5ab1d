"""A REDIS_URL whose password holds characters a URL must escape (``%40`` for ``@``, ``%2F``
for ``/``: a managed Redis's generated password, an access key in base64) is read as one
password by serve and by `trulybot worker`. Serve's clients (redis-py) unescape it; the worker
gave arq's reading of the URL (``RedisSettings.from_dsn``), which kept ``%40`` as typed: its
check before the start (redis-py) passed, then every connection of arq's was refused
(WRONGPASS) and the jobs serve queued were never run."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest

from core.embedded import EmbeddedPostgres
from core.jobs import ArqQueue
from core.mail import FLUSH_JOB
from tests.cli_process import kill_group
from tests.operator_scratch import Scratch, _scratch
from tests.own_redis import start_redis
from tests.ports import free_port
from tests.test_worker_redis_blip import _start_worker

GUARD = 120
"""Seconds after which a wait fails the test (a guard against hanging, not a timing assertion)."""
PASSWORD = "Zk8/q+e@W3#r%t=9:x?"
"""Every character a URL's password must escape: ``/ @ # % ? :`` and the base64 ones."""


@pytest.fixture(scope="module")
async def ops(pg: EmbeddedPostgres) -> AsyncIterator[Scratch]:
    async for value in _scratch(pg, "trulybot_worker_redis_password"):
        yield value


async def test_the_worker_runs_what_serve_queues_on_a_redis_whose_password_is_escaped(
    ops: Scratch, tmp_path: Path
) -> None:
    port = free_port()
    redis = start_redis(port, "--requirepass", PASSWORD)
    url = f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/2"
    queue = ArqQueue.lazy(url)  # serve's queue
    worker = None
    try:
        worker, log = await _start_worker(ops, tmp_path, url, WORKER_REDIS_PATIENCE_SECONDS="1.5")
        job = await queue.enqueue(FLUSH_JOB)
        deadline = time.monotonic() + GUARD
        while not await queue.pool.exists(f"arq:result:{job}"):
            said = log.read_text(errors="replace")[-4000:]
            assert worker.poll() is None, said  # the worker exited instead of running it
            assert time.monotonic() < deadline, said
            time.sleep(0.2)
        assert worker.poll() is None
        assert PASSWORD not in log.read_text(errors="replace")
    finally:
        await queue.close()
        if worker is not None:
            kill_group(worker)
        redis.terminate()
        redis.wait(timeout=30)
