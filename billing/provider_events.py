"""A Razorpay webhook's payload, or a payment fetched from the API, as the ``BillingEvent`` the
state machines in ``billing.state`` reduce (and the ids to look up its expected order first)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from billing.state import BillingEvent, ExpectedOrder

MAX_BIGINT = 2**62


def bounded_int(value: object) -> int | None:
    """``value`` if it is an int (not a bool) in ``[0, 2**62)``, which a bigint column holds."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_BIGINT:
        return value
    return None


def short(value: object, limit: int) -> str | None:
    """A text of the payload cut to ``limit`` (what its column holds); None when absent or no
    text."""
    return value[:limit] if isinstance(value, str) and value else None


def webhook_entity(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """``payload["payload"][name]["entity"]``, or ``{}`` when any level is missing or no object."""
    section = payload.get("payload")
    if not isinstance(section, Mapping):
        return {}
    wrapper = section.get(name)
    if not isinstance(wrapper, Mapping):
        return {}
    entity = wrapper.get("entity")
    return entity if isinstance(entity, Mapping) else {}


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


LATEST_EVENT_TIME = datetime(2100, 1, 1, tzinfo=UTC)
"""No event of Razorpay's is this late; a paid period added to a time near year 9999 would
not fit a datetime (a 500 that Razorpay retried for a day, reconcile stopping its run)."""


def event_time(created_at: int) -> datetime:
    """Razorpay's ``created_at`` (Unix seconds) as an aware time; ``ValueError`` outside
    ``[1970, LATEST_EVENT_TIME)``."""
    if not 0 <= created_at < LATEST_EVENT_TIME.timestamp():
        raise ValueError(f"created_at {created_at} is out of range")
    return datetime.fromtimestamp(created_at, UTC)


def entity_time(entity: Mapping[str, Any], key: str) -> datetime | None:
    """A time an entity carries under ``key`` (Unix seconds: a subscription's
    ``current_start``, ``current_end``, ``created_at``); None when absent or unusable."""
    value = _int_or_none(entity.get(key))
    if value is None:
        return None
    try:
        return event_time(value)
    except ValueError:
        return None


MAX_RAZORPAY_ID = 64
"""The columns that hold Razorpay's ids (``pay_`` and 14 characters today)."""


def overlong_ids(ids: Mapping[str, str | None]) -> list[str]:
    """The names of the ids longer than any Razorpay id we can store: such an event is no event
    of ours to apply (recorded as rejected, never a 500 that Razorpay retries for a day)."""
    return sorted(name for name, value in ids.items() if value and len(value) > MAX_RAZORPAY_ID)


def webhook_ids(payload: Mapping[str, Any]) -> dict[str, str | None]:
    """The Razorpay ids a webhook refers to, to look up the expected order before reducing it."""
    payment = webhook_entity(payload, "payment")
    order = webhook_entity(payload, "order")
    refund = webhook_entity(payload, "refund")
    dispute = webhook_entity(payload, "dispute")
    subscription = webhook_entity(payload, "subscription")
    return {
        "order_id": _str_or_none(order.get("id")) or _str_or_none(payment.get("order_id")),
        "payment_id": _str_or_none(payment.get("id"))
        or _str_or_none(refund.get("payment_id"))
        or _str_or_none(dispute.get("payment_id")),
        "refund_id": _str_or_none(refund.get("id")),
        "subscription_id": _str_or_none(subscription.get("id"))
        or _str_or_none(payment.get("subscription_id")),
    }


def order_of_another_payment(payload: Mapping[str, Any]) -> bool:
    """Whether the body's order (an ``order.paid``'s order entity) is not the order its payment
    says it paid (``payment.order_id``): one payment pays one order, so such a body is no
    payment of that order's."""
    order_id = _str_or_none(webhook_entity(payload, "order").get("id"))
    paid_order = _str_or_none(webhook_entity(payload, "payment").get("order_id"))
    return order_id is not None and paid_order is not None and order_id != paid_order


def event_from_webhook(
    payload: Mapping[str, Any],
    *,
    expected: ExpectedOrder | None = None,
    event_id: str | None = None,
) -> BillingEvent:
    """Build a ``BillingEvent`` from a parsed (and already signature-checked) webhook body.

    Raises ``ValueError`` when the body has no event name or no integer ``created_at`` in range
    (``event_time``).
    """
    name = payload.get("event")
    created_at = _int_or_none(payload.get("created_at"))
    if not isinstance(name, str) or not name or created_at is None:
        raise ValueError("not a Razorpay webhook event")
    ids = webhook_ids(payload)
    payment = webhook_entity(payload, "payment")
    money = payment
    if name == "refund.processed":
        money = webhook_entity(payload, "refund")
    elif name == "payment.dispute.lost":
        money = webhook_entity(payload, "dispute")
    return BillingEvent(
        name=name,
        occurred_at=event_time(created_at),
        payment_id=ids["payment_id"],
        dispute_phase=short(webhook_entity(payload, "dispute").get("phase"), 32),
        amount=_int_or_none(money.get("amount")),
        currency=_str_or_none(money.get("currency")),
        expected=expected,
        subscription_id=ids["subscription_id"],
        event_id=event_id,
        refunded_total=_refunded_total(name, payment, money),
    )


def _refunded_total(name: str, payment: Mapping[str, Any], money: Mapping[str, Any]) -> int | None:
    """How much of the payment went back with this event: a refund's payment entity counts
    it in ``amount_refunded``; a lost chargeback's does not (Razorpay's refunds only), so the
    refunds before it plus the dispute's amount. None when the body does not say. Before, a
    chargeback of what a partial refund left counted only the dispute: less than the order,
    a ``partial_refund`` that took no plan back though all the money went back."""
    before = _int_or_none(payment.get("amount_refunded"))
    if name == "refund.processed":
        return before
    amount = _int_or_none(money.get("amount"))
    if name == "payment.dispute.lost" and before and amount is not None:
        return before + amount
    return None


def event_from_payment(
    name: str, payment: Mapping[str, Any], *, event_id: str | None = None
) -> BillingEvent:
    """Build a ``BillingEvent`` named ``name`` from a payment entity fetched from Razorpay's API
    (what reconcile finds): the event time is the payment's ``created_at``.

    Raises ``ValueError`` when ``name`` is empty or the payment has no integer ``created_at`` in
    range (``event_time``).
    """
    created_at = _int_or_none(payment.get("created_at"))
    if not name or created_at is None:
        raise ValueError("not a Razorpay payment")
    return BillingEvent(
        name=name,
        occurred_at=event_time(created_at),
        payment_id=_str_or_none(payment.get("id")),
        amount=_int_or_none(payment.get("amount")),
        currency=_str_or_none(payment.get("currency")),
        subscription_id=_str_or_none(payment.get("subscription_id")),
        event_id=event_id,
    )


DISPUTE_PHASES: Final[Mapping[str, int]] = {
    "retrieval": 0,
    "fraud": 1,
    "chargeback": 1,
    "pre_arbitration": 2,
    "arbitration": 3,
}
"""Razorpay's dispute phases in the order they follow one another: pre-arbitration is a
chargeback the merchant won challenged again, arbitration the card network's ruling after it.
A phase we do not know (or none) counts as a chargeback."""


def dispute_rank(phase: str | None, at: datetime) -> tuple[int, datetime]:
    """Which of a payment's dispute outcomes (won, lost) is the later one: the later phase,
    then the later event time. The last one is the dispute's final outcome."""
    return DISPUTE_PHASES.get(phase or "", 1), at


def stored_dispute_rank(body: Mapping[str, Any]) -> tuple[int, datetime] | None:
    """``dispute_rank`` of a stored ``payment.dispute.*`` body; None when it has no usable
    time."""
    at = entity_time(body, "created_at")
    if at is None:
        return None
    return dispute_rank(short(webhook_entity(body, "dispute").get("phase"), 32), at)
