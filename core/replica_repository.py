"""The SQL of core/replica.py: where the primary's WAL is, and how far a replica has replayed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def primary_wal_lsn(session: AsyncSession) -> str:
    """The primary's current write-ahead log position."""
    return str((await session.execute(text("SELECT pg_current_wal_lsn()::text"))).scalar_one())


@dataclass(frozen=True)
class ReplayPosition:
    in_recovery: bool
    bytes_behind: float | None
    """How far the replica's replay is behind ``primary_lsn`` (<= 0: it has replayed it)."""
    seconds_since_replay: float | None
    """Time since the commit of the last transaction the replica replayed (None: none yet)."""


async def replay_position(session: AsyncSession, *, primary_lsn: str) -> ReplayPosition:
    row = (
        await session.execute(
            text(
                "SELECT pg_is_in_recovery() AS in_recovery,"
                " pg_wal_lsn_diff(CAST(CAST(:lsn AS text) AS pg_lsn), pg_last_wal_replay_lsn())"
                " AS behind,"
                " EXTRACT(epoch FROM now() - pg_last_xact_replay_timestamp()) AS since"
            ),
            {"lsn": primary_lsn},
        )
    ).one()
    return ReplayPosition(
        in_recovery=bool(row.in_recovery),
        bytes_behind=None if row.behind is None else float(row.behind),
        seconds_since_replay=None if row.since is None else float(row.since),
    )
