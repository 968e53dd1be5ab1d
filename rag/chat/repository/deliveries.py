"""SQL of the outbox of webhooks to the workspace owner."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.pagination import newest_first
from rag.chat.models import (
    WebhookDelivery,
)

DUE_LOOKUP = "webhook_deliveries:due"  # app.lookup: every workspace's deliveries, read only
STATUSES = ("pending", "delivered", "failed", "cancelled")


async def insert_delivery(session: AsyncSession, delivery: WebhookDelivery) -> WebhookDelivery:
    session.add(delivery)
    await session.flush()
    return delivery


def _pending(workspace_id: uuid.UUID, delivery_id: uuid.UUID) -> tuple[ColumnElement[bool], ...]:
    return (
        WebhookDelivery.workspace_id == workspace_id,
        WebhookDelivery.id == delivery_id,
        WebhookDelivery.status == "pending",
    )


async def claim_delivery(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    delivery_id: uuid.UUID,
    now: datetime,
    lease_until: datetime,
    max_attempts: int,
    held: int | None,
    url: str,
) -> WebhookDelivery | None:
    """Take the pending delivery for one attempt to ``url`` (the workspace's webhook URL now,
    stored on the row as where it went): its ``attempts`` counts the attempt now and its
    ``next_attempt_at`` becomes ``lease_until`` (no other process takes it until then; one that
    died mid-attempt leaves it due again then). Claimed when it is due at ``now``, or when its
    ``attempts`` is still ``held`` (the count the caller's own last attempt left: its backoff,
    unless another process took the delivery since). None when not claimed."""
    claimable = WebhookDelivery.next_attempt_at <= now
    if held is not None:
        claimable = or_(claimable, WebhookDelivery.attempts == held)
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            *_pending(workspace_id, delivery_id), WebhookDelivery.attempts < max_attempts, claimable
        )
        .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=lease_until, url=url)
        .returning(WebhookDelivery)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def record_attempt(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    delivery_id: uuid.UUID,
    attempts: int,
    values: dict[str, Any],
) -> bool:
    """Write an attempt's outcome, unless the delivery was claimed again since (its lease ran
    out and ``attempts`` moved on); whether it was written."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(*_pending(workspace_id, delivery_id), WebhookDelivery.attempts == attempts)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def due_deliveries(
    session: AsyncSession, *, workspace_id: uuid.UUID, now: datetime, limit: int
) -> list[uuid.UUID]:
    """The workspace's pending deliveries due at ``now`` (ix_webhook_deliveries_due), oldest
    first: left by a process that stopped, or claimed by one that died mid-attempt."""
    result = await session.execute(
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.workspace_id == workspace_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    )
    return list(result.scalars())


async def give_up_spent(
    session: AsyncSession, *, workspace_id: uuid.UUID, now: datetime, max_attempts: int
) -> int:
    """Mark failed the due deliveries whose last attempt was claimed and never recorded (the
    process died mid-attempt); how many."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.workspace_id == workspace_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            WebhookDelivery.attempts >= max_attempts,
        )
        .values(status="failed", last_error="the last attempt never finished")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def cancel_pending(
    session: AsyncSession, *, workspace_id: uuid.UUID, delivery_id: uuid.UUID, reason: str
) -> bool:
    """Mark the pending delivery ``cancelled`` (never sent again) with ``reason``; whether it
    was pending."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(*_pending(workspace_id, delivery_id))
        .values(status="cancelled", last_error=reason)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def workspaces_with_due(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[uuid.UUID]:
    """The workspaces that have a pending delivery due at ``now`` (ix_webhook_deliveries_due),
    the longest waiting first; read under the ``DUE_LOOKUP`` sweep setting."""
    result = await session.execute(
        select(WebhookDelivery.workspace_id)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
        .group_by(WebhookDelivery.workspace_id)
        .order_by(func.min(WebhookDelivery.next_attempt_at))
        .limit(limit)
    )
    return list(result.scalars())


async def list_deliveries(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
    status: str | None = None,
) -> list[WebhookDelivery]:
    """The workspace's deliveries newest first (ix_webhook_deliveries_workspace), after the
    keyset ``after``, of one ``status`` when given."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.workspace_id == workspace_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    result = await session.execute(newest_first(stmt, WebhookDelivery, after=after, limit=limit))
    return list(result.scalars())
