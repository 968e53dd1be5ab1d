"""What a workspace's owner hears of a recurring charge Razorpay took after their cancel and that
is held for a refund (``charged_after_cancel``), and what happens to it when they keep the
subscription after all.

- A held order payment mails "Payment held for a refund" and is listed ``held`` on the plan
  page; a held recurring charge mailed nothing and the page did not show it: the owner saw
  money leave their card and heard nothing.
- A subscription linked after the owner's period ended has its first charge held; the owner
  then keeps the subscription (resume, before its cancel was sent): that charge pays for the
  cycle they now use, yet it stayed on the operator's list of charges to refund.

Real webhooks (signed, through the app), the real ``razorpay`` client against the fake, the
real in-process SMTP server.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from tests.billing.conftest import payment_mails, subscription
from tests.billing.razorpay_subscriptions import (
    a_charge,
    both_webhooks,
    cancelled_at_cycle_end,
    charged,
    payment_of,
)
from tests.billing.test_cancel_edges import TO_REFUND, first_charge_held
from tests.billing.test_dashboard_checkout import web_login
from tests.conftest import signup
from tests.dashboard.conftest import WebOwner
from tests.fakes.razorpay_server import FakeRazorpay, make_refund, webhook_payload
from tests.fakes.smtp import SmtpServer


async def plan_page(web: WebOwner) -> str:
    response = await web.client.get(web.url("plan"))
    assert response.status_code == 200, response.text
    return " ".join(html.unescape(response.text).split())


async def to_refund(owner_db: Database, workspace_id: str) -> list[str]:
    """The workspace's charges on the operator's list (docs/billing.md's query)."""
    async with owner_db.transaction() as s:
        rows = (await s.execute(text(TO_REFUND))).mappings().all()
    return [str(r["razorpay_payment_id"]) for r in rows if str(r["workspace_id"]) == workspace_id]


def charge_time(body: dict[str, Any]) -> str:
    return datetime.fromtimestamp(body["created_at"], UTC).strftime("%Y-%m-%d %H:%M UTC")


async def test_a_held_recurring_charge_is_mailed_once_and_shown_until_refunded(
    mailing: tuple[Runtime, httpx.AsyncClient],
    fake: FakeRazorpay,
    smtp: SmtpServer,
    owner_db: Database,
) -> None:
    runtime, client = mailing
    owner = await signup(client, "Held Charge Co")
    cancelled = await cancelled_at_cycle_end(client, runtime, owner, fake)
    # Razorpay charges the next cycle anyway: its two webhooks, the second first, each twice.
    both = both_webhooks(cancelled.sub, start=cancelled.end)
    for body in (both["payment.captured"], both["subscription.charged"]) * 2:
        assert (await charged(client, owner_db, body))[1] in (
            "charged_after_cancel",
            "charge_already_held",
        )
    payment_id = payment_of(both["subscription.charged"])

    mails = await payment_mails(runtime, smtp, owner.email)
    assert [str(m.message["Subject"]) for m in mails] == [
        "[Held Charge Co] Payment held for a refund: 499.00 INR"
    ], [m.message["Subject"] for m in mails]
    body = " ".join(mails[0].text.split())
    assert "499.00 INR" in body
    assert charge_time(both["payment.captured"]) in body  # when the card was charged
    assert "held for a refund" in body
    assert "did not renew" in body
    assert payment_id in body

    web = await web_login(client, owner.email, owner.password)
    page = await plan_page(web)
    assert "Payment history" in page
    assert f"{charge_time(both['payment.captured'])}" in page
    assert "INR 499.00" in page
    assert "held for a refund" in page

    # The operator refunds it in Razorpay's dashboard; Razorpay reports the refund.
    payment = both["payment.captured"]["payload"]["payment"]["entity"]
    refund = make_refund(payment_id=payment_id, amount=payment["amount"])
    refunded = webhook_payload("refund.processed", refund=refund, payment=payment)
    await charged(client, owner_db, refunded)
    page = await plan_page(web)
    assert "INR 499.00" in page
    assert "refunded" in page
    assert "held for a refund" not in page
    # Nothing more mailed for the charge, the refund included.
    assert len(await payment_mails(runtime, smtp, owner.email)) == 1


async def test_a_held_first_charge_the_owner_then_keeps_is_no_refund_owed(
    mailing: tuple[Runtime, httpx.AsyncClient],
    fake: FakeRazorpay,
    smtp: SmtpServer,
    owner_db: Database,
) -> None:
    """The owner cancelled and the period ended; a subscription made while it ran links itself
    with a charge, held (taken after the period's end), and mailed so. The owner keeps the
    subscription (resume) before its cancel was sent: the charge pays for the cycle they now
    use. Before, it stayed on the operator's list of refunds owed."""
    runtime, client = mailing
    owner = await signup(client, "Kept Co")
    sub, _ = await first_charge_held(client, owner, fake, owner_db)
    [held] = await to_refund(owner_db, owner.workspace_id)
    mails = await payment_mails(runtime, smtp, owner.email, "held for a refund")
    assert len(mails) == 1
    assert '"Keep the Razorpay subscription"' in " ".join(mails[0].text.split())

    resumed = await client.post(owner.url("/billing/subscription/resume"), headers=owner.headers)
    assert resumed.status_code == 200, resumed.text
    assert await to_refund(owner_db, owner.workspace_id) == []
    shown = await subscription(client, owner)
    assert (shown["status"], shown["razorpay_subscription"]) == ("active", "active")
    web = await web_login(client, owner.email, owner.password)
    page = await plan_page(web)
    assert "INR 499.00" in page
    assert "kept" in page
    assert "held for a refund" not in page
    # The charge's other webhook, delivered after the resume, holds nothing again.
    other = a_charge(sub, start=0, event="payment.captured")
    other["payload"]["payment"]["entity"]["id"] = held
    assert await charged(client, owner_db, other) == ("ignored", "charge_kept")
    assert await to_refund(owner_db, owner.workspace_id) == []


async def test_a_held_charge_refunded_in_part_is_not_shown_refunded(
    mailing: tuple[Runtime, httpx.AsyncClient], fake: FakeRazorpay, owner_db: Database
) -> None:
    """The operator refunds part of a held charge (Razorpay's ``refund.processed`` names the
    refund's amount). The plan page said "refunded" at the first refund of any amount: the owner
    read that all 499.00 came back when 100.00 had."""
    _, client = mailing
    owner = await signup(client, "Part Refund Co")
    await first_charge_held(client, owner, fake, owner_db)
    [held] = await to_refund(owner_db, owner.workspace_id)
    payment = {"id": held, "entity": "payment", "amount": 49900, "currency": "INR"}
    part = make_refund(payment_id=held, amount=10000)
    refunded = webhook_payload("refund.processed", refund=part, payment=payment)
    assert await charged(client, owner_db, refunded) == ("ignored", "held_charge_refunded")
    web = await web_login(client, owner.email, owner.password)
    page = await plan_page(web)
    assert "INR 499.00" in page
    assert "INR 100.00 of it refunded, the rest held for a refund" in page
    rest = make_refund(payment_id=held, amount=39900)
    refunded = webhook_payload("refund.processed", refund=rest, payment=payment)
    assert await charged(client, owner_db, refunded) == ("ignored", "held_charge_refunded")
    page = await plan_page(web)
    assert "of it refunded" not in page
    assert "held for a refund" not in page
    assert "refunded" in page
