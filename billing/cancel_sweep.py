"""The waiting cancels of linked Razorpay Subscriptions, swept; what a purge waits for.

The ``razorpay_cancels`` sweep (every 5 minutes) hands one job, ``SWEEP_JOB``, the cancels due
(``due``); it sends them one after another (``send_due``) and stops at the first Razorpay
answers 429: the account's rate limit, shared with the owners' live checkouts, is reached, and
every call after it would only spend it again. The cancels it did not send stay as they were,
due, for the next sweep; nothing is given up. The 429 marks the account (billing/
rate_limit_mark.py): until the mark passes the sweep hands out nothing and every send (the job
after the owner's cancel or a deletion, a purge) asks Razorpay nothing. Before, the sweep gave
each due cancel a job of its own, sent whatever Razorpay answered: five cancels waiting while
Razorpay answered 429 cost five calls every sweep, in step for good.

A purge sends a deleted workspace's waiting cancel first (``before_purge``): the row it is
about to delete is the only record of the subscription to cancel.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Final

from billing import provider_cancels
from billing import repository as repo
from billing.provider import PaymentProvider
from billing.rate_limit_mark import RateLimitMark
from core.db import Database
from core.logging import workspace_context
from core.models import utcnow

log = logging.getLogger("trulybot.billing")

SWEEP_JOB: Final = "send_razorpay_cancels"
# One sweep job waits or runs at a time (a keyed job under this id).
SWEEP_JOB_ID: Final = SWEEP_JOB
# How many due cancels one sweep takes (the longest due first).
SWEEP_LIMIT: Final = 500
# How long a deleted workspace's purge waits for Razorpay to take its cancel; after that it is
# purged anyway, with an ERROR naming the subscription to cancel by hand.
PATIENCE: Final = timedelta(days=7)


async def due(db: Database, *, now: datetime) -> list[uuid.UUID]:
    """The workspaces with a cancel waiting whose next send is due (the sweep)."""
    async with db.transaction(lookup=provider_cancels.CANCELS_LOOKUP) as session:
        return await repo.provider_cancels_due(session, now=now, limit=SWEEP_LIMIT)


async def paused_until(
    payments: PaymentProvider | None, mark: RateLimitMark, now: datetime
) -> datetime | None:
    """When the account's rate limit mark passes, while it holds at ``now``."""
    return None if payments is None else await mark.until(payments.key_id, now)


async def send_due(
    db: Database, payments: PaymentProvider | None, mark: RateLimitMark, *, now: datetime
) -> int:
    """Send the due cancels one by one, until the first 429 (or the mark set by another
    process); how many were left unsent for the next sweep."""
    if payments is None:
        return 0
    workspaces = await due(db, now=now)
    for index, workspace_id in enumerate(workspaces):
        with workspace_context(workspace_id):
            outcome = await provider_cancels.send(db, payments, workspace_id, mark=mark, now=now)
        if outcome in ("paused", "rate_limited"):
            left = len(workspaces) - index - (outcome == "rate_limited")
            log.warning(
                "razorpay cancels: Razorpay rate limits this server (HTTP 429) until %s;"
                " %d due cancels left for the next sweep",
                await paused_until(payments, mark, now),
                left,
            )
            return left
    return 0


async def waiting_since(db: Database, workspace_id: uuid.UUID) -> tuple[str, datetime] | None:
    """The linked subscription and when its still unsent cancel was asked for, if one waits."""
    async with db.transaction(workspace_id=workspace_id) as session:
        sub = await repo.get_subscription(session, workspace_id)
    if sub is None or sub.provider_cancel is None or sub.razorpay_subscription_id is None:
        return None
    return sub.razorpay_subscription_id, sub.provider_cancel_requested_at or utcnow()


async def before_purge(
    db: Database,
    payments: PaymentProvider | None,
    workspace_id: uuid.UUID,
    *,
    mark: RateLimitMark,
    now: datetime,
) -> bool:
    """A deleted workspace's purge is about to delete the only record of the Razorpay
    Subscription to cancel: send a waiting cancel first. False while it still waits and may yet
    go through (Razorpay down, or rate limiting the account: the purge is left to the next
    sweep, and asks nothing while the mark holds), for ``PATIENCE`` at most; then, or with no
    Razorpay keys, the purge goes on with an ERROR naming the subscription."""
    outcome = await provider_cancels.send(db, payments, workspace_id, mark=mark, now=now)
    waiting = await waiting_since(db, workspace_id)
    if waiting is None:
        return True
    subscription_id, since = waiting
    if payments is not None and now - since < PATIENCE:
        log.warning(
            "workspace %s: the purge waits until Razorpay takes the cancel of subscription %s%s",
            workspace_id,
            subscription_id,
            " (Razorpay rate limits this server, HTTP 429)"
            if outcome in ("paused", "rate_limited")
            else "",
        )
        return False
    log.error(
        "workspace %s purged with razorpay subscription %s not cancelled: cancel it in"
        " Razorpay's dashboard",
        workspace_id,
        subscription_id,
    )
    return True
