"""SQL of the outbox of webhooks to the workspace owner."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rag.chat.models import (
    WebhookDelivery,
)


async def insert_delivery(session: AsyncSession, delivery: WebhookDelivery) -> WebhookDelivery:
    session.add(delivery)
    await session.flush()
    return delivery


async def get_delivery(
    session: AsyncSession, *, workspace_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery | None:
    result = await session.execute(
        select(WebhookDelivery)
        .where(WebhookDelivery.workspace_id == workspace_id, WebhookDelivery.id == delivery_id)
        .with_for_update(skip_locked=True)
    )
    return result.scalar_one_or_none()


async def update_delivery(
    session: AsyncSession, *, delivery_id: uuid.UUID, values: dict[str, Any]
) -> None:
    await session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values)
    )


async def list_deliveries(
    session: AsyncSession, *, workspace_id: uuid.UUID, limit: int
) -> list[WebhookDelivery]:
    result = await session.execute(
        select(WebhookDelivery)
        .where(WebhookDelivery.workspace_id == workspace_id)
        .order_by(WebhookDelivery.created_at.desc())
        .limit(limit)
    )
    return list(result.scalars())
