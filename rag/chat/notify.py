"""Outgoing webhooks to the workspace owner (handoffs, new leads): HMAC-signed, retried.

The delivery row is written in the caller's transaction (an outbox); after the commit, a
background task posts it and retries with exponential backoff; what a stopped process left
pending is posted by the job ``webhook_retry`` (``Notifier.retry_due``, one job per workspace
with due deliveries, rag/chat/jobs.py). The signature header is
``X-TrulyBot-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` with the
workspace's webhook secret, so receivers can also reject replays by the timestamp
(docs/webhooks.md is the receiver's side).

Each attempt goes to the workspace's webhook URL and secret as they are at that attempt: after
the owner changes the URL, what was still pending goes to the new one; after they remove it (or
the workspace is deleted), what was pending is ``cancelled`` at its next attempt, never sent.
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
from core.tls import outgoing_tls
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
RETRY_CONCURRENCY = 4  # posts at once in one run of the retry job
RETRY_DEADLINE_SECONDS = 60.0  # a run starts no attempt past this; the rest wait for the next
SHUTDOWN_GRACE_SECONDS = TIMEOUT_SECONDS + 1.0
NO_URL = "cancelled: the workspace has no webhook URL any more"
PAUSED = (
    "cancelled: the webhook is paused until an owner confirms its URL"
    " (the person who set it left the workspace)"
)
DEPS_KEY = "webhook_notifier"  # the job context's Notifier (rag/chat/jobs.py)
DUE_WORKSPACES_BATCH = 500  # workspaces given a retry job per run of ``webhook_retry``


new_webhook_secret = generate_webhook_secret


def sign(body: bytes, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


async def enqueue(
    session: AsyncSession, workspace: Workspace, event: str, data: dict[str, Any]
) -> uuid.UUID | None:
    """Write the delivery in the current transaction; None when no webhook is configured, or
    it is paused (the person who set its URL left: it waits for an owner to confirm it)."""
    if not workspace.webhook_url or workspace.webhook_paused_at is not None:
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

    async def retry_due(
        self,
        workspace_id: uuid.UUID,
        now: datetime,
        *,
        concurrency: int = RETRY_CONCURRENCY,
        deadline_seconds: float = RETRY_DEADLINE_SECONDS,
    ) -> int:
        """One attempt of each of the workspace's deliveries due at ``now`` (pending past its
        backoff, or claimed by a process that died mid-attempt); how many were attempted.
        Several processes may run it at once: each delivery is claimed before it is posted.
        At most ``concurrency`` posts at once, each cut off at ``TIMEOUT_SECONDS``; none is
        started after ``deadline_seconds`` (those stay due for the next run), so a run ends
        within the deadline and one attempt, well inside ``CLAIM_SECONDS``."""
        async with self.db.transaction(workspace_id=workspace_id) as session:
            spent = await delivery_repo.give_up_spent(
                session, workspace_id=workspace_id, now=now, max_attempts=MAX_ATTEMPTS
            )
            due = await delivery_repo.due_deliveries(
                session, workspace_id=workspace_id, now=now, limit=RETRY_BATCH
            )
        if spent:
            log.info("webhooks: %d deliveries failed (their last attempt never finished)", spent)
        started = time.monotonic()
        gate = asyncio.Semaphore(max(1, concurrency))
        attempted = 0

        async def one(delivery_id: uuid.UUID) -> None:
            nonlocal attempted
            async with gate:
                if time.monotonic() - started > deadline_seconds:
                    return
                attempted += 1
                try:
                    await self._attempt(workspace_id, delivery_id, held=None, now=now)
                except Exception:  # the database away: the delivery stays due
                    log.exception("webhook %s: the retry failed", delivery_id)

        await asyncio.gather(*(one(delivery_id) for delivery_id in due))
        return attempted

    async def workspaces_with_due(self, now: datetime) -> list[uuid.UUID]:
        """The workspaces with a delivery due at ``now``: one indexed query across them all
        (a sweep's lookup), not a transaction per workspace."""
        async with self.db.transaction(lookup=delivery_repo.DUE_LOOKUP) as session:
            return await delivery_repo.workspaces_with_due(
                session, now=now, limit=DUE_WORKSPACES_BATCH
            )

    async def _attempt(
        self, workspace_id: uuid.UUID, delivery_id: uuid.UUID, *, held: int | None, now: datetime
    ) -> int | None:
        """One try: claim, post (no transaction open), record. The delivery's ``attempts`` when
        it is to be tried again by this caller; None when there is nothing more to do here."""
        async with self.db.transaction(workspace_id=workspace_id) as session:
            # Where the webhook points now: the URL and secret of this attempt, not of the
            # moment the delivery was written (the old address may have lapsed).
            workspace = await get_workspace(session, workspace_id)
            if workspace is None or not workspace.webhook_url:
                if await delivery_repo.cancel_pending(
                    session, workspace_id=workspace_id, delivery_id=delivery_id, reason=NO_URL
                ):
                    log.info("webhook %s cancelled: no webhook URL", delivery_id)
                return None
            if workspace.webhook_paused_at is not None:
                if await delivery_repo.cancel_pending(
                    session, workspace_id=workspace_id, delivery_id=delivery_id, reason=PAUSED
                ):
                    log.info("webhook %s cancelled: the webhook is paused", delivery_id)
                return None
            delivery = await delivery_repo.claim_delivery(
                session,
                workspace_id=workspace_id,
                delivery_id=delivery_id,
                now=now,
                lease_until=now + timedelta(seconds=CLAIM_SECONDS),
                max_attempts=MAX_ATTEMPTS,
                held=held,
                url=workspace.webhook_url,
            )
            if delivery is None:
                return None
            secret = workspace.webhook_secret
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
        """POST the signed body; the status code, or None and the error. The whole attempt (the
        name's lookup, connecting, sending, the answer's status line and headers) ends within
        ``TIMEOUT_SECONDS``: httpx's timeout bounds each read, and a receiver that trickles
        its answer a byte at a time would otherwise hold the attempt for as long as it likes."""
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                return await self._send(delivery_id, event, url, body, secret)
        except TimeoutError:
            return None, f"TimeoutError: no answer within {TIMEOUT_SECONDS:g} s"
        except Exception as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]

    async def _send(
        self, delivery_id: uuid.UUID, event: str, url: str, body: bytes, secret: str | None
    ) -> tuple[int | None, str | None]:
        checked, ip = await check_url(url, allow_private=self.allow_private)
        timestamp = int(time.time())
        async with httpx.AsyncClient(
            timeout=TIMEOUT_SECONDS, trust_env=False, verify=outgoing_tls()
        ) as client:
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


def _now() -> datetime:
    return datetime.now(UTC)
