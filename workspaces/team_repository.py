"""SQL of the team page's lists: members a page at a time (oldest first, the founder on top),
and the names the page shows for ids it meets (who made a key, who acted in the audit log); the
webhook paused when the person who set it leaves.
Callers pass a session whose tenant context is set."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from workspaces.models import ApiKey, Membership, User, Workspace


async def members_page(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> Sequence[Any]:
    """Members in the order they joined by (membership created_at, id), after ``after``; each
    row has the membership's ``key_id`` for the next page's cursor."""
    stmt = (
        select(
            User.id,
            User.email,
            User.name,
            Membership.role,
            Membership.created_at,
            Membership.id.label("key_id"),
        )
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == workspace_id)
    )
    if after is not None:
        created, ident = after
        stmt = stmt.where(
            or_(
                Membership.created_at > created,
                and_(Membership.created_at == created, Membership.id > ident),
            )
        )
    result = await session.execute(stmt.order_by(Membership.created_at, Membership.id).limit(limit))
    return list(result.all())


async def member_emails(
    session: AsyncSession, workspace_id: uuid.UUID, user_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The email of each of ``user_ids`` still a member of the workspace (a former member is
    left out)."""
    if not user_ids:
        return {}
    result = await session.execute(
        select(User.id, User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == workspace_id, User.id.in_(list(user_ids)))
    )
    return {row.id: row.email for row in result}


async def api_key_labels(
    session: AsyncSession, workspace_id: uuid.UUID, key_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, str]]:
    """(name, prefix) of each of ``key_ids`` the workspace holds, revoked or not."""
    if not key_ids:
        return {}
    result = await session.execute(
        select(ApiKey.id, ApiKey.name, ApiKey.prefix).where(
            ApiKey.workspace_id == workspace_id, ApiKey.id.in_(list(key_ids))
        )
    )
    return {row.id: (row.name, row.prefix) for row in result}


async def pause_webhook_set_by(
    session: AsyncSession, *, workspace_id: uuid.UUID, user_id: uuid.UUID, when: datetime
) -> bool:
    """Pause the workspace's webhook when ``user_id`` set its URL (and it is not paused yet);
    whether it was paused now."""
    result = await session.execute(
        update(Workspace)
        .where(
            Workspace.id == workspace_id,
            Workspace.webhook_set_by == user_id,
            Workspace.webhook_url.is_not(None),
            Workspace.webhook_paused_at.is_(None),
        )
        .values(webhook_paused_at=when)
        .returning(Workspace.id)
    )
    return result.first() is not None


async def some_owners(session: AsyncSession, workspace_id: uuid.UUID) -> list[uuid.UUID]:
    """Two of the workspace's owners at most (enough to tell whether one is the only one)."""
    result = await session.execute(
        select(Membership.user_id)
        .where(Membership.workspace_id == workspace_id, Membership.role == "owner")
        .limit(2)
    )
    return list(result.scalars().all())
