"""/readyz when Redis answers its ping but not the worker count in time (a Redis busy with a
slow script, a failover under way): the ``worker`` line was left out without a word, so the
check read as if jobs ran in this process. It now says the worker check had no answer.

The API's Redis is a real redis-server of this test's own, whose scripts are held with
``CLIENT PAUSE ... WRITE`` (a PING still answers; EVAL, which counts the workers, waits)."""

from __future__ import annotations

from redis.asyncio import Redis

from core.jobs import ArqQueue
from tests.conftest import RuntimeFactory, client_for
from tests.own_redis import start_redis
from tests.ports import free_port as _free_port
from tests.test_worker_redis_blip import _stop


async def test_readyz_says_when_the_worker_count_does_not_come_in_time(
    runtime_factory: RuntimeFactory,
) -> None:
    port = _free_port()
    server = start_redis(port)
    url = f"redis://127.0.0.1:{port}/0"
    redis = Redis.from_url(url)
    admin = Redis.from_url(url)
    queue = ArqQueue.lazy(url)
    try:
        async with (
            runtime_factory(redis=redis, jobs=queue, redis_url=url) as runtime,
            client_for(runtime) as client,
        ):
            before = (await client.get("/readyz")).json()
            assert before["checks"]["worker"].startswith("none seen"), before
            await admin.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")
            try:
                ready = await client.get("/readyz")
            finally:
                await admin.execute_command("CLIENT", "UNPAUSE")
    finally:
        await queue.close()
        await redis.aclose()
        await admin.aclose()
        _stop(server)
    assert ready.status_code == 200, ready.text  # reported, never out of the balancer
    body = ready.json()
    assert body["checks"]["redis"] == "ok", body
    assert body["checks"]["worker"].startswith("unknown: Redis did not say in time"), body
    assert body["status"] == "degraded", body
