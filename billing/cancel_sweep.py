"""The waiting cancels of linked Razorpay Subscriptions, swept; what a purge waits for.

The ``razorpay_cancels`` sweep (every 5 minutes) hands one job, ``SWEEP_JOB``, the cancels due
(``due``); it sends them one after another (``send_due``) and stops at the first Razorpay
answers 429: the account's rate limit, shared with the owners' live checkouts, is reached, and
every call after it would only spend it again. The cancels it did not send stay as they were,
due, for the next sweep, and so does the one answered 429 (no attempt counted: the limit is
the account's, not the cancel's); nothing is given up. The 429 marks the account (billing/
rate_limit_mark.py): until the mark passes the sweep hands out nothing and every send (the job
after the owner's cancel or a deletion, a purge) asks Razorpay nothing. Before, the sweep gave
each due cancel a job of its own, sent whatever Razorpay answered: five cancels waiting while
Razorpay answered 429 cost five calls every sweep, in step for good.

It stops too at the first 401 (this server's API keys refused: every call after would be
refused alike; the cancel stays due as it was, no attempt counted, and an ERROR starting
``KEYS_REFUSED_STOP`` tells the operator), and after ``UNREACHABLE_IN_A_ROW`` sends in a row
that found Razorpay unreachable (timeouts, connection errors, 5xx: each timeout costs up to
``RAZORPAY_TIMEOUT_SECONDS``; before, one job waited out one per due cancel, about 160 in its
30 minutes). Each stop counts in ``trulybot_razorpay_cancel_sweeps_stopped_total{reason}``;
the last due cancel found unreachable is none (nothing was left: before, it counted one).

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
from core import metrics
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
# Sends in a row that found Razorpay unreachable before the job stops. One timeout is a slow
# call, two may still be a blip; three in a row (a minute and a half at the 30 s timeout
# allowed, against a 5-minute sweep) is Razorpay down for this server, and each later call
# would only wait out its own timeout. A cancel answered in between starts the count again;
# one with nothing to send (``nothing``: Razorpay asked nothing) leaves it as it was.
UNREACHABLE_IN_A_ROW: Final = 3
# The start of the ERROR line of a job stopped by Razorpay's 401: a stable text to alert on.
KEYS_REFUSED_STOP: Final = "razorpay cancels stopped: Razorpay refused this server's API keys"


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
    process), the first 401, or ``UNREACHABLE_IN_A_ROW`` unreachable in a row; how many were
    left unsent for the next sweep."""
    if payments is None:
        return 0
    return await send_each(db, payments, mark, await due(db, now=now), now=now)


async def send_each(
    db: Database,
    payments: PaymentProvider,
    mark: RateLimitMark,
    workspaces: list[uuid.UUID],
    *,
    now: datetime,
) -> int:
    """``send_due``'s sends of the cancels of ``workspaces``, in turn: how many were left."""
    unreachable = 0
    for index, workspace_id in enumerate(workspaces):
        with workspace_context(workspace_id):
            outcome = await provider_cancels.send(db, payments, workspace_id, mark=mark, now=now)
        if outcome != "nothing":  # nothing asked (ended meanwhile, claimed): no answer either
            unreachable = unreachable + 1 if outcome == "retry" else 0
        if outcome in ("paused", "rate_limited"):  # this one stays due as well
            left = len(workspaces) - index
            metrics.count_razorpay_cancel_sweep_stop("rate_limited")
            log.warning(
                "razorpay cancels: Razorpay rate limits this server (HTTP 429) until %s;"
                " %d due cancels left for the next sweep",
                await paused_until(payments, mark, now),
                left,
            )
            return left
        if outcome == "keys_refused":  # this one stays due as well
            left = len(workspaces) - index
            metrics.count_razorpay_cancel_sweep_stop("keys_refused")
            log.error(
                "%s (HTTP 401): %d due cancels left for the next sweep, none counted as an"
                " attempt; set RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET to the account's keys",
                KEYS_REFUSED_STOP,
                left,
            )
            return left
        if unreachable >= UNREACHABLE_IN_A_ROW and (left := len(workspaces) - index - 1):
            # With none left the job did all it had to: no stop. Before, it counted one.
            metrics.count_razorpay_cancel_sweep_stop("unreachable")
            log.warning(
                "razorpay cancels stopped: Razorpay unreachable (timeout, connection or 5xx)"
                " %d times in a row; %d due cancels left for the next sweep",
                unreachable,
                left,
            )
            return left
    return 0


_WAITING_WHY: Final = {
    "paused": " (Razorpay rate limits this server, HTTP 429)",
    "rate_limited": " (Razorpay rate limits this server, HTTP 429)",
    "keys_refused": " (Razorpay refuses this server's API keys, HTTP 401)",
}


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
            _WAITING_WHY.get(outcome, ""),
        )
        return False
    log.error(
        "workspace %s purged with razorpay subscription %s not cancelled: cancel it in"
        " Razorpay's dashboard",
        workspace_id,
        subscription_id,
    )
    return True
