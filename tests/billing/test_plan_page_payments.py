"""The plan page's words about a payment, and its payment history (billing round 6).

- A payment authorized for another amount than its order's is never captured (Razorpay returns
  it): the page said "Your payment is authorized but not captured yet: the plan starts once
  Razorpay captures it", which never happens.
- A payment held for a refund (its plan already replaced by a later payment) read "Payment
  received: the Pro plan is active", as if it had bought something.
- The history listed the newest 20 payments and no way to the older ones; its dates were bare
  days while every other time on the page names its zone.
"""

from __future__ import annotations

import html
import re
import time

import httpx

from core.db import Database
from tests.billing.conftest import post_webhook
from tests.billing.test_dashboard_checkout import (
    JSON,
    checkout,
    checkout_answer,
    order,
    verified_notice,
    web_owner,
)
from tests.billing.test_payment_pages import MOMENT, insert_payments
from tests.fakes.razorpay_server import FakeRazorpay, webhook_payload


async def test_an_authorization_for_another_amount_is_not_said_to_be_captured_later(
    bclient: httpx.AsyncClient, fake: FakeRazorpay
) -> None:
    _, web = await web_owner(bclient)
    order_id = (await order(web, "starter")).json()["razorpay_order_id"]
    payment = fake.authorize_payment(order_id)
    fake.payments[payment["id"]]["amount"] = 100  # Rs 1 authorized for a Rs 999 order
    answer = checkout_answer(order_id, payment["id"], fake)
    verified = await web.post(web.url("plan/verify"), answer, headers=JSON)
    assert verified.status_code == 200, verified.text
    assert verified.json()["plan"] == "free"
    shown = html.unescape((await web.client.get(verified.json()["redirect"])).text)
    assert "not captured yet" not in shown
    assert "plan starts once Razorpay captures it" not in shown
    assert "INR 1.00" in shown
    assert "not the order's INR 999.00" in shown
    assert "Razorpay returns it" in shown
    assert "The Free plan is in effect." in shown
    assert fake.payments[payment["id"]]["status"] == "authorized"  # nothing was taken


async def test_a_payment_held_for_a_refund_is_not_called_received(
    bclient: httpx.AsyncClient, fake: FakeRazorpay
) -> None:
    _, web = await web_owner(bclient)
    first_tab = (await order(web, "starter")).json()["razorpay_order_id"]
    pro = (await order(web, "pro")).json()["razorpay_order_id"]
    later = int(time.time()) + 3600
    pro_payment = fake.capture_payment(pro)
    payload = webhook_payload("payment.captured", payment=pro_payment, created_at=later)
    assert (await post_webhook(bclient, payload)).json()["status"] == "applied"
    payment = fake.capture_payment(first_tab)
    shown = await verified_notice(web, first_tab, payment["id"], fake)
    assert "Payment received" not in shown
    assert "did not change your plan" in shown
    assert "held for a refund" in shown
    assert "The Pro plan is in effect" in shown


def _history_rows(page: str) -> list[str]:
    section = page.split('id="pay-h"', 1)[1]
    return re.findall(r'<td data-label="Date">(.*?)</td>', section, re.S)


async def test_the_payment_history_pages_to_the_older_payments_with_utc_times(
    bclient: httpx.AsyncClient, fake: FakeRazorpay, owner_db: Database
) -> None:
    owner, web = await web_owner(bclient)
    ids = await insert_payments(owner_db, owner, 23)  # more than a page, all at one moment
    await checkout(web, fake)  # one more, newest
    first = await web.client.get(web.url("plan"))
    assert first.status_code == 200, first.text
    rows = _history_rows(first.text)
    assert len(rows) == 20
    assert all("UTC" in row for row in rows), rows[:2]
    assert MOMENT.strftime("%Y-%m-%d %H:%M UTC") in rows[-1]
    older = re.search(r'<a href="([^"]+)"[^>]*>Older payments</a>', first.text)
    assert older, "no link to the older payments"
    second = await web.client.get(html.unescape(older.group(1)))
    assert second.status_code == 200, second.text
    assert len(_history_rows(second.text)) == 4
    assert "Older payments" not in second.text
    assert "Newest payments" in second.text
    assert len(ids) + 1 == 24  # every payment on one of the two pages

    garbled = await web.client.get(web.url("plan") + "?payments_cursor=nonsense")
    assert garbled.status_code == 422, garbled.text
