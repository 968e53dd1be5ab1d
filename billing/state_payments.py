"""The payment reducer: what one successful payment does to a workspace's subscription.

In event-time order (Razorpay's ``created_at``), each payment for a plan:

- extends the plan when it is the plan whose paid period runs (the new period starts where
  that one ends);
- is **held** (``lower_plan_held``) when a higher plan's paid period runs at its time (the
  plan in effect, or the recorded interval of a higher plan's payment): it changes no plan and
  no date, and is held for a refund. An order for Starter opened before an
  upgrade to Pro and paid after it (a second checkout tab, a late UPI confirmation) used to
  apply as the latest payment and end the Pro period early;
- else starts a fresh period on its plan (an upgrade, or any plan once the period ended).

Before any of this, a payment on an order another applied (and not refunded) payment paid is
**held** (``order_paid_twice``): an order is one period, and a retried checkout whose first
attempt was captured late extended the plan by a second period the payer never asked for.

Webhooks arrive in any order, so a payment is applied against the time-ordered history of the
payments applied so far (``SubscriptionState.paid_periods`` records each one's plan, period and
time): the payments are replayed in event-time order with the new one among them. A higher
plan's payment reported after a lower plan's paid within its period so takes that one back
(``Decision.held``: it bought nothing either, and is held for a refund). A payment older than
the one that set a different plan, and that changes nothing in the replay, is ``superseded``:
its plan was replaced before we heard of it; it is held for a refund too.

The replay decides which payments are held; the new payment is then applied as it arrives
(``_step``), so a same-plan payment reported late is chained after the running period (no end
the owners were shown moves earlier), and only a payment that takes others back stores the
replay's periods. A refunded payment is not replayed: it keeps the interval its refund left
it, when that had ended before the payments replayed. A history the replay does not reproduce
(a refund of an applied payment whose interval ran past a later payment's time, payments
applied by an older release without an interval, a period that ends before its payments say)
is applied one payment at a time by the same rules, in arrival order.

Pure: no database, no clock, no I/O. ``billing.state.apply_event`` dispatches here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from billing.state_model import (
    BillingEvent,
    Decision,
    PaidPeriod,
    SubscriptionState,
    add_period,
    chain_anchor,
    check_money,
    with_status,
)
from workspaces.plans import PLAN_RANK, Period

HELD_REASONS = frozenset({"lower_plan_held", "superseded", "order_paid_twice"})
"""Decisions on a payment whose money was kept while it bought nothing: held for a refund."""


@dataclass(frozen=True)
class _Payment:
    """One successful payment, as the reducer needs it: what it bought and when."""

    payment_id: str
    plan_code: str
    period: Period
    at: datetime

    @classmethod
    def of(cls, paid: PaidPeriod) -> _Payment:
        return cls(paid.payment_id, paid.plan_code, paid.period, paid.paid_at)


def apply_payment(
    state: SubscriptionState, event: BillingEvent
) -> tuple[SubscriptionState, Decision]:
    if event.payment_id and event.payment_id in state.applied_payment_ids:
        return state, Decision("ignored", "duplicate_payment", event.payment_id)
    rejection = check_money(event, refund=False)
    if rejection is not None:
        return state, rejection
    assert event.expected is not None  # checked above
    assert event.payment_id is not None
    if event.payment_id in state.refunded_payment_ids:
        return state, Decision("ignored", "payment_refunded", event.payment_id)
    expected = event.expected
    if paid := sorted(expected.paid_by & (state.applied_payment_ids - state.refunded_payment_ids)):
        # One order is one period: a second payment on it (a retried checkout whose first
        # attempt was captured late) is charged twice for it. Held for a refund.
        detail = (
            f"order {expected.order_id} was already paid by {paid[0]}: refund {event.payment_id}"
        )
        return with_status(state, "active", event.occurred_at), Decision(
            "ignored", "order_paid_twice", detail
        )
    payment = _Payment(event.payment_id, expected.plan_code, expected.period, event.occurred_at)
    if _replayable(state, payment.at):
        return _replay(state, payment)
    new, reason = _step(state, payment)
    return new, _decision(state, payment, reason)


def _step(
    state: SubscriptionState, payment: _Payment, *, keep_day: bool = True
) -> tuple[SubscriptionState, str]:
    """``payment`` applied to ``state`` (the payments before it): the new state and the reason,
    ``applied``, ``extended``, ``lower_plan_held`` or ``superseded``. ``keep_day=False``: an
    extension counts from the clamped day, as releases before ``chain_anchor`` did."""
    at, plan = payment.at, payment.plan_code
    newer_plan = state.plan_changed_at is not None and at < state.plan_changed_at
    if newer_plan and plan != state.plan_code:
        return state, "superseded"
    end = state.current_period_end
    running = end is not None and end > at
    higher = PLAN_RANK.get(state.plan_code, 0) > PLAN_RANK.get(plan, 0)
    # Older than the payment that set the plan: the higher plan that ran then, if any, holds
    # it (the plan running now does not say). Not for a later one: the plan in effect says.
    if (running and higher) or (newer_plan and _higher_plan_at(state, payment) is not None):
        # A payment all the same: the subscription is active at its time.
        return with_status(state, "active", at), "lower_plan_held"
    extending = plan == state.plan_code and running
    start = max(at, end) if extending and end is not None else at
    # An extension keeps the day the plan was bought on (31 January: 28 February, 31 March).
    anchor = chain_anchor(state.paid_periods, start, plan) if extending and keep_day else None
    end_at = add_period(start, payment.period, anchor_day=anchor)
    paid_for = PaidPeriod(
        payment_id=payment.payment_id,
        plan_code=plan,
        period=payment.period,
        paid_at=at,
        start=start,
        end=end_at,
        paid_for=end_at - start,
    )
    new = replace(
        state,
        plan_code=plan,
        current_period_end=paid_for.end,
        applied_payment_ids=state.applied_payment_ids | {payment.payment_id},
        paid_periods=state.paid_periods | {paid_for},
    )
    if not newer_plan:
        new = replace(new, period=payment.period, plan_changed_at=at)
    new = with_status(new, "active", at)
    return new, "extended" if extending else "applied"


def _higher_plan_at(state: SubscriptionState, payment: _Payment) -> PaidPeriod | None:
    """The recorded interval of a higher plan, paid and not refunded, that ran at the payment's
    time, for a payment older than the one that set the plan. The plan running *now* is not
    enough: a payment held while Pro ran and delivered again (``order.paid``, a retry, verify)
    after Starter was bought later was taken as a renewal of that Starter period and extended
    it, where payments are applied one at a time."""
    rank, at = PLAN_RANK.get(payment.plan_code, 0), payment.at
    return max(
        (
            p
            for p in state.paid_periods
            if p.start <= at < p.end
            and PLAN_RANK.get(p.plan_code, 0) > rank
            and p.payment_id not in state.refunded_payment_ids
        ),
        key=lambda p: (p.end, p.payment_id),
        default=None,
    )


def _decision(
    state: SubscriptionState, payment: _Payment, reason: str, held: Iterable[str] = ()
) -> Decision:
    if reason == "superseded":
        return Decision("ignored", reason, f"plan {state.plan_code!r} was set by a later payment")
    if reason == "lower_plan_held":
        plan, end_at = state.plan_code, state.current_period_end
        running = end_at is not None and end_at > payment.at
        higher = PLAN_RANK.get(plan, 0) > PLAN_RANK.get(payment.plan_code, 0)
        changed = state.plan_changed_at
        older = changed is not None and payment.at < changed
        if not (running and higher) and older and (covering := _higher_plan_at(state, payment)):
            plan, end_at = covering.plan_code, covering.end  # the higher plan that ran then
        end = end_at.isoformat() if end_at else "?"
        detail = f"the {plan} plan is paid until {end}: refund {payment.payment_id}"
        return Decision("ignored", reason, detail)
    taken = frozenset(held)
    detail = f"held for a refund: {', '.join(sorted(taken))}" if taken else ""
    return Decision("applied", reason, detail, held=taken)


def _cleared(state: SubscriptionState) -> SubscriptionState:
    """``state`` before any payment: its status kept (a replayed payment marks ``active`` at
    its time again, which changes nothing), and its refunded payments with the intervals their
    refunds left them (they ended before the payments replayed, see ``_replayable``)."""
    refunded = state.refunded_payment_ids & state.applied_payment_ids
    return replace(
        state,
        plan_code="free",
        period=None,
        current_period_end=None,
        plan_changed_at=None,
        applied_payment_ids=refunded,
        paid_periods=frozenset(p for p in state.paid_periods if p.payment_id in refunded),
    )


def _fold(
    state: SubscriptionState, payments: Iterable[_Payment], *, keep_day: bool = True
) -> tuple[SubscriptionState, dict[str, str]]:
    """``payments`` applied in event-time order to ``state`` cleared of its payments; the
    reason each got."""
    folded, reasons = _cleared(state), {}
    for payment in sorted(payments, key=lambda p: (p.at, p.payment_id)):
        folded, reasons[payment.payment_id] = _step(folded, payment, keep_day=keep_day)
    return folded, reasons


def _replayable(state: SubscriptionState, at: datetime) -> bool:
    """Whether the replay of ``state``'s applied payments (with a new one at ``at``) agrees
    with it on what counts here: the payments applied and the plan (see the module's doc). A
    refunded payment is kept as its refund left it, and only when its interval had ended by the
    time of every payment replayed (a refund long before: what it took back touches none)."""
    periods = state.paid_periods
    if not periods or {p.payment_id for p in periods} != state.applied_payment_ids:
        return False
    refunded = state.refunded_payment_ids & state.applied_payment_ids
    kept = [p for p in periods if p.payment_id not in refunded]
    earliest = min((p.paid_at for p in kept), default=at)
    if any(p.end > min(earliest, at) for p in periods if p.payment_id in refunded):
        return False
    # A chain stored before extensions kept the day it was bought on ends earlier than its
    # replay now (28 March for 31 March): it agrees with the replay under the rule it was
    # stored by (a late higher plan's payment was ``superseded`` on such a chain).
    return any(
        _agrees(state, _fold(state, (_Payment.of(p) for p in kept), keep_day=keep_day)[0])
        for keep_day in (True, False)
    )


def _agrees(state: SubscriptionState, folded: SubscriptionState) -> bool:
    if (folded.applied_payment_ids, folded.plan_code) != (
        state.applied_payment_ids,
        state.plan_code,
    ):
        return False
    # A stored period shorter than its payments' (moved by hand, say) is what holds.
    stored, replayed = state.current_period_end, folded.current_period_end
    return stored is not None and replayed is not None and stored >= replayed


def _replay(state: SubscriptionState, payment: _Payment) -> tuple[SubscriptionState, Decision]:
    """Which payments the replay with ``payment`` holds decides; the periods are the replay's
    only when it takes payments back (the plan changes then). Otherwise ``payment`` is applied
    as it arrives: a same-plan payment reported late is chained after the running period, so
    no period the owners were shown gets shorter."""
    refunded = state.refunded_payment_ids
    kept = (_Payment.of(p) for p in state.paid_periods if p.payment_id not in refunded)
    folded, reasons = _fold(state, [*kept, payment])
    reason = reasons[payment.payment_id]
    if reason == "lower_plan_held":
        return with_status(state, "active", payment.at), _decision(state, payment, reason)
    held = state.applied_payment_ids - folded.applied_payment_ids
    if held:
        return folded, _decision(state, payment, reason, held)
    new, reason = _step(state, payment)
    return new, _decision(state, payment, reason)
