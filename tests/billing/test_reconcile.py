"""`trulybot billing reconcile`: payments captured at Razorpay that no webhook reported."""

from __future__ import annotations

from datetime import timedelta

import httpx

from api.cli import build_parser
from billing.provider import RazorpayProvider
from billing.reconcile import reconcile
from core.config import Settings
from core.db import Database
from tests.billing.conftest import (
    create_order,
    event_rows,
    order_row,
    post_webhook,
    sub_row,
    subscription,
)
from tests.conftest import Owner
from tests.fakes.razorpay_server import FakeRazorpay, webhook_payload


async def test_reconcile_applies_a_missed_capture_once(
    bclient: httpx.AsyncClient,
    owner: Owner,
    fake: FakeRazorpay,
    db: Database,
    owner_db: Database,
    billing_settings: Settings,
) -> None:
    order = await create_order(bclient, owner, "pro")
    payment = fake.capture_payment(order["razorpay_order_id"])  # no webhook ever arrives
    provider = RazorpayProvider.from_settings(billing_settings)

    # Too recent for the threshold: left alone.
    await reconcile(db, provider, older_than=timedelta(minutes=30))
    assert (await subscription(bclient, owner))["effective_plan"] == "free"

    report = await reconcile(db, provider, older_than=timedelta(0))
    assert any(payment["id"] in line for line in report.details), report
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "paid"
    sub = await subscription(bclient, owner)
    assert sub["effective_plan"] == "pro"
    # Recorded like a webhook, with the payment as Razorpay's API returned it.
    [row] = await event_rows(owner_db, f"reconcile:{payment['id']}:captured")
    assert (row["source"], row["event_type"], row["outcome"]) == (
        "reconcile",
        "payment.captured",
        "applied",
    )
    assert str(row["workspace_id"]) == owner.workspace_id
    assert row["payload"]["id"] == payment["id"]
    assert row["payload"]["order_id"] == order["razorpay_order_id"]

    # The late webhook and a second run change nothing.
    response = await post_webhook(bclient, webhook_payload("payment.captured", payment=payment))
    assert response.json()["status"] == "ignored"
    await reconcile(db, provider, older_than=timedelta(0))
    assert (await sub_row(owner_db, owner.workspace_id))["applied_payment_ids"] == [payment["id"]]
    assert (await subscription(bclient, owner))["current_period_end"] == sub["current_period_end"]


async def test_reconcile_survives_razorpay_down(
    bclient: httpx.AsyncClient,
    owner: Owner,
    fake: FakeRazorpay,
    db: Database,
    owner_db: Database,
    billing_settings: Settings,
) -> None:
    order = await create_order(bclient, owner)
    fake.capture_payment(order["razorpay_order_id"])
    fake.down = True
    report = await reconcile(
        db, RazorpayProvider.from_settings(billing_settings), older_than=timedelta(0)
    )
    assert report.provider_errors >= 1
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "created"
    fake.down = False
    await reconcile(db, RazorpayProvider.from_settings(billing_settings), older_than=timedelta(0))
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "paid"


async def test_reconcile_rejects_a_payment_without_a_time(
    bclient: httpx.AsyncClient,
    owner: Owner,
    fake: FakeRazorpay,
    db: Database,
    owner_db: Database,
    billing_settings: Settings,
) -> None:
    order = await create_order(bclient, owner)
    payment = fake.capture_payment(order["razorpay_order_id"])
    fake.payments[payment["id"]]["created_at"] = "yesterday"
    report = await reconcile(
        db, RazorpayProvider.from_settings(billing_settings), older_than=timedelta(0)
    )
    assert f"{order['razorpay_order_id']}: {payment['id']} rejected invalid_payload" in (
        report.details
    )
    [row] = await event_rows(owner_db, f"reconcile:{payment['id']}:captured")
    assert (row["outcome"], row["reason"]) == ("rejected", "invalid_payload")
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "created"
    assert (await subscription(bclient, owner))["effective_plan"] == "free"


def test_cli_registers_reconcile() -> None:
    args = build_parser().parse_args(["billing", "reconcile", "--older-than-minutes", "5"])
    assert args.older_than_minutes == 5.0
    assert args.func.__name__ == "_reconcile"
