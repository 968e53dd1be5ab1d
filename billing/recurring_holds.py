"""A recurring charge of a Razorpay subscription taken after we cancelled: held for a refund
once per charge (``charged_after_cancel``), and the owners told ("Payment held for a refund").
Applied from ``billing/subscription_events.py``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from billing import event_repository, held_charges, provider_cancels
from billing import repository as repo
from billing.events import Applied
from billing.models import Subscription
from billing.provider_events import bounded_int, entity_time, short
from billing.state import BillingEvent
from workspaces import notifications

log = logging.getLogger("trulybot.billing")

CHARGED_AFTER_CANCEL: Final = provider_cancels.CHARGED_AFTER_CANCEL
CHARGE_CYCLE_UNKNOWN: Final = held_charges.CHARGE_CYCLE_UNKNOWN
RECURRING_CHARGE: Final = held_charges.RECURRING_CHARGE
CHARGE_ALREADY_HELD: Final = "charge_already_held"
CHARGE_KEPT: Final = held_charges.CHARGE_KEPT
FOR_A_DELETED_WORKSPACE: Final = "charged for a deleted workspace"


async def _notify_held_charge(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    sub: Subscription,
    event: BillingEvent,
    payment_entity: Mapping[str, Any],
    why: str,
) -> None:
    """ "Payment held for a refund" for a recurring charge held after the owner's cancel, keyed
    as an order payment's (``held:<payment id>``: once per charge, whichever webhook of it
    comes first and however often it is delivered): the amount, when Razorpay took it, that
    the plan did not renew and that it will be refunded. ``keepable``: the cancel that held it
    waits and was never sent (a subscription linked after the owner's period ended), so
    keeping the subscription (resume) makes the charge the owner's cycle instead (the mail
    says so). Before, the owner was told nothing of money taken from their card."""
    payment_id = (event.payment_id or "")[:64]
    amount = bounded_int(event.amount) or bounded_int(payment_entity.get("amount"))
    data: dict[str, Any] = {
        "payment_id": payment_id,
        "amount": amount,
        "currency": short(event.currency, 3) or short(payment_entity.get("currency"), 3),
        "plan": sub.plan,
        "held": CHARGED_AFTER_CANCEL,
        "charged_at": event.occurred_at.isoformat(),
        "subscription_id": (event.subscription_id or "")[:64],
        "keepable": why != FOR_A_DELETED_WORKSPACE and provider_cancels.withdrawable(sub),
    }
    # Refunded before it was held (delivered while its cycle was not known): the mail says so,
    # as the page and the API do. Before, it said "held for a refund" of money given back.
    refunded = await held_charges.refunded_before_hold(session, workspace_id, payment_id, amount)
    if refunded is not None:
        data["refunded"] = refunded
    await notifications.emit(session, workspace_id, "payment.captured", f"held:{payment_id}", data)


async def _held_charge(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    sub: Subscription,
    event: BillingEvent,
    subscription_entity: Mapping[str, Any],
    payment_entity: Mapping[str, Any],
) -> Applied | None:
    """A recurring charge taken after we cancelled, held for a refund: recorded ``rejected`` /
    ``charged_after_cancel``, nothing re-activated, for a human to refund (the event row says
    so; the log line survives the purge), and the owners mailed "Payment held for a refund"
    (``_notify_held_charge``). Once per charge: Razorpay reports it twice
    (``subscription.charged`` and its payment's ``payment.captured``), and each delivery was
    flagged, so the operator's list named one refund twice; the other is ``ignored`` /
    ``charge_already_held``, whichever comes first. A charge held, then kept by the owner's
    resume (``held_charges.keep``), is ``ignored`` / ``charge_kept`` delivered again: held no
    more, mailed nothing more. None for a charge not held."""
    payment_id = (event.payment_id or "")[:64]
    for reason, outcome, says in (
        (CHARGED_AFTER_CANCEL, CHARGE_ALREADY_HELD, "held for a refund"),
        (CHARGE_KEPT, CHARGE_KEPT, "held, then kept by the owner's resume,"),
    ):
        if payment_id and (
            first := await event_repository.first_event_with_reason(
                session, workspace_id, payment_id, reason
            )
        ):
            return Applied(
                "ignored",
                outcome,
                f"{says} by event {first}",
                workspace_id=workspace_id,
                razorpay_payment_id=event.payment_id,
            )
    cycle_start = entity_time(subscription_entity, "current_start")
    if (
        cycle_start is None
        and payment_id
        and await event_repository.first_event_with_reason(
            session, workspace_id, payment_id, RECURRING_CHARGE
        )
    ):
        # Its ``subscription.charged`` named the cycle and found it the owner's (a retry of
        # the cancelled cycle taken after its end, say): that stands. Before, this one, dated
        # by the charge alone, held it and mailed "held" after "Payment received".
        return None
    after = await _charged_after_cancel(session, workspace_id, sub, event, cycle_start)
    if not after:
        return None
    log.warning(
        "recurring charge %s of razorpay subscription %s held for a refund: %s",
        event.payment_id,
        event.subscription_id,
        after,
    )
    if payment_id:
        await _notify_held_charge(session, workspace_id, sub, event, payment_entity, after)
    return Applied(
        "rejected",
        CHARGED_AFTER_CANCEL,
        after,
        workspace_id=workspace_id,
        razorpay_payment_id=event.payment_id,
    )


async def _charged_after_cancel(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    sub: Subscription,
    event: BillingEvent,
    cycle_start: datetime | None,
) -> str:
    """Why a recurring charge came after we cancelled; empty when it did not.

    - the workspace is deleted;
    - the subscription was cancelled at once before the charge's time;
    - the charge pays for a cycle (``cycle_start``, the subscription entity's
      ``current_start``; else the charge's own time) from the end Razorpay confirmed for our
      cancel at the cycle's end on (``provider_cycle_end``);
    - a cancel waits to be sent or answered and the charge pays for a cycle the subscription
      entity says started after it was asked: the renewal the owner asked to stop, charged
      while Razorpay was down (or the job behind). Only with the entity's cycle start: a
      ``payment.captured`` is dated by its charge, which a retried renewal of the cycle the
      owner was told of may have taken after the cancel."""
    workspace = await repo.get_workspace(session, workspace_id)
    if workspace is not None and workspace.deleted_at is not None:
        return FOR_A_DELETED_WORKSPACE
    asked = sub.provider_cancel_requested_at
    if sub.provider_cancelled == "now" and asked is not None and event.occurred_at >= asked:
        return "charged after the subscription was cancelled"
    cycle_end = sub.provider_cycle_end
    start = cycle_start or event.occurred_at
    if cycle_end is not None and start >= cycle_end:
        return (
            f"charged for a cycle from {start.isoformat()}, after the subscription's"
            f" cancel at its cycle end ({cycle_end.isoformat()})"
        )
    waiting = sub.provider_cancel is not None and sub.provider_cancelled is None
    if waiting and asked is not None and cycle_start is not None and cycle_start > asked:
        return (
            f"charged for a cycle from {cycle_start.isoformat()}, after the cancel asked at"
            f" {asked.isoformat()} (not taken by Razorpay yet)"
        )
    return ""
