"""Applying one billing event (a webhook, a reconcile finding or a checkout verification) to the
stored order, payment and subscription, and recording it exactly once.

The decisions are the pure state machines of ``billing/state.py``; this module loads their input
under row locks and stores their output. Services take a session and never commit; the request (or
the reconcile loop's own unit of work) commits or rolls back. Lock order everywhere: event row,
then order, then subscription. A Razorpay subscription's own events (``subscription.*``, its
recurring charges) are applied by ``billing/subscription_events.py`` with ``save_state``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, cast

from sqlalchemy.ext.asyncio import AsyncSession

from billing import event_repository
from billing import repository as repo
from billing.models import BillingOrder
from billing.paid_periods import derive_paid_periods
from billing.payment_notices import notify_held, notify_payment, notify_revoked
from billing.provider_events import (
    bounded_int,
    dispute_rank,
    short,
    stored_dispute_rank,
)
from billing.state import (
    HELD_REASONS,
    ORDER_EVENTS,
    ORDER_STILL_PAID,
    PAYMENT_SUCCESS_EVENTS,
    REVOCATION_EVENTS,
    BillingEvent,
    Decision,
    ExpectedOrder,
    SubscriptionState,
    apply_event,
    next_order_status,
)
from billing.subscriptions import subscription_state
from core.db import set_tenant
from core.errors import NotFound
from workspaces import audit
from workspaces.plans import PAID_PLANS, Period

log = logging.getLogger("trulybot.billing")

MAX_EVENT_ID = 200  # billing_events.event_id

EventStatus = Literal["applied", "ignored", "rejected", "duplicate"]


@dataclass(frozen=True)
class Applied:
    """What one event (webhook, reconcile finding or checkout verification) did."""

    outcome: Literal["applied", "ignored", "rejected"]
    reason: str
    detail: str = ""
    workspace_id: uuid.UUID | None = None
    razorpay_order_id: str | None = None
    razorpay_payment_id: str | None = None
    order_status: str | None = None
    order_id: uuid.UUID | None = None


# --- recording ---------------------------------------------------------------------------------


async def record_and_apply(
    session: AsyncSession,
    *,
    event_key: str,
    event_type: str,
    payload: Mapping[str, Any],
    source: str,
    apply: Callable[[], Awaitable[Applied]],
    body_sha256: str | None = None,
) -> tuple[EventStatus, Applied]:
    """Store the event (deduplicated on ``event_key``, and on ``body_sha256``, a webhook's
    signed body), then ``apply()`` it, in the caller's transaction, and store what it did.

    Returns ``("duplicate", ...)`` when the event id or body was seen before: ``apply`` is not
    called.
    """
    await set_tenant(session, lookup=event_key)
    row_id = await event_repository.claim_event(
        session,
        event_id=event_key,
        event_type=event_type,
        payload=dict(payload),
        source=source,
        body_sha256=body_sha256,
    )
    if row_id is None:
        return "duplicate", Applied("ignored", "duplicate_event")
    result = await apply()
    await set_tenant(session, workspace_id=result.workspace_id, lookup=event_key)
    await event_repository.finish_event(
        session,
        row_id,
        outcome=result.outcome,
        reason=result.reason,
        detail=result.detail or None,
        workspace_id=result.workspace_id,
        razorpay_order_id=result.razorpay_order_id,
        razorpay_payment_id=result.razorpay_payment_id[:64] if result.razorpay_payment_id else None,
    )
    if result.outcome == "rejected":
        log.warning("billing event %s rejected: %s %s", event_key, result.reason, result.detail)
    return result.outcome, result


# --- the subscription row --------------------------------------------------------------------


async def save_state(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    old: SubscriptionState,
    new: SubscriptionState,
    *,
    payment_applied: bool,
    actor: audit.Actor = audit.SYSTEM,
) -> None:
    """Store ``new`` in the workspace's (locked) subscription row; a paid plan or period that
    changed goes to the workspace too (what the quota checks read) and to the audit log."""
    values: dict[str, Any] = {
        "plan": new.plan_code,
        "status": new.status,
        "period": new.period,
        "current_period_end": new.current_period_end,
        "plan_changed_at": new.plan_changed_at,
        "status_changed_at": new.status_changed_at,
        "applied_payment_ids": sorted(new.applied_payment_ids),
        "refunded_payment_ids": sorted(new.refunded_payment_ids),
        "paid_periods": [
            p.to_json() for p in sorted(new.paid_periods, key=lambda p: (p.start, p.payment_id))
        ],
    }
    if payment_applied:  # paying again is the opposite of cancelling
        values.update(cancel_at_period_end=False, pending_plan=None)
    await repo.update_subscription(session, workspace_id, **values)
    if new.plan_code in PAID_PLANS and (
        new.plan_code != old.plan_code or new.current_period_end != old.current_period_end
    ):
        # What the quota checks read: this plan until the period ends, then the fallback.
        await repo.set_workspace_plan(
            session,
            workspace_id,
            plan=new.plan_code,
            expires_at=new.current_period_end,
        )
        await audit.record(
            session,
            workspace_id=workspace_id,
            action=audit.PLAN_CHANGED,
            actor=actor,
            target_type="subscription",
            details={
                "from": old.plan_code,
                "to": new.plan_code,
                "current_period_end": (
                    new.current_period_end.isoformat() if new.current_period_end else None
                ),
            },
        )


# --- payment, order and refund events ----------------------------------------------------------


def _payment_status(event_name: str, decision: Decision, entity: Mapping[str, Any]) -> str:
    if decision.outcome == "rejected":
        return "rejected"
    if event_name in REVOCATION_EVENTS:
        if decision.reason not in ("refund_recorded", "period_revoked", ORDER_STILL_PAID):
            return "captured"
        return "chargeback" if event_name == "payment.dispute.lost" else "refunded"
    if event_name in PAYMENT_SUCCESS_EVENTS:
        # Money kept that bought nothing (a lower plan while a higher one runs, a plan a later
        # payment replaced): listed for a refund.
        return "held" if decision.reason in HELD_REASONS else "captured"
    if event_name == "payment.failed":
        return "failed"
    status = entity.get("status")
    return status if isinstance(status, str) and len(status) <= 16 else "authorized"


async def apply_to_order(
    session: AsyncSession,
    *,
    razorpay_order_id: str,
    event: BillingEvent,
    payment_entity: Mapping[str, Any],
    source: str,
    event_key: str,
) -> Applied:
    """Find our order behind ``razorpay_order_id`` (no tenant known yet) and apply ``event`` to it;
    ``ignored``/``unknown_order`` when it is not ours."""
    await set_tenant(session, lookup=razorpay_order_id)
    order = await repo.find_order_by_razorpay_id(session, razorpay_order_id)
    if order is None:
        return Applied(
            "ignored",
            "unknown_order",
            "no order of ours",
            razorpay_order_id=razorpay_order_id[:64],
            razorpay_payment_id=event.payment_id,
        )
    if event.payment_id and await _paid_another_order(session, order, event.payment_id):
        return Applied(
            "rejected",
            PAYMENT_OF_ANOTHER_ORDER,
            "the payment is recorded on another order: it paid that one",
            razorpay_order_id=razorpay_order_id[:64],
            razorpay_payment_id=event.payment_id,
        )
    await set_tenant(session, workspace_id=order.workspace_id, lookup=event_key)
    return await apply_order_event(
        session,
        workspace_id=order.workspace_id,
        order_id=order.id,
        event=event,
        payment_entity=payment_entity,
        source=source,
    )


PAYMENT_OF_ANOTHER_ORDER: Final = "payment_of_another_order"
"""A payment reported against an order other than the one it paid (the one it is recorded on,
of this workspace or another's; or an ``order.paid`` whose order is not its payment's): one
payment pays one order, so it grants that order nothing."""


async def _paid_another_order(session: AsyncSession, order: BillingOrder, payment_id: str) -> bool:
    """Whether ``payment_id`` is recorded on another order than ``order`` (visible by its id,
    ``app.lookup``, whichever workspace's it is), the payment's lock taken first: another event
    about it, applying it to another order, is committed (and found) or waits for this one."""
    await event_repository.lock_payment(session, payment_id[:64])
    await set_tenant(session, lookup=payment_id[:64])
    found = await repo.find_payment_order(session, payment_id[:64])
    return found is not None and found != (order.workspace_id, order.id)


async def apply_order_event(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    order_id: uuid.UUID,
    event: BillingEvent,
    payment_entity: Mapping[str, Any],
    source: str,
    actor: audit.Actor = audit.SYSTEM,
) -> Applied:
    """Apply one payment/order/refund event to a locked order and the locked subscription;
    ``actor``: who made it happen, for the plan change's audit entry (the owner whose checkout
    was verified; the system for a webhook or reconcile)."""
    order = await repo.lock_order(session, workspace_id=workspace_id, order_id=order_id)
    if order is None:  # pragma: no cover - found a moment ago in the same transaction
        raise NotFound("Order not found")
    sub = await repo.lock_subscription(session, workspace_id)
    expected = ExpectedOrder(
        order_id=order.razorpay_order_id,
        plan_code=order.plan,
        period=cast(Period, order.period),
        amount=order.amount,
        currency=order.currency,
    )
    old = subscription_state(sub)
    pid = event.payment_id or ""
    if event.name in PAYMENT_SUCCESS_EVENTS and pid not in old.applied_payment_ids:
        others = await repo.order_payment_ids(session, workspace_id, order.id) - {pid[:64]}
        expected = replace(expected, paid_by=others)
        # Judged on what it was first recorded as charging too (verify's events as well): a
        # capture of Rs 1 rejected, then an ``order.paid`` (or a copy of the capture) saying
        # Rs 999, granted the plan while the history kept it ``rejected`` at Rs 1, to be
        # refunded. Only when the event claims the order's price: one that claims another is
        # rejected on its own word (an authorization recorded at Rs 999, then its capture
        # reported at Rs 1, granted the plan for Rs 1).
        charged = await repo.recorded_charge(session, workspace_id, pid[:64])
        if charged and _claims(event, expected):
            event = replace(event, amount=charged[0], currency=charged[1])
    if event.name in REVOCATION_EVENTS and pid in old.applied_payment_ids:  # order_still_paid?
        held = await repo.order_payment_ids(session, workspace_id, order.id, "held")
        expected = replace(expected, held_on_order=held - {pid[:64]})
    # A payment never applied (its capture rejected, say): a refund is measured against what it
    # charged, not the order (Rs 1 taken for a Rs 999 order, Rs 1 refunded: all of it).
    unapplied = event.name in REVOCATION_EVENTS and pid and pid not in old.applied_payment_ids
    if unapplied and (charged := await repo.recorded_charge(session, workspace_id, pid[:64])):
        expected = replace(expected, amount=charged[0], currency=charged[1])
    if old.applied_payment_ids and not old.paid_periods:
        # Stored by an older release: what each payment paid for, from the payment history.
        history = await repo.applied_payments(session, workspace_id, old.applied_payment_ids)
        old = derive_paid_periods(old, history)
    if event.name == DISPUTE_LOST and await _decided_after(
        session, workspace_id, event, DISPUTE_WON
    ):
        # A later phase of its dispute was won (arbitration after a lost pre-arbitration,
        # delivered first): that outcome is the dispute's. Before, the loss took the plan back.
        new, decision = old, Decision("ignored", DISPUTE_WON_LATER, WON_LATER)
    elif await _paid_after_deletion(session, workspace_id, event, old):
        new, decision = old, Decision("rejected", "workspace_deleted", WORKSPACE_DELETED)
    else:
        try:
            new, decision = apply_event(old, replace(event, expected=expected))
        except (ValueError, OverflowError):  # a period past what a datetime holds (year 9999)
            return _out_of_range(workspace_id, order.razorpay_order_id, event)
    if new != old:
        await save_state(
            session,
            workspace_id,
            old,
            new,
            payment_applied=event.name in PAYMENT_SUCCESS_EVENTS and decision.outcome == "applied",
            actor=actor,
        )

    # The order's own forward-only status.
    status = order.status
    if event.name in ORDER_EVENTS and decision.outcome != "rejected":
        # Refunding a second charge held on the order (``order_paid_twice``) leaves it paid.
        moves = event.name not in REVOCATION_EVENTS or (
            decision.reason in ("refund_recorded", "period_revoked")
            and order.razorpay_payment_id in (None, pid)
        )
        if moves:
            status = next_order_status(order.status, event.name)
        if decision.reason == "payment_refunded" and order.status != "paid":
            # Refunded before we heard of its capture: the order was paid, then refunded.
            status = next_order_status(status, "refund.processed")
    # Its payment refunded, then another payment on it kept (an earlier attempt captured
    # late): the order is paid again, by that one; it read "refunded" while the plan ran on it.
    repaid = (
        order.status == "refunded"
        and event.name in PAYMENT_SUCCESS_EVENTS
        and decision.outcome != "rejected"
        and bool(pid)
        and pid != order.razorpay_payment_id
        and pid not in new.refunded_payment_ids
    )
    if repaid:
        status = "paid"
    # A payment applied is the one that pays its order: the order named a payment held for a
    # refund that paid it first (a lower plan's, while a higher one ran), and refunding that
    # one made it read "refunded" while its plan ran on this one.
    pays = event.name in PAYMENT_SUCCESS_EVENTS and decision.outcome == "applied"
    order_changed = status != order.status
    if order_changed or (pays and order.razorpay_payment_id != event.payment_id):
        values: dict[str, Any] = {"status": status}
        if (
            pays
            or repaid
            or (status in ("paid", "refunded") and order.status not in ("paid", "refunded"))
        ):
            values.update(paid_at=event.occurred_at, razorpay_payment_id=event.payment_id)
        await repo.update_order(session, order.id, **values)
    if decision.reason == ORDER_STILL_PAID:  # the charge held on the order pays it now
        for twin in sorted(new.applied_payment_ids - old.applied_payment_ids):
            await repo.update_order(session, order.id, razorpay_payment_id=twin)
            await repo.mark_captured(session, workspace_id, twin)

    if event.payment_id:
        raw = dict(payment_entity) if payment_entity else {}
        amount = event.amount if event.name not in REVOCATION_EVENTS else None
        await repo.upsert_payment(
            session,
            workspace_id=workspace_id,
            order_id=order.id,
            razorpay_payment_id=event.payment_id[:64],
            amount=bounded_int(amount if amount is not None else payment_entity.get("amount")),
            currency=short(event.currency if amount is not None else None, 3)
            or short(payment_entity.get("currency"), 3),
            status=_payment_status(event.name, decision, payment_entity),
            method=short(payment_entity.get("method"), 32),
            source=source,
            raw=raw,
            paid_at=event.occurred_at,
            took_money=event.name in PAYMENT_SUCCESS_EVENTS,
            keep_status=event.name in REVOCATION_EVENTS
            and (decision.outcome == "rejected" or decision.reason == DISPUTE_WON_LATER),
            amount_refunded=_refunded_so_far(event, decision),
        )
        # Paid already (this payment, or another attempt on the order): a failure reported
        # late is no news for the owners.
        paid = pid in old.applied_payment_ids or order.status in ("paid", "refunded")
        await notify_payment(
            session, workspace_id, event, decision, payment_entity, order.plan, paid=paid
        )
        if decision.reason in HELD_REASONS:
            await notify_held(
                session, workspace_id, event.payment_id, decision.reason, order.plan, new
            )
        if event.name in REVOCATION_EVENTS and decision.reason == "period_revoked":
            await notify_revoked(session, workspace_id, event, old, new)

    for taken_back in sorted(decision.held):  # applied before; a higher plan's payment covers it
        plan = next((p.plan_code for p in old.paid_periods if p.payment_id == taken_back), "")
        await repo.mark_held(session, workspace_id, taken_back)
        await notify_held(session, workspace_id, taken_back, "lower_plan_held", plan, new)

    outcome: Literal["applied", "ignored", "rejected"] = decision.outcome
    reason = decision.reason
    # A held payment paid its order but bought nothing: not "applied" / "order_paid".
    if outcome == "ignored" and order_changed and reason not in ("payment_refunded", *HELD_REASONS):
        outcome, reason = "applied", f"order_{status}"
    return Applied(
        outcome=outcome,
        reason=reason,
        detail=decision.detail,
        workspace_id=workspace_id,
        razorpay_order_id=order.razorpay_order_id,
        razorpay_payment_id=event.payment_id,
        order_status=status,
        order_id=order.id,
    )


def _claims(event: BillingEvent, expected: ExpectedOrder) -> bool:
    """Whether ``event`` says it charged ``expected``'s amount in its currency."""
    same_currency = (event.currency or "").upper() == expected.currency.upper()
    return same_currency and event.amount == expected.amount


def _refunded_so_far(event: BillingEvent, decision: Decision) -> int | None:
    """How much of the payment a refund (or a lost chargeback) we accepted says went back so far,
    for the owners' history: the payment's ``amount_refunded``, else this refund's amount. A
    partial refund changes no plan, and the history read "captured" at the full amount."""
    if event.name not in REVOCATION_EVENTS or decision.outcome == "rejected":
        return None
    if decision.reason == DISPUTE_WON_LATER:  # no money went back in the end
        return None
    return bounded_int(event.refunded_total) or bounded_int(event.amount)


DISPUTE_WON: Final = "payment.dispute.won"
DISPUTE_LOST: Final = "payment.dispute.lost"
DISPUTE_WON_LATER: Final = "dispute_won_later"
WON_LATER: Final = "a later phase of its dispute was won: the money was kept"


async def _decided_after(
    session: AsyncSession, workspace_id: uuid.UUID, event: BillingEvent, other: str
) -> bool:
    """Whether the payment's dispute has an outcome ``other`` (``payment.dispute.won`` /
    ``.lost``) recorded from a later phase than ``event``'s, or the same phase later
    (``dispute_rank``): the dispute's final outcome is that one."""
    pid = (event.payment_id or "")[:64]
    if not pid:
        return False
    mine = dispute_rank(event.dispute_phase, event.occurred_at)
    bodies = await event_repository.payment_bodies(session, workspace_id, pid, other)
    return any((rank := stored_dispute_rank(body)) is not None and rank > mine for body in bodies)


WORKSPACE_DELETED: Final = "the workspace was deleted before this payment: refund it"


async def _workspace_deleted(session: AsyncSession, workspace_id: uuid.UUID) -> bool:
    workspace = await repo.get_workspace(session, workspace_id)
    return workspace is None or workspace.deleted_at is not None


async def _paid_after_deletion(
    session: AsyncSession, workspace_id: uuid.UUID, event: BillingEvent, old: SubscriptionState
) -> bool:
    """A new payment for a workspace deleted (in its grace period): it grants nothing and keeps
    the deletion's end-with-its-period; recorded ``rejected`` for a human to refund."""
    pid = event.payment_id or ""
    if event.name not in PAYMENT_SUCCESS_EVENTS or not pid:
        return False
    if pid in old.applied_payment_ids or pid in old.refunded_payment_ids:
        return False
    return await _workspace_deleted(session, workspace_id)


def _out_of_range(workspace_id: uuid.UUID, razorpay_order_id: str, event: BillingEvent) -> Applied:
    return Applied(
        "rejected",
        "invalid_payload",
        "a paid period out of range",
        workspace_id=workspace_id,
        razorpay_order_id=razorpay_order_id,
        razorpay_payment_id=event.payment_id,
    )
