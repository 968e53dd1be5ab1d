"""One Razorpay payment pays one order. A signed event that reports a payment against another
order than the one it paid (an ``order.paid`` whose order is not its payment's, or the payment
already recorded on one workspace's order reported again on another workspace's) grants that
other workspace nothing: it is ``rejected`` / ``payment_of_another_order`` and the payment stays
the first order's. Before, the second workspace was given a paid period for the first
workspace's money (its plan, its order ``paid``), and a refund of that payment later took the
plan back from the first workspace only. Real PostgreSQL; Razorpay is the local fake, webhooks
signed. Checkout's verify of another order's payment records nothing either."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.db import Database
from tests.billing.conftest import create_order, order_row, post_webhook, sub_row
from tests.conftest import Owner, signup
from tests.fakes.razorpay_server import FakeRazorpay, checkout_signature, webhook_payload


async def _two_orders(
    client: httpx.AsyncClient, fake: FakeRazorpay
) -> tuple[Owner, Owner, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Workspaces A and B each with an order for Starter (same price); A's order paid and
    applied: (A, B, A's order, B's order, A's payment)."""
    a = await signup(client, "Payer A")
    b = await signup(client, "Other B")
    order_a = await create_order(client, a, "starter")
    order_b = await create_order(client, b, "starter")
    payment = fake.capture_payment(order_a["razorpay_order_id"])
    paid = await post_webhook(client, webhook_payload("payment.captured", payment=payment))
    assert (paid.json()["status"], paid.json()["reason"]) == ("applied", "applied"), paid.text
    return a, b, order_a, order_b, payment


async def _untouched(owner_db: Database, b: Owner, order_b: dict[str, Any]) -> None:
    row = await sub_row(owner_db, b.workspace_id)
    assert not row or (row["plan"], row["applied_payment_ids"]) == ("free", []), row
    stored = await order_row(owner_db, order_b["razorpay_order_id"])
    assert (stored["status"], stored["razorpay_payment_id"]) == ("created", None), stored


async def test_an_order_paid_naming_another_order_s_payment_grants_nothing(
    bclient: httpx.AsyncClient, fake: FakeRazorpay, owner_db: Database
) -> None:
    a, b, _, order_b, payment = await _two_orders(bclient, fake)
    order_entity = fake.orders[order_b["razorpay_order_id"]]
    now = int(time.time())
    lying = webhook_payload("order.paid", order=order_entity, payment=payment, created_at=now)
    response = await post_webhook(bclient, lying)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["reason"]) == ("rejected", "payment_of_another_order"), body
    await _untouched(owner_db, b, order_b)
    assert (await sub_row(owner_db, a.workspace_id))["applied_payment_ids"] == [payment["id"]]


async def test_a_payment_reported_again_on_another_workspace_s_order_grants_nothing(
    bclient: httpx.AsyncClient, fake: FakeRazorpay, owner_db: Database
) -> None:
    a, b, order_a, order_b, payment = await _two_orders(bclient, fake)
    moved = {**payment, "order_id": order_b["razorpay_order_id"]}
    for name in ("payment.captured", "order.paid"):
        response = await post_webhook(bclient, webhook_payload(name, payment=moved))
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["reason"]) == ("rejected", "payment_of_another_order"), body
    await _untouched(owner_db, b, order_b)
    # Its refund, reported against B's order too, takes nothing from B and is no refund of A's.
    refund = {**moved, "status": "refunded", "amount_refunded": payment["amount"]}
    response = await post_webhook(
        bclient,
        webhook_payload(
            "refund.processed",
            payment=refund,
            refund={"id": "rfnd_Moved00000001", "payment_id": payment["id"], "entity": "refund"}
            | {"amount": payment["amount"], "currency": "INR", "created_at": int(time.time())},
        ),
    )
    assert response.json()["reason"] == "payment_of_another_order", response.text
    row_a = await sub_row(owner_db, a.workspace_id)
    assert (row_a["plan"], row_a["refunded_payment_ids"]) == ("starter", []), row_a
    paid_a = await order_row(owner_db, order_a["razorpay_order_id"])
    assert (paid_a["status"], paid_a["razorpay_payment_id"]) == ("paid", payment["id"])


async def _waiters(owner_db: Database) -> int:
    """How many sessions of the test database wait for a lock another one holds."""
    async with owner_db.transaction() as s:
        waiting = await s.scalar(
            text(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE NOT l.granted AND a.datname = current_database()"
            )
        )
    return int(waiting or 0)


async def test_one_payment_reported_on_two_orders_at_once_pays_one(
    bclient: httpx.AsyncClient, fake: FakeRazorpay, owner_db: Database
) -> None:
    """The payment of A's order, and the same payment reported against B's order, delivered
    together: the first is held up on A's subscription row (the test holds it) after it looked
    for the payment and found none. The second looked too, found none, and applied it to B
    while the first waited; then the first applied it to A: both workspaces paid by one
    payment. Now events about one payment take its lock first, so the second waits for the
    first and finds the payment recorded on A's order."""
    a = await signup(bclient, "Race A")
    b = await signup(bclient, "Race B")
    order_a = await create_order(bclient, a, "starter")
    order_b = await create_order(bclient, b, "starter")
    payment = fake.capture_payment(order_a["razorpay_order_id"])
    moved = {**payment, "order_id": order_b["razorpay_order_id"]}
    async with owner_db.transaction() as hold:
        await hold.execute(
            text("INSERT INTO subscriptions (workspace_id) VALUES (:w) ON CONFLICT DO NOTHING"),
            {"w": a.workspace_id},
        )
        await hold.execute(
            text("SELECT 1 FROM subscriptions WHERE workspace_id = :w FOR UPDATE"),
            {"w": a.workspace_id},
        )
        first = asyncio.create_task(
            post_webhook(bclient, webhook_payload("payment.captured", payment=payment))
        )
        while not first.done() and await _waiters(owner_db) < 1:
            await asyncio.sleep(0.01)
        second = asyncio.create_task(
            post_webhook(bclient, webhook_payload("payment.captured", payment=moved))
        )
        while not second.done() and await _waiters(owner_db) < 2:
            await asyncio.sleep(0.01)
    paid, refused = (await first).json(), (await second).json()
    assert (paid["status"], paid["reason"]) == ("applied", "applied"), paid
    assert (refused["status"], refused["reason"]) == ("rejected", "payment_of_another_order")
    await _untouched(owner_db, b, order_b)


@pytest.mark.parametrize("taken", ["captured", "authorized"])
async def test_verify_of_another_order_s_payment_records_and_captures_nothing(
    bclient: httpx.AsyncClient, fake: FakeRazorpay, owner_db: Database, taken: str
) -> None:
    """B verifies its own order with A's payment under a Checkout signature over both ids (a
    red-team finding; the signature needs the key secret): the payment was recorded on B's
    order as rejected, and A's own webhook then refused as ``payment_of_another_order``, so A
    paid and kept the free plan. Now verify answers ``payment_of_another_order`` and records
    and captures nothing; A's webhook applies it to A."""
    a = await signup(bclient, "Payer A")
    b = await signup(bclient, "Other B")
    order_a = await create_order(bclient, a, "starter")
    order_b = await create_order(bclient, b, "starter")
    if taken == "captured":
        payment = fake.capture_payment(order_a["razorpay_order_id"])
    else:
        payment = fake.authorize_payment(order_a["razorpay_order_id"])
    rzp_b = order_b["razorpay_order_id"]
    verified = await bclient.post(
        b.url("/billing/verify"),
        json={
            "razorpay_order_id": rzp_b,
            "razorpay_payment_id": payment["id"],
            "razorpay_signature": checkout_signature(rzp_b, payment["id"], fake.key_secret),
        },
        headers=b.headers,
    )
    assert verified.status_code == 200, verified.text
    body = verified.json()
    assert (body["applied"], body["reason"]) == (False, "payment_of_another_order"), body
    await _untouched(owner_db, b, order_b)
    assert fake.payments[payment["id"]]["status"] == taken  # not captured for B's order
    async with owner_db.transaction() as session:
        recorded = await session.scalar(
            text("SELECT count(*) FROM billing_payments WHERE razorpay_payment_id = :p"),
            {"p": payment["id"]},
        )
    assert recorded == 0
    if taken == "captured":
        paid = await post_webhook(bclient, webhook_payload("payment.captured", payment=payment))
        assert (paid.json()["status"], paid.json()["reason"]) == ("applied", "applied"), paid.text
        assert (await sub_row(owner_db, a.workspace_id))["applied_payment_ids"] == [payment["id"]]
