"""Verify locks an order before its workspace's subscription, as the webhooks do.

A webhook about an order (a refund, a capture, a second payment) locks the order, then the
subscription (``events.apply_order_event``). A verify of a payment recorded held or rejected is
judged again from the database (``orders._apply_recorded``) in the transaction that had locked
the subscription first (the applied-payment check): the one lock order reversed. Verify and a
webhook of the same order at once then each held the lock the other waited for: PostgreSQL
broke the deadlock by failing one of them (a 500 for the owner's verify, or for the webhook,
retried by Razorpay). Here the webhook's two locks are taken by hand, the second once verify is
seen waiting for the first: real PostgreSQL, Razorpay the local fake."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import text

from core.db import Database
from tests.billing.conftest import order_row
from tests.billing.test_billing_api import verify
from tests.billing.test_order_paid_twice import _two_attempts
from tests.fakes.razorpay_server import FakeRazorpay


async def _blocked_by(owner_db: Database, pid: int) -> bool:
    """Whether a session waits for a lock the session ``pid`` holds."""
    async with owner_db.transaction() as session:
        waiting = await session.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE :me = ANY(pg_blocking_pids(pid))"),
            {"me": pid},
        )
    return bool(waiting)


async def test_verify_of_a_held_payment_and_a_webhook_of_its_order_do_not_deadlock(
    bclient: httpx.AsyncClient, fake: FakeRazorpay, owner_db: Database
) -> None:
    owner, order, first, second = await _two_attempts(bclient, fake, "Verify Lock Order")
    paid = await verify(bclient, owner, order, second["id"], fake.key_secret)
    assert paid.json()["applied"] is True, paid.text
    fake.capture(first["id"])  # the late authorization is captured after all: held
    held = await verify(bclient, owner, order, first["id"], fake.key_secret)
    assert (held.json()["applied"], held.json()["reason"]) == (False, "order_paid_twice")
    row = await order_row(owner_db, order["razorpay_order_id"])

    async with owner_db.transaction() as webhook:  # a webhook of the order, half-way
        me = int(await webhook.scalar(text("SELECT pg_backend_pid()")) or 0)
        await webhook.execute(
            text("SELECT 1 FROM billing_orders WHERE id = :o FOR UPDATE"), {"o": row["id"]}
        )
        again = asyncio.create_task(verify(bclient, owner, order, first["id"], fake.key_secret))
        while not again.done() and not await _blocked_by(owner_db, me):
            await asyncio.sleep(0.01)
        # The webhook goes on to the subscription (verify waits for the order, holding it).
        await webhook.execute(
            text("SELECT 1 FROM subscriptions WHERE workspace_id = :w FOR UPDATE"),
            {"w": owner.workspace_id},
        )
    answer = await again
    assert answer.status_code == 200, answer.text
    assert (answer.json()["applied"], answer.json()["reason"]) == (False, "order_paid_twice")
