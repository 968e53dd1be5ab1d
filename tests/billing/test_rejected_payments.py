"""A payment whose capture was rejected (amount or currency not the order's) reads `rejected`
in the history, for a human to refund, until its money went back (billing review 2, F4)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.billing.conftest import create_order, owner_json, post_webhook
from tests.billing.test_billing_api import verify
from tests.conftest import Owner
from tests.fakes.razorpay_server import FakeRazorpay, make_refund, webhook_payload


async def _history(bclient: httpx.AsyncClient, owner: Owner) -> list[str]:
    return [p["status"] for p in (await owner_json(bclient, owner, "/billing/payments"))["items"]]


async def _send(bclient: httpx.AsyncClient, event: str, **entities: Any) -> dict[str, Any]:
    response = await post_webhook(bclient, webhook_payload(event, **entities))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _wrong_capture(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> dict[str, Any]:
    """Rs 1 taken for a Rs 999 order, in Razorpay's usual order: authorized, then captured."""
    order = await create_order(bclient, owner, "starter")
    payment = fake.capture_payment(order["razorpay_order_id"], amount=100)
    await _send(bclient, "payment.authorized", payment={**payment, "status": "authorized"})
    assert await _history(bclient, owner) == ["authorized"]
    captured = await _send(bclient, "payment.captured", payment=payment)
    assert (captured["status"], captured["reason"]) == ("rejected", "amount_mismatch")
    return payment


async def test_a_capture_rejected_after_its_authorization_reads_rejected(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    """Before, the history kept `authorized`: the one signal a human would act on was gone."""
    payment = await _wrong_capture(bclient, owner, fake)
    assert await _history(bclient, owner) == ["rejected"]
    # A late copy of the authorization, or the order's own event, does not hide it again.
    await _send(bclient, "payment.authorized", payment={**payment, "status": "authorized"})
    assert await _history(bclient, owner) == ["rejected"]


async def test_refunding_a_rejected_payment_in_full_reads_refunded(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    """Before, Rs 1 refunded of the Rs 1 payment was judged against the Rs 999 order
    (`partial_refund`) and the history said `captured`: that the money was kept."""
    payment = await _wrong_capture(bclient, owner, fake)
    refund = make_refund(payment_id=payment["id"], amount=100)
    back = {**payment, "amount_refunded": 100, "status": "refunded"}
    refunded = await _send(bclient, "refund.processed", refund=refund, payment=back)
    assert refunded["reason"] == "refund_recorded", refunded
    assert await _history(bclient, owner) == ["refunded"]
    assert (await owner_json(bclient, owner, "/billing/subscription"))["effective_plan"] == "free"


async def test_a_refund_rejected_for_its_currency_leaves_a_captured_payment_captured(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    """`rejected` now outranks `captured`: a refund event we reject says nothing of its
    payment, which stays as it was."""
    order = await create_order(bclient, owner, "starter")
    payment = fake.capture_payment(order["razorpay_order_id"])
    assert (await _send(bclient, "payment.captured", payment=payment))["status"] == "applied"
    refund = make_refund(payment_id=payment["id"], amount=payment["amount"], currency="USD")
    odd = await _send(bclient, "refund.processed", refund=refund, payment=payment)
    assert (odd["status"], odd["reason"]) == ("rejected", "currency_mismatch")
    assert await _history(bclient, owner) == ["captured"]
    assert (await owner_json(bclient, owner, "/billing/subscription"))["plan"] == "starter"


def _order_entity(payment: dict[str, Any], amount: int) -> dict[str, Any]:
    return {
        "id": payment["order_id"],
        "entity": "order",
        "amount": amount,
        "amount_paid": amount,
        "amount_due": 0,
        "currency": "INR",
        "status": "paid",
    }


@pytest.mark.parametrize("told_by", ["order.paid", "payment.captured"])
@pytest.mark.parametrize("wrong", ["amount", "currency"])
async def test_a_rejected_payment_reported_again_for_the_orders_amount_buys_nothing(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, told_by: str, wrong: str
) -> None:
    """A confused provider: the capture of Rs 1 (or of USD) on a Rs 999 order was rejected,
    then another event (the order's ``order.paid``, a second copy of the capture under a new
    event id) says the same payment took the order's Rs 999. Before, that event granted the
    plan while the history kept the payment ``rejected`` at Rs 1, for a human to refund: the
    owner had the plan and the refund list said the money was owed back. A payment is judged
    on what it was first recorded as charging, as verify judges it."""
    order = await create_order(bclient, owner, "starter")
    payment = fake.capture_payment(order["razorpay_order_id"])
    first = {**payment, "amount": 100} if wrong == "amount" else {**payment, "currency": "USD"}
    captured = await _send(bclient, "payment.captured", payment=first)
    assert (captured["status"], captured["reason"]) == ("rejected", f"{wrong}_mismatch")
    again: dict[str, Any] = {"payment": payment}
    if told_by == "order.paid":
        again["order"] = _order_entity(payment, order["amount"])
    second = await _send(bclient, told_by, **again)
    assert (second["status"], second["reason"]) == ("rejected", f"{wrong}_mismatch"), second
    sub = await owner_json(bclient, owner, "/billing/subscription")
    assert (sub["plan"], sub["effective_plan"]) == ("free", "free"), sub
    assert await _history(bclient, owner) == ["rejected"]


@pytest.mark.parametrize("wrong", ["amount", "currency"])
async def test_a_capture_of_less_than_its_recorded_authorization_buys_nothing(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, wrong: str
) -> None:
    """The other way round: the authorization recorded at the order's Rs 999, then the capture
    of the same payment reported at Rs 1 (or in USD). Judged on what was first recorded (the
    authorization, which charged nothing), that capture granted the plan, and the history read
    Rs 999: an event is judged on what it says itself too, whichever of the two is wrong."""
    order = await create_order(bclient, owner, "starter")
    payment = fake.capture_payment(order["razorpay_order_id"])
    await _send(bclient, "payment.authorized", payment={**payment, "status": "authorized"})
    odd = {**payment, "amount": 100} if wrong == "amount" else {**payment, "currency": "USD"}
    captured = await _send(bclient, "payment.captured", payment=odd)
    assert (captured["status"], captured["reason"]) == ("rejected", f"{wrong}_mismatch"), captured
    sub = await owner_json(bclient, owner, "/billing/subscription")
    assert (sub["plan"], sub["effective_plan"]) == ("free", "free"), sub


async def test_verify_of_a_payment_razorpay_says_took_another_amount_buys_nothing(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    """Verify the same way: the authorization's webhook recorded Rs 999, Razorpay answers the
    verify that the payment captured Rs 1. Judged on the record, the plan was granted."""
    order = await create_order(bclient, owner, "starter")
    payment = fake.capture_payment(order["razorpay_order_id"])
    await _send(bclient, "payment.authorized", payment={**payment, "status": "authorized"})
    fake.payments[payment["id"]]["amount"] = 100
    answer = await verify(bclient, owner, order, payment["id"], fake.key_secret)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["applied"], body["reason"]) == (False, "amount_mismatch"), body
    assert (body["subscription"]["plan"], body["subscription"]["effective_plan"]) == ("free",) * 2
