"""Outgoing webhooks to the workspace owner (handoffs, new leads): HMAC-signed, retried.

The delivery row is written in the caller's transaction (an outbox); after the commit, a
background task posts it and retries with exponential backoff. The signature header is
``X-TrulyBot-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` with the
workspace's webhook secret, so receivers can also reject replays by the timestamp.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tenacity import AsyncRetrying, retry_if_result, stop_after_attempt, wait_exponential

from core.db import Database
from rag.chat.models import WebhookDelivery
from rag.chat.repository import deliveries as delivery_repo
from rag.knowledge.addresses import check_url, pinned_request
from workspaces.models import Workspace
from workspaces.repository import get_workspace
from workspaces.security import generate_webhook_secret

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 2.0
TIMEOUT_SECONDS = 5.0


new_webhook_secret = generate_webhook_secret


def sign(body: bytes, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


async def enqueue(
    session: AsyncSession, workspace: Workspace, event: str, data: dict[str, Any]
) -> uuid.UUID | None:
    """Write the delivery in the current transaction; None when no webhook is configured."""
    if not workspace.webhook_url:
        return None
    delivery = WebhookDelivery(
        id=uuid.uuid4(),
        workspace_id=workspace.id,
        event=event,
        url=workspace.webhook_url,
        payload={
            "id": str(uuid.uuid4()),
            "event": event,
            "workspace_id": str(workspace.id),
            "created_at": datetime.now(UTC).isoformat(),
            "data": data,
        },
    )
    await delivery_repo.insert_delivery(session, delivery)
    return delivery.id


class Notifier:
    """Posts pending deliveries after commit, retrying with backoff, in the background."""

    def __init__(
        self,
        db: Database,
        *,
        allow_private: bool,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        backoff_base: float = BACKOFF_BASE_SECONDS,
    ) -> None:
        self.db = db
        self.allow_private = allow_private
        self.sleep = sleep
        self.backoff_base = backoff_base
        self._tasks: set[asyncio.Task[None]] = set()

    def schedule(self, workspace_id: uuid.UUID, delivery_id: uuid.UUID) -> None:
        task = asyncio.create_task(self.run(workspace_id, delivery_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def run(self, workspace_id: uuid.UUID, delivery_id: uuid.UUID) -> None:
        """Attempt until delivered or given up: ``MAX_ATTEMPTS`` tries, ``backoff_base``
        seconds before the second, doubling each time."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(MAX_ATTEMPTS),
            wait=wait_exponential(multiplier=self.backoff_base),
            retry=retry_if_result(lambda done: not done),
            retry_error_callback=lambda _state: True,  # the last attempt recorded the failure
            sleep=self.sleep,
        )
        await retrying(self.attempt, workspace_id, delivery_id)

    async def attempt(self, workspace_id: uuid.UUID, delivery_id: uuid.UUID) -> bool:
        """One try; True when there is nothing more to do (delivered or given up)."""
        async with self.db.transaction(workspace_id=workspace_id) as session:
            delivery = await delivery_repo.get_delivery(
                session, workspace_id=workspace_id, delivery_id=delivery_id
            )
            if delivery is None or delivery.status != "pending":
                return True
            secret = await _secret(session, workspace_id)
            body = json.dumps(delivery.payload, separators=(",", ":")).encode()
            status_code: int | None = None
            error: str | None = None
            try:
                url, ip = await check_url(delivery.url, allow_private=self.allow_private)
                timestamp = int(time.time())
                async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, trust_env=False) as client:
                    # Connect to the address just checked (no second DNS lookup to rebind), and
                    # read only the status: the receiver's body is never downloaded.
                    request = pinned_request(
                        client,
                        "POST",
                        url,
                        ip,
                        content=body,
                        headers={
                            "Content-Type": "application/json",
                            "User-Agent": "TrulyBot-Webhooks/1",
                            "X-TrulyBot-Event": delivery.event,
                            "X-TrulyBot-Delivery": str(delivery.id),
                            "X-TrulyBot-Signature": sign(body, secret or "", timestamp),
                        },
                    )
                    response = await client.send(request, stream=True)
                    await response.aclose()
                status_code = response.status_code
                ok = 200 <= response.status_code < 300
            except Exception as exc:
                ok = False
                error = f"{type(exc).__name__}: {exc}"[:500]
            attempts = delivery.attempts + 1
            values: dict[str, Any] = {
                "attempts": attempts,
                "last_status_code": status_code,
                "last_error": error,
            }
            if ok:
                values |= {"status": "delivered", "delivered_at": datetime.now(UTC)}
            elif attempts >= MAX_ATTEMPTS:
                values["status"] = "failed"
            else:
                values["next_attempt_at"] = datetime.now(UTC) + timedelta(
                    seconds=self.backoff_base * (2 ** (attempts - 1))
                )
            await delivery_repo.update_delivery(session, delivery_id=delivery.id, values=values)
            if not ok:
                log.info(
                    "webhook %s attempt %d failed: %s", delivery.id, attempts, error or status_code
                )
            return bool(ok or attempts >= MAX_ATTEMPTS)


async def _secret(session: AsyncSession, workspace_id: uuid.UUID) -> str | None:
    workspace = await get_workspace(session, workspace_id)
    return workspace.webhook_secret if workspace else None
