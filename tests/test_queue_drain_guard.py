"""The tests' runtime waits for the jobs it enqueued to Redis before it closes
(``tests.conftest.make_runtime``). A job no worker will take (a test's own Redis whose worker it
stopped: the worker gives its cancelled job back to the queue, as arq does on SIGTERM) made
that wait endless: the whole suite hung at 99 % until CI's time ran out
(``test_readyz_sees_a_running_worker_and_its_stop``, the start-up ``mail.flush`` given back).
Now the wait is bounded and fails naming the jobs left."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from core.jobs import ArqQueue
from tests import conftest
from tests.conftest import RuntimeFactory
from tests.own_redis import start_redis
from tests.ports import free_port
from tests.test_worker_redis_blip import _stop


async def test_a_job_no_worker_takes_fails_the_runtimes_close_instead_of_hanging(
    runtime_factory: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conftest, "DRAIN_GUARD", 1.0)  # the bound, not a timing check
    port = free_port()
    server = start_redis(port)
    url = f"redis://127.0.0.1:{port}/0"
    redis = Redis.from_url(url)
    queue = ArqQueue.lazy(url)
    try:
        with pytest.raises(AssertionError, match=r"left in the queue.*nobody\.takes"):
            async with runtime_factory(redis=redis, jobs=queue, redis_url=url):
                await queue.enqueue("nobody.takes", _job_id="left-behind")
    finally:
        await queue.close()
        await redis.aclose()
        _stop(server)
