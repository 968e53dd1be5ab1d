"""Cancelling the Razorpay Subscription a workspace is linked to.

A workspace may be linked to a Razorpay Subscription (``subscriptions.razorpay_subscription_id``,
from the first ``subscription.*`` webhook's signed notes): Razorpay then charges the customer's
card every cycle. When the owner cancels at period end, the subscription is cancelled at the end
of its current cycle (``cancel_at_cycle_end`` 1); when the workspace is deleted, at once
(``cancel_at_cycle_end`` 0). Razorpay cannot undo either ("Once cancelled, you cannot renew or
reactivate it"), so a resume after the cancel may have been sent is refused (409
``razorpay_subscription_cancelled``).

The cancel is durable: ``request`` records it on the subscription's row in the transaction that
decides it (the owner's cancel, the deletion); ``send`` (``CANCEL_JOB`` after the commit, again
from the ``razorpay_cancels`` sweep, and first thing in a purge: billing/cancel_sweep.py) claims
it under the row's lock, asks Razorpay with no transaction open and records the answer. Razorpay
unreachable: retried with a backoff (``BACKOFF_FIRST`` doubling up to
``BACKOFF_MAX``, between half and all of it at random, so cancels that failed together come due
apart). Refusing this server's API keys (401: the operator fixes them) is no attempt of the
cancel's: Razorpay acted on nothing, so the claim is given back (``keys_refused``: the attempt
uncounted, due as it was, the error saying why) and the sweep stops. Nor is a 429: the limit
is the whole account's, which it marks (billing/rate_limit_mark.py; until the mark passes,
``send`` asks nothing, ``paused``, and the cancel stays due), so its claim is given back as
a 401's and the sweep stops. Razorpay answering that the
subscription has ended already (cancelled, completed, expired) counts as done. Any other refusal
is given up (logged at ERROR and audited ``billing.razorpay_cancel_failed``): retrying it would
not help, and an operator has to look. A confirmed cancel is audited
``billing.razorpay_cancelled``. Without Razorpay keys there is nothing to call.

Razorpay ending the subscription on its side (``subscription.cancelled``: the owner cancelled
in Razorpay's dashboard, or our cancel took effect; ``subscription.completed``: its last cycle
was charged) is recorded by ``ended`` as cancelled at once, and a waiting cancel is dropped:
nothing is left to send. ``subscription.halted`` is no end (a new card makes it active again).
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from billing import held_charges
from billing import repository as repo
from billing.models import Subscription
from billing.provider import (
    PaymentProvider,
    PaymentProviderError,
    PaymentProviderKeysRefused,
    rate_limited,
    retry_after,
    unavailable_why,
)
from billing.provider_events import entity_time
from billing.rate_limit_mark import RateLimitMark
from billing.signatures import PaymentProviderUnavailable
from core.db import Database
from core.errors import Conflict
from core.models import utcnow
from workspaces import audit

log = logging.getLogger("trulybot.billing")

CANCEL_JOB: Final = "cancel_razorpay_subscription"
CANCELS_LOOKUP: Final = repo.CANCELS_LOOKUP
CANCELLED: Final = "billing.razorpay_cancelled"
CANCEL_FAILED: Final = "billing.razorpay_cancel_failed"
ENDED: Final = "billing.razorpay_subscription_ended"
# Razorpay's webhooks of a subscription that has ended for good (it cannot be reactivated).
ENDED_EVENTS: Final = frozenset({"subscription.cancelled", "subscription.completed"})
# A send in flight holds its claim this long (RAZORPAY_TIMEOUT_SECONDS is at most 30).
CLAIM: Final = timedelta(minutes=2)
BACKOFF_FIRST: Final = timedelta(minutes=1)
BACKOFF_MAX: Final = timedelta(hours=1)

# A recurring charge Razorpay took after our cancel: the reason its event is recorded with
# (``rejected``), the one row per charge a human refunds from.
CHARGED_AFTER_CANCEL: Final = held_charges.CHARGED_AFTER_CANCEL

# The cancel columns of a subscription nothing was asked or confirmed of: one linked in place
# of one that ended starts with them (its predecessor's cancel was carried out).
NOTHING_ASKED: Final[Mapping[str, Any]] = {
    "provider_cancel": None,
    "provider_cancel_requested_at": None,
    "provider_cancel_attempts": 0,
    "provider_cancel_next_at": None,
    "provider_cancel_error": None,
    "provider_cancelled": None,
    "provider_cancelled_at": None,
    "provider_cycle_end": None,
}

Mode = Literal["cycle_end", "now"]
View = Literal["pending", "at_cycle_end", "cancelled", "failed"]
Linked = Literal["none", "active", "ending", "ended"]


def cancel_job_id(workspace_id: uuid.UUID) -> str:
    """One waiting cancel job per workspace (a keyed job)."""
    return f"{CANCEL_JOB}:{workspace_id}"


def view(sub: Subscription | None) -> View | None:
    """What the owner is told of the linked Razorpay Subscription's cancel: ``pending`` (to be
    sent, retried while Razorpay is down), ``at_cycle_end`` or ``cancelled`` (Razorpay took it),
    ``failed`` (Razorpay refused it: see the audit log); None when nothing is linked or asked."""
    if sub is None or sub.razorpay_subscription_id is None:
        return None
    if sub.provider_cancel is not None:
        return "pending"
    if sub.provider_cancelled is not None:
        return "at_cycle_end" if sub.provider_cancelled == "cycle_end" else "cancelled"
    return "failed" if sub.provider_cancel_error else None


def linked(sub: Subscription | None) -> Linked:
    """The linked Razorpay Subscription as the owner is told of it: ``none`` linked;
    ``active``, Razorpay charges the card every cycle (a cancel asked but not confirmed, pending
    or refused, stops nothing yet: ``view`` says which); ``ending``, Razorpay took a cancel at
    the end of the current cycle; ``ended``, cancelled or completed."""
    if sub is None or sub.razorpay_subscription_id is None:
        return "none"
    if sub.provider_cancelled is None:
        return "active"
    return "ending" if sub.provider_cancelled == "cycle_end" else "ended"


async def request(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    sub: Subscription,
    mode: Mode,
    now: datetime,
    *,
    held_from: datetime | None = None,
) -> bool:
    """Record that the linked subscription is to be cancelled (``sub`` locked by the caller).
    True when a cancel now waits to be sent: the caller enqueues ``CANCEL_JOB`` after the
    commit. A cancel Razorpay confirmed is not sent again (one at the cycle's end already stops
    the charges); one waiting at the cycle's end becomes one at once for a deletion.
    ``held_from``: when the cancel took effect for the owner, already past (a subscription
    linked after the owner's cancel at period end, once that period ended): a charge for a
    cycle from then on is held (``provider_cycle_end``), as after a cancel at the cycle's end
    Razorpay confirmed; the first charge, which links the subscription, among them."""
    if sub.razorpay_subscription_id is None or sub.provider_cancelled is not None:
        return False
    earlier = sub.provider_cycle_end
    if held_from is not None and (earlier is None or held_from < earlier):
        await repo.update_subscription(session, workspace_id, provider_cycle_end=held_from)
    if sub.provider_cancel in (mode, "now"):
        return True
    values: dict[str, Any] = {"provider_cancel": mode, "provider_cancel_error": None}
    if sub.provider_cancel is None:  # a new request (after none, or after a refusal)
        values |= {
            "provider_cancel_requested_at": now,
            "provider_cancel_attempts": 0,
            "provider_cancel_next_at": now,
        }
    await repo.update_subscription(session, workspace_id, **values)
    return True


def sent(sub: Subscription) -> bool:
    """Whether a cancel of the linked subscription was, or may have been (a send started), sent
    to Razorpay, or Razorpay ended it: nothing can undo that."""
    return sub.provider_cancelled is not None or (
        sub.provider_cancel is not None and sub.provider_cancel_attempts > 0
    )


def withdrawable(sub: Subscription | None) -> bool:
    """A cancel waits and was never sent: ``withdraw`` takes it back (the plan page offers it)."""
    return sub is not None and sub.provider_cancel is not None and not sent(sub)


async def withdraw(session: AsyncSession, workspace_id: uuid.UUID, sub: Subscription) -> None:
    """The owner resumes (``sub`` locked by the caller): a cancel not sent yet is withdrawn; one
    that was, or may have been (a send started), is 409 ``razorpay_subscription_cancelled``.
    The hold a withdrawn cancel set (``held_from``, for a subscription linked after the owner's
    cancel took effect) goes with it: nothing Razorpay confirmed stops the charges, so they are
    the owner's again. Before, every later charge stayed ``charged_after_cancel``. So do the
    charges it held (``held_charges.keep``): they pay for the cycles the owner now keeps, and
    stayed on the operator's list of refunds owed."""
    if sent(sub):
        raise Conflict(
            "The Razorpay subscription was cancelled and Razorpay cannot resume a cancelled"
            " subscription: the plan ends with its period; subscribe again to be charged again",
            code="razorpay_subscription_cancelled",
            details={"razorpay_subscription_id": sub.razorpay_subscription_id},
        )
    if sub.provider_cancel is not None:
        await repo.update_subscription(
            session,
            workspace_id,
            provider_cancel=None,
            provider_cancel_requested_at=None,
            provider_cancel_next_at=None,
            # A 401 leaves its error on a cancel it never sent (``_given_back``): withdrawn,
            # it would read ``failed`` ("Razorpay refused to cancel"). Nothing was refused.
            provider_cancel_error=None,
            # Not sent, so none Razorpay confirmed: only ``request``'s ``held_from`` set it.
            provider_cycle_end=None,
        )
        if sub.razorpay_subscription_id is not None:  # what it held pays for the kept cycles
            await held_charges.keep(session, workspace_id, sub.razorpay_subscription_id, utcnow())


async def ended(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    sub: Subscription,
    subscription_id: str,
    event_name: str,
    at: datetime,
    *,
    cycle_start: datetime | None = None,
) -> None:
    """Razorpay says the linked subscription ended (``ENDED_EVENTS``, ``sub`` locked by the
    caller): recorded as cancelled at once (``provider_cancelled`` ``now``, at Razorpay's time),
    a waiting cancel or a refusal dropped, audited ``ENDED`` once; delivered again, nothing.
    Only a cancel at once we asked for keeps its time: a charge after it is still
    ``charged_after_cancel``; Razorpay ending it changes how no other charge is judged (its
    last cycle's charge may be delivered after ``subscription.completed``), but for a cancel
    at the cycle's end still waiting: a cycle the ended subscription's entity says started
    (``cycle_start``) after that cancel was asked is a renewal it did not stop, held from its
    start as Razorpay's late answer would have (``_cycle_end``). Before, a renewal charge
    delivered before this webhook was held and one delivered after it was not."""
    if sub.provider_cancelled == "now" and sub.provider_cancel is None:
        return
    asked_now = sub.provider_cancel == "now"
    asked = sub.provider_cancel_requested_at
    values: dict[str, Any] = {}
    if sub.provider_cancel == "cycle_end" and asked is not None and cycle_start is not None:
        earlier = sub.provider_cycle_end
        if cycle_start > asked and (earlier is None or cycle_start < earlier):
            values["provider_cycle_end"] = cycle_start
    await repo.update_subscription(
        session,
        workspace_id,
        provider_cancel=None,
        provider_cancel_requested_at=asked if asked_now else None,
        provider_cancel_next_at=None,
        provider_cancel_error=None,
        provider_cancelled="now",
        provider_cancelled_at=at,
        **values,
    )
    await audit.record(
        session,
        workspace_id=workspace_id,
        action=ENDED,
        target_type="razorpay_subscription",
        target_id=subscription_id,
        details={"subscription_id": subscription_id, "event": event_name},
    )
    log.info(
        "razorpay subscription %s of workspace %s ended (%s)",
        subscription_id,
        workspace_id,
        event_name,
    )


@dataclass(frozen=True)
class _Claim:
    workspace_id: uuid.UUID
    subscription_id: str
    mode: Mode
    attempt: int
    due_at: datetime | None  # ``provider_cancel_next_at`` before the claim


async def _claim(db: Database, workspace_id: uuid.UUID, now: datetime) -> _Claim | None:
    async with db.transaction(workspace_id=workspace_id) as session:
        sub = await repo.lock_existing_subscription(session, workspace_id)
        if sub is None or sub.provider_cancel is None or sub.razorpay_subscription_id is None:
            return None
        if sub.provider_cancel_next_at is not None and sub.provider_cancel_next_at > now:
            return None  # another send runs, or a retry is not due yet
        attempt = sub.provider_cancel_attempts + 1
        await repo.update_subscription(
            session,
            workspace_id,
            provider_cancel_attempts=attempt,
            # Held from this moment, whatever ``now`` says: a job run late (a busy queue) with
            # its sweep's time held it until a moment already past, and another sender sent the
            # same cancel while this one waited for Razorpay.
            provider_cancel_next_at=max(now, utcnow()) + CLAIM,
        )
        mode: Mode = "now" if sub.provider_cancel == "now" else "cycle_end"
        return _Claim(
            workspace_id, sub.razorpay_subscription_id, mode, attempt, sub.provider_cancel_next_at
        )


# ``paused``: the account's rate limit mark holds, nothing was asked (the cancel stays due);
# ``rate_limited``: asked, answered 429 (the account is marked, the cancel stays due as it
# was: ``_given_back``); ``keys_refused``: asked, answered 401 (stays due as it was, too);
# ``retry``: unreachable.
SendOutcome = Literal[
    "nothing", "disabled", "paused", "cancelled", "retry", "rate_limited", "keys_refused", "failed"
]


async def send(
    db: Database,
    payments: PaymentProvider | None,
    workspace_id: uuid.UUID,
    *,
    mark: RateLimitMark,
    now: datetime | None = None,
) -> SendOutcome:
    """Send the workspace's waiting cancel to Razorpay, if one is due (see the module) and
    the account's rate limit mark (``mark``, billing/rate_limit_mark.py) does not hold: while
    it does, nothing is asked and the cancel stays as it was, due."""
    if payments is None:
        return "disabled"
    now = now or utcnow()
    if await mark.until(payments.key_id, now) is not None:
        return "paused"
    claim = await _claim(db, workspace_id, now)
    if claim is None:
        return "nothing"
    try:
        answer = await payments.cancel_subscription(
            claim.subscription_id, at_cycle_end=claim.mode == "cycle_end"
        )
    except PaymentProviderKeysRefused as exc:
        # Razorpay refused the keys, not the cancel, and acted on nothing. Before, each 401
        # counted as an attempt: the backoff grew and the cancel read as maybe sent.
        await _given_back(db, claim, unavailable_why(exc))
        return "keys_refused"
    except PaymentProviderUnavailable as exc:
        if rate_limited(exc):
            # The account's limit, not the cancel's: Razorpay acted on nothing and the mark
            # holds every send, this one's too. Marked from this moment (a late job's ``now``
            # may be past), as the claim is, and before the claim is given back, so no send
            # claims it in between unmarked. Before, the 429 counted an attempt: the cancel's
            # own backoff grew with the account's and it read as maybe sent (not withdrawable).
            await mark.limited(payments.key_id, max(now, utcnow()), retry_after(exc))
            await _given_back(db, claim, unavailable_why(exc))
            return "rate_limited"
        # Unreachable: retried, as it is no refusal of the cancel.
        await _failed(db, claim, now, unavailable_why(exc), give_up=False)
        return "retry"
    except PaymentProviderError as exc:
        await mark.answered(payments.key_id, now)
        await _failed(db, claim, now, exc.message, give_up=True)
        return "failed"
    await mark.answered(payments.key_id, now)
    await _done(db, claim, answer, now)
    return "cancelled"


async def _done(db: Database, claim: _Claim, answer: dict[str, Any], now: datetime) -> None:
    ended = bool(answer.get("already_ended"))
    confirmed: Mode = "now" if ended else claim.mode
    async with db.transaction(workspace_id=claim.workspace_id) as session:
        sub = await repo.lock_existing_subscription(session, claim.workspace_id)
        if sub is None:
            return
        if sub.provider_cancelled == "now" and sub.provider_cancel is None:
            return  # Razorpay's webhook said it ended while this send ran: that stands
        values: dict[str, Any] = {
            "provider_cancelled": confirmed,
            "provider_cancelled_at": now,
            "provider_cancel_error": None,
        }
        asked = sub.provider_cancel_requested_at
        cycle_end = _cycle_end(answer, asked) if confirmed == "cycle_end" else None
        if cycle_end is not None:  # charges of a cycle from then on are held (0040)
            earlier = sub.provider_cycle_end
            values["provider_cycle_end"] = min(earlier, cycle_end) if earlier else cycle_end
        if sub.provider_cancel == claim.mode or ended:
            values |= {"provider_cancel": None, "provider_cancel_next_at": None}
        else:  # a deletion asked for "now" while "cycle_end" was being sent: send that next
            values["provider_cancel_next_at"] = now
        await repo.update_subscription(session, claim.workspace_id, **values)
        await audit.record(
            session,
            workspace_id=claim.workspace_id,
            action=CANCELLED,
            target_type="razorpay_subscription",
            target_id=claim.subscription_id,
            details={
                "subscription_id": claim.subscription_id,
                "at_cycle_end": confirmed == "cycle_end",
                "razorpay_status": str(answer.get("status"))[:32],
                "attempts": claim.attempt,
            },
        )
    log.info(
        "razorpay subscription %s of workspace %s cancelled (%s)",
        claim.subscription_id,
        claim.workspace_id,
        "already ended" if ended else confirmed,
    )


def _cycle_end(answer: dict[str, Any], asked: datetime | None) -> datetime | None:
    """The end of the cycle Razorpay took a cancel at the cycle's end for: its answer's
    ``current_end`` (Unix seconds); None when it names none (a subscription not started yet).

    A cancel that reached Razorpay after a renewal (Razorpay down, the job behind) is answered
    with the renewed cycle, one that started (``current_start``) after the cancel was asked
    (``asked``): the cycle the owner was told of ("no more once its current billing cycle
    ends") ended when that one started, so that start is the end. Before, the renewed cycle's
    end was stored and the renewal the owner had asked to stop was an ordinary charge."""
    end = entity_time(answer, "current_end")
    start = entity_time(answer, "current_start")
    if end is not None and start is not None and asked is not None and asked < start < end:
        return start
    return end


def _backoff(attempt: int) -> timedelta:
    """Between half and all of the attempt's step (``BACKOFF_FIRST`` doubling up to
    ``BACKOFF_MAX``), at random: cancels that failed together (an outage) come due
    apart. Before, always the whole step: they stayed in step for good."""
    step = min(BACKOFF_FIRST * 2 ** min(attempt - 1, 16), BACKOFF_MAX)
    return step * random.uniform(0.5, 1.0)  # spreading retries, not a secret


async def _given_back(db: Database, claim: _Claim, error: str) -> None:
    """The claim undone (the attempt uncounted, due when it was), the error kept for the
    owner's view and the operator; nothing when the row changed meanwhile (Razorpay's webhook
    ended the subscription, another claim)."""
    async with db.transaction(workspace_id=claim.workspace_id) as session:
        sub = await repo.lock_existing_subscription(session, claim.workspace_id)
        if sub is None or sub.provider_cancel is None:
            return
        if sub.provider_cancel_attempts != claim.attempt:
            return
        await repo.update_subscription(
            session,
            claim.workspace_id,
            provider_cancel_attempts=claim.attempt - 1,
            provider_cancel_next_at=claim.due_at,
            provider_cancel_error=error[:300],
        )


async def _failed(db: Database, claim: _Claim, now: datetime, error: str, *, give_up: bool) -> None:
    async with db.transaction(workspace_id=claim.workspace_id) as session:
        sub = await repo.lock_existing_subscription(session, claim.workspace_id)
        if sub is None or sub.provider_cancel is None:
            return
        if not give_up:
            await repo.update_subscription(
                session,
                claim.workspace_id,
                provider_cancel_next_at=now + _backoff(claim.attempt),
                provider_cancel_error=error[:300],
            )
            log.warning(
                "razorpay subscription %s of workspace %s: cancel attempt %d failed (%s),"
                " retried later",
                claim.subscription_id,
                claim.workspace_id,
                claim.attempt,
                error,
            )
            return
        await repo.update_subscription(
            session,
            claim.workspace_id,
            provider_cancel=None,
            provider_cancel_next_at=None,
            provider_cancel_error=error[:300],
        )
        await audit.record(
            session,
            workspace_id=claim.workspace_id,
            action=CANCEL_FAILED,
            target_type="razorpay_subscription",
            target_id=claim.subscription_id,
            details={"subscription_id": claim.subscription_id, "error": error[:300]},
        )
    log.error(
        "razorpay subscription %s of workspace %s could not be cancelled: %s; cancel it in"
        " Razorpay's dashboard",
        claim.subscription_id,
        claim.workspace_id,
        error,
    )
