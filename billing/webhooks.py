"""The Razorpay webhook: signature over the raw bytes, body parsing, the event key, and dispatch
of the parsed event to the event application in ``billing/events.py`` (orders, payments,
refunds) and ``billing/subscription_events.py`` (Razorpay subscriptions).

Delivery is at least once: the event is stored once per event key and applied in the same
transaction (the request commits or rolls back).
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing import held_charges
from billing import repository as repo
from billing.dispute_events import apply_dispute_won
from billing.events import (
    DISPUTE_WON,
    MAX_EVENT_ID,
    PAYMENT_OF_ANOTHER_ORDER,
    Applied,
    EventStatus,
    apply_to_order,
    record_and_apply,
)
from billing.provider_events import (
    MAX_RAZORPAY_ID,
    event_from_webhook,
    order_of_another_payment,
    overlong_ids,
    short,
    webhook_entity,
    webhook_ids,
)
from billing.signatures import verify_webhook_signature
from billing.state import ORDER_EVENTS, PAYMENT_SUCCESS_EVENTS, SUBSCRIPTION_EVENTS
from billing.subscription_events import (
    LINK_EVENTS,
    apply_subscription_event,
    notify_money_back_of_own_cycle,
)
from core.db import set_tenant

# Payment events that may belong to a Razorpay subscription rather than to an order of ours:
# a recurring charge's ``payment.captured`` is judged as its ``subscription.charged`` is (one
# "Payment received" mail for both, keyed by the payment; held as ``charged_after_cancel`` when
# it came after our cancel). It was ``unknown_order``, judged by nothing.
RECURRING = frozenset({"subscription.charged", "payment.captured", "payment.failed"})


@dataclass(frozen=True)
class WebhookResult:
    status: EventStatus
    event_id: str
    reason: str


@dataclass(frozen=True)
class VerifiedWebhook:
    """A delivery whose signature verified: its parsed body (``None``: no usable JSON object)
    and its event key."""

    payload: dict[str, Any] | None
    event_key: str
    body_sha256: str


def verify_webhook(
    *, raw_body: bytes, signature: str | None, event_id: str | None, secrets: Sequence[str]
) -> VerifiedWebhook:
    """Check the signature over the raw bytes (``InvalidSignature``, 400) and parse the body:
    no database, nothing stored. The caller opens the transaction for ``process_webhook`` only
    after this passed, so an unsigned post costs no pooled connection."""
    verify_webhook_signature(raw_body, signature, secrets)
    digest = hashlib.sha256(raw_body).hexdigest()
    return VerifiedWebhook(_parse_body(raw_body), _event_key(event_id, digest), digest)


async def process_webhook(session: AsyncSession, webhook: VerifiedWebhook) -> WebhookResult:
    """Store and apply a verified delivery exactly once, in the caller's transaction: once per
    event id and once per body. The signature covers the body, not the event id header: the
    same signed body posted again under a new id is a ``duplicate`` too, never judged afresh
    against what changed since."""
    key = webhook.event_key
    status, result = await apply_webhook(
        session, webhook.payload, event_key=key, source="webhook", body_sha256=webhook.body_sha256
    )
    return WebhookResult(status=status, event_id=key, reason=result.reason)


async def apply_webhook(
    session: AsyncSession,
    payload: Mapping[str, Any] | None,
    *,
    event_key: str,
    source: str = "webhook",
    body_sha256: str | None = None,
) -> tuple[EventStatus, Applied]:
    """Store the parsed webhook body (deduplicated on ``event_key``, and on ``body_sha256``
    when given) and apply it, in the caller's transaction. ``payload`` is ``None`` for a body
    that is no usable JSON object."""
    name = payload.get("event") if payload is not None else None
    return await record_and_apply(
        session,
        event_key=event_key,
        event_type=name[:100] if isinstance(name, str) and name else "unknown",
        payload=payload if payload is not None else {},
        source=source,
        apply=lambda: _apply(session, payload, event_key, source),
        body_sha256=body_sha256,
    )


async def _apply(
    session: AsyncSession, payload: Mapping[str, Any] | None, event_key: str, source: str
) -> Applied:
    if payload is None:
        return Applied("rejected", "invalid_payload", "body is not a JSON object")
    try:
        event = event_from_webhook(payload, event_id=event_key)
    except (ValueError, OverflowError, OSError):
        return Applied("rejected", "invalid_payload", "no event name or usable created_at")
    ids = webhook_ids(payload)
    if overlong := overlong_ids(ids):
        return Applied(
            "rejected",
            "invalid_payload",
            f"{', '.join(overlong)} longer than {MAX_RAZORPAY_ID} characters",
        )
    subscription = webhook_entity(payload, "subscription")
    notes = subscription.get("notes")
    notes_workspace_id = notes.get("workspace_id") if isinstance(notes, Mapping) else None
    payment_entity = webhook_entity(payload, "payment")
    if event.name in SUBSCRIPTION_EVENTS or event.name in LINK_EVENTS:
        return await apply_subscription_event(
            session,
            event,
            notes_workspace_id=notes_workspace_id,
            event_key=event_key,
            payment_entity=payment_entity,
            subscription_entity=subscription,
        )
    if event.name == DISPUTE_WON:
        won = await apply_dispute_won(session, event=event, event_key=event_key)
        return await _of_held_charge(session, event.name, ids["payment_id"], won, payload)
    if event.name not in ORDER_EVENTS and event.name not in PAYMENT_SUCCESS_EVENTS:
        return Applied("ignored", "unsupported_event", event.name[:100])

    order_rzp = ids["order_id"]
    payment_id = ids["payment_id"]
    if order_of_another_payment(payload):
        detail = "its order is not the order its payment paid"
        return Applied("rejected", PAYMENT_OF_ANOTHER_ORDER, detail, razorpay_payment_id=payment_id)
    if order_rzp is None and payment_id:
        # A refund may name only its payment: the payment row is visible by its id, its order
        # only in its workspace (the join alone found nothing under row-level security).
        await set_tenant(session, lookup=payment_id)
        found = await repo.find_payment_order(session, payment_id)
        if found is not None:
            await set_tenant(session, workspace_id=found[0], lookup=payment_id)
            order_rzp = await repo.order_razorpay_id(session, found[1])
    result = Applied("ignored", "unknown_order", "no order of ours", razorpay_payment_id=payment_id)
    if order_rzp is not None:
        result = await apply_to_order(
            session,
            razorpay_order_id=order_rzp,
            event=event,
            payment_entity=payment_entity,
            source=source,
            event_key=event_key,
        )
    if event.name in held_charges.MONEY_BACK:
        result = await _of_held_charge(session, event.name, payment_id, result, payload)
    if result.reason == "unknown_order" and event.subscription_id and event.name in RECURRING:
        # A recurring payment: Razorpay's order for the invoice is not one of ours.
        return await apply_subscription_event(
            session,
            event,
            notes_workspace_id=notes_workspace_id,
            event_key=event_key,
            payment_entity=payment_entity,
            subscription_entity=subscription,
        )
    return result


async def _of_held_charge(
    session: AsyncSession,
    name: str,
    payment_id: str | None,
    result: Applied,
    payload: Mapping[str, Any],
) -> Applied:
    """``result`` of an event of no order of ours, or, for a recurring charge (refunded,
    charged back, its dispute won: ``held_charges.ATTRIBUTED``) held after the owner's cancel,
    deferred, or of the owner's own cycle, recorded against its workspace, whose plan page
    and mails say so."""
    if result.reason != "unknown_order" or not payment_id or name not in held_charges.ATTRIBUTED:
        return result
    workspace_id = await held_charges.refunded_workspace(session, payment_id)
    if workspace_id is None:
        workspace_id = await _charge_to_come(session, payload)
    if workspace_id is None:
        return result
    reason, how = held_charges.ATTRIBUTED[name]
    detail = f"a recurring charge held for a refund, {how}"
    await set_tenant(session, workspace_id=workspace_id, lookup=payment_id[:64])
    if await held_charges.of_own_cycle(session, workspace_id, payment_id[:64]):
        # Its ``subscription.charged`` found it the owner's own cycle: an ordinary refund of
        # that charge, mailed as one. Before, "held for a refund, refunded", and no mail.
        reason, how = held_charges.OF_OWN_CYCLE[name]
        detail = held_charges.own_cycle_detail(how)
        await notify_money_back_of_own_cycle(session, workspace_id, name, payment_id, payload)
    return Applied(
        "ignored",
        reason,
        detail,
        workspace_id=workspace_id,
        razorpay_payment_id=payment_id,
    )


async def _charge_to_come(session: AsyncSession, payload: Mapping[str, Any]) -> uuid.UUID | None:
    """The workspace linked to the Razorpay Subscription whose payment ``payload`` gives back
    (its signed ``payment.subscription_id``), when none of that charge's own events came yet
    (Razorpay retries an undelivered one for hours): recorded as a deferred charge's refund
    is (``held_charge_*``), which the charge's ``subscription.charged`` (or
    ``payment.captured``) then relabels and mails with it ("Payment received and refunded").
    Before, it was ``unknown_order`` with no workspace for good, and the owner was mailed
    "Payment received" only."""
    sub_id = short(webhook_entity(payload, "payment").get("subscription_id"), MAX_RAZORPAY_ID)
    if not sub_id:
        return None
    await set_tenant(session, lookup=sub_id)
    return await repo.find_subscription_workspace(session, sub_id)


# --- the raw request -------------------------------------------------------------------------


def _finite_float(value: str) -> float:
    number = float(value)
    if not math.isfinite(number):  # jsonb stores no Infinity
        raise ValueError("non-finite number")
    return number


def _no_constant(value: str) -> float:
    raise ValueError(f"{value} is not JSON")


def _parse_body(raw_body: bytes) -> dict[str, Any] | None:
    """The JSON object in the body, or ``None`` (also for what jsonb cannot store)."""
    try:
        text = raw_body.decode("utf-8")
        if "\\u0000" in text or "\x00" in text:
            return None
        value = json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
        # An unpaired surrogate escape ("\ud800") parses but is no UTF-8 text: jsonb refuses it.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _event_key(event_id_header: str | None, body_sha256: str) -> str:
    value = (event_id_header or "").strip()
    if value and value.isascii() and value.isprintable() and len(value) <= MAX_EVENT_ID:
        return value
    # No usable X-Razorpay-Event-Id: the body itself identifies the delivery.
    return "sha256:" + body_sha256
