"""Periodic jobs that run once per due time across every API replica and worker.

A :class:`ScheduledJob` is a name, a schedule (:class:`Every` interval or :class:`DailyAt` a UTC
time of day) and an async function of the run's time. Each job has one lease row in PostgreSQL
(``scheduled_runs``, migration 0006b1). On every ``tick`` a scheduler claims each due job with
one UPDATE that succeeds only while the lease is free or expired, runs it, then releases the
lease and sets the next due time. Many schedulers may tick at once (several replicas, several
workers): the row lock lets exactly one of them claim a due run.

- A process that dies mid-run leaves its lease behind; when the lease expires the run is claimed
  again by whichever scheduler ticks next. A job's ``lease`` must therefore outlast its longest
  run, and the job must be idempotent (it may run twice when a lease expires under a slow run).
- A run that raises is logged and recorded (``last_error``); the job is due again at its next
  scheduled time, not at once.
- A run cancelled by a graceful shutdown gives its lease back and stays due, so another process
  runs it at its next tick.

Who drives the ticks (one place per deployment, see docs/deploy.md): ``trulybot serve`` without
REDIS_URL (the embedded, single-process setup), ``trulybot worker`` when REDIS_URL is set. The
lease makes a second driver harmless, never necessary. ``core`` knows no domain: the api layer
builds the job list (api/schedule.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Protocol

from core import scheduler_repository as repo
from core.db import Database
from core.models import utcnow

log = logging.getLogger(__name__)

ERROR_MAX = 2000


class Schedule(Protocol):
    def first_due(self, now: datetime) -> datetime:
        """When a job never run before is first due."""

    def next_after(self, moment: datetime) -> datetime:
        """The next due time after a run that started at ``moment``."""


@dataclass(frozen=True)
class Every:
    """Every ``interval``, first at the first tick after the job is registered."""

    interval: timedelta

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0):
            raise ValueError("interval must be positive")

    def first_due(self, now: datetime) -> datetime:
        return now

    def next_after(self, moment: datetime) -> datetime:
        return moment + self.interval


@dataclass(frozen=True)
class DailyAt:
    """Once a day at ``at`` (UTC)."""

    at: time

    def first_due(self, now: datetime) -> datetime:
        return self.next_after(now)

    def next_after(self, moment: datetime) -> datetime:
        candidate = datetime.combine(moment.date(), self.at, tzinfo=moment.tzinfo)
        return candidate if candidate > moment else candidate + timedelta(days=1)


JobRun = Callable[[datetime], Awaitable[None]]


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    schedule: Schedule
    run: JobRun
    """Called with the run's time (the scheduler's clock when it claimed the run)."""
    lease: timedelta = timedelta(minutes=10)
    """How long a run may take before another scheduler presumes its process dead."""


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Scheduler:
    db: Database
    jobs: Sequence[ScheduledJob]
    holder: str = field(default_factory=default_holder)
    clock: Callable[[], datetime] = utcnow
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        names = [job.name for job in self.jobs]
        if len(names) != len(set(names)):
            raise ValueError(f"scheduled job names must be unique: {names}")

    async def tick(self, now: datetime | None = None) -> list[str]:
        """Run every job due at ``now`` (default: the clock) whose lease this scheduler wins;
        the names of the jobs it ran."""
        ran: list[str] = []
        for job in self.jobs:
            at = now or self.clock()
            if await self._claim(job, at):
                await self._run(job, at)
                ran.append(job.name)
        return ran

    async def _claim(self, job: ScheduledJob, now: datetime) -> bool:
        async with self.db.transaction() as session:
            await repo.ensure(session, name=job.name, due_at=job.schedule.first_due(now))
        async with self.db.transaction() as session:
            due = await repo.claim(
                session, name=job.name, holder=self.holder, now=now, lease_until=now + job.lease
            )
        return due is not None

    async def _run(self, job: ScheduledJob, now: datetime) -> None:
        error: str | None = None
        try:
            await job.run(now)
        except asyncio.CancelledError:
            await asyncio.shield(self._give_back(job))
            raise
        except Exception as exc:
            log.exception("scheduled job %s failed", job.name)
            error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX]
        async with self.db.transaction() as session:
            kept = await repo.finish(
                session,
                name=job.name,
                holder=self.holder,
                finished_at=self.clock(),
                next_due=job.schedule.next_after(now),
                error=error,
            )
        if not kept:
            log.warning(
                "scheduled job %s outlived its lease (%s); another process may have run it",
                job.name,
                job.lease,
            )

    async def _give_back(self, job: ScheduledJob) -> None:
        async with self.db.transaction() as session:
            await repo.release(session, name=job.name, holder=self.holder)

    # --- driving the ticks --------------------------------------------------------------------

    async def run_forever(self, poll_seconds: float) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away for a moment: try again next time
                log.exception("scheduler tick failed")
            await asyncio.sleep(poll_seconds)

    def start(self, poll_seconds: float) -> None:
        """Tick every ``poll_seconds`` in a background task until ``stop``."""
        if self._task is None:
            self._task = asyncio.create_task(self.run_forever(poll_seconds), name="scheduler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
