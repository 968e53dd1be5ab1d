"""core/scheduler.py on the real PostgreSQL: once per due time across schedulers, expired leases
taken up again, failures recorded. The clock is driven explicitly; nothing here waits on time."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest

from core import scheduler_repository as repo
from core.db import Database
from core.scheduler import DailyAt, Every, ScheduledJob, Scheduler

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _name(tag: str) -> str:
    return f"test-{tag}-{uuid.uuid4().hex[:10]}"


async def _row(db: Database, name: str) -> repo.RunRow:
    async with db.transaction() as session:
        row = await repo.get(session, name)
    assert row is not None
    return row


async def test_schedulers_racing_over_one_due_job_run_it_once(db: Database) -> None:
    name = _name("race")
    runs: list[int] = []
    started, gate = asyncio.Event(), asyncio.Event()

    def job_of(index: int) -> ScheduledJob:
        async def job(now: datetime) -> None:
            runs.append(index)
            started.set()
            await gate.wait()  # still running while the others try to claim it

        return ScheduledJob(name, Every(timedelta(hours=1)), job)

    clock = Clock()
    schedulers = [Scheduler(db, [job_of(i)], clock=clock) for i in range(6)]
    ticks = [asyncio.create_task(s.tick()) for s in schedulers]
    await asyncio.wait_for(started.wait(), 60)
    # The winner is mid-run: every other scheduler finishes its tick without running the job.
    winner = runs[0]
    losers = [t for i, t in enumerate(ticks) if i != winner]
    assert await asyncio.wait_for(asyncio.gather(*losers), 60) == [[]] * 5
    gate.set()
    assert await ticks[winner] == [name]
    assert runs == [winner]
    row = await _row(db, name)
    assert (row.runs, row.leased_by, row.last_error) == (1, None, None)
    assert row.due_at == T0 + timedelta(hours=1)

    # Not due again before the hour; due after it, once.
    clock.now = T0 + timedelta(minutes=59)
    assert [await s.tick() for s in schedulers] == [[]] * 6
    clock.now = T0 + timedelta(hours=1)
    results = await asyncio.gather(*(s.tick() for s in schedulers))
    assert sorted(map(len, results)) == [0, 0, 0, 0, 0, 1]
    assert len(runs) == 2
    assert (await _row(db, name)).runs == 2


async def test_a_run_whose_process_died_is_run_again_after_its_lease(db: Database) -> None:
    name = _name("crash")
    runs: list[str] = []
    clock = Clock()

    def scheduler(holder: str) -> Scheduler:
        async def job(now: datetime) -> None:
            runs.append(holder)

        lease = timedelta(minutes=10)
        return Scheduler(
            db, [ScheduledJob(name, Every(timedelta(days=1)), job, lease=lease)], holder, clock
        )

    # A process claimed the run and died: its lease row is all that is left of it.
    async with db.transaction() as session:
        await repo.ensure(session, name=name, due_at=T0)
        assert await repo.claim(
            session, name=name, holder="dead", now=T0, lease_until=T0 + timedelta(minutes=10)
        )
    survivor = scheduler("survivor")
    clock.now = T0 + timedelta(minutes=9)
    assert await survivor.tick() == []
    assert (await _row(db, name)).leased_by == "dead"
    clock.now = T0 + timedelta(minutes=10)
    assert await survivor.tick() == [name]
    assert runs == ["survivor"]
    row = await _row(db, name)
    assert (row.leased_by, row.runs) == (None, 1)
    # The next due time counts from the run that took it over.
    assert row.due_at == T0 + timedelta(minutes=10) + timedelta(days=1)


async def test_a_failed_run_is_recorded_and_due_at_its_next_time(db: Database) -> None:
    name = _name("fail")
    attempts = 0

    async def job(now: datetime) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("disk full")

    clock = Clock()
    scheduler = Scheduler(db, [ScheduledJob(name, Every(timedelta(minutes=5)), job)], clock=clock)
    assert await scheduler.tick() == [name]
    row = await _row(db, name)
    assert row.last_error == "RuntimeError: disk full"
    assert (row.leased_by, row.due_at) == (None, T0 + timedelta(minutes=5))
    assert await scheduler.tick() == []  # not retried at once
    clock.now = T0 + timedelta(minutes=5)
    assert await scheduler.tick() == [name]
    assert (await _row(db, name)).last_error is None


async def test_a_run_that_outlives_its_lease_does_not_release_the_new_holder(
    db: Database,
) -> None:
    name = _name("slow")
    clock = Clock()
    lease = timedelta(minutes=1)

    async def slow(now: datetime) -> None:
        # Meanwhile its lease ran out and another process took the run over.
        async with db.transaction() as session:
            assert await repo.claim(
                session, name=name, holder="other", now=now + lease, lease_until=now + 2 * lease
            )

    scheduler = Scheduler(
        db, [ScheduledJob(name, Every(timedelta(hours=1)), slow, lease)], "me", clock
    )
    assert await scheduler.tick() == [name]
    row = await _row(db, name)
    assert (row.leased_by, row.runs) == ("other", 0)


async def test_a_cancelled_run_gives_its_lease_back_and_stays_due(db: Database) -> None:
    name = _name("cancel")
    started = asyncio.Event()

    async def job(now: datetime) -> None:
        started.set()
        await asyncio.Event().wait()

    clock = Clock()
    scheduler = Scheduler(db, [ScheduledJob(name, Every(timedelta(hours=1)), job)], clock=clock)
    task = asyncio.create_task(scheduler.tick())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    row = await _row(db, name)
    assert (row.leased_by, row.lease_until, row.due_at, row.runs) == (None, None, T0, 0)
    ran: list[datetime] = []

    async def other_job(now: datetime) -> None:
        ran.append(now)

    other = Scheduler(db, [ScheduledJob(name, Every(timedelta(hours=1)), other_job)], clock=clock)
    assert await other.tick() == [name]
    assert ran == [T0]


def test_daily_and_interval_schedules() -> None:
    daily = DailyAt(time(3, 30))
    assert daily.first_due(T0) == datetime(2030, 1, 2, 3, 30, tzinfo=UTC)
    assert daily.next_after(datetime(2030, 1, 2, 3, 30, tzinfo=UTC)) == datetime(
        2030, 1, 3, 3, 30, tzinfo=UTC
    )
    assert daily.next_after(datetime(2030, 1, 2, 3, 29, tzinfo=UTC)) == datetime(
        2030, 1, 2, 3, 30, tzinfo=UTC
    )
    every = Every(timedelta(minutes=15))
    assert every.first_due(T0) == T0
    assert every.next_after(T0) == T0 + timedelta(minutes=15)
    with pytest.raises(ValueError, match="positive"):
        Every(timedelta(0))
    with pytest.raises(ValueError, match="unique"):
        Scheduler(None, [ScheduledJob("a", every, _noop), ScheduledJob("a", every, _noop)])  # type: ignore[arg-type]


async def _noop(now: datetime) -> None:
    return None
