"""SQL of the audit log (workspaces/audit.py): append an entry, read a page of them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.pagination import newest_first
from workspaces.models import AuditEntry


async def insert_entry(session: AsyncSession, entry: AuditEntry) -> None:
    session.add(entry)
    await session.flush()


async def list_entries(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None = None,
    action: str | None = None,
) -> Sequence[AuditEntry]:
    """Newest first, after the entry ``before`` (its created_at and id) when given."""
    stmt = select(AuditEntry).where(AuditEntry.workspace_id == workspace_id)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    stmt = newest_first(stmt, AuditEntry, after=before, limit=limit)
    return (await session.execute(stmt)).scalars().all()
