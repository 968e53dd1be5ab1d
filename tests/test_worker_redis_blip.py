"""`trulybot worker` through a short Redis outage (a restart, a failover, a connection reset):
it waits for Redis to come back and goes on taking jobs. It exited at the first failed poll,
so a Redis restart of a second took every worker down, and where nothing restarted them (a
`docker compose` service without a restart policy, a worker started by hand) uploads stayed
queued for good. A Redis that stays away still ends the worker with one line
(tests/test_operator_first_hour.py)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.exceptions import RedisError

from api.commands.worker import redis_delays
from core.config import Settings
from core.embedded import EmbeddedPostgres
from core.jobs import ArqQueue
from core.mail import FLUSH_JOB
from rag.knowledge import requeue
from rag.knowledge.unfinished import INTERRUPTED
from tests.cli_process import Process, kill_group, start_worker
from tests.fakes.openai_server import FakeOpenAI
from tests.forked_cli import Forked
from tests.operator_scratch import APP_ROLE, SECRET, Scratch, _scalar, _scratch, queued_document
from tests.own_redis import start_redis
from tests.ports import free_port as _free_port
from tests.test_operator_recovery import DIMENSIONS

GUARD = 120
"""Seconds after which a wait fails the test (a guard against hanging, not a timing assertion)."""


@pytest.fixture(scope="module")
async def ops(pg: EmbeddedPostgres) -> AsyncIterator[Scratch]:
    async for value in _scratch(pg, "trulybot_worker_blip"):
        yield value


def _stop(process: Process) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


async def _start_worker(
    ops: Scratch, tmp_path: Path, url: str, *, log_name: str = "worker.log", **extra: str
) -> tuple[Forked, Path]:
    """`trulybot worker` on ``url`` (with the settings ``extra``), once it said it is ready;
    its log."""
    log = tmp_path / log_name
    env = {
        "DATABASE_URL": ops.cluster.app_url(APP_ROLE),
        "DATA_DIR": str(tmp_path),
        "JWT_SECRET": SECRET,
        "REDIS_URL": url,
        "LOG_JSON": "false",
        "SCHEDULER_ENABLED": "false",
        "EMBEDDING_DIMENSIONS": str(await _scalar(ops, DIMENSIONS)),
        **extra,
    }
    return start_worker(env=env, log=log), log


async def test_a_worker_rides_through_a_redis_restart(ops: Scratch, tmp_path: Path) -> None:
    port = _free_port()
    redis = start_redis(port)
    url = f"redis://127.0.0.1:{port}/0"
    queue: ArqQueue | None = None
    worker: Forked | None = None
    try:
        worker, log = await _start_worker(ops, tmp_path, url)
        # A Redis restart: its connections reset, refused for a few of the worker's polls
        # (each 0.5 s apart) until it is back.
        _stop(redis)
        time.sleep(3)
        redis = start_redis(port)

        queue = await ArqQueue.connect(url)
        job = await queue.enqueue(FLUSH_JOB)
        deadline = time.monotonic() + GUARD
        while not await queue.pool.exists(f"arq:result:{job}"):
            said = log.read_text(errors="replace")[-4000:]
            assert worker.poll() is None, said  # the worker exited instead of waiting
            assert time.monotonic() < deadline, said
            time.sleep(0.2)
        assert worker.poll() is None
    finally:
        if queue is not None:
            await queue.close()
        if worker is not None:
            kill_group(worker)
        _stop(redis)


async def test_a_worker_whose_redis_stays_away_says_so_in_one_line(
    ops: Scratch, tmp_path: Path
) -> None:
    """The waiting has an end: a Redis gone for good still ends the worker (for its
    supervisor), in one line and after its own shutdown. A job under way then (a document
    waiting on its embeddings) is cancelled as a stop cancels it: its document ends `failed`
    with `interrupted` (Retry in the dashboard). It was dropped with the worker's loop, and the
    document stayed `processing` until the sweep took it for dead an hour later."""
    port = _free_port()
    redis = start_redis(port)
    url = f"redis://127.0.0.1:{port}/0"
    dimensions = int(str(await _scalar(ops, DIMENSIONS)))
    with FakeOpenAI(embedding_dimensions=dimensions) as provider:
        # A short patience: the give-up and its line are the same after 1.5 s as after the
        # default 31.5 s (how long one outage is waited is counted in the next test, not timed).
        worker, log = await _start_worker(
            ops,
            tmp_path,
            url,
            WORKER_REDIS_PATIENCE_SECONDS="1.5",
            EMBEDDING_PROVIDER="openai",
            OPENAI_API_KEY="test",
            OPENAI_BASE_URL=provider.base_url,
        )
        queue = await ArqQueue.connect(url)
        try:
            provider.hang = True
            document = await queued_document(ops, "Refunds take five days. " * 20)
            await requeue.enqueue(queue, ops.workspace_id, document, 1)
            assert await asyncio.to_thread(provider.hanging.wait, GUARD), log.read_text()
            _stop(redis)
            code = worker.wait(timeout=GUARD)
            said = log.read_text(errors="replace")
            assert code != 0, said
            assert "Traceback" not in said, said
            assert f"REDIS_URL: lost the connection to 127.0.0.1:{port}" in said, said
            assert "did not come back within 1.5 s" in said, said
            status = await _scalar(
                ops,
                "SELECT status || ':' || coalesce(error_code, '') FROM documents WHERE id = :id",
                id=document,
            )
            assert status == f"failed:{INTERRUPTED}", said
        finally:
            provider.hang = False
            await queue.close()
            kill_group(worker)
            _stop(redis)


def test_the_pauses_add_up_to_the_patience() -> None:
    """0.5, 1, 2, then 4 s apart, the last pause shortened to end at the patience."""
    assert redis_delays(31.5) == (0.5, 1, 2, 4, 4, 4, 4, 4, 4, 4)
    assert redis_delays(1.5) == (0.5, 1)
    assert redis_delays(5) == (0.5, 1, 2, 1.5)
    assert redis_delays(0.5) == (0.5,)


@pytest.mark.parametrize(
    "patience", [Settings.model_fields["worker_redis_patience_seconds"].default, 5]
)
async def test_one_command_on_a_redis_that_stays_away_gives_up_after_the_patience(
    monkeypatch: pytest.MonkeyPatch, patience: float
) -> None:
    """One command of the worker's pool tries Redis once per pause (``redis_delays``) and once
    more, WORKER_REDIS_PATIENCE_SECONDS of backoff in all, and then fails. redis-py's connect()
    retried with the same Retry inside each of the command's retries: 11 x 11 connects and
    ~10 x the patience (a worker said "did not come back within 32 s" after 63 s and more).
    Counted, not timed: the backoff sleeps are recorded instead of slept, the connects counted."""
    import redis.asyncio.connection as redis_connection
    import redis.asyncio.retry as redis_retry
    from arq.connections import RedisSettings, create_pool

    from api.commands.worker import _redis_settings

    port = _free_port()
    server = start_redis(port)
    settings = _redis_settings(RedisSettings.from_dsn(f"redis://127.0.0.1:{port}/0"), patience)
    pool = await create_pool(settings)
    try:
        assert await pool.zcard("arq:queue") == 0
        _stop(server)

        slept: list[float] = []
        connects = 0
        real_connect = redis_connection.Connection._connect

        async def record(seconds: float) -> None:
            slept.append(seconds)

        async def counted(self: redis_connection.Connection) -> None:
            nonlocal connects
            connects += 1
            await real_connect(self)

        monkeypatch.setattr(redis_retry, "sleep", record)
        monkeypatch.setattr(redis_connection.Connection, "_connect", counted)
        with pytest.raises((OSError, RedisError)):
            await pool.zrangebyscore("arq:queue", min=float("-inf"), max=1)
        assert 0 < connects <= len(redis_delays(patience)) + 1
        assert sum(slept) == patience

        # The next command (the worker's poll, queued behind the first on redis-py's pool
        # lock) does not wait as long again: one try. Was 2 x the patience in all.
        connects = 0
        with pytest.raises((OSError, RedisError)):
            await pool.zcard("arq:queue")
        assert connects == 1
        assert sum(slept) == patience

        # Once Redis answers again, the next outage is waited out again.
        server = start_redis(port)
        assert await pool.zcard("arq:queue") == 0
        _stop(server)
        slept.clear()
        with pytest.raises((OSError, RedisError)):
            await pool.zcard("arq:queue")
        assert sum(slept) == patience
    finally:
        monkeypatch.undo()
        await pool.aclose()
        _stop(server)
