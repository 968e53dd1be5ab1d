"""Two captured payments on one order buy one paid period (billing round 8).

An order is one period of one plan, at one price. A retried checkout (the first attempt's
authorization late, captured after the second attempt paid the order) or a second payment id
Razorpay reports on the same order was applied as a renewal: the payer was charged twice and
the period ran twice as long, so nobody looked at refunding the second charge. The second one
is now held for a refund, like a lower plan's payment made while a higher plan runs, and the
owners are told so. Real PostgreSQL and SMTP; Razorpay is the local fake, webhooks are signed.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from core.db import Database
from tests.billing.conftest import (
    MailingWorld,
    create_order,
    order_row,
    payment_mails,
    post_webhook,
    sub_row,
    subscription,
    webhook_of,
)
from tests.billing.test_billing_api import verify
from tests.billing.test_held_payments import _held
from tests.conftest import Owner, signup
from tests.fakes.razorpay_server import FakeRazorpay, make_refund, webhook_payload


async def _two_attempts(
    client: httpx.AsyncClient, fake: FakeRazorpay, name: str, plan: str = "starter"
) -> tuple[Owner, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A new owner's order for ``plan`` with two attempts: the first authorized (late, not
    captured yet), the second (a retried checkout) captured: owner, order, first, second."""
    owner = await signup(client, name)
    order = await create_order(client, owner, plan)
    first = fake.authorize_payment(order["razorpay_order_id"])
    second = fake.capture_payment(order["razorpay_order_id"])
    return owner, order, first, second


async def test_a_second_payment_on_a_paid_order_is_held_not_a_second_period(
    mailing_world: MailingWorld,
) -> None:
    runtime, client, fake, smtp, owner_db = mailing_world
    owner, order, first, second = await _two_attempts(client, fake, "Paid Twice")
    rzp_order = order["razorpay_order_id"]
    now = int(time.time())
    body = await webhook_of(client, "payment.captured", second, now)
    assert body["status"] == "applied", body
    paid = await subscription(client, owner)

    late = fake.capture(first["id"])  # the late authorization is captured after all
    body = await webhook_of(client, "payment.captured", late, now + 60)
    assert (body["status"], body["reason"]) == ("ignored", "order_paid_twice"), body
    # ... and delivered again as the order's ``order.paid``: still nothing more.
    body = await webhook_of(client, "order.paid", late, now + 61)
    assert body["reason"] == "order_paid_twice", body

    shown = await subscription(client, owner)
    assert shown["current_period_end"] == paid["current_period_end"]  # one month, not two
    row = await sub_row(owner_db, owner.workspace_id)
    assert row["applied_payment_ids"] == [second["id"]]
    assert (await order_row(owner_db, rzp_order))["razorpay_payment_id"] == second["id"]
    assert await _statuses(client, owner) == {second["id"]: "captured", first["id"]: "held"}
    assert [amount for _, amount, _ in await _held(owner_db, owner)] == [order["amount"]]
    mails = await payment_mails(runtime, smtp, owner.email)
    held = [m for m in mails if "] Payment held for a refund" in str(m.message["Subject"])]
    assert len(held) == 1, [str(m.message["Subject"]) for m in mails]
    assert "already paid" in held[0].text


async def test_verify_of_the_second_payment_on_a_paid_order_says_it_is_held(
    bclient: httpx.AsyncClient, fake: FakeRazorpay
) -> None:
    owner, order, first, second = await _two_attempts(bclient, fake, "Verify Twice", "pro")
    response = await verify(bclient, owner, order, second["id"], fake.key_secret)
    assert response.json()["applied"] is True, response.text
    end = response.json()["subscription"]["current_period_end"]

    fake.capture(first["id"])
    response = await verify(bclient, owner, order, first["id"], fake.key_secret)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["applied"], body["reason"]) == (False, "order_paid_twice")
    assert body["subscription"]["current_period_end"] == end
    assert await _statuses(bclient, owner) == {second["id"]: "captured", first["id"]: "held"}


async def test_the_second_payment_counts_once_the_first_is_refunded(
    bclient: httpx.AsyncClient, fake: FakeRazorpay
) -> None:
    """The order's first payment refunded in full: a second payment on the order is what pays
    for it (the period the refund took back is bought again), not a duplicate."""
    owner, _order, first, second = await _two_attempts(bclient, fake, "Refunded Then Paid")
    now = int(time.time())
    paid = await webhook_of(bclient, "payment.captured", second, now - 120)
    assert paid["status"] == "applied", paid
    assert (await _refund(bclient, second, now - 60))["status"] == "applied"
    assert (await subscription(bclient, owner))["effective_plan"] == "free"

    late = fake.capture(first["id"])
    body = await webhook_of(bclient, "payment.captured", late, now)
    assert body["status"] == "applied", body
    assert (await subscription(bclient, owner))["effective_plan"] == "starter"


async def _statuses(client: httpx.AsyncClient, owner: Owner) -> dict[str, str]:
    """payment id -> status of each payment in the owner's history."""
    response = await client.get(owner.url("/billing/payments"), headers=owner.headers)
    assert response.status_code == 200, response.text
    return {p["razorpay_payment_id"]: p["status"] for p in response.json()["items"]}


async def test_refunding_the_held_second_payment_leaves_the_order_paid_and_the_plan(
    bclient: httpx.AsyncClient, fake: FakeRazorpay, owner_db: Database
) -> None:
    """The held second charge refunded (what the history asks for): its money went back, the
    order stays paid by the first payment, and the plan and its period are untouched."""
    owner, order, first, second = await _two_attempts(bclient, fake, "Refund The Second")
    rzp_order = order["razorpay_order_id"]
    now = int(time.time())
    assert (await webhook_of(bclient, "payment.captured", second, now))["status"] == "applied"
    end = (await subscription(bclient, owner))["current_period_end"]
    late = fake.capture(first["id"])
    assert (await webhook_of(bclient, "payment.captured", late, now + 60))["reason"] == (
        "order_paid_twice"
    )

    await _refund(bclient, late, now + 120)
    shown = await subscription(bclient, owner)
    assert (shown["plan"], shown["current_period_end"]) == ("starter", end)
    assert await _statuses(bclient, owner) == {second["id"]: "captured", late["id"]: "refunded"}
    assert (await order_row(owner_db, rzp_order))["status"] == "paid"


async def _refund(client: httpx.AsyncClient, payment: dict[str, Any], at: int) -> Any:
    """A full refund of ``payment``, as Razorpay's webhook reports it."""
    refund = make_refund(payment_id=payment["id"], amount=payment["amount"], created_at=at)
    refunded = {**payment, "amount_refunded": payment["amount"], "status": "refunded"}
    body = webhook_payload("refund.processed", payment=refunded, refund=refund, created_at=at)
    response = await post_webhook(client, body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_refunding_the_charge_that_paid_the_order_leaves_it_paid_by_the_held_one(
    bclient: httpx.AsyncClient, fake: FakeRazorpay, owner_db: Database
) -> None:
    """Charged twice for one order, the payer asks for the double charge back, and whoever
    refunds it picks the charge that was applied (the two are alike in Razorpay's dashboard:
    same order, same amount). The plan was taken away while the other charge was kept, still
    listed as held for a refund: the payer had paid once and had no plan. The held charge now
    pays the order in its place: same plan, same period, listed captured; refunding it too
    ends the plan."""
    owner = await signup(bclient, "Refund The Applied One")
    order = await create_order(bclient, owner, "starter")
    rzp_order = order["razorpay_order_id"]
    late = fake.authorize_payment(rzp_order)
    applied = fake.capture_payment(rzp_order)
    now = int(time.time()) - 600  # each event in the past, the last refund too
    assert (await webhook_of(bclient, "payment.captured", applied, now))["status"] == "applied"
    end = (await subscription(bclient, owner))["current_period_end"]
    twin = fake.capture(late["id"])
    held = await webhook_of(bclient, "payment.captured", twin, now + 60)
    assert held["reason"] == "order_paid_twice", held

    await _refund(bclient, applied, now + 120)
    shown = await subscription(bclient, owner)
    assert (shown["effective_plan"], shown["current_period_end"]) == ("starter", end), shown
    assert await _statuses(bclient, owner) == {applied["id"]: "refunded", twin["id"]: "captured"}
    assert (await order_row(owner_db, rzp_order))["status"] == "paid"
    assert (await sub_row(owner_db, owner.workspace_id))["applied_payment_ids"] == [twin["id"]]

    await _refund(bclient, twin, now + 180)  # both charges back: no plan
    assert (await subscription(bclient, owner))["effective_plan"] == "free"
    assert (await order_row(owner_db, rzp_order))["status"] == "refunded"


async def test_an_order_refunded_then_paid_by_another_payment_reads_paid(
    bclient: httpx.AsyncClient, fake: FakeRazorpay, owner_db: Database
) -> None:
    """The order's payment refunded, then an earlier attempt on it captured late and applied:
    the plan runs on that payment, but the order still read ``refunded`` (verify answered
    ``order_status: refunded`` with ``applied: true``), and refunding that payment in turn
    left it so. It reads ``paid`` by the new payment, and ``refunded`` once that goes back."""
    owner, order, first, second = await _two_attempts(bclient, fake, "Refunded Then Repaid")
    rzp_order = order["razorpay_order_id"]
    now = int(time.time())
    assert (await webhook_of(bclient, "payment.captured", second, now - 120))["status"] == "applied"
    assert (await _refund(bclient, second, now - 60))["status"] == "applied"
    assert (await order_row(owner_db, rzp_order))["status"] == "refunded"

    fake.capture(first["id"])
    response = await verify(bclient, owner, order, first["id"], fake.key_secret)
    body = response.json()
    assert (body["applied"], body["order_status"]) == (True, "paid"), body
    row = await order_row(owner_db, rzp_order)
    assert (row["status"], row["razorpay_payment_id"]) == ("paid", first["id"])
    # The refunded payment's capture delivered again changes nothing.
    again = await webhook_of(bclient, "payment.captured", second, now - 120)
    assert again["status"] != "applied", again
    assert (await order_row(owner_db, rzp_order))["status"] == "paid"

    assert (await _refund(bclient, first, now))["status"] == "applied"
    assert (await order_row(owner_db, rzp_order))["status"] == "refunded"
    assert (await subscription(bclient, owner))["effective_plan"] == "free"


async def test_an_order_paid_first_by_a_held_payment_reads_paid_by_the_one_applied(
    bclient: httpx.AsyncClient, fake: FakeRazorpay, owner_db: Database
) -> None:
    """A Starter order's first capture came while Pro ran (held for a refund); Pro was refunded
    and a second attempt on the order, captured late, paid for Starter. The order still named
    the held payment as the one that paid it, so refunding that one (as the history asks) made
    the order read ``refunded`` while its Starter plan ran on the other payment. It names the
    payment that pays it, and stays ``paid`` until that one is refunded."""
    owner = await signup(bclient, "Held Then Applied")
    now = int(time.time()) - 1000
    order = await create_order(bclient, owner, "starter")  # opened before the upgrade
    rzp_order = order["razorpay_order_id"]
    held, later = fake.authorize_payment(rzp_order), fake.authorize_payment(rzp_order)
    pro = fake.capture_payment((await create_order(bclient, owner, "pro"))["razorpay_order_id"])
    assert (await webhook_of(bclient, "payment.captured", pro, now))["status"] == "applied"
    held = fake.capture(held["id"])
    assert (await webhook_of(bclient, "payment.captured", held, now + 60))["reason"] == (
        "lower_plan_held"
    )
    assert (await _refund(bclient, pro, now + 120))["status"] == "applied"
    later = fake.capture(later["id"])
    assert (await webhook_of(bclient, "payment.captured", later, now + 180))["status"] == "applied"
    assert (await order_row(owner_db, rzp_order))["razorpay_payment_id"] == later["id"]

    await _refund(bclient, held, now + 240)  # the held charge given back
    assert (await subscription(bclient, owner))["effective_plan"] == "starter"
    assert (await order_row(owner_db, rzp_order))["status"] == "paid"

    await _refund(bclient, later, now + 300)
    assert (await subscription(bclient, owner))["effective_plan"] == "free"
    assert (await order_row(owner_db, rzp_order))["status"] == "refunded"
