"""Where reconcile's walk of the pending orders starts: after the last order a run stopped by
Razorpay (its 429 or 401) checked, kept in Redis for the next run.

A run lists the window's pending orders oldest first. A run stopped at about the same call each
time (Razorpay rate limiting every run) checked the same oldest orders again and again, and a
newer paid order whose webhook was lost was never reached. Started after where the last one
stopped, then round to the oldest, every order is reached within a few runs. Without Redis
(the embedded default) each run starts from the oldest (docs/billing.md "Reconcile").
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from billing import repository as repo
from core.db import Database

log = logging.getLogger("trulybot.billing")

OrderKey = tuple[datetime, uuid.UUID]
"""An order's place in the listing: its ``created_at``, then its id."""

RESUME_KEY: Final = "trulybot:billing:reconcile:resume"
# Longer than any window a run looks back (--within-days defaults to 7): an older mark no
# longer names an order of it, and only its place in the listing matters.
RESUME_TTL: Final = timedelta(days=30)

PendingOrder = tuple[uuid.UUID, uuid.UUID, str, datetime]


def key_of(row: PendingOrder) -> OrderKey:
    return (row[3], row[0])


async def pending_orders(
    db: Database,
    *,
    created_before: datetime,
    created_after: datetime,
    limit: int,
    start: OrderKey | None,
) -> AsyncIterator[PendingOrder]:
    """The window's pending orders (``repo.list_pending_orders``' rows), listed ``limit`` at a
    time: those after ``start``, then from the oldest up to ``start``. No transaction is open
    while the caller handles a row."""

    async def listed(after: OrderKey | None) -> AsyncIterator[PendingOrder]:
        while True:
            async with db.transaction(lookup=repo.RECONCILE_LOOKUP) as session:
                page = await repo.list_pending_orders(
                    session,
                    created_before=created_before,
                    created_after=created_after,
                    limit=limit,
                    after=after,
                )
            for row in page:
                yield row
            if len(page) < limit:
                return
            after = key_of(page[-1])

    async for row in listed(start):
        yield row
    if start is None:
        return
    async for row in listed(None):
        if key_of(row) > start:
            return
        yield row


async def load(redis: Redis | None) -> OrderKey | None:
    """Where the last stopped run left off; None when it was not stopped, without Redis, or
    Redis failing (the run then starts from the oldest: a warning, not a failed run)."""
    if redis is None:
        return None
    try:
        raw = await redis.get(RESUME_KEY)
    except RedisError as exc:
        log.warning("billing reconcile: where the last run stopped not read (%s)", exc)
        return None
    if raw is None:
        return None
    try:
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        at, _, order_id = text.partition("|")
        return (datetime.fromisoformat(at), uuid.UUID(order_id))
    except ValueError:
        return None


async def save(redis: Redis | None, key: OrderKey | None) -> None:
    """Keep where this run stopped (``key``), or forget it (None: the run went through)."""
    if redis is None:
        return
    try:
        if key is None:
            await redis.delete(RESUME_KEY)
        else:
            value = f"{key[0].isoformat()}|{key[1]}"
            await redis.set(RESUME_KEY, value, ex=int(RESUME_TTL.total_seconds()))
    except RedisError as exc:
        log.warning("billing reconcile: where this run stopped not kept (%s)", exc)
