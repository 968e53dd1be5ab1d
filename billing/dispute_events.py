"""A dispute the merchant won (``payment.dispute.won``): the money stays, or, after a lost
chargeback of an earlier phase, the chargeback is reversed and what the loss took back of the plan
given back. The other payment, order and refund events, and the recording of every event once, are
in ``billing/events.py``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from billing import event_repository
from billing import repository as repo
from billing.events import (
    DISPUTE_LOST,
    Applied,
    _decided_after,
    _workspace_deleted,
    save_state,
)
from billing.models import BillingOrder, Subscription
from billing.payment_notices import notify_reinstated
from billing.provider_events import bounded_int, webhook_entity
from billing.state import CHARGEBACK_REVERSED, BillingEvent, reinstate
from billing.subscriptions import subscription_state
from core.db import set_tenant
from core.models import utcnow

log = logging.getLogger("trulybot.billing")


async def _refunded_before(session: AsyncSession, workspace_id: uuid.UUID, pid: str) -> int:
    """What the payment's refunds gave back (its ``refund.processed`` bodies recorded: the
    payment's ``amount_refunded`` they carry, or their refunds' amounts, each refund once),
    for a chargeback reversed: the dispute gave nothing back in the end, a partial refund
    before it did. Before, the history read 0 refunded."""
    bodies = await event_repository.payment_bodies(session, workspace_id, pid, REFUND)
    refunds: dict[str, int] = {}
    said = 0
    for body in bodies:
        refund = webhook_entity(body, "refund")
        refunds[str(refund.get("id") or len(refunds))] = bounded_int(refund.get("amount")) or 0
        said = max(said, bounded_int(webhook_entity(body, "payment").get("amount_refunded")) or 0)
    return max(said, sum(refunds.values()))


REFUND: Final = "refund.processed"


async def apply_dispute_won(
    session: AsyncSession, *, event: BillingEvent, event_key: str
) -> Applied:
    """A dispute the merchant won: the money stays (``ignored`` / ``dispute_won``), recorded
    against the payment's workspace. The latest phase decides (Razorpay's chargeback,
    pre-arbitration, arbitration: ``dispute_rank``): a win after a loss of an earlier phase
    (arbitration won after a pre-arbitration lost; Razorpay credits the amount it deducted) is
    the dispute's outcome, so the chargeback is reversed (``chargeback_reversed``): the payment
    ``captured`` again, its order ``paid``, and what the loss took back of the plan given back.
    A win of an earlier phase than a loss (a won chargeback delivered after the pre-arbitration
    lost) leaves the chargeback standing. Before, any loss stood for good, and a win was
    ``unsupported_event`` with no workspace."""
    pid = (event.payment_id or "")[:64]
    found = None
    if pid:
        await set_tenant(session, lookup=pid)
        found = await repo.find_payment_order(session, pid)
    if found is None:
        return Applied("ignored", "unknown_order", "no payment of ours", razorpay_payment_id=pid)
    workspace_id, order_id = found
    await set_tenant(session, workspace_id=workspace_id, lookup=event_key)
    rzp_order = await repo.order_razorpay_id(session, order_id)
    order = await repo.lock_order(session, workspace_id=workspace_id, order_id=order_id)
    sub = await repo.lock_subscription(session, workspace_id)
    detail = "the payment was kept: plan unchanged"
    recorded = await repo.get_payment(session, workspace_id, pid)
    charged_back = recorded is not None and recorded.status == "chargeback"
    if charged_back and not await _decided_after(session, workspace_id, event, DISPUTE_LOST):
        if await _workspace_deleted(session, workspace_id):
            return await _reversed_for_deleted(session, workspace_id, order, sub, pid, rzp_order)
        old = subscription_state(sub)
        new, decision = reinstate(old, pid, event.occurred_at)
        if new != old:
            await save_state(session, workspace_id, old, new, payment_applied=False)
        now = max(event.occurred_at, utcnow())
        if old.effective_plan(now) != new.effective_plan(now):  # the loss had ended it
            await notify_reinstated(session, workspace_id, pid, new)
        # A payment that bought nothing (held for a refund before its dispute) is that again.
        kept = "captured" if pid in new.applied_payment_ids else "held"
        refunded = await _refunded_before(session, workspace_id, pid)
        await repo.reverse_chargeback(session, workspace_id, pid, kept, refunded=refunded)
        if order is not None and order.status == "refunded" and order.razorpay_payment_id == pid:
            await repo.update_order(session, order.id, status="paid")
        log.warning("dispute won on payment %s after its chargeback: %s", pid, decision.detail)
        return Applied(
            "applied",
            CHARGEBACK_REVERSED,
            decision.detail,
            workspace_id=workspace_id,
            razorpay_order_id=rzp_order,
            razorpay_payment_id=pid,
        )
    if pid in sub.refunded_payment_ids:
        detail = "its money went back before (a lost chargeback or a refund): that stands"
        log.warning("dispute won on payment %s after %s", pid, detail)
    return Applied(
        "ignored",
        "dispute_won",
        detail,
        workspace_id=workspace_id,
        razorpay_order_id=rzp_order,
        razorpay_payment_id=pid,
    )


REVERSED_AFTER_DELETION: Final = (
    "its chargeback reversed after the workspace was deleted: no plan given back, refund it"
)


async def _reversed_for_deleted(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    order: BillingOrder | None,
    sub: Subscription,
    pid: str,
    rzp_order: str | None,
) -> Applied:
    """A lost chargeback reversed (its dispute won later) for a workspace deleted since: the
    money is the merchant's again, but, as a payment captured after the deletion
    (``_paid_after_deletion``), it gives the deleted workspace nothing: the plan and period
    stay as the loss and the deletion left them, the payment is listed ``held`` for a human to
    refund (what the purge logs), its order ``paid`` again. The payment counts as refunded no
    more, so its refund is then measured as any held payment's. ``ignored`` /
    ``workspace_deleted``: not ``rejected``, the win is still the dispute's outcome. Before,
    the win gave the deleted workspace its plan back."""
    old = subscription_state(sub)
    new = replace(old, refunded_payment_ids=old.refunded_payment_ids - {pid})
    if new != old:
        await save_state(session, workspace_id, old, new, payment_applied=False)
    refunded = await _refunded_before(session, workspace_id, pid)
    await repo.reverse_chargeback(session, workspace_id, pid, "held", refunded=refunded)
    if order is not None and order.status == "refunded" and order.razorpay_payment_id == pid:
        await repo.update_order(session, order.id, status="paid")
    log.warning("payment %s held for a refund: workspace_deleted (chargeback reversed)", pid)
    return Applied(
        "ignored",
        "workspace_deleted",
        REVERSED_AFTER_DELETION,
        workspace_id=workspace_id,
        razorpay_order_id=rzp_order,
        razorpay_payment_id=pid,
    )
