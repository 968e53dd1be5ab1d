"""Razorpay's refund (or lost chargeback) of a recurring charge of a linked Razorpay Subscription
that was never held nor deferred: the owner's own cycle's charge, taken with no cancel asked.

Its ``refund.processed`` names only the payment (the order in it is Razorpay's invoice order,
not one of ours). It was recorded ``unknown_order`` with no workspace: the workspace was looked
for only among the charges held or deferred, so the owner was mailed "Payment received" and
never "Payment refunded", and the event row belonged to nobody.

Real webhooks (signed, through the app), the real ``razorpay`` client against the fake, the
real in-process SMTP server.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from billing.models import BillingEventRow
from tests.billing.conftest import MailingWorld, payment_mails
from tests.billing.razorpay_subscriptions import (
    DAY,
    a_charge,
    charged,
    copy_of,
    linked,
    payment_of,
)
from tests.conftest import signup
from tests.fakes.razorpay_server import make_dispute, make_refund, webhook_payload


@pytest.mark.parametrize(
    ("kind", "reason", "word"),
    [
        ("refund.processed", "recurring_charge_refunded", "refunded"),
        ("payment.dispute.lost", "recurring_charge_charged_back", "charged back"),
        # The merchant won: no money went back, so no mail; the row is the workspace's.
        ("payment.dispute.won", "recurring_charge_dispute_won", None),
    ],
)
async def test_money_back_of_a_charge_never_held_is_the_workspaces(
    mailing_world: MailingWorld,
    kind: str,
    reason: str,
    word: str | None,
) -> None:
    runtime, client, fake, smtp, owner_db = mailing_world
    name = f"Plain {(word or 'won').title()} Co"
    owner = await signup(client, name)
    start = int(time.time()) - 2 * DAY
    sub_id = await linked(client, owner, fake, current_start=start, current_end=start + 30 * DAY)
    charge = a_charge(fake.subscriptions[sub_id], start=start)
    assert await charged(client, owner_db, charge) == ("ignored", "recurring_charge")
    payment_id = payment_of(charge)
    payment = charge["payload"]["payment"]["entity"]
    if kind == "refund.processed":
        refund = make_refund(payment_id=payment_id, amount=payment["amount"])
        back = webhook_payload(kind, refund=refund, payment=payment)
    else:
        status = "won" if word is None else "lost"
        dispute = make_dispute(payment_id=payment_id, amount=payment["amount"], status=status)
        back = webhook_payload(kind, dispute=dispute, payment=payment)

    assert await charged(client, owner_db, back) == ("ignored", reason)
    query = select(BillingEventRow.workspace_id).where(
        BillingEventRow.razorpay_payment_id == payment_id, BillingEventRow.event_type == kind
    )
    async with owner_db.transaction() as s:
        assert [str(w) for w in (await s.execute(query)).scalars()] == [owner.workspace_id]
    # Delivered again (a copy) under another event id: one mail all the same.
    assert await charged(client, owner_db, copy_of(back)) == ("ignored", reason)
    mails = await payment_mails(runtime, smtp, owner.email)
    told = [f"[{name}] Payment {word}: 499.00 INR"] if word else []
    # Each mail is sent by its own flush after its own delivery: their order is not the point.
    assert sorted(str(m.message["Subject"]) for m in mails) == sorted(
        [f"[{name}] Payment received: 499.00 INR", *told]
    )
