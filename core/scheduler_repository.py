"""The SQL of core/scheduler.py: the ``scheduled_runs`` lease rows (migration 0006b1).

Every statement takes the scheduler's clock (``now``) as a parameter instead of the database's
``now()``, so the tests drive time explicitly and replicas agree on what "due" means as long as
their clocks do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class RunRow:
    name: str
    due_at: datetime
    leased_by: str | None
    lease_until: datetime | None
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_error: str | None
    runs: int


async def ensure(session: AsyncSession, *, name: str, due_at: datetime) -> None:
    """The job's row, first due at ``due_at``, unless it exists already."""
    await session.execute(
        text(
            "INSERT INTO scheduled_runs (name, due_at) VALUES (:name, :due)"
            " ON CONFLICT (name) DO NOTHING"
        ),
        {"name": name, "due": due_at},
    )


async def claim(
    session: AsyncSession, *, name: str, holder: str, now: datetime, lease_until: datetime
) -> datetime | None:
    """Take the lease of a due job whose lease is free or expired; its due time, or None when
    it is not due or another process holds it. One UPDATE: concurrent claimers queue on the
    row lock and re-check the condition after the winner commits, so only one gets the row."""
    row = await session.execute(
        text(
            "UPDATE scheduled_runs"
            " SET leased_by = :holder, lease_until = :until, last_started_at = :now"
            " WHERE name = :name AND due_at <= :now"
            " AND (lease_until IS NULL OR lease_until <= :now)"
            " RETURNING due_at"
        ),
        {"name": name, "holder": holder, "now": now, "until": lease_until},
    )
    due: datetime | None = row.scalar_one_or_none()
    return due


async def finish(
    session: AsyncSession,
    *,
    name: str,
    holder: str,
    finished_at: datetime,
    next_due: datetime,
    error: str | None,
) -> bool:
    """Release the lease and set the next due time; False when the lease was lost meanwhile
    (it expired and another process claimed the job)."""
    row = await session.execute(
        text(
            "UPDATE scheduled_runs"
            " SET leased_by = NULL, lease_until = NULL, last_finished_at = :at,"
            " last_error = :error, due_at = :next, runs = runs + 1"
            " WHERE name = :name AND leased_by = :holder"
            " RETURNING name"
        ),
        {"name": name, "holder": holder, "at": finished_at, "next": next_due, "error": error},
    )
    return row.scalar_one_or_none() is not None


async def get(session: AsyncSession, name: str) -> RunRow | None:
    row = (
        await session.execute(
            text(
                "SELECT name, due_at, leased_by, lease_until, last_started_at,"
                " last_finished_at, last_error, runs FROM scheduled_runs WHERE name = :name"
            ),
            {"name": name},
        )
    ).one_or_none()
    return None if row is None else RunRow(**row._mapping)


async def set_due(session: AsyncSession, *, name: str, due_at: datetime) -> None:
    """Make a job due at ``due_at`` (an operator's "run it now")."""
    await session.execute(
        text("UPDATE scheduled_runs SET due_at = :due WHERE name = :name"),
        {"name": name, "due": due_at},
    )


async def release(session: AsyncSession, *, name: str, holder: str) -> None:
    """Give the lease back without running: the job stays due (a graceful shutdown)."""
    await session.execute(
        text(
            "UPDATE scheduled_runs SET leased_by = NULL, lease_until = NULL"
            " WHERE name = :name AND leased_by = :holder"
        ),
        {"name": name, "holder": holder},
    )
