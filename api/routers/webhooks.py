"""The workspace webhook's deliveries over HTTP: what was sent, what failed and why."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import LimitDep, SessionDep, WorkspaceDep
from rag.chat import webhook_log

router = APIRouter(tags=["webhooks"])

_STATUS_PATTERN = "^(" + "|".join(webhook_log.STATUSES) + ")$"


class WebhookDeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(description="The X-TrulyBot-Delivery header of its posts")
    event: str
    event_id: str | None = Field(description="The payload's id, the same on every attempt")
    status: str = Field(description="pending, delivered, failed or cancelled")
    attempts: int
    last_status_code: int | None = Field(description="The receiver's last HTTP status")
    last_error: str | None = Field(description="Why the last attempt got no answer")
    url: str = Field(description="Where the last attempt went, without its query string")
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="When a pending one is tried again")
    delivered_at: datetime | None


class WebhookDeliveryPage(BaseModel):
    items: list[WebhookDeliveryOut]
    next_cursor: str | None


@router.get("/workspaces/{workspace_id}/webhook/deliveries", response_model=WebhookDeliveryPage)
async def list_webhook_deliveries(
    access: WorkspaceDep,
    session: SessionDep,
    limit: LimitDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(pattern=_STATUS_PATTERN)] = None,
) -> WebhookDeliveryPage:
    """The workspace webhook's deliveries, newest first: event, status, attempts and the last
    answer or error (payloads are not shown). Owners and admins."""
    rows, next_cursor = await webhook_log.deliveries_page(
        session, access, limit=limit, cursor=cursor, status=status
    )
    return WebhookDeliveryPage(
        items=[WebhookDeliveryOut.model_validate(r) for r in rows], next_cursor=next_cursor
    )
