"""Forward-only billing state machines as pure functions (no database, no clock, no I/O).

Two machines:

- an order's status, ``next_order_status(current, event)``::

      created -> attempted -> paid -> refunded
            \\        \\       ^
             +-> failed --+--+     (a failed attempt may still be paid; failed <-> attempted)

  ``paid`` never goes back to created/attempted/failed; ``refunded`` only follows ``paid``.
  (A refunded order that another of its payments pays, an earlier attempt captured late, reads
  ``paid`` again: ``billing.events`` knows which payment the order's refund was for.)

- a workspace's subscription, ``apply_event(state, event) -> (state, decision)``. The persistence
  layer loads the state, builds a ``BillingEvent`` from a webhook (attaching the ``ExpectedOrder``
  it created for that Razorpay order or subscription), calls the reducer, stores the new state and
  records the decision with the event.

Webhooks arrive at least once and in any order, so the reducer is written against event time
(Razorpay's ``created_at``), never arrival order:

- payments are applied at most once (``applied_payment_ids``);
- the plan follows the latest successful payment by event time, except that a payment for a
  lower plan made while a higher plan's paid period runs changes nothing (``lower_plan_held``:
  held for a refund; a higher plan's payment reported late takes back a lower one paid within
  its period, ``Decision.held``); an older payment for a different plan arriving late is
  ignored as ``superseded``, held for a refund too (``billing/state_payments.py``);
- the status (active / past_due / cancelled) follows the latest status-bearing event by event time
  (a payment or a recurring charge is ``active``); on a tie the more severe status wins
  (cancelled > past_due > active), so the result does not depend on arrival order;
- a paid period starts at the payment's event time, or at ``current_period_end`` when the same plan
  code is extended while that period is still running (``max(now, current_period_end)``). Monthly
  adds one calendar month (day clamped: Jan 31 -> Feb 28/29), yearly one year. Switching to another
  plan starts a fresh period at the payment time (no proration here);
- a payment whose amount or currency differs from the expected order is rejected with a reason;
- each applied payment remembers the interval it paid for (``paid_periods``, chained after the
  one before when it extended the plan). A full refund (refunds adding up to the payment, a lost
  chargeback) takes back only the unused part of that payment's own interval and moves the
  intervals chained after it earlier; the plan may fall back to an earlier payment of another
  plan still running, else the subscription is cancelled (``billing/state_refunds.py``,
  docs/billing.md "State machine"). A refund before its capture blocks it; a partial refund
  changes nothing.
- a payment applied by an older release has no interval (``derive_paid_periods`` rebuilds them);
  one still without is taken to be the last period of the current plan.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from billing.state_model import (
    PAYMENT_SUCCESS_EVENTS,
    REVOCATION_EVENTS,
    SUBSCRIPTION_EVENTS,
    BillingEvent,
    Decision,
    ExpectedOrder,
    Outcome,
    PaidPeriod,
    SubscriptionState,
    SubscriptionStatus,
    add_period,
    with_status,
)
from billing.state_payments import HELD_REASONS, apply_payment
from billing.state_refunds import CHARGEBACK_REVERSED, ORDER_STILL_PAID, apply_refund, reinstate

__all__ = [
    "CHARGEBACK_REVERSED",
    "HELD_REASONS",
    "ORDER_EVENTS",
    "ORDER_STILL_PAID",
    "PAYMENT_SUCCESS_EVENTS",
    "REVOCATION_EVENTS",
    "SUBSCRIPTION_EVENTS",
    "BillingEvent",
    "Decision",
    "ExpectedOrder",
    "OrderStatus",
    "Outcome",
    "PaidPeriod",
    "SubscriptionState",
    "SubscriptionStatus",
    "add_period",
    "apply_event",
    "next_order_status",
    "paid_again",
    "reinstate",
]

# --------------------------------------------------------------------------------------------------
# Orders

OrderStatus = Literal["created", "attempted", "paid", "failed", "refunded"]
ORDER_STATUSES: tuple[OrderStatus, ...] = get_args(OrderStatus)

# Razorpay event -> the order status it points to.
ORDER_EVENTS: dict[str, OrderStatus] = {
    "payment.authorized": "attempted",
    "payment.failed": "failed",
    "payment.captured": "paid",
    "order.paid": "paid",
    "refund.processed": "refunded",
    "payment.dispute.lost": "refunded",  # a chargeback: the money went back to the customer
}

_ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    "created": frozenset({"attempted", "failed", "paid"}),
    "attempted": frozenset({"failed", "paid"}),
    "failed": frozenset({"attempted", "paid"}),
    "paid": frozenset({"refunded"}),
    "refunded": frozenset(),
}


def next_order_status(current: str, event: str) -> OrderStatus:
    """The order status after ``event``; ``current`` when the event would move it backwards.

    Raises ``ValueError`` for an unknown status or an event that does not concern orders (see
    ``ORDER_EVENTS``), so a typo cannot silently leave an order unpaid.
    """
    if current not in _ORDER_TRANSITIONS:
        raise ValueError(f"unknown order status {current!r}")
    try:
        target = ORDER_EVENTS[event]
    except KeyError:
        raise ValueError(f"event {event!r} does not change an order") from None
    status: OrderStatus = current  # narrowed by the membership check above
    return target if target in _ORDER_TRANSITIONS[status] else status


# --------------------------------------------------------------------------------------------------
# Subscriptions (the data and the payment and refund reducers: billing/state_model.py,
# state_payments.py, state_refunds.py)


def paid_again(state: SubscriptionState, at: datetime) -> SubscriptionState:
    """A recurring charge at ``at`` is a status event ``active`` at its time, as our payments
    are: an older failure delivered after it is stale (it left ``past_due`` for good)."""
    return with_status(state, "active", at)


def _outcome(
    old: SubscriptionState, new: SubscriptionState, reason: str, detail: str = ""
) -> tuple[SubscriptionState, Decision]:
    if new == old:
        return old, Decision("ignored", "no_change" if reason == "applied" else reason, detail)
    return new, Decision("applied", reason, detail)


def apply_event(
    state: SubscriptionState, event: BillingEvent
) -> tuple[SubscriptionState, Decision]:
    """Apply one webhook event; returns the new state and what happened (never raises for input)."""
    if event.name in PAYMENT_SUCCESS_EVENTS:
        return apply_payment(state, event)
    if event.name in REVOCATION_EVENTS:
        return apply_refund(state, event)
    if event.name == "payment.failed":
        if event.subscription_id is None:
            # A failed checkout attempt (e.g. an upgrade) leaves the current plan alone.
            return state, Decision("ignored", "checkout_payment_failed", "plan unchanged")
        return _status_event(state, "past_due", event.occurred_at)
    if event.name in SUBSCRIPTION_EVENTS:
        return _status_event(state, SUBSCRIPTION_EVENTS[event.name], event.occurred_at)
    return state, Decision("ignored", "unsupported_event", event.name)


def _status_event(
    state: SubscriptionState, target: SubscriptionStatus, at: datetime
) -> tuple[SubscriptionState, Decision]:
    """``stale_event`` when a later event (status, payment, charge) set another status."""
    new = with_status(state, target, at)
    if new is state and state.status != target:
        return state, Decision("ignored", "stale_event", "status set by a later event")
    return _outcome(state, new, "applied")
