"""The paid periods of a subscription stored before they were recorded (migration 0017),
derived from its payment history by replaying it through the reducer (``billing.state``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from billing.state import (
    BillingEvent,
    ExpectedOrder,
    PaidPeriod,
    SubscriptionState,
    apply_event,
)
from workspaces.plans import Period


@dataclass(frozen=True)
class PastPayment:
    """An applied payment as the payment history knows it: what it bought and when."""

    payment_id: str
    plan_code: str
    period: Period
    paid_at: datetime


def derive_paid_periods(
    state: SubscriptionState, payments: Iterable[PastPayment]
) -> SubscriptionState:
    """``state`` with the paid periods of its applied payments, for a state stored before they
    were recorded (payments applied, no period recorded); any other state is returned as is.

    The applied, unrefunded ``payments`` are replayed in event-time order through the reducer
    (the same extension rule); the latest chain is then moved so that it ends at the stored
    ``current_period_end`` (a refund under the old rule, or payments delivered out of order, may
    have moved it). A payment missing from ``payments`` stays without a period.
    """
    if state.paid_periods or not state.applied_payment_ids:
        return state
    replay = SubscriptionState()
    for payment in sorted(payments, key=lambda p: (p.paid_at, p.payment_id)):
        if payment.payment_id not in state.applied_payment_ids - state.refunded_payment_ids:
            continue
        order = ExpectedOrder("", payment.plan_code, payment.period, amount=1)
        replay, _ = apply_event(
            replay,
            BillingEvent(
                "payment.captured",
                payment.paid_at,
                payment_id=payment.payment_id,
                amount=1,
                currency=order.currency,
                expected=order,
            ),
        )
    periods = replay.paid_periods
    replayed_end, stored_end = replay.current_period_end, state.current_period_end
    if (
        replayed_end is not None
        and stored_end is not None
        and replay.plan_code == state.plan_code
        and replayed_end != stored_end
    ):
        chain: list[PaidPeriod] = []
        end = replayed_end
        while link := next(
            (
                p
                for p in periods
                if p.plan_code == replay.plan_code and p.end == end and p not in chain
            ),
            None,
        ):
            chain.append(link)
            end = link.start
        periods = (periods - set(chain)) | {p.shifted(replayed_end - stored_end) for p in chain}
    return replace(state, paid_periods=periods)
