"""Billing round 3 (the owner's and the payment provider's side): buying holds no transaction
across Razorpay, and payments Razorpay reports in unusual orders or states change what they
should and mail what they should."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from datetime import timedelta

import httpx
import pytest
from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy import text

from api.runtime import Runtime
from core.config import Settings
from core.db import Database
from core.models import utcnow
from lifecycle import deletion
from tests.billing.conftest import create_order, order_row, owner_json, post_webhook, sub_row
from tests.billing.test_billing_api import count_orders, verify
from tests.conftest import Owner, client_for, make_runtime, make_settings
from tests.fakes.razorpay_server import FakeRazorpay, make_refund, webhook_payload


async def _idle_in_transaction(owner_db: Database) -> list[tuple[str, str]]:
    """This test database's other sessions idle inside a transaction: (user, last query)."""
    async with owner_db.transaction() as s:
        rows = await s.execute(
            text(
                "SELECT usename, left(query, 80) FROM pg_stat_activity"
                " WHERE state = 'idle in transaction' AND datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
        )
        return [(str(user), str(query)) for user, query in rows.all()]


async def test_no_transaction_is_held_while_razorpay_creates_the_order(
    billing_settings: Settings,
    db: Database,
    redis_client: Redis,
    owner: Owner,
    fake: FakeRazorpay,
    owner_db: Database,
) -> None:
    """A slow Razorpay kept the request's pooled connection idle in transaction for the whole
    call (up to RAZORPAY_TIMEOUT_SECONDS + 1 s): a few owners clicking "Upgrade" at once used
    up the pool every tenant's widget waits on. Razorpay here answers only once the database
    was looked at (and the client waits 30 s), so no timing decides what is seen."""
    patient = billing_settings.model_copy(update={"razorpay_timeout_seconds": 30.0})
    fake.gate = threading.Event()
    async with make_runtime(patient, db, redis_client) as runtime, client_for(runtime) as c:
        task = asyncio.create_task(
            c.post(owner.url("/billing/orders"), json={"plan": "starter"}, headers=owner.headers)
        )
        try:
            if not await asyncio.to_thread(fake.arrived.wait, 30):
                pytest.fail("Razorpay never received the order request")
            held = await _idle_in_transaction(owner_db)
            assert not task.done()  # looked while Razorpay was still answering
        finally:
            fake.gate.set()
        response = await task
    assert response.status_code == 201, response.text
    assert held == [], held
    assert await count_orders(owner_db, owner.workspace_id) == 1


async def test_an_order_razorpay_created_but_we_could_not_store_is_a_clear_503(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """Razorpay created the order, then writing our row failed (here: an id longer than the
    column): a 500 before. Now 503 ``order_not_recorded``; Checkout never opened on that order,
    so nothing was paid, and ordering again works."""
    fake.next_order_id = "order_" + "x" * 80
    response = await bclient.post(
        owner.url("/billing/orders"), json={"plan": "starter"}, headers=owner.headers
    )
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "order_not_recorded"
    assert "nothing was charged" in response.json()["error"]["message"]
    assert await count_orders(owner_db, owner.workspace_id) == 0
    again = await bclient.post(
        owner.url("/billing/orders"), json={"plan": "starter"}, headers=owner.headers
    )
    assert again.status_code == 201, again.text
    assert await count_orders(owner_db, owner.workspace_id) == 1


def test_the_razorpay_timeout_stays_well_below_the_idle_transaction_timeout() -> None:
    with pytest.raises(ValidationError):
        make_settings(razorpay_timeout_seconds=59)
    assert make_settings(razorpay_timeout_seconds=30).razorpay_timeout_seconds == 30


# --- a payment for a deleted workspace (review F3) ---------------------------------------------


async def _event_kinds(owner_db: Database, workspace_id: str) -> list[str]:
    async with owner_db.transaction() as s:
        kinds = await s.execute(
            text(
                "SELECT kind FROM notification_events WHERE workspace_id = :w"
                " ORDER BY created_at, kind"
            ),
            {"w": workspace_id},
        )
        return [str(kind) for kind in kinds.scalars().all()]


async def _payment_statuses(owner_db: Database, workspace_id: str) -> list[str]:
    async with owner_db.transaction() as s:
        rows = await s.execute(
            text("SELECT status FROM billing_payments WHERE workspace_id = :w"), {"w": workspace_id}
        )
        return [str(status) for status in rows.scalars().all()]


async def test_a_payment_arriving_after_the_workspace_was_deleted_grants_nothing(
    bclient: httpx.AsyncClient,
    owner: Owner,
    fake: FakeRazorpay,
    owner_db: Database,
    billing_runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Checkout opened (or a UPI payment pending), then the workspace deleted, then the capture:
    the plan was granted to the deleted workspace, the deletion's end-with-its-period undone,
    "Payment received" dropped with the workspace, nothing asked for a refund, and the purge
    erased every trace of the money."""
    first = await create_order(bclient, owner, "starter")
    paid = fake.capture_payment(first["razorpay_order_id"])
    assert (await verify(bclient, owner, first, paid["id"], fake.key_secret)).json()["applied"]
    before = await sub_row(owner_db, owner.workspace_id)
    order = await create_order(bclient, owner, "starter")  # an extension, paid late
    ws = await owner_json(bclient, owner, "")
    deleted = await bclient.request(
        "DELETE", owner.url(""), headers=owner.headers, json={"confirm": ws["slug"]}
    )
    assert deleted.status_code == 202, deleted.text
    payment = fake.capture_payment(order["razorpay_order_id"])
    with caplog.at_level(logging.WARNING, logger="trulybot.billing"):
        hook = await post_webhook(bclient, webhook_payload("payment.captured", payment=payment))
    assert hook.status_code == 200, hook.text
    assert (hook.json()["status"], hook.json()["reason"]) == ("rejected", "workspace_deleted")
    assert "workspace_deleted" in caplog.text  # the operator's log names it
    row = await sub_row(owner_db, owner.workspace_id)
    assert row["cancel_at_period_end"] is True, row  # the deletion's: the plan ends with its period
    assert row["current_period_end"] == before["current_period_end"]  # not extended
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "created"
    assert sorted(await _payment_statuses(owner_db, owner.workspace_id)) == [
        "captured",
        "rejected",
    ]
    assert await _event_kinds(owner_db, owner.workspace_id) == ["payment.captured"]  # the first
    # Restored, the owner's history shows the payment held for a refund; the plan is free.
    restored = await bclient.post(owner.url("/restore"), headers=owner.headers)
    assert restored.status_code == 200, restored.text
    history = await owner_json(bclient, owner, "/billing/payments")
    assert sorted(p["status"] for p in history["items"]) == ["captured", "rejected"]
    view = await owner_json(bclient, owner, "/billing/subscription")
    assert view["current_period_end"] == before["current_period_end"].isoformat().replace(
        "+00:00", "Z"
    )
    # Deleted again and purged: the log keeps the payment to refund.
    again = await bclient.request(
        "DELETE", owner.url(""), headers=owner.headers, json={"confirm": ws["slug"]}
    )
    assert again.status_code == 202, again.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lifecycle.deletion"):
        purged = await deletion.purge_workspace(
            billing_runtime.db,
            billing_runtime.settings,
            None,
            workspace_id=uuid.UUID(owner.workspace_id),
            now=utcnow() + timedelta(days=30),
        )
    assert purged == "purged"
    assert f"payment {payment['id']} (INR 99900) held for a refund" in caplog.text, caplog.text


# --- verify after the webhook rejected the payment's amount (review F5) ------------------------


async def test_verify_does_not_grant_a_payment_the_webhook_rejected_for_its_amount(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """Rs 1 taken for a Rs 999 order: the webhook rejects it; Checkout's (valid) signature then
    granted Starter, and refunding the Rs 1 as the docs say counted as a partial refund of the
    Rs 999 order, which took nothing back."""
    order = await create_order(bclient, owner, "starter")
    payment = fake.capture_payment(order["razorpay_order_id"], amount=100)
    hook = await post_webhook(bclient, webhook_payload("payment.captured", payment=payment))
    assert hook.json()["reason"] == "amount_mismatch", hook.text
    checked = await verify(bclient, owner, order, payment["id"], fake.key_secret)
    assert checked.status_code == 200, checked.text
    assert (checked.json()["applied"], checked.json()["reason"]) == (False, "amount_mismatch")
    assert checked.json()["order_status"] == "created"
    sub = await owner_json(bclient, owner, "/billing/subscription")
    assert sub["effective_plan"] == "free", sub
    history = await owner_json(bclient, owner, "/billing/payments")
    assert [p["status"] for p in history["items"]] == ["rejected"]
    assert await _event_kinds(owner_db, owner.workspace_id) == []
    refund = make_refund(payment_id=payment["id"], amount=100)
    back = {**payment, "amount_refunded": 100, "status": "refunded"}
    refunded = await post_webhook(
        bclient, webhook_payload("refund.processed", refund=refund, payment=back)
    )
    assert refunded.status_code == 200, refunded.text
    history = await owner_json(bclient, owner, "/billing/payments")
    assert [p["status"] for p in history["items"]] == ["refunded"]
    sub = await owner_json(bclient, owner, "/billing/subscription")
    assert sub["effective_plan"] == "free", sub


# --- payment.failed after the capture (review F6) ----------------------------------------------


async def test_a_failure_reported_after_the_capture_mails_no_payment_failed(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """Razorpay's late authorization (the payment first failed, then succeeded), delivered
    capture first: the owners read "Payment received", then "Payment failed" for the payment
    that paid the plan."""
    order = await create_order(bclient, owner, "starter")
    payment = fake.capture_payment(order["razorpay_order_id"])
    ok = await post_webhook(bclient, webhook_payload("payment.captured", payment=payment))
    assert ok.json()["status"] == "applied", ok.text
    failed = {**payment, "status": "failed", "error_description": "Payment failed"}
    late = await post_webhook(
        bclient,
        webhook_payload("payment.failed", payment=failed, created_at=payment["created_at"] - 60),
    )
    assert late.status_code == 200, late.text
    # An earlier attempt (another payment id) whose failure arrives after the order was paid.
    other = {**failed, "id": payment["id"] + "b"}
    earlier = await post_webhook(
        bclient,
        webhook_payload("payment.failed", payment=other, created_at=payment["created_at"] - 120),
    )
    assert earlier.status_code == 200, earlier.text
    assert await _event_kinds(owner_db, owner.workspace_id) == ["payment.captured"]
    sub = await owner_json(bclient, owner, "/billing/subscription")
    assert sub["effective_plan"] == "starter", sub


async def test_a_failure_of_an_unpaid_order_still_mails_payment_failed(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    order = await create_order(bclient, owner, "starter")
    failed = fake.fail_payment(order["razorpay_order_id"])
    hook = await post_webhook(bclient, webhook_payload("payment.failed", payment=failed))
    assert hook.status_code == 200, hook.text
    assert await _event_kinds(owner_db, owner.workspace_id) == ["payment.failed"]
