"""All SQL of sign-in sessions (``user_sessions``). The caller sets the context: ``user_id`` for
a user's own rows, ``lookup`` = a token hash to find the row a client's secret names."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from workspaces.models import UserSession


async def insert(session: AsyncSession, row: UserSession) -> None:
    session.add(row)
    await session.flush()


async def by_token_hash(session: AsyncSession, token_hash: str) -> UserSession | None:
    result = await session.execute(select(UserSession).where(UserSession.token_hash == token_hash))
    return result.scalar_one_or_none()


async def live_family_exists(
    session: AsyncSession, *, user_id: uuid.UUID, family_id: uuid.UUID, now: datetime
) -> bool:
    """One probe of the partial index on live families."""
    result = await session.execute(
        select(UserSession.id)
        .where(
            UserSession.family_id == family_id,
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
        )
        .limit(1)
    )
    return result.scalar_one_or_none() is not None


async def claim_for_rotation(session: AsyncSession, row_id: uuid.UUID, *, now: datetime) -> bool:
    """Mark a live row ``rotated``; False when someone else revoked or rotated it first."""
    result = await session.execute(
        update(UserSession)
        .where(UserSession.id == row_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason="rotated", last_used_at=now)
        .returning(UserSession.id)
    )
    return result.scalar_one_or_none() is not None


async def touch(
    session: AsyncSession, row_id: uuid.UUID, *, now: datetime, expires_at: datetime
) -> None:
    await session.execute(
        update(UserSession)
        .where(UserSession.id == row_id)
        .values(last_used_at=now, expires_at=expires_at)
    )


async def revoke_families(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    now: datetime,
    reason: str,
    family_id: uuid.UUID | None = None,
    except_family: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Revoke the live rows of one family (``family_id``) or of all the user's families but
    ``except_family``; the families revoked."""
    stmt = (
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .returning(UserSession.family_id)
    )
    if family_id is not None:
        stmt = stmt.where(UserSession.family_id == family_id)
    if except_family is not None:
        stmt = stmt.where(UserSession.family_id != except_family)
    result = await session.execute(stmt)
    return sorted(set(result.scalars().all()))


async def list_live(
    session: AsyncSession, *, user_id: uuid.UUID, now: datetime
) -> Sequence[UserSession]:
    """The user's live families (one live row each), the most recently used first."""
    result = await session.execute(
        select(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
        )
        .order_by(UserSession.last_used_at.desc(), UserSession.id)
    )
    return result.scalars().all()


async def live_page(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    now: datetime,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> Sequence[UserSession]:
    """A page of the user's live families, the most recently used first by (last_used_at,
    id), after ``after``."""
    stmt = select(UserSession).where(
        UserSession.user_id == user_id,
        UserSession.revoked_at.is_(None),
        UserSession.expires_at > now,
    )
    if after is not None:
        used, ident = after
        stmt = stmt.where(
            or_(
                UserSession.last_used_at < used,
                and_(UserSession.last_used_at == used, UserSession.id < ident),
            )
        )
    result = await session.execute(
        stmt.order_by(UserSession.last_used_at.desc(), UserSession.id.desc()).limit(limit)
    )
    return result.scalars().all()
