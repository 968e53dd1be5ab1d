"""The refund reducer: a full refund (or a lost chargeback) of an applied payment takes back
the unused part of the interval that payment paid for (docs/billing.md "State machine").

Pure: no database, no clock, no I/O. ``billing.state.apply_event`` dispatches here.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from billing import state_model as model
from billing.state_model import BillingEvent, Decision, PaidPeriod, SubscriptionState


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


def _paid_by_period(state: SubscriptionState, paid: PaidPeriod, end: datetime) -> SubscriptionState:
    """``state`` on the plan ``paid`` paid for, until ``end`` (where its chain ends)."""
    return replace(
        state,
        plan_code=paid.plan_code,
        period=paid.period,
        current_period_end=end,
        plan_changed_at=paid.paid_at,
    )


ORDER_STILL_PAID = "order_still_paid"
"""A full refund (or lost chargeback) of the payment that paid an order another payment on it
was held for (``order_paid_twice``): that one pays the order in its place."""


def _paid_by(state: SubscriptionState, payment_id: str, twin: str) -> SubscriptionState:
    """``payment_id``'s place taken by ``twin``, a payment on the same order (same plan, same
    price): the same interval, paid by the charge that was kept."""
    return replace(
        state,
        applied_payment_ids=(state.applied_payment_ids - {payment_id}) | {twin},
        paid_periods=frozenset(
            replace(p, payment_id=twin) if p.payment_id == payment_id else p
            for p in state.paid_periods
        ),
    )


def apply_refund(
    state: SubscriptionState, event: BillingEvent
) -> tuple[SubscriptionState, Decision]:
    if event.payment_id and event.payment_id in state.refunded_payment_ids:
        return state, Decision("ignored", "duplicate_refund", event.payment_id)
    rejection = model.check_money(event, refund=True)
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
    held = expected.held_on_order - refunded - state.applied_payment_ids
    if payment_id in state.applied_payment_ids and held:
        # Charged twice for one order and the charge that paid it given back: the one held
        # for a refund pays the order instead, and its period stays.
        twin = min(held)
        detail = f"order {expected.order_id} is paid by {twin}"
        return _paid_by(recorded, payment_id, twin), Decision("applied", ORDER_STILL_PAID, detail)
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
            start=model.add_period(cpe, expected.period, -1),
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
        return model.with_status(new, "cancelled", at), Decision("applied", "period_revoked")
    earlier, end = fallback
    new = _paid_by_period(new, earlier, end)
    detail = f"back to {earlier.plan_code} (paid by {earlier.payment_id}) until {end.isoformat()}"
    return new, Decision("applied", "period_revoked", detail)


CHARGEBACK_REVERSED = "chargeback_reversed"
"""A lost chargeback undone: a later phase of the payment's dispute (arbitration after a lost
pre-arbitration) was won, and the money came back to the merchant."""


def reinstate(
    state: SubscriptionState, payment_id: str, at: datetime
) -> tuple[SubscriptionState, Decision]:
    """``payment_id``'s lost chargeback reversed at ``at``: what ``apply_refund`` took back is
    given back. Its interval runs to its full end again, the intervals chained after it move
    back out by as much, and the plan it paid for is the plan again while that runs (it had
    ended at the loss, or fallen back to an earlier plan); a plan another payment set since
    stays. ``ignored`` / ``dispute_won`` when the payment is not one taken back."""
    if payment_id not in state.refunded_payment_ids:
        return state, Decision("ignored", "dispute_won", "the payment was kept: plan unchanged")
    new = replace(state, refunded_payment_ids=state.refunded_payment_ids - {payment_id})
    if payment_id not in state.applied_payment_ids:  # it bought nothing (held, rejected)
        return new, Decision("applied", CHARGEBACK_REVERSED, "it bought nothing: to refund")
    own = next((p for p in state.paid_periods if p.payment_id == payment_id), None)
    if own is None:  # applied by an older release: what it paid for is unknown
        return new, Decision("applied", CHARGEBACK_REVERSED, "its interval unknown: plan unchanged")
    later = _successors(state.paid_periods, own)
    # What it paid for, as it was applied (``_step``), from where it starts now (an earlier
    # payment's refund may have moved it); stored by an older release: a period from its start,
    # to the day its chain was bought on.
    if own.paid_for is not None:
        full_end = own.start + own.paid_for
    else:
        anchor = model.chain_anchor(state.paid_periods, own.start, own.plan_code)
        full_end = model.add_period(own.start, own.period, anchor_day=anchor)
    restored = max(full_end - own.end, timedelta(0))
    new = replace(
        new,
        paid_periods=(state.paid_periods - {own, *later})
        | {replace(own, end=own.end + restored)}
        | {p.shifted(-restored) for p in later},
    )
    chain = {own.payment_id, *(p.payment_id for p in later)}
    chain_end = (later[-1].end if later else own.end) + restored
    cpe = state.current_period_end
    if state.plan_code == own.plan_code and cpe is not None and cpe > at:
        # Only shortened by the loss, still the plan: its end moves back out.
        if cpe == chain_end - restored:
            new = replace(new, current_period_end=chain_end)
        return new, Decision("applied", CHARGEBACK_REVERSED, f"paid until {chain_end.isoformat()}")
    fallback = _fallback(new.paid_periods, new.refunded_payment_ids, at)
    if fallback is None or fallback[0].payment_id not in chain:
        return new, Decision("applied", CHARGEBACK_REVERSED, "its period is over: plan unchanged")
    paid, end = fallback
    new = _paid_by_period(new, paid, end)
    detail = f"{paid.plan_code} again (paid by {paid.payment_id}) until {end.isoformat()}"
    return model.with_status(new, "active", at), Decision("applied", CHARGEBACK_REVERSED, detail)
