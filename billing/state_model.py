"""The billing state machines' data: what the reducers of ``billing.state`` read and return
(``SubscriptionState``, ``BillingEvent``, ``Decision``, ``PaidPeriod``...), and the small rules
both the payment and the refund reducer use (``with_status``, ``check_money``, ``add_period``).

Pure: no database, no clock, no I/O.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from workspaces.plans import PLANS, Period

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


def add_period(
    start: datetime, period: Period, count: int = 1, *, anchor_day: int | None = None
) -> datetime:
    """``start`` plus ``count`` calendar months (monthly) or years (yearly), day clamped.
    ``anchor_day``: the day of the month to land on instead of ``start``'s (clamped too): the
    day a plan was bought on, for a period that starts where one clamped to a shorter month
    ended (``chain_anchor``)."""
    if period == "monthly":
        months = count
    elif period == "yearly":
        months = 12 * count
    else:
        raise ValueError(f"unknown period {period!r}")
    years, month_index = divmod(start.month - 1 + months, 12)
    year, month = start.year + years, month_index + 1
    day = min(anchor_day or start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class ExpectedOrder:
    """What we asked Razorpay to charge: the order (or subscription cycle) a payment must match."""

    order_id: str
    plan_code: str
    period: Period
    amount: int  # paise
    currency: str = "INR"
    # The other payments recorded on this order: one that was applied (and not refunded) paid
    # for its period already, so another one is a second charge (``order_paid_twice``).
    paid_by: frozenset[str] = frozenset()
    # The payments held for a refund on this order (for a refund or chargeback of the one that
    # paid it): one of them pays the order in its place (``order_still_paid``).
    held_on_order: frozenset[str] = frozenset()


@dataclass(frozen=True)
class BillingEvent:
    """One webhook, reduced to what the state machine needs.

    ``amount``/``currency`` are the payment's (for ``refund.processed`` the refund's, for
    ``payment.dispute.lost`` the dispute's). ``refunded_total``: for a refund, how much of the
    payment has been refunded so far, this refund included (the payment's ``amount_refunded``):
    refunds in several parts that together cover the payment count as a full refund; for a
    lost chargeback, the refunds before it plus the dispute's amount.
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
    # A dispute's phase (Razorpay's ``chargeback``, ``pre_arbitration``, ``arbitration``...):
    # the latest phase's outcome is the dispute's (``billing.provider_events.dispute_rank``).
    dispute_phase: str | None = None

    def __post_init__(self) -> None:
        _require_aware(self.occurred_at, "occurred_at")


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str  # stable code: "applied", "duplicate_payment", "amount_mismatch", ...
    detail: str = ""
    # Payments applied before that this event took back: a higher plan's payment reported
    # late covered the time they were paid at, so they bought nothing and are held for a
    # refund (``billing.state_payments``).
    held: frozenset[str] = frozenset()


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
    # How long the payment bought, as applied (``end - start`` then; None: stored by an older
    # release). A refund of an earlier payment in its chain moves its start, and its month
    # counted again from there is not what it bought (bought from a 28 February that kept
    # the chain's 31st: 31 days; from 25 February: 28).
    paid_for: timedelta | None = None

    def __post_init__(self) -> None:
        for name in ("paid_at", "start", "end"):
            _require_aware(getattr(self, name), name)

    def shifted(self, by: timedelta) -> PaidPeriod:
        return replace(self, start=self.start - by, end=self.end - by)

    def to_json(self) -> dict[str, str | int]:
        data: dict[str, str | int] = {
            "payment_id": self.payment_id,
            "plan": self.plan_code,
            "period": self.period,
            "paid_at": self.paid_at.isoformat(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }
        if self.paid_for is not None:
            data["paid_seconds"] = int(self.paid_for.total_seconds())
        return data

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
            paid_for=_seconds(data.get("paid_seconds")),
        )


def _seconds(value: Any) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"bad paid_seconds {value!r}")
    return timedelta(seconds=value)


def chain_anchor(periods: Iterable[PaidPeriod], start: datetime, plan_code: str) -> int | None:
    """The day of the month the chain of ``plan_code``'s paid periods ending at ``start`` was
    bought on (another plan's period ending where the chain began is no part of it), when
    ``start`` is that day clamped to a shorter month (the chain began on 31 January, its first
    month ended on 28 February): the period starting there ends on that day again (31 March).
    None when ``start`` is no such clamped day (the last of its month, before the chain's day).
    Before, each period counted from the clamped day: bought on the 31st, the owner was on the
    28th for good after the first February, three days short."""
    if start.day != calendar.monthrange(start.year, start.month)[1]:
        return None
    by_end = {p.end: p for p in periods if p.start < p.end and p.plan_code == plan_code}
    first = start
    while (before := by_end.get(first)) is not None:
        first = before.start
    return first.day if first.day > start.day else None


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


def with_status(
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


def check_money(event: BillingEvent, *, refund: bool) -> Decision | None:
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
