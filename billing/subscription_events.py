"""Applying a Razorpay subscription's events (``subscription.*``, a recurring charge, a failed
recurring payment) to the workspace linked to that subscription, and telling its owners.

Recurring charges are not tied to an order of ours, so they change no plan, only the status.
The order, payment and refund events, and the recording of every event once, are in
``billing/events.py``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from billing import held_charges, provider_cancels
from billing import repository as repo
from billing.events import Applied, save_state
from billing.models import Subscription
from billing.provider_events import bounded_int, entity_time, short, webhook_entity
from billing.recurring_holds import CHARGE_CYCLE_UNKNOWN, RECURRING_CHARGE, _held_charge
from billing.state import PAYMENT_SUCCESS_EVENTS, BillingEvent, Decision, apply_event, paid_again
from billing.subscriptions import subscription_state
from core.db import set_tenant
from core.models import utcnow
from workspaces import notifications

log = logging.getLogger("trulybot.billing")


async def _subscription_workspace(
    session: AsyncSession,
    sub_id: str,
    *,
    notes_workspace_id: object,
    event_key: str,
    event: BillingEvent,
    entity_status: object = None,
    made_at: datetime | None = None,
) -> tuple[uuid.UUID, Subscription] | Applied:
    """The workspace linked to the Razorpay subscription ``sub_id`` (tenant set) and its
    subscription row, locked; the first event of a subscription links it to the workspace in its
    (signed) ``notes.workspace_id``. What to record instead when it is not ours or conflicts."""
    await set_tenant(session, lookup=sub_id)
    workspace_id = await repo.find_subscription_workspace(session, sub_id)
    link = False
    if workspace_id is None:
        try:
            workspace_id = uuid.UUID(str(notes_workspace_id)) if notes_workspace_id else None
        except ValueError:
            workspace_id = None
        if workspace_id is not None:
            await set_tenant(session, workspace_id=workspace_id, lookup=event_key)
            if await repo.get_workspace(session, workspace_id) is None:
                workspace_id = None
        if workspace_id is None:
            return Applied("ignored", "unknown_subscription", sub_id)
        link = True
    await set_tenant(session, workspace_id=workspace_id, lookup=event_key)
    sub = await repo.lock_subscription(session, workspace_id)
    if link:
        relink = sub.razorpay_subscription_id is not None and _ended(sub, event, entity_status)
        if sub.razorpay_subscription_id not in (None, sub_id) and not relink:
            return Applied("rejected", "subscription_conflict", sub_id, workspace_id=workspace_id)
        values: dict[str, Any] = {"razorpay_subscription_id": sub_id}
        if relink:  # the one linked before ended: nothing of its cancel concerns this one
            log.info(
                "razorpay subscription %s linked to workspace %s in place of %s, which ended",
                sub_id,
                workspace_id,
                sub.razorpay_subscription_id,
            )
            values |= provider_cancels.NOTHING_ASKED
        await repo.update_subscription(session, workspace_id, **values)
        sub = await _cancel_if_cancelled(session, workspace_id, relink=relink, made_at=made_at)
    return workspace_id, sub


ENDED_STATUSES: Final = frozenset({"cancelled", "completed", "expired"})


def _ended(sub: Subscription, event: BillingEvent, entity_status: object) -> bool:
    """The linked subscription has ended for good (cancelled at once, completed: Razorpay cannot
    reactivate it), no cancel of it waits, and ``event`` of another subscription comes after
    that end from one that has not ended: a new one made for the workspace (the owner
    subscribing again) takes its place. Before, every event of the new one was
    ``subscription_conflict``: judged by nothing, and no deletion cancelled it. An event of the
    one linked before it, delivered late, is dated before its end (or says it ended): it links
    nothing back."""
    ended_at = sub.provider_cancelled_at
    return (
        sub.provider_cancelled == "now"
        and sub.provider_cancel is None
        and ended_at is not None
        and event.occurred_at > ended_at
        and entity_status not in ENDED_STATUSES
    )


async def _cancel_if_cancelled(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    relink: bool = False,
    made_at: datetime | None = None,
) -> Subscription:
    """The subscription row just linked, locked. A cancel asked before anything was linked
    asked Razorpay for nothing: it is asked for now, and sent by the ``razorpay_cancels`` sweep
    (or first thing by a purge). Else the card went on being charged every cycle.

    - the workspace deleted (Razorpay retries a first event for hours): at once, as a
      deletion's;
    - the owner cancelled at period end (``cancel_at_period_end``) and the period has ended:
      at once, the owner's cancel has taken effect; while it still runs: at the end of the
      subscription's cycle, as the owner's cancel asks of one linked then. Not for a
      subscription linked in place of one that ended (``relink``), nor for one made
      (``made_at``, Razorpay's ``created_at``) after the cancelled period ended: the owner's
      cancel was that one's, or that period's, carried out; a new one is the owner subscribing
      again (before, it was cancelled at once, and so was every later one: the flag stays)."""
    sub = await repo.lock_existing_subscription(session, workspace_id)
    assert sub is not None  # locked by the caller
    workspace = await repo.get_workspace(session, workspace_id)
    if workspace is None:  # pragma: no cover - found by the caller in the same transaction
        return sub
    now = utcnow()
    mode: provider_cancels.Mode
    held_from: datetime | None = None
    if workspace.deleted_at is not None:
        mode, why = "now", "linked to a deleted workspace"
    elif sub.cancel_at_period_end and not relink and not _made_after(sub, made_at):
        running = sub.current_period_end is not None and sub.current_period_end > now
        mode = "cycle_end" if running else "now"
        why = "linked after the owner cancelled" + ("" if running else " and the period ended")
        # Ended: the owner's cancel took effect at the period's end; a charge for a cycle
        # from then on is money taken after it (the first one, linking it, was not held).
        held_from = None if running else sub.current_period_end
    else:
        return sub
    if await provider_cancels.request(session, workspace_id, sub, mode, now, held_from=held_from):
        log.warning(
            "razorpay subscription %s %s (workspace %s): cancelled %s",
            sub.razorpay_subscription_id,
            why,
            workspace_id,
            "at once" if mode == "now" else "at its cycle end",
        )
    linked = await repo.lock_existing_subscription(session, workspace_id)
    assert linked is not None
    return linked


def _made_after(sub: Subscription, made_at: datetime | None) -> bool:
    """The subscription was made once the period the owner cancelled had ended."""
    ended = sub.current_period_end
    return made_at is not None and ended is not None and made_at >= ended


async def apply_subscription_event(
    session: AsyncSession,
    event: BillingEvent,
    *,
    notes_workspace_id: object,
    event_key: str,
    payment_entity: Mapping[str, Any] | None = None,
    subscription_entity: Mapping[str, Any] | None = None,
) -> Applied:
    """Apply a Razorpay subscription's event to the workspace linked to it: a status event
    (``subscription.*``), a recurring charge (``subscription.charged``) or a failed recurring
    payment (``payment.failed`` carrying the subscription).

    Recurring charges are not tied to an order of ours (we do not map Razorpay plans to ours), so
    they change no plan: they are recorded as ``ignored`` / ``recurring_charge`` and tell the
    owners (``payment.captured``); each is a status event ``active`` at its time (it ends a
    ``past_due`` set before it; an older failure delivered after it is stale). A failed
    recurring payment, ``subscription.pending`` and ``subscription.halted`` set ``past_due`` and
    tell the owners ``payment.failed``.
    """
    sub_id = event.subscription_id
    if not sub_id:
        return Applied("ignored", "unknown_subscription")
    found = await _subscription_workspace(
        session,
        sub_id,
        notes_workspace_id=notes_workspace_id,
        event_key=event_key,
        event=event,
        # a status that is no text says nothing (a list looked up in a set was a 500)
        entity_status=short((subscription_entity or {}).get("status"), 32),
        made_at=entity_time(subscription_entity or {}, "created_at"),
    )
    if isinstance(found, Applied):
        return found
    workspace_id, sub = found
    refunded: int | None = None
    if event.name in provider_cancels.ENDED_EVENTS:  # nothing left to cancel at Razorpay
        await provider_cancels.ended(
            session,
            workspace_id,
            sub,
            sub_id,
            event.name,
            event.occurred_at,
            cycle_start=entity_time(subscription_entity or {}, "current_start"),
        )
    if event.name in PAYMENT_SUCCESS_EVENTS and (
        held := await _held_charge(
            session, workspace_id, sub, event, subscription_entity or {}, payment_entity or {}
        )
    ):
        return held
    if event.name in LINK_EVENTS:  # the mandate, before any charge: linked, nothing else
        decision = Decision("ignored", "subscription_linked", "no status change")
    elif event.name in PAYMENT_SUCCESS_EVENTS and _cycle_unknown(sub, event, subscription_entity):
        # Its ``subscription.charged`` names the cycle and decides: held (one "Payment held for
        # a refund" mail) or the owner's cycle (one "Payment received"). Before, this mailed
        # "Payment received" for a charge its ``subscription.charged`` then held.
        return Applied(
            "ignored",
            CHARGE_CYCLE_UNKNOWN,
            "charged after the cancel was asked, which waits: its subscription.charged decides",
            workspace_id=workspace_id,
            razorpay_payment_id=event.payment_id,
        )
    elif event.name in PAYMENT_SUCCESS_EVENTS:
        decision = Decision("ignored", RECURRING_CHARGE, "no order of ours: plan unchanged")
        refunded = await _refunded_while_unknown(session, workspace_id, event, payment_entity)
        # Active at the charge's time: no longer past due, older failures stale.
        old = subscription_state(sub)
        new = paid_again(old, event.occurred_at)
        if new != old:
            await save_state(session, workspace_id, old, new, payment_applied=False)
    else:
        old = subscription_state(sub)
        new, decision = apply_event(old, event)
        if new != old:
            await save_state(session, workspace_id, old, new, payment_applied=False)
    if decision.reason != "stale_event":  # a later event already set the status: no news
        await _notify_recurring(
            session, workspace_id, event, payment_entity or {}, sub.plan, refunded=refunded
        )
    return Applied(
        decision.outcome,
        decision.reason,
        decision.detail,
        workspace_id=workspace_id,
        razorpay_payment_id=event.payment_id,
    )


LINK_EVENTS: Final = frozenset({"subscription.authenticated"})
"""A subscription's events that only link it (and ask for its cancel when the owner cancelled:
``_cancel_if_cancelled``): the mandate is set up, nothing is charged or changes status yet."""


def _cycle_unknown(
    sub: Subscription, event: BillingEvent, subscription_entity: Mapping[str, Any] | None
) -> bool:
    """A recurring charge that names no cycle (a ``payment.captured``), taken after the cancel
    was asked while that cancel waits to be sent or answered: a renewal the cancel was to stop
    (held once its ``subscription.charged`` names a cycle started after the ask) or a retried
    charge of the owner's own cycle (not held). Only the ``subscription.charged`` can tell, so
    this one decides nothing and mails nothing."""
    asked = sub.provider_cancel_requested_at
    waiting = sub.provider_cancel is not None and sub.provider_cancelled is None
    return (
        waiting
        and asked is not None
        and event.occurred_at > asked
        and entity_time(subscription_entity or {}, "current_start") is None
    )


async def _refunded_while_unknown(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    event: BillingEvent,
    payment_entity: Mapping[str, Any] | None,
) -> int | None:
    """What of the owner's own cycle's charge Razorpay refunded (or charged back) while its
    cycle was not known (recorded ``held_charge_*`` then, relabelled the ordinary charge's
    ``recurring_charge_*`` now): None for nothing, else the amount, for its one mail
    ("Payment received and refunded"). Before, the owner was mailed "Payment received" for
    money already refunded, and the refund stayed "held for a refund"."""
    payment_id = (event.payment_id or "")[:64]
    if not payment_id:
        return None
    await held_charges.relabel_as_own_cycle(session, workspace_id, payment_id)
    amount = bounded_int(event.amount) or bounded_int((payment_entity or {}).get("amount"))
    return await held_charges.refunded_before_hold(session, workspace_id, payment_id, amount)


async def notify_money_back_of_own_cycle(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    name: str,
    payment_id: str,
    payload: Mapping[str, Any],
) -> None:
    """A refund (or lost chargeback) of a recurring charge of the owner's own cycle, delivered
    after its ``subscription.charged`` mailed "Payment received": "Payment refunded" (or
    charged back), once per refund (keyed by its id). The other order mails one "Payment
    received and refunded" (``_refunded_while_unknown``)."""
    if name not in held_charges.MONEY_BACK:
        return
    refund = webhook_entity(payload, "refund" if name == held_charges.REFUND else "dispute")
    payment = webhook_entity(payload, "payment")
    back_id = short(refund.get("id"), 64) or payment_id[:64]
    if await held_charges.told_before(session, workspace_id, payment_id, name, back_id):
        return
    data: dict[str, Any] = {
        "payment_id": payment_id[:64],
        "amount": bounded_int(refund.get("amount")) or bounded_int(payment.get("amount")),
        "currency": short(refund.get("currency"), 3) or short(payment.get("currency"), 3),
        "money_back": held_charges.MONEY_BACK[name][1],
        "subscription_id": short(payment.get("subscription_id"), 64) or "",
    }
    await notifications.emit(session, workspace_id, "payment.captured", f"back:{back_id}", data)


RECURRING_FAILURES: Final = frozenset(
    {"payment.failed", "subscription.pending", "subscription.halted"}
)


async def _notify_recurring(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    event: BillingEvent,
    payment_entity: Mapping[str, Any],
    plan: str,
    *,
    refunded: int | None = None,
) -> None:
    """``payment.captured`` for a recurring charge, ``payment.failed`` for a failed one, keyed
    by the payment id (``payment.failed`` and the ``subscription.pending`` that carries the same
    payment are one mail), or, for a status event without a payment, by what the signed body
    says: the event, its subscription and its time. Not by the event id: that header is outside
    the signature, and one signed body replayed under new ids mailed the owners each time (a
    tester's finding)."""
    if event.name in PAYMENT_SUCCESS_EVENTS:
        kind: notifications.Kind = "payment.captured"
    elif event.name in RECURRING_FAILURES:
        kind = "payment.failed"
    else:
        return
    signed = f"{event.name}:{event.subscription_id or ''}:{event.occurred_at.isoformat()}"
    key = event.payment_id[:64] if event.payment_id else f"event:{signed}"
    data: dict[str, Any] = {
        "payment_id": event.payment_id[:64] if event.payment_id else "",
        "amount": bounded_int(event.amount) or bounded_int(payment_entity.get("amount")),
        "currency": short(event.currency, 3) or short(payment_entity.get("currency"), 3),
        "plan": plan,
        "subscription_id": (event.subscription_id or "")[:64],
    }
    if refunded is not None:  # refunded while its cycle was not known: the mail says so
        data["refunded"] = refunded
    if kind == "payment.failed":
        data["reason"] = short(payment_entity.get("error_description"), 300) or (
            _RECURRING_REASONS.get(event.name)
        )
    await notifications.emit(session, workspace_id, kind, key, data)


_RECURRING_REASONS: Final[Mapping[str, str]] = {
    "subscription.pending": "The renewal charge failed; Razorpay will retry it.",
    "subscription.halted": "Every retry of the renewal charge failed; the subscription is halted.",
}
