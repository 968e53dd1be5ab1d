"""A payment whose capture was rejected (amount or currency not the order's) reads `rejected`
in the history, for a human to refund, until its money went back (billing review 2, F4)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.billing.conftest import create_order, owner_json, post_webhook
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
