"""Forward-only billing state machines as pure functions (no database, no clock, no I/O).

Two machines:

- an order's status, ``next_order_status(current, event)``::

      created -> attempted -> paid -> refunded
            \\        \\       ^
             +-> failed --+--+     (a failed attempt may still be paid; failed <-> attempted)

  ``paid`` never goes back to created/attempted/failed; ``refunded`` only follows ``paid``.

- a workspace's subscription, ``apply_event(state, event) -> (state, decision)``. The persistence
  layer loads the state, builds a ``BillingEvent`` from a webhook (attaching the ``ExpectedOrder``
  it created for that Razorpay order or subscription), calls the reducer, stores the new state and
  records the decision with the event.

Webhooks arrive at least once and in any order, so the reducer is written against event time
(Razorpay's ``created_at``), never arrival order:

- payments are applied at most once (``applied_payment_ids``);
- the plan follows the latest successful payment by event time: an older payment for a different
  plan arriving late is ignored as ``superseded`` (the money question is left to a human/refund);
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
  plan still running, else the subscription is cancelled (``_apply_refund``, docs/billing.md
  "State machine"). A refund before its capture blocks it; a partial refund changes nothing.
- a payment applied by an older release has no interval (``derive_paid_periods`` rebuilds them);
  one still without is taken to be the last period of the current plan.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from workspaces.plans import PLANS, Period

__all__ = [
    "ORDER_EVENTS",
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
# Subscriptions

SubscriptionStatus = Literal["active", "past_due", "cancelled"]
Outcome = Literal["applied", "ignored", "rejected"]

PAYMENT_SUCCESS_EVENTS = frozenset({"payment.captured", "order.paid", "subscription.charged"})
# The money of an applied payment went back: a refund, or a chargeback the merchant lost.
REVOCATION_EVENTS = frozenset({"refund.processed", "payment.dispute.lost"})
SUBSCRIPTION_EVENTS: dict[str, SubscriptionStatus] = {
    "subscription.activated": "active",
    "subscription.pending": "past_due",
    "subscription.halted": "past_due",
    "subscription.cancelled": "cancelled",
    "subscription.completed": "cancelled",
}
_SEVERITY: dict[SubscriptionStatus, int] = {"active": 0, "past_due": 1, "cancelled": 2}


def _require_aware(value: datetime | None, name: str) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def add_period(start: datetime, period: Period, count: int = 1) -> datetime:
    """``start`` plus ``count`` calendar months (monthly) or years (yearly), day clamped."""
    if period == "monthly":
        months = count
    elif period == "yearly":
        months = 12 * count
    else:
        raise ValueError(f"unknown period {period!r}")
    years, month_index = divmod(start.month - 1 + months, 12)
    year, month = start.year + years, month_index + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class ExpectedOrder:
    """What we asked Razorpay to charge: the order (or subscription cycle) a payment must match."""

    order_id: str
    plan_code: str
    period: Period
    amount: int  # paise
    currency: str = "INR"


@dataclass(frozen=True)
class BillingEvent:
    """One webhook, reduced to what the state machine needs.

    ``amount``/``currency`` are the payment's (for ``refund.processed`` the refund's, for
    ``payment.dispute.lost`` the dispute's). ``refunded_total``: for a refund, how much of the
    payment has been refunded so far, this refund included (the payment's ``amount_refunded``):
    refunds in several parts that together cover the payment count as a full refund.
    ``occurred_at`` is Razorpay's event time; it must be timezone-aware.
    """

    name: str
    occurred_at: datetime
    payment_id: str | None = None
    amount: int | None = None
    currency: str | None = None
    expected: ExpectedOrder | None = None
    subscription_id: str | None = None
    event_id: str | None = None
    refunded_total: int | None = None

    def __post_init__(self) -> None:
        _require_aware(self.occurred_at, "occurred_at")


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str  # stable code: "applied", "duplicate_payment", "amount_mismatch", ...
    detail: str = ""


@dataclass(frozen=True)
class PaidPeriod:
    """The interval one applied payment paid for: ``[start, end)`` on ``plan_code``.

    ``paid_at`` is the payment's event time. A payment that extended its plan starts where the
    previous period ended; a full refund shortens its own interval to what was used and moves
    the intervals chained after it earlier.
    """

    payment_id: str
    plan_code: str
    period: Period
    paid_at: datetime
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name in ("paid_at", "start", "end"):
            _require_aware(getattr(self, name), name)

    def shifted(self, by: timedelta) -> PaidPeriod:
        return replace(self, start=self.start - by, end=self.end - by)

    def to_json(self) -> dict[str, str]:
        return {
            "payment_id": self.payment_id,
            "plan": self.plan_code,
            "period": self.period,
            "paid_at": self.paid_at.isoformat(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PaidPeriod:
        """The inverse of ``to_json``; raises ``ValueError`` (or ``KeyError``) on anything else."""
        period = data["period"]
        if period not in ("monthly", "yearly"):
            raise ValueError(f"unknown period {period!r}")
        return cls(
            payment_id=str(data["payment_id"]),
            plan_code=str(data["plan"]),
            period=period,
            paid_at=datetime.fromisoformat(data["paid_at"]),
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
        )


@dataclass(frozen=True)
class SubscriptionState:
    """A workspace's subscription. The default is the free plan, active, with no paid period."""

    plan_code: str = "free"
    status: SubscriptionStatus = "active"
    period: Period | None = None
    current_period_end: datetime | None = None
    plan_changed_at: datetime | None = None  # event time of the payment that set the plan
    status_changed_at: datetime | None = None  # event time of the event that set the status
    applied_payment_ids: frozenset[str] = field(default_factory=frozenset)
    refunded_payment_ids: frozenset[str] = field(default_factory=frozenset)
    # What each applied payment paid for (none for payments applied by older releases).
    paid_periods: frozenset[PaidPeriod] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        _require_aware(self.current_period_end, "current_period_end")
        _require_aware(self.plan_changed_at, "plan_changed_at")
        _require_aware(self.status_changed_at, "status_changed_at")

    def effective_plan(self, now: datetime) -> str:
        """The plan whose limits apply at ``now``: a paid plan only until its period ends.

        A cancelled or past-due subscription keeps what was paid for until ``current_period_end``.
        """
        if self.current_period_end is None:
            return self.plan_code if self.plan_code in ("free", "unlimited") else "free"
        return self.plan_code if now < self.current_period_end else "free"


def _with_status(
    state: SubscriptionState, status: SubscriptionStatus, at: datetime
) -> SubscriptionState:
    """Set the status if ``at`` is not older than the current status (ties: more severe wins)."""
    current_at = state.status_changed_at
    if current_at is not None:
        if at < current_at:
            return state
        if at == current_at and _SEVERITY[status] < _SEVERITY[state.status]:
            return state
    return replace(state, status=status, status_changed_at=at)


def paid_again(state: SubscriptionState, at: datetime) -> SubscriptionState:
    """A recurring charge at ``at`` is a status event ``active`` at its time, as our payments
    are: an older failure delivered after it is stale (it left ``past_due`` for good)."""
    return _with_status(state, "active", at)


def _outcome(
    old: SubscriptionState, new: SubscriptionState, reason: str, detail: str = ""
) -> tuple[SubscriptionState, Decision]:
    if new == old:
        return old, Decision("ignored", "no_change" if reason == "applied" else reason, detail)
    return new, Decision("applied", reason, detail)


def _check_money(event: BillingEvent, *, refund: bool) -> Decision | None:
    """A rejection when the event does not match its expected order, else ``None``."""
    if not event.payment_id:
        return Decision("rejected", "missing_payment_id")
    expected = event.expected
    if expected is None:
        return Decision("rejected", "unknown_order", "no expected order for this payment")
    if expected.plan_code not in PLANS:
        return Decision("rejected", "unknown_plan", expected.plan_code)
    if (event.currency or "").upper() != expected.currency.upper():
        return Decision(
            "rejected", "currency_mismatch", f"expected {expected.currency}, got {event.currency}"
        )
    not_exact = not refund and event.amount != expected.amount
    if event.amount is None or event.amount <= 0 or not_exact or event.amount > expected.amount:
        return Decision(
            "rejected", "amount_mismatch", f"expected {expected.amount}, got {event.amount}"
        )
    return None


def _apply_payment(
    state: SubscriptionState, event: BillingEvent
) -> tuple[SubscriptionState, Decision]:
    if event.payment_id and event.payment_id in state.applied_payment_ids:
        return state, Decision("ignored", "duplicate_payment", event.payment_id)
    rejection = _check_money(event, refund=False)
    if rejection is not None:
        return state, rejection
    assert event.expected is not None  # checked above
    assert event.payment_id is not None
    expected, at = event.expected, event.occurred_at
    if event.payment_id in state.refunded_payment_ids:
        return state, Decision("ignored", "payment_refunded", event.payment_id)
    newer_plan = state.plan_changed_at is not None and at < state.plan_changed_at
    if newer_plan and expected.plan_code != state.plan_code:
        return state, Decision(
            "ignored", "superseded", f"plan {state.plan_code!r} was set by a later payment"
        )

    end = state.current_period_end
    extending = expected.plan_code == state.plan_code and end is not None and end > at
    start = max(at, end) if extending and end is not None else at
    paid_for = PaidPeriod(
        payment_id=event.payment_id,
        plan_code=expected.plan_code,
        period=expected.period,
        paid_at=at,
        start=start,
        end=add_period(start, expected.period),
    )
    new = replace(
        state,
        plan_code=expected.plan_code,
        current_period_end=paid_for.end,
        applied_payment_ids=state.applied_payment_ids | {event.payment_id},
        paid_periods=state.paid_periods | {paid_for},
    )
    if not newer_plan:
        new = replace(new, period=expected.period, plan_changed_at=at)
    new = _with_status(new, "active", at)
    return new, Decision("applied", "extended" if extending else "applied")


def _successors(periods: frozenset[PaidPeriod], own: PaidPeriod) -> list[PaidPeriod]:
    """The periods chained after ``own`` on its plan (each starting where the one before it
    ends: the payments that extended it), in order."""
    chain: list[PaidPeriod] = []
    seen = {own.payment_id}
    end = own.end
    ordered = sorted(
        (p for p in periods if p.plan_code == own.plan_code),
        key=lambda p: (p.start, p.end, p.payment_id),
    )
    while True:
        link = next((p for p in ordered if p.start == end and p.payment_id not in seen), None)
        if link is None:
            return chain
        chain.append(link)
        seen.add(link.payment_id)
        end = link.end


def _fallback(
    periods: frozenset[PaidPeriod], refunded: frozenset[str], at: datetime
) -> tuple[PaidPeriod, datetime] | None:
    """The latest payment (by event time), not refunded, whose interval still runs at ``at``,
    and where the periods chained after it end; ``None`` when nothing paid is left."""
    alive = frozenset(p for p in periods if p.payment_id not in refunded)
    running = [p for p in alive if p.end > at]
    if not running:
        return None
    latest = max(running, key=lambda p: (p.paid_at, p.payment_id))
    chain = _successors(alive, latest)
    return latest, chain[-1].end if chain else latest.end


def _apply_refund(
    state: SubscriptionState, event: BillingEvent
) -> tuple[SubscriptionState, Decision]:
    if event.payment_id and event.payment_id in state.refunded_payment_ids:
        return state, Decision("ignored", "duplicate_refund", event.payment_id)
    rejection = _check_money(event, refund=True)
    if rejection is not None:
        return state, rejection
    assert event.expected is not None  # checked above
    assert event.payment_id is not None
    expected, at, payment_id = event.expected, event.occurred_at, event.payment_id
    all_of_it = (event.amount or 0) >= expected.amount or (
        event.refunded_total is not None and event.refunded_total >= expected.amount
    )
    if not all_of_it:
        return state, Decision("ignored", "partial_refund", "plan unchanged")
    refunded = state.refunded_payment_ids | {payment_id}
    recorded = replace(state, refunded_payment_ids=refunded)
    cpe = state.current_period_end
    if payment_id not in state.applied_payment_ids or cpe is None:
        return recorded, Decision("applied", "refund_recorded")

    own = next((p for p in state.paid_periods if p.payment_id == payment_id), None)
    if own is None:
        if expected.plan_code != state.plan_code:
            return recorded, Decision("applied", "refund_recorded")
        # Applied by an older release, its interval unknown: taken as the plan's last period.
        own = PaidPeriod(
            payment_id=payment_id,
            plan_code=expected.plan_code,
            period=expected.period,
            paid_at=at,
            start=add_period(cpe, expected.period, -1),
            end=cpe,
        )
    later = _successors(state.paid_periods, own) if own in state.paid_periods else []
    used_until = max(own.start, at)
    if own.end <= used_until:  # used up: nothing left to take back
        return recorded, Decision("applied", "refund_recorded")
    revoked = own.end - used_until
    periods = state.paid_periods - {own, *later}
    if own in state.paid_periods:
        periods |= {replace(own, end=used_until)}
    periods |= {p.shifted(revoked) for p in later}
    new = replace(recorded, paid_periods=periods)
    chain_end = later[-1].end if later else own.end
    if own.plan_code != state.plan_code or chain_end != cpe:
        # Another plan's payment replaced this chain: the plan in effect is not touched.
        return new, Decision("applied", "refund_recorded")

    new_end = cpe - revoked
    new = replace(
        new,
        current_period_end=new_end,
        paid_periods=frozenset(
            replace(p, start=min(p.start, new_end), end=min(p.end, new_end))
            if p.plan_code == state.plan_code
            else p
            for p in new.paid_periods
        ),
    )
    if new_end > at:
        return new, Decision("applied", "period_revoked")
    fallback = _fallback(new.paid_periods, refunded, at)
    if fallback is None:
        return _with_status(new, "cancelled", at), Decision("applied", "period_revoked")
    earlier, end = fallback
    new = replace(
        new,
        plan_code=earlier.plan_code,
        period=earlier.period,
        current_period_end=end,
        plan_changed_at=earlier.paid_at,
    )
    detail = f"back to {earlier.plan_code} (paid by {earlier.payment_id}) until {end.isoformat()}"
    return new, Decision("applied", "period_revoked", detail)


def apply_event(
    state: SubscriptionState, event: BillingEvent
) -> tuple[SubscriptionState, Decision]:
    """Apply one webhook event; returns the new state and what happened (never raises for input)."""
    if event.name in PAYMENT_SUCCESS_EVENTS:
        return _apply_payment(state, event)
    if event.name in REVOCATION_EVENTS:
        return _apply_refund(state, event)
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
    new = _with_status(state, target, at)
    if new is state and state.status != target:
        return state, Decision("ignored", "stale_event", "status set by a later event")
    return _outcome(state, new, "applied")
