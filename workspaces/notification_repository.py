"""All SQL of owner notifications: preferences, events and digest items (migration 0011n1)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import bindparam

from core.db import lock_workspace

PENDING_LOOKUP = "notifications:pending"  # app.lookup of the sweep for undispatched events
DIGEST_LOOKUP = "notifications:digest"  # app.lookup of the digest job's listing


@dataclass(frozen=True)
class EventRow:
    id: uuid.UUID
    workspace_id: uuid.UUID
    kind: str
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Recipient:
    user_id: uuid.UUID
    email: str
    name: str | None
    role: str


# --- preferences --------------------------------------------------------------------------------


async def preferences(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> dict[str, str]:
    """The kinds this member changed, with their mode."""
    result = await session.execute(
        text(
            "SELECT kind, mode FROM notification_preferences"
            " WHERE workspace_id = :ws AND user_id = :uid"
        ),
        {"ws": workspace_id, "uid": user_id},
    )
    return {str(row.kind): str(row.mode) for row in result}


async def set_preference(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID, kind: str, mode: str
) -> None:
    await session.execute(
        text(
            "INSERT INTO notification_preferences (workspace_id, user_id, kind, mode)"
            " VALUES (:ws, :uid, :kind, :mode)"
            " ON CONFLICT (workspace_id, user_id, kind)"
            " DO UPDATE SET mode = EXCLUDED.mode, updated_at = now()"
        ),
        {"ws": workspace_id, "uid": user_id, "kind": kind, "mode": mode},
    )


async def all_preferences(
    session: AsyncSession, workspace_id: uuid.UUID
) -> dict[tuple[uuid.UUID, str], str]:
    """Every member's changed kinds: (user id, kind) -> mode."""
    result = await session.execute(
        text("SELECT user_id, kind, mode FROM notification_preferences WHERE workspace_id = :ws"),
        {"ws": workspace_id},
    )
    return {(row.user_id, str(row.kind)): str(row.mode) for row in result}


async def verified_members(session: AsyncSession, workspace_id: uuid.UUID) -> list[Recipient]:
    """The workspace's members whose address is verified (who may receive notifications)."""
    result = await session.execute(
        text(
            "SELECT u.id AS user_id, u.email, u.name, m.role FROM memberships m"
            " JOIN users u ON u.id = m.user_id"
            " WHERE m.workspace_id = :ws AND u.email_verified_at IS NOT NULL"
            " ORDER BY m.created_at, u.id"
        ),
        {"ws": workspace_id},
    )
    return [Recipient(**row._mapping) for row in result]


async def member_by_email(
    session: AsyncSession, workspace_id: uuid.UUID, email: str
) -> tuple[uuid.UUID, str] | None:
    """(user id, role) of the account of ``email`` if it is (still) a member of the workspace."""
    result = await session.execute(
        text(
            "SELECT u.id, m.role FROM memberships m JOIN users u ON u.id = m.user_id"
            " WHERE m.workspace_id = :ws AND lower(u.email) = lower(:email)"
            " ORDER BY u.id LIMIT 1"
        ),
        {"ws": workspace_id, "email": email},
    )
    row = result.first()
    return None if row is None else (row.id, str(row.role))


# --- events ---------------------------------------------------------------------------------


_INSERT_EVENT = text(
    "INSERT INTO notification_events (id, workspace_id, kind, dedupe_key, data)"
    " VALUES (:id, :ws, :kind, :key, :data)"
    " ON CONFLICT (workspace_id, kind, dedupe_key) DO NOTHING RETURNING id"
).bindparams(bindparam("data", type_=JSONB))


async def insert_event(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    kind: str,
    dedupe_key: str,
    data: dict[str, Any],
) -> bool:
    """Record an event once per ``(workspace, kind, dedupe_key)``; False when it was already."""
    result = await session.execute(
        _INSERT_EVENT,
        {"id": uuid.uuid4(), "ws": workspace_id, "kind": kind, "key": dedupe_key, "data": data},
    )
    return result.scalar_one_or_none() is not None


async def lock_stored_quotas(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Until the transaction ends, one transaction per workspace judges stored-quota crossings:
    the next one counts after this one committed (READ COMMITTED)."""
    await lock_workspace(session, "stored_quota", workspace_id)


async def last_crossing(
    session: AsyncSession, workspace_id: uuid.UUID, kind: str, key_prefix: str
) -> int:
    """The highest crossing number of the events keyed ``<key_prefix><n>``; 0 when none."""
    result = await session.execute(
        text(
            "SELECT coalesce(max(substr(dedupe_key, length(:prefix) + 1)::int), 0)"
            " FROM notification_events"
            " WHERE workspace_id = :ws AND kind = :kind AND starts_with(dedupe_key, :prefix)"
            " AND substr(dedupe_key, length(:prefix) + 1) ~ '^[0-9]{1,9}$'"
        ),
        {"ws": workspace_id, "kind": kind, "prefix": key_prefix},
    )
    return int(result.scalar_one())


async def claim_pending(
    session: AsyncSession, workspace_id: uuid.UUID, *, limit: int
) -> list[EventRow]:
    """Lock up to ``limit`` undispatched events of the workspace (another dispatcher skips
    them), oldest first."""
    result = await session.execute(
        text(
            "SELECT id, workspace_id, kind, data, created_at FROM notification_events"
            " WHERE workspace_id = :ws AND dispatched_at IS NULL"
            " ORDER BY created_at, id LIMIT :limit FOR UPDATE SKIP LOCKED"
        ),
        {"ws": workspace_id, "limit": limit},
    )
    return [EventRow(**row._mapping) for row in result]


async def mark_dispatched(
    session: AsyncSession, event_ids: Sequence[uuid.UUID], *, at: datetime
) -> None:
    await session.execute(
        text("UPDATE notification_events SET dispatched_at = :at WHERE id = ANY(:ids)"),
        {"at": at, "ids": list(event_ids)},
    )


async def lock_capped_mails(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Until the transaction ends, one dispatcher per workspace counts and writes the mails of
    the kinds with an hourly cap ("New lead", handoff requests): the next one counts after this
    one committed (the hourly caps are exact)."""
    await lock_workspace(session, "capped_mails", workspace_id)


async def mails_in(
    session: AsyncSession, workspace_id: uuid.UUID, kind: str, *, start: datetime, end: datetime
) -> int:
    """``kind`` events created in ``[start, end)`` dispatched with their own mails (not held
    over the cap)."""
    result = await session.execute(
        text(
            "SELECT count(*) FROM notification_events"
            " WHERE workspace_id = :ws AND kind = :kind"
            " AND created_at >= :start AND created_at < :end"
            " AND dispatched_at IS NOT NULL AND held_until IS NULL"
        ),
        {"ws": workspace_id, "kind": kind, "start": start, "end": end},
    )
    return int(result.scalar_one())


async def hold(session: AsyncSession, event_id: uuid.UUID, *, until: datetime) -> None:
    """The event waits for the summary sent after ``until`` instead of a mail of its own."""
    await session.execute(
        text("UPDATE notification_events SET held_until = :until WHERE id = :id"),
        {"until": until, "id": event_id},
    )


async def held_due(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[tuple[uuid.UUID, str, datetime]]:
    """(workspace, kind, hour end) of held events whose hour is over and whose summary is not
    sent (under ``PENDING_LOOKUP``)."""
    result = await session.execute(
        text(
            "SELECT DISTINCT workspace_id, kind, held_until FROM notification_events"
            " WHERE held_until IS NOT NULL AND summarized_at IS NULL AND held_until <= :now"
            " ORDER BY held_until, workspace_id, kind LIMIT :limit"
        ),
        {"now": now, "limit": limit},
    )
    return [(row.workspace_id, str(row.kind), row.held_until) for row in result]


async def take_held(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    kind: str,
    *,
    until: datetime,
    at: datetime,
    latest: int,
) -> tuple[int, list[EventRow]]:
    """Mark the workspace's held ``kind`` events of the hour ending ``until`` summarized: how
    many (0 when another run took them) and the ``latest`` newest of them, newest first."""
    result = await session.execute(
        text(
            "WITH taken AS ("
            "  UPDATE notification_events SET summarized_at = :at"
            "  WHERE workspace_id = :ws AND kind = :kind AND held_until = :until"
            "    AND summarized_at IS NULL"
            "  RETURNING id, workspace_id, kind, data, created_at)"
            " SELECT id, workspace_id, kind, data, created_at, count(*) OVER () AS taken"
            " FROM taken ORDER BY created_at DESC, id DESC LIMIT greatest(:latest, 1)"
        ),
        {"ws": workspace_id, "kind": kind, "until": until, "at": at, "latest": latest},
    )
    rows = result.all()
    if not rows:
        return 0, []
    events = [
        EventRow(r.id, r.workspace_id, str(r.kind), r.data, r.created_at) for r in rows[:latest]
    ]
    return int(rows[0].taken), events


async def workspaces_with_pending(
    session: AsyncSession, *, created_before: datetime, limit: int
) -> list[uuid.UUID]:
    """Workspaces with events still undispatched (under ``PENDING_LOOKUP``)."""
    result = await session.execute(
        text(
            "SELECT DISTINCT workspace_id FROM notification_events"
            " WHERE dispatched_at IS NULL AND created_at < :before LIMIT :limit"
        ),
        {"before": created_before, "limit": limit},
    )
    return [row.workspace_id for row in result]


# --- the daily digest -----------------------------------------------------------------------


async def add_digest_items(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    items: Sequence[tuple[uuid.UUID, uuid.UUID]],
) -> None:
    """(user id, event id) pairs waiting for that member's digest."""
    if not items:
        return
    await session.execute(
        text(
            "INSERT INTO notification_digest_items (workspace_id, user_id, event_id)"
            " SELECT :ws, u, e FROM unnest(CAST(:users AS uuid[]), CAST(:events AS uuid[]))"
            " AS t(u, e) ON CONFLICT DO NOTHING"
        ),
        {"ws": workspace_id, "users": [u for u, _ in items], "events": [e for _, e in items]},
    )


async def digest_due(
    session: AsyncSession,
    *,
    before: datetime,
    after: tuple[uuid.UUID, uuid.UUID] | None,
    limit: int,
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(workspace, user) pairs with digest items older than ``before`` not yet sent, in key
    order after ``after`` (under ``DIGEST_LOOKUP``)."""
    result = await session.execute(
        text(
            "SELECT DISTINCT workspace_id, user_id FROM notification_digest_items"
            " WHERE sent_at IS NULL AND created_at < :before"
            " AND (CAST(:after_ws AS uuid) IS NULL"
            "      OR (workspace_id, user_id)"
            "         > (CAST(:after_ws AS uuid), CAST(:after_uid AS uuid)))"
            " ORDER BY workspace_id, user_id LIMIT :limit"
        ),
        {
            "before": before,
            "after_ws": after[0] if after else None,
            "after_uid": after[1] if after else None,
            "limit": limit,
        },
    )
    return [(row.workspace_id, row.user_id) for row in result]


async def take_digest_items(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    before: datetime,
    at: datetime,
    limit: int,
) -> list[EventRow]:
    """Mark the member's unsent items older than ``before`` sent (rows another run holds are
    skipped) and return their events, oldest first."""
    result = await session.execute(
        text(
            "WITH taken AS ("
            "  UPDATE notification_digest_items SET sent_at = :at"
            "  WHERE (workspace_id, user_id, event_id) IN ("
            "    SELECT workspace_id, user_id, event_id FROM notification_digest_items"
            "    WHERE workspace_id = :ws AND user_id = :uid AND sent_at IS NULL"
            "      AND created_at < :before"
            "    ORDER BY created_at LIMIT :limit FOR UPDATE SKIP LOCKED)"
            "  RETURNING event_id)"
            " SELECT e.id, e.workspace_id, e.kind, e.data, e.created_at"
            " FROM notification_events e JOIN taken t ON t.event_id = e.id"
            " ORDER BY e.created_at, e.id"
        ),
        {"ws": workspace_id, "uid": user_id, "before": before, "at": at, "limit": limit},
    )
    return [EventRow(**row._mapping) for row in result]
