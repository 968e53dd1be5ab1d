"""The billing records in a workspace export: orders, payments (with what was refunded), the
payment provider's events and the subscription, the workspace's own only and without the
provider's raw bodies. Paid through the fake Razorpay, exported by the real job."""

from __future__ import annotations

import json
from typing import Any

import httpx

from core.jobs import JobQueue
from tests.billing.conftest import create_order, post_webhook
from tests.conftest import Owner
from tests.fakes.razorpay_server import FakeRazorpay, make_refund, webhook_payload
from tests.lifecycle.data import fill
from tests.lifecycle.test_export_records import _csv, _download


async def _pay(bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay) -> dict[str, Any]:
    """A starter plan paid by webhook; the payment (Razorpay's entity)."""
    order = await create_order(bclient, owner)
    payment = fake.capture_payment(order["razorpay_order_id"])
    answer = await post_webhook(bclient, webhook_payload("payment.captured", payment=payment))
    assert answer.json()["status"] == "applied", answer.text
    return payment


async def test_the_export_holds_the_audit_log_and_the_billing_records_of_its_workspace(
    client: httpx.AsyncClient,
    bclient: httpx.AsyncClient,
    owner: Owner,
    other: Owner,
    fake: FakeRazorpay,
    jobs: JobQueue,
) -> None:
    """The zip had no audit log and no billing record at all: an owner asking for everything
    the workspace holds got neither what its people did nor what it paid (and got back)."""
    await fill(client, owner, jobs)
    paid = await _pay(bclient, owner, fake)
    refund = make_refund(payment_id=paid["id"], amount=50_000)
    entity = {**paid, "amount_refunded": 50_000, "refund_status": "partial"}
    refunded = await post_webhook(
        bclient, webhook_payload("refund.processed", refund=refund, payment=entity)
    )
    assert refunded.status_code == 200, refunded.text
    theirs = await _pay(bclient, other, fake)

    archive = await _download(client, owner, jobs)
    names = set(archive.namelist())
    assert {
        "audit_log.json",
        "billing_orders.csv",
        "billing_payments.csv",
        "billing_events.csv",
        "subscription.json",
    } <= names
    readme = archive.read("README.txt").decode()
    for name in ("audit_log.json", "billing_payments.csv", "subscription.json"):
        assert name in readme

    audit = json.loads(archive.read("audit_log.json"))
    actions = [entry["action"] for entry in audit]
    assert "export.requested" in actions  # the request of this very export
    # What the owner did (an FAQ) and what the payment did (the plan changed).
    assert {"faq.created", "plan.changed"} <= set(actions)
    assert all(set(entry) >= {"actor_user_id", "details", "created_at"} for entry in audit)
    assert [e["created_at"] for e in audit] == sorted(e["created_at"] for e in audit)

    [order] = _csv(archive, "billing_orders.csv")
    assert (order["plan"], order["status"], order["razorpay_payment_id"]) == (
        "starter",
        "paid",
        paid["id"],
    )
    [payment] = _csv(archive, "billing_payments.csv")
    assert (payment["razorpay_payment_id"], payment["order_id"]) == (paid["id"], order["id"])
    assert (payment["amount"], payment["amount_refunded"]) == (str(paid["amount"]), "50000")
    assert payment["paid_at"]  # when it was paid, beside when it was recorded
    events = _csv(archive, "billing_events.csv")
    assert sorted(e["event_type"] for e in events) == ["payment.captured", "refund.processed"]
    assert all(e["razorpay_payment_id"] == paid["id"] for e in events)
    subscription = json.loads(archive.read("subscription.json"))
    assert subscription["plan"] == "starter"
    assert subscription["applied_payment_ids"] == [paid["id"]]

    everything = b"".join(archive.read(n) for n in names).decode("utf-8", "replace")
    assert theirs["id"] not in everything  # another workspace's payment
    assert theirs["order_id"] not in everything
    # The provider's raw bodies stay out (the payer's contact, card details, notes).
    assert paid["contact"] not in everything
    assert '"payload"' not in everything
    assert "raw" not in payment
