"""Outgoing webhooks to the workspace owner (handoffs, new leads): HMAC-signed, retried.

The delivery row is written in the caller's transaction (an outbox); after the commit, a
background task posts it and retries with exponential backoff; what a stopped process left
pending is posted by the scheduled job ``webhook_retry`` (``Notifier.retry_due``). The signature
header is ``X-TrulyBot-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``
with the workspace's webhook secret, so receivers can also reject replays by the timestamp.
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
CLAIM_SECONDS = 120  # an attempt's lease: one whose process died is due again after it
RETRY_BATCH = 100  # due deliveries of one workspace per run of the retry job
SHUTDOWN_GRACE_SECONDS = TIMEOUT_SECONDS + 1.0


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
    """Posts pending deliveries after commit, retrying with backoff, in the background.

    An attempt claims its delivery in one short transaction (``attempts`` + 1, ``next_attempt_at``
    pushed ``CLAIM_SECONDS`` ahead), posts with no transaction open, and records the outcome in
    another: no row lock or connection is held while the receiver answers. What a process leaves
    behind (a task cancelled at shutdown, a process that died, a delivery claimed and never
    recorded) stays ``pending`` and is due again; ``retry_due``, the scheduled job
    ``webhook_retry`` (api/schedule.py), attempts it under the same rules."""

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

    async def close(self, grace_seconds: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """At shutdown: wait up to ``grace_seconds`` for the deliveries under way, then cancel
        the rest (most wait out a backoff). What they leave is ``pending`` and due, so the
        scheduled ``webhook_retry`` of a running process sends it."""
        if not self._tasks:
            return
        _, waiting = await asyncio.wait(list(self._tasks), timeout=grace_seconds)
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        if waiting:
            log.info("webhooks: %d deliveries left to the retry job at shutdown", len(waiting))

    async def run(self, workspace_id: uuid.UUID, delivery_id: uuid.UUID) -> None:
        """Attempt until delivered or given up: ``MAX_ATTEMPTS`` tries, ``backoff_base``
        seconds before the second, doubling each time. Stops early when another process took
        the delivery over (the retry job)."""
        held: int | None = 0
        for waited in range(MAX_ATTEMPTS):
            if waited:
                await self.sleep(self._backoff(waited))
            held = await self._attempt(workspace_id, delivery_id, held=held, now=_now())
            if held is None:
                return

    async def attempt(self, workspace_id: uuid.UUID, delivery_id: uuid.UUID) -> bool:
        """One try of a due delivery; True when there is nothing more to do (delivered, given
        up, or not this caller's to try)."""
        return await self._attempt(workspace_id, delivery_id, held=None, now=_now()) is None

    async def retry_due(self, workspace_id: uuid.UUID, now: datetime) -> int:
        """One attempt of each of the workspace's deliveries due at ``now`` (pending past its
        backoff, or claimed by a process that died mid-attempt); how many were attempted.
        Several processes may run it at once: each delivery is claimed before it is posted."""
        async with self.db.transaction(workspace_id=workspace_id) as session:
            spent = await delivery_repo.give_up_spent(
                session, workspace_id=workspace_id, now=now, max_attempts=MAX_ATTEMPTS
            )
            due = await delivery_repo.due_deliveries(
                session, workspace_id=workspace_id, now=now, limit=RETRY_BATCH
            )
        if spent:
            log.info("webhooks: %d deliveries failed (their last attempt never finished)", spent)
        attempted = 0
        for delivery_id in due:
            await self._attempt(workspace_id, delivery_id, held=None, now=now)
            attempted += 1
        return attempted

    async def _attempt(
        self, workspace_id: uuid.UUID, delivery_id: uuid.UUID, *, held: int | None, now: datetime
    ) -> int | None:
        """One try: claim, post (no transaction open), record. The delivery's ``attempts`` when
        it is to be tried again by this caller; None when there is nothing more to do here."""
        async with self.db.transaction(workspace_id=workspace_id) as session:
            delivery = await delivery_repo.claim_delivery(
                session,
                workspace_id=workspace_id,
                delivery_id=delivery_id,
                now=now,
                lease_until=now + timedelta(seconds=CLAIM_SECONDS),
                max_attempts=MAX_ATTEMPTS,
                held=held,
            )
            if delivery is None:
                return None
            secret = await _secret(session, workspace_id)
            event, url, attempts = delivery.event, delivery.url, delivery.attempts
            body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        status_code, error = await self._post(delivery_id, event, url, body, secret)
        ok = status_code is not None and 200 <= status_code < 300
        values: dict[str, Any] = {"last_status_code": status_code, "last_error": error}
        if ok:
            values |= {"status": "delivered", "delivered_at": _now()}
        elif attempts >= MAX_ATTEMPTS:
            values["status"] = "failed"
        else:
            values["next_attempt_at"] = _now() + timedelta(seconds=self._backoff(attempts))
        async with self.db.transaction(workspace_id=workspace_id) as session:
            recorded = await delivery_repo.record_attempt(
                session,
                workspace_id=workspace_id,
                delivery_id=delivery_id,
                attempts=attempts,
                values=values,
            )
        if not ok:
            reason = error or status_code
            log.info("webhook %s attempt %d failed: %s", delivery_id, attempts, reason)
        if ok or attempts >= MAX_ATTEMPTS or not recorded:
            return None
        return attempts

    def _backoff(self, attempts: int) -> float:
        """Seconds before the try after ``attempts`` tries: ``backoff_base``, doubling."""
        return self.backoff_base * 2 ** (attempts - 1)

    async def _post(
        self, delivery_id: uuid.UUID, event: str, url: str, body: bytes, secret: str | None
    ) -> tuple[int | None, str | None]:
        """POST the signed body; the status code, or None and the error."""
        try:
            checked, ip = await check_url(url, allow_private=self.allow_private)
            timestamp = int(time.time())
            async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, trust_env=False) as client:
                # Connect to the address just checked (no second DNS lookup to rebind), and
                # read only the status: the receiver's body is never downloaded.
                request = pinned_request(
                    client,
                    "POST",
                    checked,
                    ip,
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        "User-Agent": "TrulyBot-Webhooks/1",
                        "X-TrulyBot-Event": event,
                        "X-TrulyBot-Delivery": str(delivery_id),
                        "X-TrulyBot-Signature": sign(body, secret or "", timestamp),
                    },
                )
                response = await client.send(request, stream=True)
                await response.aclose()
            return response.status_code, None
        except Exception as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]


def _now() -> datetime:
    return datetime.now(UTC)


async def _secret(session: AsyncSession, workspace_id: uuid.UUID) -> str | None:
    workspace = await get_workspace(session, workspace_id)
    return workspace.webhook_secret if workspace else None
