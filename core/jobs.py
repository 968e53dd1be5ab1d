"""Background jobs: arq on Redis when REDIS_URL is set, asyncio tasks in-process otherwise.

Job functions have arq's signature, ``async def fn(ctx: dict, **ids) -> Any``, carry ids only, and
must be idempotent (arq delivers at least once). ``core`` imports no domain: the api/cli layer
fills a :class:`JobRegistry` with the domains' functions and builds the context they receive.
Enqueue only after the unit of work that created the rows has committed.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

JobFunction = Callable[..., Awaitable[Any]]
JobArg = str | int | float | bool | None


class JobRegistry:
    """Name -> job function; shared by the in-process queue and the arq worker.

    ``keyed``: the jobs that may be enqueued under a stable ``_job_id`` (see ``JobQueue``).
    ``uncapped``: the jobs a workspace's share of the workers (``per_workspace``,
    JOBS_PER_WORKSPACE) does not apply to: short jobs someone waits for (an export, the
    analytics, notifications) that would otherwise queue behind the workspace's ingestion.
    Every other job, and any registered later, counts against the share."""

    def __init__(
        self,
        functions: Mapping[str, JobFunction] | None = None,
        *,
        uncapped: Iterable[str] = (),
        keyed: Iterable[str] = (),
        abandoned: Mapping[str, JobFunction] | None = None,
    ) -> None:
        self.functions: dict[str, JobFunction] = dict(functions or {})
        self.uncapped = frozenset(uncapped)
        # Jobs enqueued under a stable ``_job_id`` (one waiting per key): arq keeps no result
        # of theirs, which would hold the id (and refuse the next one) for an hour.
        self.keyed = frozenset(keyed)
        # Called with a job's arguments when the in-process queue stops before running it (its
        # process is stopping), so what waited on it does not wait for good (a document stays
        # ``queued`` for the next start, which enqueues it again; an export fails). Also
        # when an arq worker gives a capped job up after MAX_STARTS runs that died with their
        # process (the context then has GAVE_UP).
        self.abandoned: dict[str, JobFunction] = dict(abandoned or {})

    def register(self, name: str, function: JobFunction) -> None:
        self.functions[name] = function

    def capped(self, name: str) -> bool:
        """Whether ``name`` counts against its workspace's share of the workers."""
        return name not in self.uncapped

    def get(self, name: str) -> JobFunction:
        try:
            return self.functions[name]
        except KeyError:
            raise KeyError(f"no job function named {name!r}") from None


class JobQueue(Protocol):
    async def enqueue(self, name: str, *, _job_id: str | None = None, **kwargs: JobArg) -> str:
        """Queue ``name`` with ``kwargs``; its id. ``_job_id``: a stable id (the job must be
        registered ``keyed``): while a job of that id waits or runs, nothing is queued and ""
        is returned."""

    async def drain(self) -> None:
        """Wait until every job enqueued so far (and the jobs they enqueue) has finished."""

    async def close(self) -> None: ...


@dataclass(eq=False)
class _Pending:
    job_id: str
    name: str
    function: JobFunction
    kwargs: dict[str, JobArg]
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    """The enqueuer's context (its request id for the log lines): a job started later from
    another job's task would otherwise run in that one's."""


QUEUE_STOPPING = "queue_stopping"
"""In the context of a job on the in-process queue: an ``asyncio.Event`` set once the queue stops
(its server is stopping) and cancels what runs, so a job can tell that from a cancellation of
its own (a document goes back to ``queued`` for the next start instead of ``failed``)."""


class InProcessQueue:
    """Runs jobs as asyncio tasks in this process, at most ``concurrency`` at a time.

    Fair between workspaces: a job's workspace is its ``workspace_id`` argument, one workspace
    runs at most ``per_workspace`` jobs at a time (None: no cap), and a free slot goes to the
    waiting workspace with the fewest running jobs, the one served longest ago first, so
    workspaces take turns; jobs of one workspace start in the order they were enqueued.

    Single-process only: a job still waiting when the process stops is not run; its
    ``JobRegistry.abandoned`` handler says so where it matters (a document stays ``queued``
    and the next start enqueues it again). The running ones are cancelled with ``stopping``
    set (``QUEUE_STOPPING`` in their context). Failures are logged and kept in ``failures``
    (tests assert on them).
    """

    def __init__(
        self,
        registry: JobRegistry,
        ctx: dict[str, Any] | None = None,
        *,
        concurrency: int = 2,
        per_workspace: int | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be positive")
        if per_workspace is not None and per_workspace < 1:
            raise ValueError("per_workspace must be positive")
        self.registry = registry
        self.ctx: dict[str, Any] = ctx if ctx is not None else {}
        self.concurrency = concurrency
        self.per_workspace = per_workspace
        self._waiting: dict[str | None, deque[_Pending]] = {}  # by workspace, FIFO each
        self._running: Counter[str | None] = Counter()
        self._served: dict[str | None, int] = {}  # when each workspace last got a slot
        self._turns = itertools.count()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._keys: set[str] = set()  # the stable ids (``_job_id``) waiting or running
        self.failures: list[tuple[str, BaseException]] = []
        self.completed = 0
        self.stopping = asyncio.Event()

    async def enqueue(self, name: str, *, _job_id: str | None = None, **kwargs: JobArg) -> str:
        function = self.registry.get(name)
        if _job_id is not None:
            if _job_id in self._keys:
                return ""
            self._keys.add(_job_id)
        job = _Pending(_job_id or uuid.uuid4().hex, name, function, kwargs)
        self._waiting.setdefault(self._share_of(job), deque()).append(job)
        self._dispatch()
        return job.job_id

    def _share_of(self, job: _Pending) -> str | None:
        """The workspace whose share ``job`` counts against (None: not capped)."""
        return _workspace_of(job.kwargs) if self.registry.capped(job.name) else None

    def _next(self) -> _Pending | None:
        cap = self.per_workspace
        eligible = [w for w in self._waiting if w is None or cap is None or self._running[w] < cap]
        if not eligible:
            return None
        # Fewest running first, then the workspace served longest ago (never served: first).
        workspace = min(eligible, key=lambda w: (self._running[w], self._served.get(w, -1)))
        waiting = self._waiting[workspace]
        job = waiting.popleft()
        if not waiting:
            del self._waiting[workspace]
        self._running[workspace] += 1
        self._served[workspace] = next(self._turns)
        return job

    def _dispatch(self) -> None:
        while sum(self._running.values()) < self.concurrency:
            job = self._next()
            if job is None:
                return
            task = asyncio.create_task(self._run(job), name=f"job:{job.name}", context=job.context)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, job: _Pending) -> None:
        ctx = {**self.ctx, "job_id": job.job_id, "job_try": 1, QUEUE_STOPPING: self.stopping}
        try:
            await job.function(ctx, **job.kwargs)
            self.completed += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("job %s (%s) failed", job.name, job.job_id)
            self.failures.append((job.name, exc))
        finally:
            self._keys.discard(job.job_id)
            workspace = self._share_of(job)
            self._running[workspace] -= 1
            if self._running[workspace] <= 0:
                del self._running[workspace]
                if workspace not in self._waiting:
                    self._served.pop(workspace, None)  # idle: nothing to remember
            self._dispatch()

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        self.stopping.set()
        waiting = [job for jobs in self._waiting.values() for job in jobs]
        self._waiting.clear()
        self._keys.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for job in waiting:
            handler = self.registry.abandoned.get(job.name)
            if handler is None:
                continue
            try:
                await handler(self.ctx, **job.kwargs)
            except Exception:
                log.exception("job %s (%s): its abandoned handler failed", job.name, job.job_id)


def _workspace_of(kwargs: Mapping[str, Any]) -> str | None:
    workspace = kwargs.get("workspace_id")
    return None if workspace is None else str(workspace)


class ArqQueue:
    """Enqueues to Redis for `trulybot worker` (arq) to run."""

    def __init__(self, pool: Any, *, queue_name: str | None = None) -> None:
        self.pool = pool  # arq.connections.ArqRedis
        self.queue_name = queue_name

    @classmethod
    async def connect(cls, redis_url: str, *, queue_name: str | None = None) -> ArqQueue:
        from arq import create_pool

        from core.redis import arq_redis_settings

        pool = await create_pool(arq_redis_settings(redis_url))
        return cls(pool, queue_name=queue_name)

    @classmethod
    def lazy(cls, redis_url: str, *, queue_name: str | None = None) -> ArqQueue:
        """Connected on the first enqueue, not now: an API process starts, and serves, while
        Redis is down (an upload then ends ``queue_unavailable``, api/ingestion.py), where
        ``connect`` (`trulybot worker`'s) waits for Redis and fails after its retries."""
        from arq.connections import ArqRedis

        from core.redis import SOCKET_TIMEOUT

        # With no socket timeout, an enqueue to a Redis that stopped answering (a partition)
        # waited minutes: an upload stayed ``queued`` instead of ending ``queue_unavailable``,
        # and a stopping server waited on its mail kicks.
        pool = ArqRedis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=SOCKET_TIMEOUT)
        return cls(pool, queue_name=queue_name)

    async def enqueue(self, name: str, *, _job_id: str | None = None, **kwargs: JobArg) -> str:
        options: dict[str, Any] = {}
        if self.queue_name:
            options["_queue_name"] = self.queue_name
        if _job_id is not None:
            options["_job_id"] = _job_id  # arq returns no job while one of this id exists
        job = await self.pool.enqueue_job(name, **kwargs, **options)
        if job is None and _job_id is not None and await self._result_only(_job_id):
            job = await self.pool.enqueue_job(name, **kwargs, **options)
        return str(job.job_id) if job is not None else ""

    async def _result_only(self, job_id: str) -> bool:
        """No job of ``job_id`` waits or runs, only a finished one's result holds the id: it is
        dropped (True). A keyed job keeps no result (``JobRegistry.keyed``), but arq keeps a
        failure for the worker's ``keep_result`` (an hour) whatever the function says: a
        previous release's worker that does not know the job ("function not found", during a
        rollout), a job past its tries. Before, the id was refused for that hour: the
        ``razorpay_cancels`` sweep enqueued nothing and no waiting cancel was sent again."""
        from arq.constants import job_key_prefix, result_key_prefix

        if await self.pool.exists(job_key_prefix + job_id):
            return False  # it waits or runs
        return bool(await self.pool.delete(result_key_prefix + job_id))

    async def drain(self) -> None:
        """Jobs run in other processes; poll Redis until the queue is empty."""
        from arq.constants import default_queue_name

        queue = self.queue_name or default_queue_name
        while await self.pool.zcard(queue):  # noqa: ASYNC110 - the queue lives in Redis
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        await self.pool.aclose()


async def enqueue_retried(
    enqueue: Callable[[], Awaitable[object]], delays: Sequence[float], *, what: str
) -> bool:
    """``enqueue()``, tried again after each of ``delays`` while the queue is unreachable (a
    Redis restart, a failover); False when every try failed (``what`` names the job in the
    log), for the caller to say so where it matters."""
    for delay in (*delays, None):
        try:
            await enqueue()
            return True
        except Exception as exc:  # the queue is unreachable: try again, then give up
            if delay is None:
                log.warning("%s not enqueued (%s)", what, type(exc).__name__)
                return False
            log.warning("enqueue failed (%s); again in %.1f s", type(exc).__name__, delay)
            await asyncio.sleep(delay)
    return False  # pragma: no cover - the last try returns


# --- fairness for arq workers: a per-workspace lease in Redis ---------------------------------

LEASE_PREFIX = "trulybot:jobs:lease:"

# KEYS[1] the workspace's lease set; ARGV: job id, lease seconds, limit. Members are job ids
# scored by their expiry (Redis' clock), so a lease of a worker that died runs out by itself.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local seconds = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now + seconds, ARGV[1])
  redis.call('EXPIRE', KEYS[1], math.ceil(seconds))
  return 1
end
return 0
"""


class WorkspaceLeases:
    """At most ``limit`` running jobs per workspace across every worker sharing this Redis."""

    def __init__(self, redis: Any, *, limit: int, lease_seconds: float) -> None:
        if limit < 1:
            raise ValueError("limit must be positive")
        self.redis = redis
        self.limit = limit
        self.lease_seconds = lease_seconds

    async def acquire(self, workspace: str, job_id: str) -> bool:
        granted = await self.redis.eval(
            _ACQUIRE, 1, LEASE_PREFIX + workspace, job_id, self.lease_seconds, self.limit
        )
        return bool(granted)

    async def release(self, workspace: str, job_id: str) -> None:
        await self.redis.zrem(LEASE_PREFIX + workspace, job_id)


# Deferrals are arq retries: they count as tries, so leased jobs may be tried this often. What
# bounds a job's real starts is MAX_STARTS.
LEASED_MAX_TRIES = 10_000
MAX_RETRY_DELAY = 10.0
MAX_STARTS = 3
"""How many times a worker may really start a capped job (its workspace's lease held, its
function about to run; a run a stopping worker cancelled is not counted, arq runs it again). A
start past this is of a job whose every run took its process down (out of memory, SIGKILL) and
would take the next worker down too: it is given up, its ``JobRegistry.abandoned`` handler runs
(a document ends ``failed``), instead of starting again after each job timeout for as long as
LEASED_MAX_TRIES lets it (about 200 days at the default timeout)."""
GAVE_UP = "gave_up_after_starts"
"""Set (to MAX_STARTS) in the context an ``abandoned`` handler gets when a worker gives a job up
after its runs died, to tell it from an in-process queue that stopped before running it."""
STARTED_PREFIX = "trulybot:jobs:started:"
STARTED_SECONDS = 88_400  # as long as arq keeps a job's count of tries


class _Starts:
    """A job's real starts, counted up in Redis under its id and enqueue time (a later job of
    the same id starts at 0). Not derived from arq's ``job_try``, which counts every deferral
    too: a previous release's worker deferred a job without recording it, and a new worker
    took those tries for starts and gave the job up before it ever ran."""

    def __init__(self, ctx: Mapping[str, Any]) -> None:
        self.redis = ctx["redis"]
        enqueued = ctx.get("enqueue_time")
        stamp = int(enqueued.timestamp() * 1000) if enqueued is not None else 0
        self.key = f"{STARTED_PREFIX}{ctx['job_id']}:{stamp}"
        self.counted = False

    async def start(self) -> int:
        """Count this start; how many starts there were before it."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(self.key)
            pipe.expire(self.key, STARTED_SECONDS)
            now, _ = await pipe.execute()
        self.counted = True
        return int(now) - 1

    async def uncount(self) -> None:
        """This run was cancelled (a stopping worker; arq runs it again): no start. Best effort
        (a Redis error leaves it counted)."""
        if not self.counted:
            return
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.decr(self.key)
                pipe.expire(self.key, STARTED_SECONDS)
                await pipe.execute()
        except Exception as exc:
            log.warning("cancelled job run not uncounted (%s): it counts as a start", exc)

    async def forget(self) -> None:
        await self.redis.delete(self.key)


def _leased(
    name: str,
    function: JobFunction,
    *,
    limit: int,
    lease_seconds: float,
    retry_delay: float,
    abandoned: JobFunction | None = None,
) -> JobFunction:
    """``function`` run only while its workspace holds a lease; otherwise the job is deferred
    (arq ``Retry``), waiting longer the more often it was turned away, up to 10 s. Past
    MAX_STARTS real starts the job is given up (``abandoned`` runs)."""
    from arq.worker import Retry

    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        workspace = _workspace_of(kwargs)
        job_id = str(ctx["job_id"])
        leases = WorkspaceLeases(ctx["redis"], limit=limit, lease_seconds=lease_seconds)
        if workspace is not None and not await leases.acquire(workspace, job_id):
            tries = int(ctx.get("job_try") or 1)
            raise Retry(defer=min(retry_delay * tries, max(retry_delay, MAX_RETRY_DELAY)))
        starts = _Starts(ctx)
        finished = True
        try:
            if await starts.start() >= MAX_STARTS:
                log.error(
                    "job %s (%s) started %d times and its process died each time: given up",
                    name,
                    job_id,
                    MAX_STARTS,
                )
                if abandoned is not None:
                    await abandoned({**ctx, GAVE_UP: MAX_STARTS}, *args, **kwargs)
                return "given_up"
            return await function(ctx, *args, **kwargs)
        except asyncio.CancelledError:
            finished = False
            await asyncio.shield(starts.uncount())  # a stopping worker: arq runs it again
            raise
        finally:
            if finished:
                await asyncio.shield(starts.forget())
            if workspace is not None:  # also the lease a killed run of this job left behind
                await asyncio.shield(leases.release(workspace, job_id))

    return run


def worker_functions(
    registry: JobRegistry,
    *,
    per_workspace: int | None = None,
    lease_seconds: float = 1860.0,
    retry_delay: float = 1.0,
) -> list[Any]:
    """The registry as arq function definitions.

    With ``per_workspace``, a job with a ``workspace_id`` runs only while fewer than that many
    jobs of its workspace run on all workers together (a lease in Redis that expires after
    ``lease_seconds``, which must outlast the worker's job timeout); otherwise it is deferred,
    so the workers' slots stay open for other workspaces. Such a job starts at most MAX_STARTS
    times (deferrals and cancelled runs are no starts); the next start gives it up.
    """
    from arq.worker import func

    functions: dict[str, Any] = dict(registry.functions)  # arq's own coroutine type
    # None: the worker's default (an hour); 0: none, for the keyed jobs.
    kept: dict[str, int | None] = {n: 0 if n in registry.keyed else None for n in functions}
    if per_workspace is None:
        return [func(fn, name=name, keep_result=kept[name]) for name, fn in functions.items()]
    leased: dict[str, Any] = {
        name: _leased(
            name,
            fn,
            limit=per_workspace,
            lease_seconds=lease_seconds,
            retry_delay=retry_delay,
            abandoned=registry.abandoned.get(name),
        )
        for name, fn in functions.items()
        if registry.capped(name)
    }
    return [
        func(leased[name], name=name, max_tries=LEASED_MAX_TRIES, keep_result=kept[name])
        if name in leased
        else func(fn, name=name, keep_result=kept[name])
        for name, fn in functions.items()
    ]
