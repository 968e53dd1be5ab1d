"""Verify takes no second payment on an order Razorpay reports paid (billing round 11).

Verify captured a payment left authorized whenever *our* order read unpaid: with the payment
that paid the order captured at Razorpay but its webhook not here yet (retried for hours, or
lost until reconcile), a late authorization on the same order verified by the browser was
captured too, and the owner was charged twice for one period (the later webhook then held one
of the two for a refund). Reconcile already asked Razorpay first; verify now asks the same way.
Real PostgreSQL; Razorpay is the local fake behind the real client, webhooks are signed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx

from billing.orders import paid_by_another
from core.db import Database
from tests.billing.conftest import (
    create_order,
    order_row,
    owner_json,
    pay_by_webhook,
    post_webhook,
    sub_row,
    subscription,
    webhook_of,
)
from tests.billing.test_billing_api import verify
from tests.billing.test_capture import capture_requests
from tests.billing.test_payment_paid_at import _at
from tests.conftest import signup
from tests.fakes.razorpay_server import FakeRazorpay, make_refund, webhook_payload


async def test_verify_does_not_capture_a_second_payment_on_an_order_razorpay_reports_paid(
    bclient: httpx.AsyncClient, fake: FakeRazorpay, owner_db: Database
) -> None:
    owner = await signup(bclient, "Paid At Razorpay")
    order = await create_order(bclient, owner, "pro")
    rzp_order = order["razorpay_order_id"]
    late = fake.authorize_payment(rzp_order)  # the first attempt, authorized late
    paid = fake.capture_payment(rzp_order)  # the retry paid the order; its webhook is late

    response = await verify(bclient, owner, order, late["id"], fake.key_secret)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["applied"], body["reason"]) == (False, "order_already_paid"), body
    assert capture_requests(fake, late["id"]) == []
    assert fake.payments[late["id"]]["status"] == "authorized"  # Razorpay returns it
    # The payment that paid the order is the one applied: the owner has the plan now.
    assert (body["order_status"], body["subscription"]["effective_plan"]) == ("paid", "pro")
    end = body["subscription"]["current_period_end"]

    # Its webhook, when it comes, changes nothing: one period, one payment.
    again = await webhook_of(bclient, "payment.captured", paid, int(time.time()))
    assert again["status"] != "applied", again
    assert (await subscription(bclient, owner))["current_period_end"] == end
    assert (await sub_row(owner_db, owner.workspace_id))["applied_payment_ids"] == [paid["id"]]
    row = await order_row(owner_db, rzp_order)
    assert (row["status"], row["razorpay_payment_id"]) == ("paid", paid["id"])


async def test_verify_still_captures_when_the_other_payment_took_another_amount(
    bclient: httpx.AsyncClient, fake: FakeRazorpay
) -> None:
    """A captured payment for another amount than the order's did not pay it (it is rejected
    for a refund): the payment authorized for the order's amount is captured and applied."""
    owner = await signup(bclient, "Wrong Amount First")
    order = await create_order(bclient, owner)
    right = fake.authorize_payment(order["razorpay_order_id"])
    fake.capture_payment(order["razorpay_order_id"], amount=100)
    response = await verify(bclient, owner, order, right["id"], fake.key_secret)
    body = response.json()
    assert (body["applied"], body["subscription"]["effective_plan"]) == (True, "starter"), body
    assert fake.payments[right["id"]]["status"] == "captured"


async def test_verify_on_a_refunded_order_says_it_was_refunded_not_paid_by_another(
    bclient: httpx.AsyncClient, fake: FakeRazorpay
) -> None:
    """The order's payment refunded, a late authorization on it verified: it was answered
    ``order_already_paid`` ("paid by another payment"), which the owner, refunded, knew false."""
    owner = await signup(bclient, "Refunded Order")
    order = await create_order(bclient, owner)
    rzp_order = order["razorpay_order_id"]
    late = fake.authorize_payment(rzp_order)
    paid = fake.capture_payment(rzp_order)
    now = int(time.time())
    assert (await webhook_of(bclient, "payment.captured", paid, now - 120))["status"] == "applied"
    refund = make_refund(payment_id=paid["id"], amount=paid["amount"], created_at=now - 60)
    refunded = {**paid, "amount_refunded": paid["amount"], "status": "refunded"}
    fake.payments[paid["id"]].update(status="refunded", amount_refunded=paid["amount"])
    payload = webhook_payload(
        "refund.processed", payment=refunded, refund=refund, created_at=now - 60
    )
    assert (await post_webhook(bclient, payload)).json()["status"] == "applied"

    response = await verify(bclient, owner, order, late["id"], fake.key_secret)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["applied"], body["reason"]) == (False, "order_refunded"), body
    assert body["subscription"]["effective_plan"] == "free"
    assert capture_requests(fake, late["id"]) == []


def test_the_payment_that_pays_the_order_is_the_captured_one_not_a_refunded_one() -> None:
    """Razorpay lists the newest payment first: a refunded attempt listed before the one that
    paid the order again would name the order refunded, and the paying one was not applied."""
    captured = {"id": "pay_b", "status": "captured", "amount": 100, "currency": "INR"}
    listed = [
        {"id": "pay_a", "status": "refunded", "amount": 100, "currency": "INR"},
        {"id": "pay_c", "status": "captured", "amount": 1, "currency": "INR"},  # another amount
        captured,
        {"id": "pay_d", "status": "authorized", "amount": 100, "currency": "INR"},
    ]
    assert paid_by_another(listed, "pay_d", 100, "INR") == captured
    assert paid_by_another(listed[:2], "pay_d", 100, "INR") == listed[0]
    assert paid_by_another(listed[1:2], "pay_d", 100, "INR") is None
    assert paid_by_another([captured], "pay_b", 100, "INR") is None  # itself


async def test_the_payment_found_paying_the_order_is_dated_as_its_webhook_dates_it(
    bclient: httpx.AsyncClient, fake: FakeRazorpay
) -> None:
    """The payment verify finds paying the order (its webhook not here yet) was applied at the
    time of the browser's verify: the history dated it hours after the customer paid, and its
    month started then. It is applied at Razorpay's time, as its webhook or reconcile would."""
    owner = await signup(bclient, "Paid Hours Ago")
    order = await create_order(bclient, owner)
    rzp_order = order["razorpay_order_id"]
    late = fake.authorize_payment(rzp_order)
    paid = fake.capture_payment(rzp_order)
    made = int(time.time()) - 3 * 3600  # paid three hours ago, its webhook still retried
    fake.payments[paid["id"]]["created_at"] = made

    response = await verify(bclient, owner, order, late["id"], fake.key_secret)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["reason"], body["subscription"]["effective_plan"]) == (
        "order_already_paid",
        "starter",
    )
    [item] = (await owner_json(bclient, owner, "/billing/payments"))["items"]
    assert item["razorpay_payment_id"] == paid["id"]
    assert _at(item["paid_at"]) == datetime.fromtimestamp(made, UTC)

    # The same month its webhook gives a twin paid at the same moment.
    twin = await signup(bclient, "Paid Hours Ago Twin")
    await pay_by_webhook(bclient, twin, fake, "starter", "monthly", made)
    assert (
        body["subscription"]["current_period_end"]
        == (await subscription(bclient, twin))["current_period_end"]
    )
