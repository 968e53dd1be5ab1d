"""What the owner's payment history says of refunds: how much of each payment went back.

A partial refund changes no plan (docs/billing.md), but the history kept reading "captured" at
the full amount: an owner who was given Rs 500 back of a Rs 999 payment saw no trace of it, in
the API or on the plan page."""

from __future__ import annotations

import html
import re

import httpx

from tests.billing.conftest import create_order, owner_json, post_webhook
from tests.billing.test_dashboard_checkout import web_login
from tests.conftest import Owner
from tests.fakes.razorpay_server import FakeRazorpay, make_refund, webhook_payload


async def _history(client: httpx.AsyncClient, owner: Owner) -> list[dict[str, object]]:
    items = (await owner_json(client, owner, "/billing/payments"))["items"]
    assert isinstance(items, list)
    return items


async def test_the_history_says_how_much_of_a_payment_was_refunded(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    order = await create_order(bclient, owner)
    payment = fake.capture_payment(order["razorpay_order_id"])
    captured = webhook_payload("payment.captured", payment=payment)
    event_id = "evt_refund_history_" + payment["id"]
    assert (await post_webhook(bclient, captured, event_id=event_id)).status_code == 200
    [paid] = await _history(bclient, owner)
    assert (paid["status"], paid["amount_refunded"]) == ("captured", 0)

    refund = make_refund(payment_id=payment["id"], amount=50_000)
    entity = {**payment, "amount_refunded": 50_000, "refund_status": "partial"}
    answer = await post_webhook(
        bclient, webhook_payload("refund.processed", refund=refund, payment=entity)
    )
    assert answer.json()["reason"] == "partial_refund", answer.text
    [paid] = await _history(bclient, owner)
    assert (paid["status"], paid["amount"], paid["amount_refunded"]) == (
        "captured",
        99_900,
        50_000,
    )
    # An older event about the payment delivered again (amount_refunded 0 in it, as it was
    # then) takes nothing back from what was refunded.
    again = webhook_payload(
        "order.paid", payment=payment, order=fake.orders[order["razorpay_order_id"]]
    )
    assert (await post_webhook(bclient, again)).status_code == 200
    [paid] = await _history(bclient, owner)
    assert paid["amount_refunded"] == 50_000

    # The owner's plan page says it too.
    web = await web_login(bclient, owner.email, owner.password)
    page = html.unescape((await web.client.get(web.url("plan"))).text)
    row = re.search(r"Payment history.*?</table>", page, re.S)
    assert row is not None
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row.group(0)))
    assert "INR 999.00" in text
    assert "captured, INR 500.00 refunded" in text

    rest = make_refund(payment_id=payment["id"], amount=49_900)
    entity = {**payment, "amount_refunded": 99_900, "refund_status": "full", "status": "refunded"}
    answer = await post_webhook(
        bclient, webhook_payload("refund.processed", refund=rest, payment=entity)
    )
    assert answer.json()["reason"] == "period_revoked", answer.text
    [paid] = await _history(bclient, owner)
    assert (paid["status"], paid["amount_refunded"]) == ("refunded", 99_900)
