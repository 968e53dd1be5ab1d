"""A Redis that stops answering on an open connection (a network partition, a failover whose old
address still accepts): the API's queue gives up on it like on a Redis that refuses, so an
upload ends ``queue_unavailable`` and a stopping server does not wait on its mail kicks
(scale-out review F3: the queue's client had no socket timeout and waited until TCP gave up)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from api.runtime import Runtime
from core.jobs import ArqQueue
from core.mail import FLUSH_JOB, Mailer
from rag.knowledge import requeue
from tests.conftest import REDIS_URL

GUARD = 60
"""Seconds after which a hanging call fails the test (a guard, not a timing assertion)."""


class Partition:
    """A TCP proxy to the test Redis that, once ``cut``, keeps every connection open and
    forwards nothing either way."""

    def __init__(self) -> None:
        self.cut = False
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        host, _, rest = REDIS_URL.removeprefix("redis://").partition(":")
        port, _, database = rest.partition("/")

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                if not self.cut:
                    dst.write(data)
                    await dst.drain()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            self.writers += [writer, up_writer]
            for task in (
                asyncio.create_task(pipe(reader, up_writer)),
                asyncio.create_task(pipe(up_reader, writer)),
            ):
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

        self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        bound = self.server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{bound}/{database or 0}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in self.writers:
            writer.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture
async def partitioned() -> AsyncIterator[tuple[Partition, ArqQueue]]:
    """The API's queue (``ArqQueue.lazy``, as serve builds it) through a ``Partition``, after
    one enqueue that went through (the connection is open when the network goes)."""
    partition = Partition()
    queue = ArqQueue.lazy(await partition.start(), queue_name=f"test-{uuid.uuid4().hex[:8]}")
    try:
        assert await queue.enqueue(FLUSH_JOB)
        partition.cut = True
        yield partition, queue
    finally:
        partition.cut = False
        await queue.pool.delete(str(queue.queue_name))
        await queue.close()
        await partition.stop()


async def test_an_enqueue_to_a_redis_that_stopped_answering_gives_up(
    partitioned: tuple[Partition, ArqQueue],
) -> None:
    """What makes an upload end ``failed`` with ``queue_unavailable`` (api/ingestion.py): the
    retried enqueue returns False. It used to wait for minutes with the document ``queued``."""
    _, queue = partitioned
    enqueued = requeue.enqueue_retrying(queue, uuid.uuid4(), uuid.uuid4(), 1, delays=(0.0, 0.0))
    assert await asyncio.wait_for(enqueued, GUARD) is False


async def test_a_stopping_server_does_not_wait_on_mail_kicks_to_a_silent_redis(
    partitioned: tuple[Partition, ArqQueue], runtime: Runtime
) -> None:
    """The runtime's shutdown settles the mailer's kicks (flush requests enqueued after a commit
    that wrote mail); with the queue's Redis silent they used to hold the shutdown."""
    _, queue = partitioned
    mailer = Mailer(
        runtime.db, runtime.mailer.config, runtime.mailer.templates, enqueue_job=queue.enqueue
    )
    for _ in range(3):
        mailer._kick()  # what a commit with mail in it does
    await asyncio.wait_for(mailer.settle(), GUARD)
    assert not mailer._kicks
