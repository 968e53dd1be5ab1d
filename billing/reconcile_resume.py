"""Where reconcile's walk starts: after the last item (a deferred charge or a pending order) a
run stopped by Razorpay (its 429 or 401) checked, kept in Redis for the next run.

A run checks the window's deferred charges, then its pending orders, each oldest first. A run
stopped at about the same call each time (Razorpay rate limiting every run) checked the same
oldest items again and again, and a newer paid order whose webhook was lost was never reached.
Started after where the last one stopped, through the rest of that pass, then the other pass,
then round to the start of the first, every item is reached within a few runs. The mark names
its pass (``Mark.walk``): a mark of the orders only let a deferred charge asked about every run
(one no invoice names stays unsettled) use a run's calls up before the orders, so a run limited
to about one call never moved it (billing review 6). Without Redis (the embedded default) each
run starts from the oldest (docs/billing.md "Reconcile").
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError

from billing import repository as repo
from core.db import Database

log = logging.getLogger("trulybot.billing")

OrderKey = tuple[datetime, uuid.UUID]
"""An order's place in the listing: its ``created_at``, then its id."""
DeferredKey = tuple[datetime, str]
"""A deferred charge's place in its listing: when it was received, then its payment id."""

Walk = Literal["deferred", "orders"]
WALKS: Final[tuple[Walk, Walk]] = ("deferred", "orders")
"""The passes of a run, in the order a run from the start takes them."""


@dataclass(frozen=True)
class Mark:
    """The last item a stopped run checked: its pass and its place in that pass's listing."""

    walk: Walk
    at: datetime
    id: str

    def order_key(self) -> OrderKey:
        return (self.at, uuid.UUID(self.id))

    def deferred_key(self) -> DeferredKey:
        return (self.at, self.id)


def order_mark(key: OrderKey) -> Mark:
    return Mark("orders", key[0], str(key[1]))


def deferred_mark(key: DeferredKey) -> Mark:
    return Mark("deferred", key[0], key[1])


def segments(mark: Mark | None) -> list[tuple[Walk, Mark | None, Mark | None]]:
    """The run's passes from ``mark`` on, as (pass, after, up to): the rest of the mark's pass
    after it, the other pass whole, then its pass from the start up to the mark."""
    if mark is None:
        return [(walk, None, None) for walk in WALKS]
    other = WALKS[1] if mark.walk == WALKS[0] else WALKS[0]
    return [(mark.walk, mark, None), (other, None, None), (mark.walk, None, mark)]


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
    after: OrderKey | None = None,
    upto: OrderKey | None = None,
) -> AsyncIterator[PendingOrder]:
    """The window's pending orders (``repo.list_pending_orders``' rows) after ``after`` and up
    to ``upto`` (each None: no bound), listed ``limit`` at a time. No transaction is open while
    the caller handles a row."""
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
            if upto is not None and key_of(row) > upto:
                return
            yield row
        if len(page) < limit:
            return
        after = key_of(page[-1])


async def load(redis: Redis | None) -> Mark | None:
    """Where the last stopped run left off; None when it was not stopped, without Redis, or
    Redis failing (the run then starts from the oldest: a warning, not a failed run). A mark
    of the orders kept before it named its pass (``<at>|<order id>``) is read as one."""
    if redis is None:
        return None
    try:
        raw = await redis.get(RESUME_KEY)
    except RedisError as exc:
        log.warning("billing reconcile: where the last run stopped not read (%s)", exc)
        return None
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    parts = text.split("|")
    if len(parts) == 2:
        parts = ["orders", *parts]
    if len(parts) != 3 or parts[0] not in WALKS or not parts[2]:
        return None
    try:
        mark = Mark(
            "orders" if parts[0] == "orders" else "deferred",
            datetime.fromisoformat(parts[1]),
            parts[2],
        )
        if mark.walk == "orders":
            mark.order_key()
    except ValueError:
        return None
    return mark if mark.at.tzinfo is not None else None


async def save(redis: Redis | None, mark: Mark | None) -> None:
    """Keep where this run stopped (``mark``), or forget it (None: the run went through)."""
    if redis is None:
        return
    try:
        if mark is None:
            await redis.delete(RESUME_KEY)
        else:
            value = f"{mark.walk}|{mark.at.isoformat()}|{mark.id}"
            await redis.set(RESUME_KEY, value, ex=int(RESUME_TTL.total_seconds()))
    except RedisError as exc:
        log.warning("billing reconcile: where this run stopped not kept (%s)", exc)
