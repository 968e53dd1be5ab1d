"""Payments that buy nothing are held for a refund, and everyone is told so (billing round 6).

- A payment for a lower plan made while a higher paid period runs (an order opened before an
  upgrade, paid after it: a second checkout tab, a late UPI confirmation) used to apply as the
  latest payment and end the higher plan's period early: the owner who paid for Pro lost it.
- A payment for a plan a later payment had already replaced (``superseded``) kept the money
  quietly: the owners were mailed "Payment received" and verify answered ``applied`` /
  ``order_paid``.

Both now change no plan, are listed ``held`` in the payment history (``held_for_refund`` lists
them for whoever refunds), and the owners' mail and verify's answer say what happened.
Real PostgreSQL and SMTP; Razorpay is the local fake the real ``razorpay`` client talks to.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from billing.subscriptions import held_for_refund
from core.db import Database, set_tenant
from tests.billing.conftest import (
    MailingWorld,
    create_order,
    payment_mails,
    post_webhook,
    sub_row,
    subscription,
)
from tests.billing.test_billing_api import verify
from tests.conftest import Owner, signup
from tests.fakes.razorpay_server import FakeRazorpay, webhook_payload


async def _captured(
    client: httpx.AsyncClient, fake: FakeRazorpay, order: dict[str, Any], at: int
) -> httpx.Response:
    payment = fake.capture_payment(order["razorpay_order_id"])
    payload = webhook_payload("payment.captured", payment=payment, created_at=at)
    response = await post_webhook(client, payload)
    assert response.status_code == 200, response.text
    return response


async def _history(client: httpx.AsyncClient, owner: Owner) -> dict[str, str]:
    """plan -> status of each payment in the owner's history."""
    response = await client.get(owner.url("/billing/payments"), headers=owner.headers)
    assert response.status_code == 200, response.text
    return {p["plan"]: p["status"] for p in response.json()["items"]}


async def _held(owner_db: Database, owner: Owner) -> list[tuple[str, int | None, str | None]]:
    async with owner_db.transaction() as session:
        await set_tenant(session, workspace_id=owner.workspace_id)
        return await held_for_refund(session, owner.workspace_id)  # type: ignore[arg-type]


async def test_a_lower_plan_paid_during_a_higher_period_is_held_not_a_downgrade(
    mailing_world: MailingWorld,
) -> None:
    runtime, client, fake, smtp, owner_db = mailing_world
    owner = await signup(client, "Two Tabs")
    starter = await create_order(client, owner, "starter")  # the first tab
    pro = await create_order(client, owner, "pro")  # the second tab
    now = int(time.time())
    await _captured(client, fake, pro, now - 60)
    pro_end = (await subscription(client, owner))["current_period_end"]

    response = await _captured(client, fake, starter, now)
    assert (response.json()["status"], response.json()["reason"]) == ("ignored", "lower_plan_held")
    shown = await subscription(client, owner)
    assert (shown["plan"], shown["effective_plan"]) == ("pro", "pro")
    assert shown["current_period_end"] == pro_end
    assert await _history(client, owner) == {"pro": "captured", "starter": "held"}
    assert [(amount, currency) for _, amount, currency in await _held(owner_db, owner)] == [
        (starter["amount"], "INR")
    ]
    mails = await payment_mails(runtime, smtp, owner.email)
    subjects = sorted(str(m.message["Subject"]) for m in mails)
    assert len(subjects) == 2, subjects
    assert "] Payment held for a refund: 999.00 INR" in subjects[0], subjects
    body = next(m.text for m in mails if "held" in str(m.message["Subject"]))
    assert "did not change your plan" in body
    assert "Pro plan is paid until" in body


async def test_the_higher_plan_reported_after_the_lower_one_still_wins(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """The same two payments, delivered the other way round (Pro's webhook late): Pro, paid
    first, is the plan; the Starter payment made while Pro ran is held for a refund. Before,
    Pro was ``superseded`` by the Starter payment: the owner paid for Pro and got Starter."""
    starter = await create_order(bclient, owner, "starter")
    pro = await create_order(bclient, owner, "pro")
    now = int(time.time())
    await _captured(bclient, fake, starter, now)
    assert (await subscription(bclient, owner))["plan"] == "starter"

    response = await _captured(bclient, fake, pro, now - 60)
    assert response.json()["status"] == "applied", response.text
    shown = await subscription(bclient, owner)
    assert (shown["plan"], shown["effective_plan"]) == ("pro", "pro")
    assert await _history(bclient, owner) == {"pro": "captured", "starter": "held"}
    row = await sub_row(owner_db, owner.workspace_id)
    assert len(row["applied_payment_ids"]) == 1
    assert [p["plan"] for p in row["paid_periods"]] == ["pro"]


async def test_verify_of_a_superseded_payment_says_it_changed_nothing(
    mailing_world: MailingWorld,
) -> None:
    """A Starter payment whose plan a later Pro payment already replaced: verify answered
    ``applied: true`` / ``order_paid`` and the owners were mailed "Payment received"."""
    runtime, client, fake, smtp, _ = mailing_world
    owner = await signup(client, "Late Verify")
    starter = await create_order(client, owner, "starter")
    pro = await create_order(client, owner, "pro")
    await _captured(client, fake, pro, int(time.time()) + 3600)  # Razorpay's clock: later
    payment = fake.capture_payment(starter["razorpay_order_id"])

    response = await verify(client, owner, starter, payment["id"], fake.key_secret)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["applied"], body["reason"]) == (False, "superseded")
    assert body["order_status"] == "paid"
    assert body["subscription"]["plan"] == "pro"
    assert await _history(client, owner) == {"pro": "captured", "starter": "held"}
    mails = await payment_mails(runtime, smtp, owner.email)
    held = [m for m in mails if "] Payment held" in str(m.message["Subject"])]
    received = [m for m in mails if "] Payment received" in str(m.message["Subject"])]
    assert len(held) == 1, [m.message["Subject"] for m in mails]
    assert len(received) == 1  # Pro's
    assert "a later payment" in held[0].text
