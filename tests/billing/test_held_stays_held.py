"""A payment held for a refund stays held when it is delivered again (billing round 7).

Razorpay reports one payment several times (``payment.captured``, ``order.paid``, the
checkout's verify, retries for a day). A Starter payment made while a Pro period ran was held;
once the workspace had bought Starter again later, the same payment delivered again was taken
as a renewal of the running Starter plan and extended it: the money listed "held for a refund"
had bought a month, and refunding it (as the history asked) took that month away. This
happened wherever the payments are applied one at a time (a history with a refund of an
applied payment, or payments applied by an older release): the hold only looked at the plan
running *now*, not at the higher plan that ran at the payment's time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from billing.state import (
    BillingEvent,
    ExpectedOrder,
    PaidPeriod,
    SubscriptionState,
    add_period,
    apply_event,
)
from tests.billing.conftest import (
    MailingWorld,
    create_order,
    payment_mails,
    post_webhook,
    subscription,
)
from tests.conftest import signup
from tests.fakes.razorpay_server import make_refund, webhook_payload
from workspaces.plans import Period, get_plan

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _pay(pid: str, plan: str, at: datetime, period: Period = "monthly") -> BillingEvent:
    price = get_plan(plan).price(period)
    assert price is not None
    return BillingEvent(
        "payment.captured",
        at,
        payment_id=pid,
        amount=price,
        currency="INR",
        expected=ExpectedOrder(f"order_{pid}", plan, period, price),
    )


def _refund(pid: str, plan: str, at: datetime) -> BillingEvent:
    paid = _pay(pid, plan, at)
    return BillingEvent(
        "refund.processed",
        at,
        payment_id=pid,
        amount=paid.amount,
        currency="INR",
        expected=paid.expected,
    )


def test_a_held_payment_delivered_again_after_a_later_purchase_of_its_plan_stays_held() -> None:
    state = SubscriptionState()
    # A Starter month, an upgrade to Pro, then the Starter month refunded: a history applied
    # one payment at a time (the refund came after a later payment).
    state, _ = apply_event(state, _pay("pay_s0", "starter", T0))
    state, _ = apply_event(state, _pay("pay_pro", "pro", T0 + timedelta(days=1)))
    state, _ = apply_event(state, _refund("pay_s0", "starter", T0 + timedelta(days=2)))
    held_at = T0 + timedelta(days=3)  # the second tab's Starter order, paid while Pro runs
    state, decision = apply_event(state, _pay("pay_tab", "starter", held_at))
    assert decision.reason == "lower_plan_held"
    # Pro's month over, the owner buys Starter.
    state, decision = apply_event(state, _pay("pay_s2", "starter", T0 + timedelta(days=40)))
    assert decision.reason == "applied"
    end = state.current_period_end

    # The held payment's ``order.paid`` (a retry) comes in.
    again, decision = apply_event(state, _pay("pay_tab", "starter", held_at))

    assert (decision.outcome, decision.reason) == ("ignored", "lower_plan_held")
    assert "the pro plan is paid until" in decision.detail
    assert again.current_period_end == end
    assert "pay_tab" not in again.applied_payment_ids


def test_a_refund_long_before_does_not_let_a_lower_plan_supersede_a_late_higher_one() -> None:
    """Pro's payment reported after a Starter payment made within Pro's period takes the
    Starter one back; in a workspace that had once been refunded, Pro was ``superseded``
    instead (payments were applied one at a time after any refund): the owner paid for Pro
    and got Starter."""
    state = SubscriptionState()
    state, _ = apply_event(state, _pay("pay_s0", "starter", T0))
    state, _ = apply_event(state, _refund("pay_s0", "starter", T0 + timedelta(hours=1)))
    state, _ = apply_event(state, _pay("pay_s1", "starter", T0 + timedelta(days=3)))

    state, decision = apply_event(state, _pay("pay_pro", "pro", T0 + timedelta(days=2)))

    assert (decision.outcome, decision.held) == ("applied", frozenset({"pay_s1"}))
    assert state.plan_code == "pro"
    assert state.applied_payment_ids == {"pay_s0", "pay_pro"}
    assert state.refunded_payment_ids == {"pay_s0"}
    # the refunded payment keeps the interval its refund left it
    assert {(p.payment_id, p.end) for p in state.paid_periods} >= {
        ("pay_s0", T0 + timedelta(hours=1))
    }


async def test_the_order_paid_of_a_held_payment_keeps_it_held_and_mails_nothing_new(
    mailing_world: MailingWorld,
) -> None:
    """The same through the webhooks: the Starter payment stays ``held`` in the history, the
    plan's end does not move, and the owners get no "Payment received" for it."""
    runtime, client, fake, smtp, _ = mailing_world
    owner = await signup(client, "Held Twice")
    first, pro, tab, later = [await create_order(client, owner, p) for p in _PLANS_BOUGHT]
    day = 86400
    now = int(time.time())
    paid_first = fake.capture_payment(first["razorpay_order_id"])
    await _deliver(client, "payment.captured", paid_first, now - 50 * day)
    await _deliver(
        client, "payment.captured", fake.capture_payment(pro["razorpay_order_id"]), now - 49 * day
    )
    refund = make_refund(payment_id=paid_first["id"], amount=paid_first["amount"])
    await _deliver(client, "refund.processed", paid_first, now - 48 * day, refund=refund)
    paid_tab = fake.capture_payment(tab["razorpay_order_id"])
    held = await _deliver(client, "payment.captured", paid_tab, now - 47 * day)
    assert held.json()["reason"] == "lower_plan_held", held.text
    later_paid = fake.capture_payment(later["razorpay_order_id"])
    assert (await _deliver(client, "payment.captured", later_paid, now - day)).json()[
        "status"
    ] == "applied"
    end = (await subscription(client, owner))["current_period_end"]

    again = await _deliver(client, "order.paid", paid_tab, now - 47 * day, order=tab)

    assert (again.json()["status"], again.json()["reason"]) == ("ignored", "lower_plan_held")
    assert (await subscription(client, owner))["current_period_end"] == end
    response = await client.get(owner.url("/billing/payments"), headers=owner.headers)
    statuses = {p["razorpay_payment_id"]: p["status"] for p in response.json()["items"]}
    assert statuses[paid_tab["id"]] == "held"
    mails = await payment_mails(runtime, smtp, owner.email)
    subjects = sorted(str(m.message["Subject"]).split("] ")[1] for m in mails)
    # the first Starter, Pro and the later Starter were received; the tab's payment is held
    assert [s.split(":")[0] for s in subjects] == ["Payment held for a refund"] + 3 * [
        "Payment received"
    ], subjects


_PLANS_BOUGHT = ("starter", "pro", "starter", "starter")


async def _deliver(
    client: httpx.AsyncClient,
    event: str,
    payment: dict[str, Any],
    at: int,
    *,
    refund: dict[str, Any] | None = None,
    order: dict[str, Any] | None = None,
) -> httpx.Response:
    entity = {**payment, "created_at": at}
    order_entity = (
        {"id": order["razorpay_order_id"], "entity": "order", "status": "paid"} if order else None
    )
    payload = webhook_payload(
        event, payment=entity, refund=refund, order=order_entity, created_at=at
    )
    response = await post_webhook(client, payload)
    assert response.status_code == 200, response.text
    return response


def test_a_renewal_of_the_plan_an_older_release_left_running_still_extends_it() -> None:
    """An older release let a Starter payment replace a running Pro period; its intervals,
    derived from the history, hold Pro's. Renewing the Starter plan the owner sees running
    extends it: Pro's recorded interval only counts for a payment older than the plan's."""
    pro_at, starter_at = T0, T0 + timedelta(days=5)
    pro_period = PaidPeriod(
        "pay_pro", "pro", "monthly", pro_at, pro_at, add_period(pro_at, "monthly")
    )
    state = SubscriptionState(
        plan_code="starter",
        period="monthly",
        current_period_end=add_period(starter_at, "monthly"),
        plan_changed_at=starter_at,
        status_changed_at=starter_at,
        applied_payment_ids=frozenset({"pay_pro", "pay_old_starter"}),
        paid_periods=frozenset({pro_period}),
    )

    renewed, decision = apply_event(state, _pay("pay_renewal", "starter", T0 + timedelta(days=9)))

    assert (decision.outcome, decision.reason) == ("applied", "extended")
    assert renewed.current_period_end == add_period(starter_at, "monthly", 2)
