"""Background jobs: arq on Redis when REDIS_URL is set, asyncio tasks in-process otherwise.

Job functions have arq's signature, ``async def fn(ctx: dict, **ids) -> Any``, carry ids only, and
must be idempotent (arq delivers at least once). ``core`` imports no domain: the api/cli layer
fills a :class:`JobRegistry` with the domains' functions and builds the context they receive.
Enqueue only after the unit of work that created the rows has committed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

log = logging.getLogger(__name__)

JobFunction = Callable[..., Awaitable[Any]]
JobArg = str | int | float | bool | None


class JobRegistry:
    """Name -> job function; shared by the in-process queue and the arq worker."""

    def __init__(self, functions: Mapping[str, JobFunction] | None = None) -> None:
        self.functions: dict[str, JobFunction] = dict(functions or {})

    def register(self, name: str, function: JobFunction) -> None:
        self.functions[name] = function

    def get(self, name: str) -> JobFunction:
        try:
            return self.functions[name]
        except KeyError:
            raise KeyError(f"no job function named {name!r}") from None


class JobQueue(Protocol):
    async def enqueue(self, name: str, **kwargs: JobArg) -> str: ...

    async def drain(self) -> None:
        """Wait until every job enqueued so far (and the jobs they enqueue) has finished."""

    async def close(self) -> None: ...


class InProcessQueue:
    """Runs jobs as asyncio tasks in this process, at most ``concurrency`` at a time.

    Single-process only: a job still queued when the process stops is lost (its row stays
    ``queued``; ``POST .../documents/{id}/retry`` enqueues it again). Failures are logged and
    kept in ``failures`` (tests assert on them).
    """

    def __init__(
        self, registry: JobRegistry, ctx: dict[str, Any] | None = None, *, concurrency: int = 2
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be positive")
        self.registry = registry
        self.ctx: dict[str, Any] = ctx if ctx is not None else {}
        self._semaphore = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.failures: list[tuple[str, BaseException]] = []
        self.completed = 0

    async def enqueue(self, name: str, **kwargs: JobArg) -> str:
        function = self.registry.get(name)
        job_id = uuid.uuid4().hex
        task = asyncio.create_task(self._run(job_id, name, function, kwargs), name=f"job:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job_id

    async def _run(
        self, job_id: str, name: str, function: JobFunction, kwargs: dict[str, JobArg]
    ) -> None:
        async with self._semaphore:
            ctx = {**self.ctx, "job_id": job_id, "job_try": 1}
            try:
                await function(ctx, **kwargs)
                self.completed += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("job %s (%s) failed", name, job_id)
                self.failures.append((name, exc))

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


class ArqQueue:
    """Enqueues to Redis for `trulybot worker` (arq) to run."""

    def __init__(self, pool: Any, *, queue_name: str | None = None) -> None:
        self.pool = pool  # arq.connections.ArqRedis
        self.queue_name = queue_name

    @classmethod
    async def connect(cls, redis_url: str, *, queue_name: str | None = None) -> ArqQueue:
        from arq import create_pool
        from arq.connections import RedisSettings

        pool = await create_pool(RedisSettings.from_dsn(redis_url))
        return cls(pool, queue_name=queue_name)

    async def enqueue(self, name: str, **kwargs: JobArg) -> str:
        options: dict[str, Any] = {}
        if self.queue_name:
            options["_queue_name"] = self.queue_name
        job = await self.pool.enqueue_job(name, **kwargs, **options)
        return str(job.job_id) if job is not None else ""

    async def drain(self) -> None:
        """Jobs run in other processes; poll Redis until the queue is empty."""
        from arq.constants import default_queue_name

        queue = self.queue_name or default_queue_name
        while await self.pool.zcard(queue):  # noqa: ASYNC110 - the queue lives in Redis
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        await self.pool.aclose()


def worker_functions(registry: JobRegistry) -> list[Any]:
    """The registry as arq function definitions."""
    from arq.worker import func

    functions: dict[str, Any] = dict(registry.functions)
    return [func(fn, name=name) for name, fn in functions.items()]
