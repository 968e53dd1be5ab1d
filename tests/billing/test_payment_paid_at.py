"""The payment history is dated and ordered by when the customer paid (billing round 11).

It showed when our server recorded a payment: a webhook Razorpay retried for hours, or a
payment reconcile found a day later, was dated then on what is the owner's receipt, and listed
after payments made since. Each payment now carries ``paid_at``: Razorpay's time of the event
that took its money (the time its paid period starts from). Real PostgreSQL; Razorpay is the
local fake behind the real client, webhooks are signed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx

from core.db import Database
from dashboard.web import utc_time
from tests.billing.conftest import create_order, owner_json, pay_by_webhook, post_webhook
from tests.billing.test_billing_api import verify
from tests.billing.test_dashboard_checkout import web_owner
from tests.billing.test_payment_pages import MOMENT, insert_payments
from tests.billing.test_plan_page_payments import _history_rows
from tests.conftest import Owner, signup
from tests.fakes.razorpay_server import FakeRazorpay, make_refund, webhook_payload


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_a_late_webhook_is_dated_when_the_customer_paid(
    bclient: httpx.AsyncClient, fake: FakeRazorpay
) -> None:
    owner = await signup(bclient, "Late Webhook")
    paid = int(time.time()) - 5 * 3600  # retried by Razorpay for five hours
    payment = await pay_by_webhook(bclient, owner, fake, "starter", "monthly", paid)
    [item] = (await owner_json(bclient, owner, "/billing/payments"))["items"]
    assert item["razorpay_payment_id"] == payment["id"]
    assert _at(item["paid_at"]) == datetime.fromtimestamp(paid, UTC)
    assert _at(item["created_at"]) - _at(item["paid_at"]) > timedelta(hours=4)  # recorded now


async def test_the_history_lists_payments_by_when_they_were_paid(
    bclient: httpx.AsyncClient, fake: FakeRazorpay
) -> None:
    """A payment made two hours ago whose webhook came last was listed first, above the one
    made an hour ago."""
    owner = await signup(bclient, "Paid Order")
    now = int(time.time())
    newer = await pay_by_webhook(bclient, owner, fake, "starter", "monthly", now - 3600)
    older = await pay_by_webhook(bclient, owner, fake, "starter", "monthly", now - 7200)
    items = (await owner_json(bclient, owner, "/billing/payments"))["items"]
    assert [p["razorpay_payment_id"] for p in items] == [newer["id"], older["id"]]


async def test_verify_dates_the_payment_at_razorpays_time(
    bclient: httpx.AsyncClient, fake: FakeRazorpay
) -> None:
    owner = await signup(bclient, "Verified Late")
    order = await create_order(bclient, owner)
    payment = fake.capture_payment(order["razorpay_order_id"])
    made = int(time.time()) - 3 * 3600
    fake.payments[payment["id"]]["created_at"] = made  # the browser came back three hours later
    assert (await verify(bclient, owner, order, payment["id"], fake.key_secret)).status_code == 200
    [item] = (await owner_json(bclient, owner, "/billing/payments"))["items"]
    assert _at(item["paid_at"]) == datetime.fromtimestamp(made, UTC)


async def test_payments_paid_at_one_moment_page_without_skips_or_repeats(
    bclient: httpx.AsyncClient, owner: Owner, owner_db: Database, fake: FakeRazorpay
) -> None:
    """Five payments paid at one moment, one paid later: pages of two list each once, newest
    paid first, whatever order they were recorded in."""
    tied = await insert_payments(owner_db, owner, 5)
    latest = await pay_by_webhook(bclient, owner, fake, "starter", "monthly", int(time.time()))
    seen: list[str] = []
    moments: list[datetime] = []
    params: dict[str, str | int] = {"limit": 2}
    while True:
        page = await bclient.get(
            owner.url("/billing/payments"), params=params, headers=owner.headers
        )
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [p["razorpay_payment_id"] for p in body["items"]]
        moments += [_at(p["paid_at"]) for p in body["items"]]
        if body["next_cursor"] is None:
            break
        params = {"limit": 2, "cursor": body["next_cursor"]}
    assert seen[0] == latest["id"]
    assert sorted(seen[1:]) == sorted(tied)
    assert len(seen) == len(set(seen)) == 6
    assert moments[1:] == [MOMENT] * 5


async def test_the_plan_page_dates_a_payment_when_it_was_paid(
    bclient: httpx.AsyncClient, fake: FakeRazorpay
) -> None:
    """The page's history read the day after for a payment whose webhook came a day late."""
    owner, web = await web_owner(bclient)
    paid = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=26)
    await pay_by_webhook(bclient, owner, fake, "starter", "monthly", int(paid.timestamp()))
    page = await web.client.get(web.url("plan"))
    assert page.status_code == 200, page.text
    [row] = _history_rows(page.text)
    assert utc_time(paid) in row, row
    assert f'datetime="{paid.isoformat()}"' in row


async def test_a_late_capture_is_dated_at_its_capture_and_a_refund_moves_nothing(
    bclient: httpx.AsyncClient, fake: FakeRazorpay
) -> None:
    owner = await signup(bclient, "Captured Late")
    order = await create_order(bclient, owner)
    now = int(time.time())
    authorized = fake.authorize_payment(order["razorpay_order_id"])
    for name, at, entity in [
        ("payment.authorized", now - 7200, authorized),
        ("payment.captured", now - 3600, fake.capture(authorized["id"])),
    ]:
        response = await post_webhook(bclient, webhook_payload(name, payment=entity, created_at=at))
        assert response.status_code == 200, response.text
    refund = make_refund(payment_id=authorized["id"], amount=100, created_at=now - 60)
    partly = {**authorized, "status": "captured", "amount_refunded": 100}
    payload = webhook_payload("refund.processed", payment=partly, refund=refund, created_at=now)
    assert (await post_webhook(bclient, payload)).status_code == 200
    [item] = (await owner_json(bclient, owner, "/billing/payments"))["items"]
    assert (item["status"], item["amount_refunded"]) == ("captured", 100)
    assert _at(item["paid_at"]) == datetime.fromtimestamp(now - 3600, UTC)
