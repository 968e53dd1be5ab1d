"""Held recurring charges (no order of ours) as an owner's records show them, and as disputes and
refunds end them, whatever the workspace's history:

- the workspace export's ``billing_payments.csv`` lists them as ``GET /billing/payments`` does
  (it had none of them);
- a refund-heavy history does not push them off the page and the API (the query read the
  workspace's 500 oldest refund and held rows);
- a lost chargeback of one, reversed by a later phase won (arbitration after a lost
  pre-arbitration), makes it owed again, in any delivery order (the win was ``unknown_order``);
- an order payment refunded in part before its dispute keeps that refund after the reversal
  (it read 0 refunded).

Signed webhooks through the app, the real ``razorpay`` client against the fake, the real
database and export job.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.db import Database
from core.jobs import JobQueue
from tests.billing.conftest import create_order, owner_json, post_webhook, subscription
from tests.billing.razorpay_subscriptions import DAY, charged
from tests.billing.test_cancel_edges import first_charge_held
from tests.billing.test_disputes import delivered, dispute
from tests.billing.test_held_charge_notice import held_in_api, owed
from tests.conftest import Owner
from tests.fakes.razorpay_server import FakeRazorpay, make_dispute, make_refund, webhook_payload
from tests.lifecycle.test_export_records import _csv, _download


async def held_charge(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> dict[str, Any]:
    """A recurring charge of 499.00 held for a refund; its payment as Razorpay's bodies name it."""
    await first_charge_held(bclient, owner, fake, owner_db)
    [(held, _, amount)] = await owed(owner_db, owner.workspace_id)
    return {"id": held, "entity": "payment", "amount": amount, "currency": "INR"}


async def test_the_export_lists_held_charges_as_the_api_does(
    client: httpx.AsyncClient,
    bclient: httpx.AsyncClient,
    owner: Owner,
    fake: FakeRazorpay,
    owner_db: Database,
    jobs: JobQueue,
) -> None:
    """An owner's export had only the order payments in ``billing_payments.csv``: a charge of
    their card held for a refund, then refunded in part, was on the plan page and in the API
    but nowhere in the export."""
    payment = await held_charge(bclient, owner, fake, owner_db)
    part = make_refund(payment_id=payment["id"], amount=10_000)
    refunded = webhook_payload("refund.processed", refund=part, payment=payment)
    assert await charged(bclient, owner_db, refunded) == ("ignored", "held_charge_refunded")
    [(pid, status, back)] = await held_in_api(bclient, owner)
    api = await owner_json(bclient, owner, "/billing/payments")

    archive = await _download(client, owner, jobs)
    rows = {row["razorpay_payment_id"]: row for row in _csv(archive, "billing_payments.csv")}
    assert pid in rows, rows
    row = rows[pid]
    assert (row["status"], row["amount"], row["amount_refunded"], row["currency"]) == (
        status,
        str(payment["amount"]),
        str(back),
        "INR",
    )
    assert row["order_id"] == ""  # no order of ours
    assert row["paid_at"]
    # The order payments are there as before, one row each.
    assert {p["razorpay_payment_id"] for p in api["items"]} <= set(rows)
    assert len(rows) == len(api["items"]) + 1
    readme = archive.read("README.txt").decode()
    assert "held for a refund" in readme


async def test_held_charges_are_listed_after_hundreds_of_refunds(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """600 refund events of the workspace's ordinary payments, received before the charge was
    held: the page and the API read the workspace's 500 oldest such rows, so the held charge
    (and the money owed back) was on neither."""
    tag = uuid.uuid4().hex[:10]
    async with owner_db.transaction() as s:
        await s.execute(
            text(
                "INSERT INTO billing_events (id, event_id, event_type, workspace_id, source,"
                " outcome, reason, razorpay_payment_id, payload, received_at)"
                " SELECT gen_random_uuid(), 'evt_bulk_' || :tag || '_' || g, 'refund.processed',"
                " :ws, 'webhook', 'ignored', 'partial_refund', 'pay_bulk' || :tag || g, '{}',"
                " now() - interval '1 day' + g * interval '1 ms'"
                " FROM generate_series(1, 600) g"
            ),
            {"tag": tag, "ws": owner.workspace_id},
        )
    payment = await held_charge(bclient, owner, fake, owner_db)
    assert await held_in_api(bclient, owner) == [(payment["id"], "held", 0)]


LOST = ("lost", "pre_arbitration", 5)
WON = ("won", "arbitration", 1)
WON_FIRST = ("won", "chargeback", 10)


@pytest.mark.parametrize(
    ("sequence", "ends"),
    [
        pytest.param((LOST, WON), "held", id="lost_then_won_later_phase"),
        pytest.param((WON, LOST), "held", id="won_later_phase_delivered_first"),
        pytest.param((WON_FIRST, LOST), "refunded", id="won_chargeback_then_lost_pre_arb"),
    ],
)
async def test_a_held_charge_whose_chargeback_is_reversed_is_owed_again(
    bclient: httpx.AsyncClient,
    owner: Owner,
    fake: FakeRazorpay,
    owner_db: Database,
    sequence: tuple[tuple[str, str, int], ...],
    ends: str,
) -> None:
    """The customer's bank took the held charge back (pre-arbitration lost), then the
    arbitration was won: Razorpay credits the money back, so it is owed to the customer again
    (the operator's list, the page and the API say held). Before, the win was
    ``unknown_order`` with no workspace and the charge read refunded for good. A won chargeback
    followed by a lost pre-arbitration stays charged back."""
    payment = await held_charge(bclient, owner, fake, owner_db)
    now = int(time.time())
    for status, phase, days_ago in sequence:
        row = await delivered(
            bclient, owner_db, dispute(payment, status, phase, now - days_ago * DAY)
        )
        assert str(row["workspace_id"]) == owner.workspace_id, row
    if ends == "held":
        assert await owed(owner_db, owner.workspace_id) == [(payment["id"], "INR", 49_900)]
        assert await held_in_api(bclient, owner) == [(payment["id"], "held", 0)]
    else:
        assert await owed(owner_db, owner.workspace_id) == []
        assert await held_in_api(bclient, owner) == [(payment["id"], "refunded", 49_900)]


async def refunded_in_part_then_disputed(
    bclient: httpx.AsyncClient,
    owner: Owner,
    fake: FakeRazorpay,
    owner_db: Database,
    phases: tuple[tuple[str, str, int], ...],
) -> dict[str, Any]:
    """The 999.00 starter plan paid 20 days ago, 100.00 of it refunded 15 days ago, then the
    rest disputed in ``phases`` ((status, phase, days ago)): the payment as the history shows
    it."""
    now = int(time.time())
    order = await create_order(bclient, owner)
    payment = fake.capture_payment(order["razorpay_order_id"])
    captured = webhook_payload("payment.captured", payment=payment, created_at=now - 20 * DAY)
    assert (await delivered(bclient, owner_db, captured))["outcome"] == "applied"
    refund = make_refund(payment_id=payment["id"], amount=10_000)
    entity = {**payment, "amount_refunded": 10_000, "refund_status": "partial"}
    body = webhook_payload("refund.processed", refund=refund, payment=entity)
    body["created_at"] = now - 15 * DAY
    response = await post_webhook(bclient, body)
    assert response.status_code == 200, response.text
    for status, phase, days_ago in phases:
        disputed = make_dispute(
            payment_id=payment["id"], amount=payment["amount"] - 10_000, status=status
        )
        disputed["phase"] = phase
        payload = webhook_payload(
            f"payment.dispute.{status}",
            payment=entity,
            dispute=disputed,
            created_at=now - days_ago * DAY,
        )
        await delivered(bclient, owner_db, payload)
    [shown] = (await owner_json(bclient, owner, "/billing/payments"))["items"]
    return shown


async def test_a_lost_chargeback_of_the_rest_after_a_partial_refund_is_all_of_it(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """100.00 of 999.00 refunded, the other 899.00 charged back (the dispute's amount is what
    is left): all the money went back, so the plan is taken back and the payment reads
    ``chargeback``. Before, the dispute's 899.00 alone was under the order's 999.00: a
    ``partial_refund``, the plan ran on, the payment read "captured, 899.00 refunded"."""
    shown = await refunded_in_part_then_disputed(
        bclient, owner, fake, owner_db, (("lost", "chargeback", 5),)
    )
    assert (shown["status"], shown["amount_refunded"]) == ("chargeback", 99_900)
    assert (await subscription(bclient, owner))["effective_plan"] == "free"


async def test_a_partial_refund_before_a_reversed_chargeback_still_reads_refunded(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """100.00 of the 999.00 payment refunded; the rest disputed, the pre-arbitration lost, the
    arbitration won: the merchant keeps the rest, the 100.00 went back all the same. The
    history read 0 refunded after the reversal."""
    phases = (("lost", "pre_arbitration", 5), ("won", "arbitration", 1))
    shown = await refunded_in_part_then_disputed(bclient, owner, fake, owner_db, phases)
    assert (shown["status"], shown["amount_refunded"]) == ("captured", 10_000)
    assert (await subscription(bclient, owner))["effective_plan"] == "starter"
