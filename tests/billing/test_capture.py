"""Payments are captured: an order asks Razorpay for auto-capture, and verify or reconcile
capture a payment still only authorized for its order's amount. Left authorized, Razorpay
refunds a payment after a few days and the owner who paid never got the plan."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import text

from billing.provider import RazorpayProvider
from billing.reconcile import reconcile
from core.config import Settings
from core.db import Database
from tests.billing.conftest import create_order, order_row, subscription
from tests.billing.test_billing_api import verify
from tests.conftest import Owner
from tests.fakes.razorpay_server import FakeRazorpay


def capture_requests(fake: FakeRazorpay, payment_id: str) -> list[dict[str, object]]:
    return [
        r.json()
        for r in fake.requests
        if r.method == "POST" and r.path == f"/v1/payments/{payment_id}/capture"
    ]


async def test_an_order_asks_for_auto_capture_so_a_manual_capture_account_is_paid(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    """On an account set to manual capture, an order without ``payment_capture`` left every
    payment authorized: verify answered payment_not_captured and Razorpay refunded it."""
    order = await create_order(bclient, owner)
    [sent] = [
        r.json()
        for r in fake.requests
        if r.path == "/v1/orders" and r.json()["receipt"] == order["order_id"]
    ]
    assert sent["payment_capture"] == 1
    payment = fake.pay(order["razorpay_order_id"])  # the account's setting: manual capture
    assert payment["status"] == "captured"
    response = await verify(bclient, owner, order, payment["id"], fake.key_secret)
    assert response.status_code == 200, response.text
    assert response.json()["applied"] is True
    assert (await subscription(bclient, owner))["effective_plan"] == "starter"


async def test_verify_captures_a_late_authorization_and_grants_the_plan(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """An authorization past the auto-capture window stays authorized: verify captures it for
    the order's amount, then grants the plan (it answered payment_not_captured, and nothing
    ever captured it)."""
    order = await create_order(bclient, owner, "pro")
    payment = fake.authorize_payment(order["razorpay_order_id"])
    response = await verify(bclient, owner, order, payment["id"], fake.key_secret)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["applied"], body["order_status"]) == (True, "paid")
    assert body["subscription"]["effective_plan"] == "pro"
    assert fake.payments[payment["id"]]["status"] == "captured"
    assert capture_requests(fake, payment["id"]) == [{"amount": order["amount"], "currency": "INR"}]
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "paid"
    # Verified again: captured once, granted once.
    again = await verify(bclient, owner, order, payment["id"], fake.key_secret)
    assert again.json()["applied"] is False
    assert len(capture_requests(fake, payment["id"])) == 1


async def test_a_capture_razorpay_refuses_grants_nothing(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    order = await create_order(bclient, owner)
    payment = fake.authorize_payment(order["razorpay_order_id"])
    fake.refuse_captures = True
    try:
        response = await verify(bclient, owner, order, payment["id"], fake.key_secret)
    finally:
        fake.refuse_captures = False
    assert response.status_code == 200, response.text
    assert (response.json()["applied"], response.json()["reason"]) == (
        False,
        "payment_not_captured",
    )
    assert (await subscription(bclient, owner))["effective_plan"] == "free"


async def test_reconcile_captures_an_authorization_whose_browser_never_came_back(
    bclient: httpx.AsyncClient,
    owner: Owner,
    fake: FakeRazorpay,
    db: Database,
    owner_db: Database,
    billing_settings: Settings,
) -> None:
    """A UPI payment confirmed late: no verify, and the payment stays authorized. Reconcile
    recorded it as an attempt and Razorpay refunded it days later."""
    order = await create_order(bclient, owner)
    payment = fake.authorize_payment(order["razorpay_order_id"])
    provider = RazorpayProvider.from_settings(billing_settings)
    report = await reconcile(db, provider, older_than=timedelta(0))
    # This order's line: other tests' pending orders (their fake Razorpay gone) are in the
    # same database and count as provider errors here.
    applied = f"{order['razorpay_order_id']}: {payment['id']} applied"
    assert applied in report.details, report
    assert fake.payments[payment["id"]]["status"] == "captured"
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "paid"
    assert (await subscription(bclient, owner))["effective_plan"] == "starter"
    await reconcile(db, provider, older_than=timedelta(0))
    assert len(capture_requests(fake, payment["id"])) == 1


async def test_reconcile_takes_no_money_for_a_deleted_workspace(
    bclient: httpx.AsyncClient,
    owner: Owner,
    fake: FakeRazorpay,
    db: Database,
    owner_db: Database,
    billing_settings: Settings,
) -> None:
    """Captured, it would be held for a refund; left authorized, Razorpay returns it."""
    order = await create_order(bclient, owner)
    payment = fake.authorize_payment(order["razorpay_order_id"])
    async with owner_db.transaction() as s:
        await s.execute(
            text("UPDATE workspaces SET deleted_at = now() WHERE id = :w"),
            {"w": owner.workspace_id},
        )
    await reconcile(db, RazorpayProvider.from_settings(billing_settings), older_than=timedelta(0))
    assert fake.payments[payment["id"]]["status"] == "authorized"
    assert capture_requests(fake, payment["id"]) == []


async def test_verify_judges_the_payment_on_what_razorpay_says_it_charged(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    """Verify before any webhook took the order's amount for the payment's: Rs 1 captured on a
    Rs 999 order granted Starter and the history read Rs 999 (the later webhook found the
    payment applied and changed nothing). Verify fetches the payment: its amount and currency
    are what is checked and recorded."""
    order = await create_order(bclient, owner)
    payment = fake.capture_payment(order["razorpay_order_id"], amount=100)
    response = await verify(bclient, owner, order, payment["id"], fake.key_secret)
    assert response.status_code == 200, response.text
    assert (response.json()["applied"], response.json()["reason"]) == (False, "amount_mismatch")
    assert (await subscription(bclient, owner))["effective_plan"] == "free"
    history = await bclient.get(owner.url("/billing/payments"), headers=owner.headers)
    [item] = history.json()["items"]
    assert (item["amount"], item["status"], item["method"]) == (100, "rejected", "upi")
