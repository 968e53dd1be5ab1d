"""Paid periods derived for a subscription stored before they were recorded (migration 0017):
each applied payment is replayed at the time the customer paid (``billing_payments.paid_at``,
migration 0035), not when our server recorded it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from core.db import Database
from tests.billing.conftest import pay_by_webhook, post_webhook, sub_row, subscription
from tests.conftest import Owner
from tests.fakes.razorpay_server import FakeRazorpay, make_refund, webhook_payload


async def test_a_late_recorded_payment_keeps_its_own_period_when_periods_are_derived(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """Three Starter months paid 40, 35 and 20 days ago, each extending the one before. An
    older release applied the second on the first's order (its order names the first) and
    recorded it 30 days late (reconcile found it). Its period was derived from its recording
    time, after the third: it took the third's month and the third its own, so refunding it
    took back a whole month unused, 9 days more than the unused part of its own."""
    now = datetime.now(UTC).replace(microsecond=0)

    def ago(days: int) -> datetime:
        return now - timedelta(days=days)

    first = await pay_by_webhook(
        bclient, owner, fake, "starter", "monthly", int(ago(40).timestamp())
    )
    second = await pay_by_webhook(
        bclient, owner, fake, "starter", "monthly", int(ago(35).timestamp())
    )
    await pay_by_webhook(bclient, owner, fake, "starter", "monthly", int(ago(20).timestamp()))
    end = datetime.fromisoformat((await subscription(bclient, owner))["current_period_end"])
    recorded = (await sub_row(owner_db, owner.workspace_id))["paid_periods"]
    [own] = [p for p in recorded if p["payment_id"] == second["id"]]
    async with owner_db.transaction() as s:  # the row and history as the older release left them
        await s.execute(
            text("UPDATE subscriptions SET paid_periods = '[]' WHERE workspace_id = :w"),
            {"w": owner.workspace_id},
        )
        await s.execute(
            text(
                "UPDATE billing_payments SET created_at = :late, order_id ="
                " (SELECT id FROM billing_orders WHERE razorpay_order_id = :first_order)"
                " WHERE razorpay_payment_id = :p"
            ),
            {"late": ago(5), "first_order": first["order_id"], "p": second["id"]},
        )

    refund_at = ago(1)
    at = int(refund_at.timestamp())
    refund = make_refund(payment_id=second["id"], amount=second["amount"], created_at=at)
    paid = dict(second, order_id=first["order_id"])
    response = await post_webhook(
        bclient, webhook_payload("refund.processed", refund=refund, payment=paid, created_at=at)
    )
    assert response.json()["status"] == "applied", response.text

    # What was left of its own month goes back, no more: the third month moves up by that.
    unused = datetime.fromisoformat(own["end"]) - refund_at
    after = await subscription(bclient, owner)
    assert (after["effective_plan"], after["status"]) == ("starter", "active")
    assert datetime.fromisoformat(after["current_period_end"]) == end - unused
