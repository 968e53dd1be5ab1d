"""Checkout's answer for a payment already applied asks Razorpay nothing: the plan it paid for
is granted, and what verify would learn from Razorpay (the payment's status) changes nothing
(``duplicate_payment`` whatever it says). Before, every verify of it fetched the payment: an
owner holding one valid (order, payment, signature) could replay it at the per-IP limit, each
a call against the Razorpay account every workspace shares (its rate limit spent for all of
them), and while Razorpay was down a second verify of a paid plan answered 503."""

from __future__ import annotations

import httpx

from tests.billing.conftest import create_order
from tests.billing.test_billing_api import verify
from tests.conftest import Owner
from tests.fakes.razorpay_server import FakeRazorpay


async def test_verifying_an_applied_payment_again_asks_razorpay_nothing(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    order = await create_order(bclient, owner)
    payment = fake.capture_payment(order["razorpay_order_id"])
    first = await verify(bclient, owner, order, payment["id"], fake.key_secret)
    assert (first.json()["applied"], first.json()["reason"]) == (True, "applied"), first.text
    asked = len(fake.requests)
    fake.down = True
    for _ in range(3):
        again = await verify(bclient, owner, order, payment["id"], fake.key_secret)
        assert again.status_code == 200, again.text
        body = again.json()
        assert (body["applied"], body["reason"], body["order_status"]) == (
            False,
            "duplicate_payment",
            "paid",
        )
        assert body["subscription"]["plan"] == "starter"
    assert len(fake.requests) == asked
    # A wrong signature is still refused before anything else.
    bad = await verify(bclient, owner, order, payment["id"], "not the key secret")
    assert bad.status_code == 400, bad.text
