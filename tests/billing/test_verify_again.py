"""Checkout's answer for a payment already applied asks Razorpay nothing: the plan it paid for
is granted, and what verify would learn from Razorpay (the payment's status) changes nothing
(``duplicate_payment`` whatever it says). Before, every verify of it fetched the payment: an
owner holding one valid (order, payment, signature) could replay it at the per-IP limit, each
a call against the Razorpay account every workspace shares (its rate limit spent for all of
them), and while Razorpay was down a second verify of a paid plan answered 503."""

from __future__ import annotations

from typing import Any

import httpx

from tests.billing.conftest import create_order, subscription
from tests.billing.test_billing_api import verify
from tests.billing.test_order_paid_twice import _two_attempts
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


async def _verified_again_offline(
    client: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, order: Any, payment_id: str
) -> set[tuple[bool, str]]:
    """What verifying ``payment_id`` three more times answers with Razorpay down; asserts that
    nothing was asked of it."""
    asked = len(fake.requests)
    fake.down = True
    answers = set()
    for _ in range(3):
        again = await verify(client, owner, order, payment_id, fake.key_secret)
        assert again.status_code == 200, again.text
        answers.add((again.json()["applied"], again.json()["reason"]))
    assert len(fake.requests) == asked
    return answers


async def test_verifying_a_rejected_payment_again_asks_razorpay_nothing(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    """Rs 1 taken for a Rs 999 order: rejected, listed for a refund; verifying it again says so
    from what was recorded (before, each verify fetched the payment: 503 with Razorpay down)."""
    order = await create_order(bclient, owner)
    payment = fake.capture_payment(order["razorpay_order_id"], amount=100)
    first = await verify(bclient, owner, order, payment["id"], fake.key_secret)
    assert (first.json()["applied"], first.json()["reason"]) == (False, "amount_mismatch")
    answers = await _verified_again_offline(bclient, owner, fake, order, payment["id"])
    assert answers == {(False, "amount_mismatch")}
    plan = await subscription(bclient, owner)
    assert plan["plan"] == "free", plan


async def test_verifying_a_held_payment_again_asks_razorpay_nothing(
    bclient: httpx.AsyncClient, fake: FakeRazorpay
) -> None:
    """A second payment on an order already paid is held for a refund; verifying it again says
    so without asking Razorpay."""
    owner, order, first, second = await _two_attempts(bclient, fake, "Verify Held")
    paid = await verify(bclient, owner, order, second["id"], fake.key_secret)
    assert paid.json()["applied"] is True, paid.text
    fake.capture(first["id"])  # the late authorization is captured after all
    held = await verify(bclient, owner, order, first["id"], fake.key_secret)
    assert (held.json()["applied"], held.json()["reason"]) == (False, "order_paid_twice")
    answers = await _verified_again_offline(bclient, owner, fake, order, first["id"])
    assert answers == {(False, "order_paid_twice")}
