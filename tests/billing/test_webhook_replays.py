"""A signed webhook body replayed under a new ``X-Razorpay-Event-Id`` (the header is outside the
signature: whoever saw one delivery can post it again with any id) changes nothing: the body is
the delivery (``billing_events.body_sha256``, unique), so it is answered ``duplicate`` as a
retry under the same id is. Before, a replay was judged afresh against what had changed since:
a recurring charge of the owner's own cycle, replayed once the workspace was deleted, was held
for a refund (``charged_after_cancel``: on the operator's list of money to give back, and the
owners mailed "Payment held for a refund" for a cycle they had been told was received).
Real PostgreSQL; Razorpay is the local fake, webhooks signed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import text

from core.db import Database
from tests.billing.conftest import (
    BillingWorld,
    create_order,
    event_rows,
    new_event_id,
    order_row,
    post_webhook,
    sub_row,
)
from tests.billing.razorpay_subscriptions import DAY, a_charge, linked, payment_of
from tests.billing.test_razorpay_cancel import delete_workspace
from tests.fakes.razorpay_server import make_dispute, make_refund, webhook_payload


async def _reasons(owner_db: Database, payment_id: str) -> list[tuple[str, str]]:
    async with owner_db.transaction() as s:
        rows = await s.execute(
            text(
                "SELECT outcome, reason FROM billing_events WHERE razorpay_payment_id = :p"
                " ORDER BY received_at"
            ),
            {"p": payment_id},
        )
        return [(str(outcome), str(reason)) for outcome, reason in rows.all()]


async def _replayed(world: BillingWorld, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` posted again, signed as before, under a new event id: what the webhook said
    (asserted ``duplicate``), and no row stored for it."""
    event_id = new_event_id()
    response = await post_webhook(world.client, payload, event_id=event_id)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert (body["status"], body["reason"]) == ("duplicate", "duplicate_event"), body
    assert await event_rows(world.db, event_id) == []
    return body


async def test_a_charge_of_the_owner_s_cycle_replayed_after_deletion_is_not_held(
    world: BillingWorld,
) -> None:
    client, _, owner, fake, owner_db = world
    start = int(time.time()) - 2 * DAY
    sub_id = await linked(client, owner, fake, current_start=start, current_end=start + 30 * DAY)
    charge = a_charge(fake.subscriptions[sub_id], start=start)
    first = await post_webhook(client, charge)
    assert (first.json()["status"], first.json()["reason"]) == ("ignored", "recurring_charge")
    await delete_workspace(client, owner)

    await _replayed(world, charge)
    assert await _reasons(owner_db, payment_of(charge)) == [("ignored", "recurring_charge")]


async def test_every_payment_event_replayed_under_a_new_id_changes_nothing(
    world: BillingWorld,
) -> None:
    """A paid order's story (authorized, captured, its order paid, refunded in part, a
    chargeback lost then won in arbitration), each body replayed once all of it was applied."""
    client, _, owner, fake, owner_db = world
    order = await create_order(client, owner, "starter")
    payment = fake.capture_payment(order["razorpay_order_id"])
    now = int(time.time())
    half = payment["amount"] // 2
    lost = make_dispute(payment_id=payment["id"], amount=payment["amount"] - half, created_at=now)
    won = dict(lost, status="won", phase="arbitration", amount_deducted=0, created_at=now + 30)
    story = [
        webhook_payload(
            "payment.authorized", payment={**payment, "status": "authorized"}, created_at=now
        ),
        webhook_payload("payment.captured", payment=payment, created_at=now + 1),
        webhook_payload(
            "order.paid", order=fake.orders[order["razorpay_order_id"]], payment=payment
        ),
        webhook_payload(
            "refund.processed",
            refund=make_refund(payment_id=payment["id"], amount=half, created_at=now + 10),
            payment={**payment, "amount_refunded": half},
            created_at=now + 10,
        ),
        webhook_payload("payment.dispute.lost", payment=payment, dispute=lost, created_at=now + 20),
        webhook_payload("payment.dispute.won", payment=payment, dispute=won, created_at=now + 30),
    ]
    for payload in story:
        response = await post_webhook(client, payload)
        assert response.status_code == 200, response.text
    before = (
        await sub_row(owner_db, owner.workspace_id),
        await order_row(owner_db, order["razorpay_order_id"]),
        await _reasons(owner_db, payment["id"]),
    )
    for payload in story:
        await _replayed(world, payload)
    after = (
        await sub_row(owner_db, owner.workspace_id),
        await order_row(owner_db, order["razorpay_order_id"]),
        await _reasons(owner_db, payment["id"]),
    )
    assert after == before


async def test_one_body_posted_at_once_under_three_ids_is_applied_once(world: BillingWorld) -> None:
    """The later ones wait on the body's unique index for the first to commit, then insert
    nothing: one row, one application."""
    client, _, owner, fake, owner_db = world
    order = await create_order(client, owner, "starter")
    payment = fake.capture_payment(order["razorpay_order_id"])
    payload = webhook_payload("payment.captured", payment=payment)
    ids = [new_event_id() for _ in range(3)]
    answers = await asyncio.gather(*(post_webhook(client, payload, event_id=e) for e in ids))
    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses == ["applied", "duplicate", "duplicate"], [a.text for a in answers]
    assert await _reasons(owner_db, payment["id"]) == [("applied", "applied")]
    assert (await sub_row(owner_db, owner.workspace_id))["applied_payment_ids"] == [payment["id"]]
