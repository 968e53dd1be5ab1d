"""`trulybot worker`: run the ingestion jobs from Redis with arq (needs REDIS_URL)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from contextvars import ContextVar
from typing import Any, TypeVar

from api.arguments import bounded
from core.config import get_settings
from core.errors import ConfigError

_STACK_KEY = "runtime_stack"
log = logging.getLogger("trulybot.worker")


def redis_delays(patience: float) -> tuple[float, ...]:
    """The pauses before each new try of a Redis command that failed for a lost connection:
    0.5, 1, 2 s and then 4 s apart, the last one shortened so that they add up to ``patience``
    (WORKER_REDIS_PATIENCE_SECONDS; the default 31.5 s is ten tries again). A Redis restart, a
    failover, a connection reset is waited out; a Redis that stays away ends the worker. Once per
    outage: the reconnects inside a command's tries, and the commands after one gave up, try
    once (``_redis_settings``)."""
    delays: list[float] = []
    left = patience
    while left > 0:
        delay = min(left, 0.5 * 2 ** min(len(delays), 3))
        delays.append(delay)
        left -= delay
    return tuple(delays)


T = TypeVar("T")
CANCEL_GRACE_SECONDS = 10.0
"""How long the jobs a worker cancels when Redis stayed away may take to record it."""
_RETRYING: ContextVar[bool] = ContextVar("trulybot_redis_retrying", default=False)
"""Set while a Redis call is being retried (``_redis_settings``), for the calls nested in it."""


def _cmd(args: argparse.Namespace) -> int:
    from arq.worker import Worker
    from redis.exceptions import RedisError

    from api.job_registry import job_registry
    from api.runtime import build_runtime
    from api.start_checks import (
        check_schema,
        check_vector_column,
        exception_line,
        redis_address,
    )
    from api.worker_metrics import WorkerMetricsServer
    from core.jobs import ArqQueue, worker_functions
    from core.mail import MAILER_KEY
    from core.redis import arq_redis_settings
    from core.worker_presence import Presence
    from lifecycle import jobs as lifecycle_jobs
    from rag.chat import notify
    from rag.knowledge import jobs as knowledge_jobs
    from rag.knowledge.rerank import NoReranker
    from workspaces import notification_delivery

    settings = get_settings()
    if problem := settings.mail_problem():
        raise SystemExit(f"trulybot worker: {problem}")
    if not settings.redis_url:
        raise SystemExit("REDIS_URL is not set: without it jobs run inside `trulybot serve`")
    if args.metrics_port is not None and not settings.metrics_token:
        raise SystemExit(
            "trulybot worker: --metrics-port needs METRICS_TOKEN (the bearer token a scrape"
            " of /metrics sends)"
        )

    # Said in one line (arq's own retries ended in a traceback of 60 lines naming no setting).
    redis_url = settings.redis_url
    if problem := asyncio.run(_redis_unreachable(redis_url)):
        raise ConfigError(f"REDIS_URL: cannot connect to {redis_address(redis_url)} ({problem})")

    async def startup(ctx: dict[str, Any]) -> None:
        # The jobs this worker causes (index maintenance) go back to Redis on arq's own pool.
        stack = AsyncExitStack()
        runtime = await stack.enter_async_context(
            build_runtime(
                settings,
                # The embedded database is migrated here as `serve` migrates it (a first
                # `trulybot worker` on a fresh DATA_DIR said "run `trulybot migrate` first");
                # a configured one is migrated by `trulybot migrate`, once per deploy.
                apply_migrations=settings.database_url is None,
                statement_timeout_ms=0,
                jobs=ArqQueue(ctx["redis"]),
                reranker=NoReranker(),  # jobs never search: no cross-encoder in memory here
            )
        )
        try:
            await check_schema(runtime.db)
            await check_vector_column(runtime)
        except BaseException:
            await stack.aclose()
            raise
        if args.metrics_port is not None and settings.metrics_token:
            metrics = WorkerMetricsServer(settings.host, args.metrics_port, settings.metrics_token)
            try:
                await metrics.start()
            except OSError as exc:
                await stack.aclose()
                raise ConfigError(
                    f"trulybot worker: cannot listen on {settings.host}:{args.metrics_port} for"
                    f" /metrics ({exc.strerror or exc}): check HOST and --metrics-port"
                ) from None
            stack.push_async_callback(metrics.close)
        ctx[_STACK_KEY] = stack
        ctx[knowledge_jobs.DEPS_KEY] = runtime.ingestion
        ctx[MAILER_KEY] = runtime.mailer
        await runtime.mailer.kick()  # messages a previous process left in the outbox
        ctx[lifecycle_jobs.DEPS_KEY] = runtime.lifecycle
        ctx[notification_delivery.DEPS_KEY] = runtime.notifications
        ctx[notify.DEPS_KEY] = runtime.notifier
        if settings.scheduler_enabled:
            # With Redis the workers drive the periodic jobs, not the API replicas; the lease
            # row of each job lets one process run each due time (core/scheduler.py).
            runtime.scheduler.start(settings.scheduler_poll_seconds)
        log.info("worker ready: jobs from %s", redis_address(redis_url))

    async def shutdown(ctx: dict[str, Any]) -> None:
        stack: AsyncExitStack | None = ctx.pop(_STACK_KEY, None)
        if stack is not None:
            await stack.aclose()

    class _Worker(Worker):
        presence: Presence | None = None

        async def _cancel_running(self) -> None:
            running = [task for task in self.tasks.values() if not task.done()]
            for task in running:
                task.cancel()
            if not running:
                return
            done, _ = await asyncio.wait(running, timeout=CANCEL_GRACE_SECONDS)
            for task in done:  # arq's own clean-up failed on Redis, which is gone: said below
                if not task.cancelled():
                    task.exception()

        async def heart_beat(self) -> None:
            # Noted as the queue is polled, for /readyz ("worker": none without one).
            await super().heart_beat()
            if self.presence is None:
                self.presence = Presence(self.pool, self.queue_name)
            await self.presence.beat()

        async def close(self) -> None:
            # Redis stayed away past its patience: arq's close would wait as long again on
            # its health-check key. The poll's error is what the worker ends with.
            main = self.main_task
            ended = main is not None and main.done() and not main.cancelled()
            lost = main.exception() if main is not None and ended else None
            if isinstance(lost, (RedisError, OSError)):
                # The jobs under way are cancelled as a stop cancels them, so that each says
                # so where the owner looks (a document ends `failed`, `interrupted`): they
                # were dropped with the loop and a document stayed `processing` for an hour.
                await self._cancel_running()
                raise lost
            if self.presence is not None:
                with contextlib.suppress(RedisError, OSError):  # else it lapses by itself
                    await self.presence.leave()
            await super().close()

    worker = _Worker(
        # A workspace holds at most JOBS_PER_WORKSPACE of all workers' slots; the lease outlives
        # the job timeout, so a worker that dies mid-job frees it by expiry.
        functions=worker_functions(
            job_registry(),
            per_workspace=settings.jobs_per_workspace,
            lease_seconds=args.job_timeout + 60,
        ),
        redis_settings=_redis_settings(
            arq_redis_settings(settings.redis_url), settings.worker_redis_patience_seconds
        ),
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=args.concurrency,
        job_timeout=args.job_timeout,
        burst=args.burst,
    )
    try:
        worker.run()
    except (RedisError, OSError) as exc:
        # Redis went away (a restart, a failover): arq's poll raised, then its close failed on
        # the health-check key before it ran on_shutdown. Was three chained tracebacks, with
        # the runtime (mail, scheduler, database pools) never closed.
        lost = exception_line(exc)
        raise ConfigError(
            f"REDIS_URL: lost the connection to {redis_address(redis_url)} ({lost}) and it did"
            f" not come back within {settings.worker_redis_patience_seconds:g} s; exiting for the"
            " supervisor to restart the worker"
        ) from None
    finally:
        # on_shutdown did not run when arq's close failed: the runtime is closed here.
        if (stack := worker.ctx.pop(_STACK_KEY, None)) is not None:
            worker.loop.run_until_complete(stack.aclose())
    return 0


def _redis_settings(redis: Any, patience: float) -> Any:
    """arq's ``RedisSettings`` whose commands are tried again, with a new connection, while
    Redis is away for up to ``patience`` seconds (``redis_delays``). Without it arq's first
    failed poll ended the worker: a Redis restart of a few seconds took every worker down."""
    import redis.asyncio.retry as redis_retry
    from redis.asyncio.retry import Retry
    from redis.backoff import AbstractBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    class PatientRetry(Retry):
        """Waits ``patience`` once per outage. redis-py's command retry calls connect(),
        whose own retry (this same ``Retry``) waited the whole patience inside each of the
        command's tries: one command on a Redis gone for good took ~10 x the patience.
        A call nested in a retry tries once (the outer one waits); and once a call gave up, the
        next ones (the worker's poll, queued on redis-py's pool lock behind the first) try
        once until Redis answers again: the worker said "within 32 s" after 63 s."""

        __slots__ = ()
        gave_up = False  # shared by the copies redis-py makes for each connection

        async def call_with_retry(
            self, do: Callable[[], Awaitable[T]], fail: Callable[[Any], Any]
        ) -> T:
            nested = _RETRYING.get()
            token = _RETRYING.set(True)
            self._backoff.reset()
            failures = 0
            try:
                while True:
                    try:
                        result = await do()
                    except self._supported_errors as error:
                        failures += 1
                        await fail(error)
                        if nested or type(self).gave_up or failures > self._retries:
                            if not nested:
                                type(self).gave_up = True
                            raise
                        await redis_retry.sleep(self._backoff.compute(failures))
                    else:
                        type(self).gave_up = False
                        return result
            finally:
                _RETRYING.reset(token)

    class Pauses(AbstractBackoff):
        def __init__(self, delays: tuple[float, ...]) -> None:
            self.delays = delays

        def compute(self, failures: int) -> float:
            return self.delays[min(failures, len(self.delays)) - 1]

    delays = redis_delays(patience)
    redis.retry_on_error = [RedisConnectionError, RedisTimeoutError, OSError]
    redis.retry = PatientRetry(Pauses(delays), len(delays))
    return redis


async def _redis_unreachable(url: str) -> str | None:
    from api.start_checks import exception_line
    from core.redis import create_redis

    client = create_redis(url)
    try:
        await asyncio.wait_for(client.ping(), timeout=5)
    except Exception as exc:
        return exception_line(exc)
    finally:
        await client.aclose()
    return None


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("worker", help="run ingestion jobs from Redis (arq)")
    # 0 took no job ever (an idle worker), a negative one was a traceback.
    parser.add_argument(
        "--concurrency", type=bounded(int, 1, 256), default=4, help="jobs at once (1-256)"
    )
    parser.add_argument(
        "--job-timeout",
        type=bounded(int, 1, 24 * 3600),
        default=1800,
        help="seconds per job (1-86400)",
    )
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    # Off by default: the jobs' metrics (ingestion, embedding) are only in this process.
    parser.add_argument(
        "--metrics-port",
        type=bounded(int, 1, 65535),
        default=None,
        help="serve GET /metrics on HOST at this port (needs METRICS_TOKEN)",
    )
    parser.set_defaults(func=_cmd)
