"""Probes (review 11) of refunds of an ordinary recurring charge: partial refunds, the same
refund delivered again, a refund naming another workspace's subscription, out of order."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from billing.models import BillingEventRow
from core.db import Database
from tests.billing.conftest import MailingWorld, payment_mails
from tests.billing.razorpay_subscriptions import (
    DAY,
    a_charge,
    charged,
    copy_of,
    linked,
    payment_of,
)
from tests.billing.test_held_charge_notice import own_cycle_retry
from tests.conftest import Owner, signup
from tests.fakes.razorpay_server import make_refund, webhook_payload


async def owners_of(owner_db: Database, payment_id: str, kind: str) -> list[str | None]:
    query = select(BillingEventRow.workspace_id).where(
        BillingEventRow.razorpay_payment_id == payment_id, BillingEventRow.event_type == kind
    )
    async with owner_db.transaction() as s:
        return [str(w) if w else None for w in (await s.execute(query)).scalars()]


def refund_of(charge: dict[str, Any], amount: int, **payment: Any) -> dict[str, Any]:
    entity = dict(charge["payload"]["payment"]["entity"], **payment)
    refund = make_refund(payment_id=entity["id"], amount=amount)
    return webhook_payload("refund.processed", refund=refund, payment=entity)


async def charged_owner(
    world: MailingWorld, name: str, *, deliver: bool = True
) -> tuple[Owner, str, dict[str, Any]]:
    """A new owner linked to a Razorpay Subscription, its subscription id and its ordinary
    charge of the running cycle (delivered unless ``deliver`` is False)."""
    _, client, fake, _, owner_db = world
    owner = await signup(client, name)
    start = int(time.time()) - 2 * DAY
    sub_id = await linked(client, owner, fake, current_start=start, current_end=start + 30 * DAY)
    charge = a_charge(fake.subscriptions[sub_id], start=start)
    if deliver:
        assert await charged(client, owner_db, charge) == ("ignored", "recurring_charge")
    return owner, sub_id, charge


async def subjects(world: MailingWorld, owner: Owner) -> list[str]:
    mails = await payment_mails(world.runtime, world.smtp, owner.email)
    return [str(m.message["Subject"]) for m in mails]


async def test_partial_refunds_each_mailed_once(mailing_world: MailingWorld) -> None:
    client, owner_db = mailing_world.client, mailing_world.db
    owner, _, charge = await charged_owner(mailing_world, "Two Refunds Co")
    first, second = refund_of(charge, 10_000), refund_of(charge, 39_900)
    for n, body in enumerate((first, second, first, second)):
        assert await charged(client, owner_db, copy_of(body, n)) == (
            "ignored",
            "recurring_charge_refunded",
        )
    # Sent by concurrent dispatches: their order is not the test's point.
    assert sorted(await subjects(mailing_world, owner)) == [
        "[Two Refunds Co] Payment received: 499.00 INR",
        "[Two Refunds Co] Payment refunded: 100.00 INR",
        "[Two Refunds Co] Payment refunded: 399.00 INR",
    ]


async def test_a_refund_naming_another_workspaces_subscription_stays_the_charges(
    mailing_world: MailingWorld,
) -> None:
    client, owner_db = mailing_world.client, mailing_world.db
    a, _, charge = await charged_owner(mailing_world, "Cross A Co")
    b, sub_b, _ = await charged_owner(mailing_world, "Cross B Co", deliver=False)
    body = refund_of(charge, 49_900, subscription_id=sub_b)
    assert await charged(client, owner_db, body) == ("ignored", "recurring_charge_refunded")
    assert await owners_of(owner_db, payment_of(charge), "refund.processed") == [a.workspace_id]
    assert await subjects(mailing_world, b) == []


async def test_a_refund_delivered_before_its_charge_is_mailed_with_it(
    mailing_world: MailingWorld,
) -> None:
    """Razorpay retries a webhook it could not deliver for hours: the refund of an ordinary
    recurring charge may come before that charge's own events. It was ``unknown_order`` with
    no workspace for good: the charge then mailed "Payment received", never refunded. Now the
    refund is the workspace's of the subscription its payment names, and the charge, when it
    comes, is mailed "Payment received and refunded" once."""
    client, owner_db = mailing_world.client, mailing_world.db
    owner, sub_id, charge = await charged_owner(mailing_world, "Refund Early Co", deliver=False)
    body = refund_of(charge, 49_900, subscription_id=sub_id)
    assert (await charged(client, owner_db, body))[0] == "ignored"
    assert await charged(client, owner_db, charge) == ("ignored", "recurring_charge")
    assert await owners_of(owner_db, payment_of(charge), "refund.processed") == [owner.workspace_id]
    again = await charged(client, owner_db, copy_of(body))
    assert again == ("ignored", "recurring_charge_refunded")
    assert await subjects(mailing_world, owner) == [
        "[Refund Early Co] Payment received and refunded: 499.00 INR"
    ]


async def test_a_refund_told_in_the_charges_mail_delivered_again_mails_nothing_more(
    mailing_world: MailingWorld,
) -> None:
    """A deferred charge's refund (``held_charge_refunded``), then its ``subscription.charged``
    naming the owner's cycle ("Payment received and refunded"), then that refund again
    (Razorpay's retry, our 200 lost): it mailed "Payment refunded" a second time."""
    client, owner_db = mailing_world.client, mailing_world.db
    retry = await own_cycle_retry(mailing_world, "Told Once Co")
    assert await charged(client, owner_db, retry.captured) == ("ignored", "charge_cycle_unknown")
    assert await charged(client, owner_db, retry.refunded) == ("ignored", "held_charge_refunded")
    assert await charged(client, owner_db, retry.charge) == ("ignored", "recurring_charge")
    again = await charged(client, owner_db, copy_of(retry.refunded))
    assert again == ("ignored", "recurring_charge_refunded")
    assert await subjects(mailing_world, retry.owner) == [
        "[Told Once Co] Payment received and refunded: 499.00 INR"
    ]
