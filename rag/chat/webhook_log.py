"""What the workspace's webhook deliveries became: the owners' and admins' view of them.

Each delivery (rag/chat/notify.py) is listed with its event, status, attempts and the last
answer or error, newest first, a page at a time (JSON API and the dashboard's webhook page alike).
The payload (a visitor's words, a lead's email) is not shown; the URL is shown without its query
string or fragment, which often carry a receiver's token.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ValidationFailed
from core.pagination import cursor_scope, decode_cursor, page_of
from rag.chat.models import WebhookDelivery
from rag.chat.repository import deliveries as repo
from workspaces.permissions import Action, authorize
from workspaces.service import WorkspaceAccess

STATUSES = repo.STATUSES
_URL_QUERY = re.compile(r"(https?://[^\s?#'\"]*)[?#][^\s'\"]*")


@dataclass(frozen=True)
class DeliveryView:
    id: uuid.UUID
    event: str
    event_id: str | None
    """The payload's ``id``: the same on every attempt (receivers deduplicate on it)."""
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    url: str
    created_at: datetime
    next_attempt_at: datetime | None
    """When a pending delivery is tried again; None once it is settled."""
    delivered_at: datetime | None


def shown_url(url: str) -> str:
    """``url`` without its query string, fragment or credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def shown_error(error: str | None) -> str | None:
    """An attempt's error with any URL in it shown as ``shown_url`` does."""
    if error is None:
        return None
    return _URL_QUERY.sub(r"\1", error)


def _view(row: WebhookDelivery) -> DeliveryView:
    payload_id = row.payload.get("id") if isinstance(row.payload, dict) else None
    return DeliveryView(
        id=row.id,
        event=row.event,
        event_id=str(payload_id) if payload_id is not None else None,
        status=row.status,
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=shown_error(row.last_error),
        url=shown_url(row.url),
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
        delivered_at=row.delivered_at,
    )


async def deliveries_page(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    limit: int,
    cursor: str | None = None,
    status: str | None = None,
) -> tuple[Sequence[DeliveryView], str | None]:
    """The workspace's webhook deliveries newest first (of one ``status`` when given) and the
    cursor of the next page. Owners and admins (and API keys), as for the webhook itself: 422
    ``validation_error`` for an unknown status, ``invalid_cursor`` for a cursor that does not
    decode or pages another filter (a cursor continues the status it was handed out with: the
    rows of another one newer than its row would be skipped)."""
    authorize(access, Action.WEBHOOK_READ)
    if status is not None and status not in STATUSES:
        raise ValidationFailed(
            f"status must be one of {', '.join(STATUSES)}",
            details=[{"field": "status", "message": f"one of {', '.join(STATUSES)}"}],
        )
    scope = cursor_scope("webhook_deliveries", access.workspace.id, status or "any")
    after = decode_cursor(cursor, scope=scope) if cursor else None
    rows = await repo.list_deliveries(
        session, workspace_id=access.workspace.id, limit=limit + 1, after=after, status=status
    )
    page, next_cursor = page_of(rows, limit, scope=scope)
    return [_view(row) for row in page], next_cursor
