"""What a workspace's owner hears of a recurring charge Razorpay took after their cancel and that
is held for a refund (``charged_after_cancel``), and what happens to it when they keep the
subscription after all.

- A held order payment mails "Payment held for a refund" and is listed ``held`` on the plan
  page; a held recurring charge mailed nothing and the page did not show it: the owner saw
  money leave their card and heard nothing.
- A subscription linked after the owner's period ended has its first charge held; the owner
  then keeps the subscription (resume, before its cancel was sent): that charge pays for the
  cycle they now use, yet it stayed on the operator's list of charges to refund.
- A renewal's ``payment.captured`` delivered before its ``subscription.charged`` while the
  owner's cancel waits (Razorpay down, the job behind): the owner was mailed "Payment
  received" and then "Payment held for a refund" for the same charge.
- A retry of the cancelled cycle taken after its end: its ``payment.captured``, delivered
  after its ``subscription.charged`` took it as the owner's cycle, held it all the same.
- Held charges were not in ``GET /billing/payments``, the API an owner's integration reads.
- A charge refunded in part left the operator's list (docs' query) at its first refund, and a
  resume did not keep it.

Real webhooks (signed, through the app), the real ``razorpay`` client against the fake, the
real in-process SMTP server.
"""

from __future__ import annotations

import html
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from api.runtime import Runtime
from billing.models import BillingEventRow
from billing.reconcile import ReconcileReport, reconcile
from core.db import Database
from core.models import utcnow
from core.pagination import cursor_scope, encode_key
from tests.billing.conftest import MailingWorld, owner_json, payment_mails, subscription
from tests.billing.razorpay_subscriptions import (
    a_charge,
    both_webhooks,
    cancelled_at_cycle_end,
    charged,
    copy_of,
    payment_of,
)
from tests.billing.test_cancel_edges import (
    TO_REFUND,
    first_charge_held,
    renewed_while_the_cancel_waited,
)
from tests.billing.test_dashboard_checkout import web_login
from tests.conftest import Owner, signup
from tests.dashboard.conftest import WebOwner
from tests.fakes.razorpay_server import make_dispute, make_refund, webhook_payload
from workspaces.notification_text import _held_payment
from workspaces.notification_text import _received as render_received


async def plan_page(web: WebOwner) -> str:
    response = await web.client.get(web.url("plan"))
    assert response.status_code == 200, response.text
    return " ".join(html.unescape(response.text).split())


async def to_refund(owner_db: Database, workspace_id: str) -> list[str]:
    """The workspace's charges on the operator's list (docs/billing.md's query)."""
    async with owner_db.transaction() as s:
        rows = (await s.execute(text(TO_REFUND))).mappings().all()
    return [str(r["razorpay_payment_id"]) for r in rows if str(r["workspace_id"]) == workspace_id]


def charge_time(body: dict[str, Any]) -> str:
    return datetime.fromtimestamp(body["created_at"], UTC).strftime("%Y-%m-%d %H:%M UTC")


async def test_a_held_recurring_charge_is_mailed_once_and_shown_until_refunded(
    mailing_world: MailingWorld,
) -> None:
    runtime, client, fake, smtp, owner_db = mailing_world
    owner = await signup(client, "Held Charge Co")
    cancelled = await cancelled_at_cycle_end(client, runtime, owner, fake)
    # Razorpay charges the next cycle anyway: its two webhooks, the second first, each twice.
    both = both_webhooks(cancelled.sub, start=cancelled.end)
    for n, body in enumerate((both["payment.captured"], both["subscription.charged"]) * 2):
        assert (await charged(client, owner_db, copy_of(body, n)))[1] in (
            "charged_after_cancel",
            "charge_already_held",
        )
    payment_id = payment_of(both["subscription.charged"])

    mails = await payment_mails(runtime, smtp, owner.email)
    assert [str(m.message["Subject"]) for m in mails] == [
        "[Held Charge Co] Payment held for a refund: 499.00 INR"
    ], [m.message["Subject"] for m in mails]
    body = " ".join(mails[0].text.split())
    assert "499.00 INR" in body
    assert charge_time(both["payment.captured"]) in body  # when the card was charged
    assert "held for a refund" in body
    assert "did not renew" in body
    assert payment_id in body

    web = await web_login(client, owner.email, owner.password)
    page = await plan_page(web)
    assert "Payment history" in page
    assert f"{charge_time(both['payment.captured'])}" in page
    assert "INR 499.00" in page
    assert "held for a refund" in page

    # The operator refunds it in Razorpay's dashboard; Razorpay reports the refund.
    payment = both["payment.captured"]["payload"]["payment"]["entity"]
    refund = make_refund(payment_id=payment_id, amount=payment["amount"])
    refunded = webhook_payload("refund.processed", refund=refund, payment=payment)
    await charged(client, owner_db, refunded)
    page = await plan_page(web)
    assert "INR 499.00" in page
    assert "refunded" in page
    assert "held for a refund" not in page
    # Nothing more mailed for the charge, the refund included.
    assert len(await payment_mails(runtime, smtp, owner.email)) == 1


async def test_a_held_first_charge_the_owner_then_keeps_is_no_refund_owed(
    mailing_world: MailingWorld,
) -> None:
    """The owner cancelled and the period ended; a subscription made while it ran links itself
    with a charge, held (taken after the period's end), and mailed so. The owner keeps the
    subscription (resume) before its cancel was sent: the charge pays for the cycle they now
    use. Before, it stayed on the operator's list of refunds owed."""
    runtime, client, fake, smtp, owner_db = mailing_world
    owner = await signup(client, "Kept Co")
    sub, _ = await first_charge_held(client, owner, fake, owner_db)
    [held] = await to_refund(owner_db, owner.workspace_id)
    mails = await payment_mails(runtime, smtp, owner.email, "held for a refund")
    assert len(mails) == 1
    assert '"Keep the Razorpay subscription"' in " ".join(mails[0].text.split())

    resumed = await client.post(owner.url("/billing/subscription/resume"), headers=owner.headers)
    assert resumed.status_code == 200, resumed.text
    assert await to_refund(owner_db, owner.workspace_id) == []
    shown = await subscription(client, owner)
    assert (shown["status"], shown["razorpay_subscription"]) == ("active", "active")
    web = await web_login(client, owner.email, owner.password)
    page = await plan_page(web)
    assert "INR 499.00" in page
    assert "kept" in page
    assert "held for a refund" not in page
    # The charge's other webhook, delivered after the resume, holds nothing again.
    other = a_charge(sub, start=0, event="payment.captured")
    other["payload"]["payment"]["entity"]["id"] = held
    assert await charged(client, owner_db, other) == ("ignored", "charge_kept")
    assert await to_refund(owner_db, owner.workspace_id) == []


async def test_a_held_charge_refunded_in_part_is_not_shown_refunded(
    mailing_world: MailingWorld,
) -> None:
    """The operator refunds part of a held charge (Razorpay's ``refund.processed`` names the
    refund's amount). The plan page said "refunded" at the first refund of any amount: the owner
    read that all 499.00 came back when 100.00 had."""
    _, client, fake, _, owner_db = mailing_world
    owner = await signup(client, "Part Refund Co")
    await first_charge_held(client, owner, fake, owner_db)
    [held] = await to_refund(owner_db, owner.workspace_id)
    payment = {"id": held, "entity": "payment", "amount": 49900, "currency": "INR"}
    part = make_refund(payment_id=held, amount=10000)
    refunded = webhook_payload("refund.processed", refund=part, payment=payment)
    assert await charged(client, owner_db, refunded) == ("ignored", "held_charge_refunded")
    web = await web_login(client, owner.email, owner.password)
    page = await plan_page(web)
    assert "INR 499.00" in page
    assert "INR 100.00 of it refunded, the rest held for a refund" in page
    rest = make_refund(payment_id=held, amount=39900)
    refunded = webhook_payload("refund.processed", refund=rest, payment=payment)
    assert await charged(client, owner_db, refunded) == ("ignored", "held_charge_refunded")
    page = await plan_page(web)
    assert "of it refunded" not in page
    assert "held for a refund" not in page
    assert "refunded" in page


async def test_a_renewal_captured_before_its_charge_while_the_cancel_waits_is_one_story(
    mailing_world: MailingWorld,
) -> None:
    """The renewal's ``payment.captured`` (it names no cycle) comes first, then its
    ``subscription.charged`` (its cycle started after the cancel was asked: held). The owner
    is mailed that it is held, and only that; before, "Payment received" came first."""
    runtime, client, fake, smtp, owner_db = mailing_world
    owner = await signup(client, "One Story Co")
    _, sub, _, end = await renewed_while_the_cancel_waited(client, runtime, owner, fake, owner_db)
    both = both_webhooks(sub, start=end)
    captured, charge = both["payment.captured"], both["subscription.charged"]
    first = await charged(client, owner_db, captured)
    assert await charged(client, owner_db, charge) == ("rejected", "charged_after_cancel")
    mails = await payment_mails(runtime, smtp, owner.email)
    assert [str(m.message["Subject"]) for m in mails] == [
        "[One Story Co] Payment held for a refund: 499.00 INR"
    ], (first, [str(m.message["Subject"]) for m in mails])
    assert payment_of(charge) in " ".join(mails[0].text.split())


async def test_a_retried_charge_of_the_owners_cycle_captured_first_is_mailed_received_once(
    mailing_world: MailingWorld,
) -> None:
    """The other case the ``payment.captured`` cannot tell apart: a retried charge of the
    cycle the owner was told of, taken after the cancel was asked. Its ``subscription.charged``
    names that cycle: the ordinary charge, mailed "Payment received" once."""
    runtime, client, fake, smtp, owner_db = mailing_world
    owner = await signup(client, "Own Cycle Co")
    _, sub, start, _ = await renewed_while_the_cancel_waited(client, runtime, owner, fake, owner_db)
    captured = a_charge(sub, start=start, event="payment.captured")
    captured["created_at"] = int(time.time()) - 3600  # retried after the cancel was asked
    charge = a_charge(sub, start=start)
    charge["payload"]["payment"]["entity"] = captured["payload"]["payment"]["entity"]
    assert await charged(client, owner_db, captured) == ("ignored", "charge_cycle_unknown")
    assert await charged(client, owner_db, charge) == ("ignored", "recurring_charge")
    mails = await payment_mails(runtime, smtp, owner.email)
    assert [str(m.message["Subject"]) for m in mails] == [
        "[Own Cycle Co] Payment received: 499.00 INR"
    ]


async def owed(owner_db: Database, workspace_id: str) -> list[tuple[str, str, int]]:
    """The workspace's rows of the operator's list (docs/billing.md's query): (payment id,
    currency, amount still owed)."""
    async with owner_db.transaction() as s:
        rows = (await s.execute(text(TO_REFUND))).mappings().all()
    return [
        (str(r["razorpay_payment_id"]), str(r["currency"]), int(r["owed"]))
        for r in rows
        if str(r["workspace_id"]) == workspace_id
    ]


async def test_a_held_charge_refunded_in_part_stays_owed_until_kept(
    mailing_world: MailingWorld,
) -> None:
    """100.00 of a held 499.00 refunded: the operator's list keeps the charge with 399.00
    owed (it dropped it at the first refund of any part). The owner then keeps the
    subscription (resume): the rest pays for the cycle they kept, off the list, and the page
    reads "kept" (a charge refunded in part stayed held: resume kept only charges with no
    refund)."""
    _, client, fake, _, owner_db = mailing_world
    owner = await signup(client, "Owed Co")
    await first_charge_held(client, owner, fake, owner_db)
    [(held, currency, amount)] = await owed(owner_db, owner.workspace_id)
    assert (currency, amount) == ("INR", 49_900)
    payment = {"id": held, "entity": "payment", "amount": 49_900, "currency": "INR"}
    part = make_refund(payment_id=held, amount=10_000)
    refunded = webhook_payload("refund.processed", refund=part, payment=payment)
    for n in range(2):  # delivered again (a copy, under a new event id): one refund
        body = copy_of(refunded, n)
        assert await charged(client, owner_db, body) == ("ignored", "held_charge_refunded")
    assert await owed(owner_db, owner.workspace_id) == [(held, "INR", 39_900)]

    resumed = await client.post(owner.url("/billing/subscription/resume"), headers=owner.headers)
    assert resumed.status_code == 200, resumed.text
    assert await owed(owner_db, owner.workspace_id) == []
    assert await held_in_api(client, owner) == [(held, "kept", 10_000)]
    page = await plan_page(await web_login(client, owner.email, owner.password))
    assert "kept: you kept the subscription" in page
    assert "(INR 100.00 of it refunded)" in page
    assert "the rest held for a refund" not in page


async def held_in_api(client: httpx.AsyncClient, owner: Owner) -> list[tuple[str, str, int]]:
    """The held charges ``GET /billing/payments`` lists (first page): (payment id, status,
    amount refunded)."""
    page = await owner_json(client, owner, "/billing/payments")
    return [
        (c["razorpay_payment_id"], c["status"], c["amount_refunded"])
        for c in page.get("held_charges", [])
    ]


async def test_the_payments_api_lists_held_charges_as_the_plan_page_does(
    mailing_world: MailingWorld,
) -> None:
    """An integration reading ``GET /billing/payments`` saw nothing of a charge Razorpay took
    after the owner's cancel (no order of ours): now listed beside the first page, held, then
    part-refunded, then refunded, with its amount and time."""
    _, client, fake, _, owner_db = mailing_world
    owner = await signup(client, "Api Held Co")
    await first_charge_held(client, owner, fake, owner_db)
    [(held, _, _)] = await owed(owner_db, owner.workspace_id)
    page = await owner_json(client, owner, "/billing/payments")
    [charge] = page.get("held_charges", [None])
    assert charge is not None, page
    assert (charge["amount"], charge["currency"], charge["status"]) == (49_900, "INR", "held")
    assert charge["charged_at"]
    payment = {"id": held, "entity": "payment", "amount": 49_900, "currency": "INR"}
    for amount, status, back in ((10_000, "part_refunded", 10_000), (39_900, "refunded", 49_900)):
        refund = make_refund(payment_id=held, amount=amount)
        body = webhook_payload("refund.processed", refund=refund, payment=payment)
        assert await charged(client, owner_db, body) == ("ignored", "held_charge_refunded")
        assert await held_in_api(client, owner) == [(held, status, back)]
    # Not repeated on later pages (the plan page shows them above the newest payments).
    cursor = encode_key(utcnow(), uuid.uuid4(), scope=cursor_scope("payments", owner.workspace_id))
    later = await owner_json(client, owner, f"/billing/payments?cursor={cursor}")
    assert later.get("held_charges", []) == [], later


async def test_a_late_retry_of_the_cancelled_cycle_is_one_story_in_either_order(
    mailing_world: MailingWorld,
) -> None:
    """Razorpay took the cancel at the cycle's end; the charge of that very cycle, retried, is
    taken an hour after the end. Its ``subscription.charged`` names the cycle (the owner's:
    not held, "Payment received"); its ``payment.captured`` names only the hour. Delivered
    second, that one was held and mailed "Payment held for a refund" for the same charge."""
    runtime, client, fake, smtp, owner_db = mailing_world
    owner = await signup(client, "Late Retry Co")
    cancelled = await cancelled_at_cycle_end(client, runtime, owner, fake)
    both = both_webhooks(cancelled.sub, start=cancelled.start)
    for body in both.values():
        body["created_at"] = cancelled.end + 3600
    assert await charged(client, owner_db, both["subscription.charged"]) == (
        "ignored",
        "recurring_charge",
    )
    assert (await charged(client, owner_db, both["payment.captured"]))[1] != "charged_after_cancel"
    mails = await payment_mails(runtime, smtp, owner.email)
    assert [str(m.message["Subject"]) for m in mails] == [
        "[Late Retry Co] Payment received: 499.00 INR"
    ]
    assert await owed(owner_db, owner.workspace_id) == []


async def test_a_held_charge_the_customer_charged_back_is_owed_no_more(
    mailing_world: MailingWorld,
) -> None:
    """The customer disputed the held charge with their bank and the chargeback was lost: the
    money went back that way. It stayed on the operator's list (a refund would pay it back a
    second time) and the owner's page and API read "held for a refund"; Razorpay's
    ``payment.dispute.lost`` was ``unknown_order`` with no workspace."""
    _, client, fake, _, owner_db = mailing_world
    owner = await signup(client, "Charged Back Co")
    await first_charge_held(client, owner, fake, owner_db)
    [(held, _, _)] = await owed(owner_db, owner.workspace_id)
    payment = {"id": held, "entity": "payment", "amount": 49_900, "currency": "INR"}
    lost = make_dispute(payment_id=held, amount=49_900)
    body = webhook_payload("payment.dispute.lost", payment=payment, dispute=lost)
    assert await charged(client, owner_db, body) == ("ignored", "held_charge_charged_back")
    assert await owed(owner_db, owner.workspace_id) == []
    assert await held_in_api(client, owner) == [(held, "refunded", 49_900)]
    page = await plan_page(await web_login(client, owner.email, owner.password))
    assert "held for a refund" not in page


async def test_a_charge_refunded_before_its_hold_reads_refunded_on_the_page_the_api_and_mail(
    mailing_world: MailingWorld,
) -> None:
    """The renewal's ``payment.captured`` while the cancel waits (``charge_cycle_unknown``),
    then its refund, then its ``subscription.charged``, which holds it. The refund was recorded
    ``unknown_order`` with no workspace (only a held charge's workspace was looked up): the
    owner was mailed "held for a refund" and the page and the API read it held for good, while
    the operator's query (which reads every workspace's rows) owed nothing. Now the refund is
    the workspace's (the deferred charge names it), and all three say refunded."""
    runtime, client, fake, smtp, owner_db = mailing_world
    owner = await signup(client, "Refunded First Co")
    _, sub, _, end = await renewed_while_the_cancel_waited(client, runtime, owner, fake, owner_db)
    both = both_webhooks(sub, start=end)
    captured, charge = both["payment.captured"], both["subscription.charged"]
    assert await charged(client, owner_db, captured) == ("ignored", "charge_cycle_unknown")
    payment = captured["payload"]["payment"]["entity"]
    refund = make_refund(payment_id=payment["id"], amount=payment["amount"])
    back = {**payment, "amount_refunded": payment["amount"], "status": "refunded"}
    refunded = webhook_payload("refund.processed", refund=refund, payment=back)
    assert await charged(client, owner_db, refunded) == ("ignored", "held_charge_refunded")
    assert await charged(client, owner_db, charge) == ("rejected", "charged_after_cancel")
    assert await owed(owner_db, owner.workspace_id) == []
    listed = (await owner_json(client, owner, "/billing/payments"))["held_charges"]
    assert [(c["razorpay_payment_id"], c["status"]) for c in listed] == [
        (payment["id"], "refunded")
    ]
    web = await web_login(client, owner.email, owner.password)
    page = await plan_page(web)
    assert "INR 499.00" in page
    assert "held for a refund" not in page
    mails = await payment_mails(runtime, smtp, owner.email)
    assert [str(m.message["Subject"]) for m in mails] == [
        "[Refunded First Co] Payment refunded: 499.00 INR"
    ]
    text_of = " ".join(mails[0].text.split())
    assert "held for a refund" not in text_of
    assert "has been refunded to the way you paid" in text_of


@dataclass
class OwnRetry:
    """A retried charge of the owner's own cycle, taken after the cancel was asked (which
    waits): its two webhooks, its full refund's, the subscription and the owner's cycle."""

    owner: Owner
    sub_id: str
    start: int
    end: int
    captured: dict[str, Any]
    charge: dict[str, Any]
    refunded: dict[str, Any]

    @property
    def payment_id(self) -> str:
        return payment_of(self.captured)


async def own_cycle_retry(
    mailing_world: MailingWorld,
    name: str,
) -> OwnRetry:
    runtime, client, fake, _, owner_db = mailing_world
    owner = await signup(client, name)
    sub_id, sub, start, end = await renewed_while_the_cancel_waited(
        client, runtime, owner, fake, owner_db
    )
    fake.down = False  # Razorpay answers again (the cancel is left waiting)
    captured = a_charge(sub, start=start, event="payment.captured")
    captured["created_at"] = int(time.time()) - 3600  # retried after the cancel was asked
    charge = a_charge(sub, start=start)
    payment = captured["payload"]["payment"]["entity"]
    charge["payload"]["payment"]["entity"] = payment
    refund = make_refund(payment_id=payment["id"], amount=payment["amount"])
    back = {**payment, "amount_refunded": payment["amount"], "status": "refunded"}
    refunded = webhook_payload("refund.processed", refund=refund, payment=back)
    return OwnRetry(owner, sub_id, start, end, captured, charge, refunded)


async def refund_rows(owner_db: Database, payment_id: str) -> list[tuple[str, str]]:
    """(reason, detail) of the payment's ``refund.processed`` rows."""
    query = select(BillingEventRow.reason, BillingEventRow.detail).where(
        BillingEventRow.razorpay_payment_id == payment_id,
        BillingEventRow.event_type == "refund.processed",
    )
    async with owner_db.transaction() as s:
        return [(str(reason), str(detail)) for reason, detail in (await s.execute(query)).all()]


@pytest.mark.parametrize("refund_first", [True, False])
async def test_a_refunded_charge_its_cycle_then_names_the_owners_is_one_true_story(
    mailing_world: MailingWorld,
    refund_first: bool,
) -> None:
    """A retried charge of the owner's own cycle captured while the cancel waited
    (``charge_cycle_unknown``), refunded, and its ``subscription.charged`` naming the owner's
    cycle, in either order. Before, the refund stayed "held for a refund, refunded"
    (``held_charge_refunded``) though the charge was never held, and the owner was mailed
    "Payment received" for money already refunded. Now the refund is the ordinary charge's
    (``recurring_charge_refunded``) and the mails say received and refunded."""
    runtime, client, _, smtp, owner_db = mailing_world
    name = "Refund First Co" if refund_first else "Received First Co"
    retry = await own_cycle_retry(mailing_world, name)
    owner, captured, charge, refunded = retry.owner, retry.captured, retry.charge, retry.refunded
    assert await charged(client, owner_db, captured) == ("ignored", "charge_cycle_unknown")
    if refund_first:
        assert await charged(client, owner_db, refunded) == ("ignored", "held_charge_refunded")
        assert await charged(client, owner_db, charge) == ("ignored", "recurring_charge")
    else:
        assert await charged(client, owner_db, charge) == ("ignored", "recurring_charge")
        assert await charged(client, owner_db, refunded) == (
            "ignored",
            "recurring_charge_refunded",
        )
    [(reason, detail)] = await refund_rows(owner_db, retry.payment_id)
    assert reason == "recurring_charge_refunded"
    assert "held" not in detail, detail
    assert await to_refund(owner_db, owner.workspace_id) == []
    listed = (await owner_json(client, owner, "/billing/payments"))["held_charges"]
    assert listed == []
    mails = await payment_mails(runtime, smtp, owner.email)
    subjects = [str(m.message["Subject"]) for m in mails]
    if refund_first:
        assert subjects == [f"[{name}] Payment received and refunded: 499.00 INR"]
    else:
        assert subjects == [
            f"[{name}] Payment received: 499.00 INR",
            f"[{name}] Payment refunded: 499.00 INR",
        ]
    told = " ".join(mails[-1].text.split())
    assert "has been refunded to the way you paid" in told
    assert "held" not in told


# --- a deferred charge whose subscription.charged never comes: reconcile settles it --------------


async def _reconciled(runtime: Runtime) -> ReconcileReport:
    assert runtime.payments is not None
    return await reconcile(runtime.db, runtime.payments, older_than=timedelta(0))


@pytest.mark.parametrize("late_webhook", [False, True])
async def test_reconcile_holds_a_deferred_renewal_whose_charge_event_never_came(
    mailing_world: MailingWorld,
    late_webhook: bool,
) -> None:
    """The renewal's ``payment.captured`` while the cancel waited (``charge_cycle_unknown``),
    and its ``subscription.charged`` never came (Razorpay gave up retrying): the charge was
    never held, listed or mailed, and reconcile looked at orders only. Now reconcile finds the
    cycle in the subscription's invoice at Razorpay and holds it: on the operator's list, one
    "Payment held for a refund". The webhook delivered late after that, and reconcile run
    again, change and mail nothing more."""
    runtime, client, fake, smtp, owner_db = mailing_world
    owner = await signup(client, "Never Charged Co")
    sub_id, sub, _, end = await renewed_while_the_cancel_waited(
        client, runtime, owner, fake, owner_db
    )
    fake.down = False  # Razorpay answers again; the cancel is not sent by reconcile
    both = both_webhooks(sub, start=end)
    captured, charge = both["payment.captured"], both["subscription.charged"]
    assert await charged(client, owner_db, captured) == ("ignored", "charge_cycle_unknown")
    payment_id = payment_of(charge)
    fake.add_invoice(sub_id, payment_id, billing_start=end, billing_end=end + 30 * 86_400)
    assert await to_refund(owner_db, owner.workspace_id) == []
    report = await _reconciled(runtime)
    assert await to_refund(owner_db, owner.workspace_id) == [payment_id]
    assert f"{payment_id}: rejected charged_after_cancel" in report.details
    if late_webhook:
        assert await charged(client, owner_db, charge) == ("ignored", "charge_already_held")
    again = await _reconciled(runtime)  # (the shared database's other tests' orders too)
    assert not [line for line in again.details if payment_id in line], again
    assert await to_refund(owner_db, owner.workspace_id) == [payment_id]
    listed = (await owner_json(client, owner, "/billing/payments"))["held_charges"]
    assert [(c["razorpay_payment_id"], c["status"]) for c in listed] == [(payment_id, "held")]
    mails = await payment_mails(runtime, smtp, owner.email)
    assert [str(m.message["Subject"]) for m in mails] == [
        "[Never Charged Co] Payment held for a refund: 499.00 INR"
    ]


async def test_reconcile_leaves_a_deferred_charge_its_webhook_settled(
    mailing_world: MailingWorld,
) -> None:
    """The ``subscription.charged`` came after the deferred ``payment.captured`` and held the
    charge: reconcile asks Razorpay nothing about it and mails nothing more."""
    runtime, client, fake, smtp, owner_db = mailing_world
    owner = await signup(client, "Settled First Co")
    sub_id, sub, _, end = await renewed_while_the_cancel_waited(
        client, runtime, owner, fake, owner_db
    )
    fake.down = False
    both = both_webhooks(sub, start=end)
    assert await charged(client, owner_db, both["payment.captured"]) == (
        "ignored",
        "charge_cycle_unknown",
    )
    assert await charged(client, owner_db, both["subscription.charged"]) == (
        "rejected",
        "charged_after_cancel",
    )
    asked = len(fake.requests)
    report = await _reconciled(runtime)
    assert not [line for line in report.details if payment_of(both["payment.captured"]) in line]
    invoices = [r for r in fake.requests[asked:] if r.path == "/v1/invoices"]
    assert sub_id not in [r.query.get("subscription_id") for r in invoices]
    mails = await payment_mails(runtime, smtp, owner.email)
    assert len(mails) == 1, [str(m.message["Subject"]) for m in mails]


async def test_reconcile_takes_a_deferred_retry_of_the_owners_cycle_as_that_cycles_charge(
    mailing_world: MailingWorld,
) -> None:
    """A retried charge of the cycle the owner was told of, captured after the cancel was
    asked, its ``subscription.charged`` lost: the invoice names the owner's cycle, so it is the
    ordinary charge, mailed "Payment received" once (its late webhook mails nothing more)."""
    runtime, client, fake, smtp, owner_db = mailing_world
    retry = await own_cycle_retry(mailing_world, "Own Retry Co")
    owner, captured, charge = retry.owner, retry.captured, retry.charge
    assert await charged(client, owner_db, captured) == ("ignored", "charge_cycle_unknown")
    payment_id = retry.payment_id
    fake.add_invoice(retry.sub_id, payment_id, billing_start=retry.start, billing_end=retry.end)
    report = await _reconciled(runtime)
    assert f"{payment_id}: ignored recurring_charge" in report.details, report
    assert len(await payment_mails(runtime, smtp, owner.email)) == 1
    assert await charged(client, owner_db, charge) == ("ignored", "recurring_charge")
    assert await to_refund(owner_db, owner.workspace_id) == []
    mails = await payment_mails(runtime, smtp, owner.email)
    assert [str(m.message["Subject"]) for m in mails] == [
        "[Own Retry Co] Payment received: 499.00 INR"
    ]


async def test_reconcile_finding_a_refunded_deferred_charge_the_owners_cycle_says_so(
    mailing_world: MailingWorld,
) -> None:
    """The same story settled by reconcile (its ``subscription.charged`` lost): the refund
    delivered while the cycle was unknown becomes the ordinary charge's refund, and the one
    mail says received and refunded."""
    runtime, client, fake, smtp, owner_db = mailing_world
    retry = await own_cycle_retry(mailing_world, "Reconciled Refund Co")
    assert await charged(client, owner_db, retry.captured) == ("ignored", "charge_cycle_unknown")
    assert await charged(client, owner_db, retry.refunded) == ("ignored", "held_charge_refunded")
    pid = retry.payment_id
    fake.add_invoice(retry.sub_id, pid, billing_start=retry.start, billing_end=retry.end)
    report = await _reconciled(runtime)
    assert f"{pid}: ignored recurring_charge" in report.details, report
    assert [reason for reason, _ in await refund_rows(owner_db, pid)] == [
        "recurring_charge_refunded"
    ]
    mails = await payment_mails(runtime, smtp, retry.owner.email)
    assert [str(m.message["Subject"]) for m in mails] == [
        "[Reconciled Refund Co] Payment received and refunded: 499.00 INR"
    ]


def test_the_held_charge_mail_says_what_was_refunded_before_the_hold() -> None:
    """The held charge's one mail, for a charge refunded before it was held: all of it (the
    subject says refunded, nothing is held), a part (what came back, the rest held), none."""
    base = {"amount": 49_900, "currency": "INR", "held": "charged_after_cancel"}
    subject, lines = _held_payment({**base, "refunded": 49_900})
    assert subject == "Payment refunded: 499.00 INR"
    assert not [line for line in lines if "held for a refund" in line]
    subject, lines = _held_payment({**base, "refunded": 10_000})
    assert subject == "Payment held for a refund: 499.00 INR"
    assert "100.00 INR of it has been refunded to the way you paid already." in lines
    assert any(line.startswith("The rest is held for a refund") for line in lines)
    subject, lines = _held_payment(base)
    assert subject == "Payment held for a refund: 499.00 INR"
    assert not [line for line in lines if "refunded" in line and "held" not in line]


def test_the_received_mail_says_what_was_refunded_while_the_cycle_was_unknown() -> None:
    """The owner's own cycle's charge: refunded in full ("received and refunded"), in part
    (what came back), or not at all (the plain "Payment received")."""
    base = {"amount": 49_900, "currency": "INR", "plan": "pro", "payment_id": "pay_x"}
    subject, lines = render_received({**base, "refunded": 49_900}, "pro")
    assert subject == "Payment received and refunded: 499.00 INR"
    assert lines[-1].startswith("It has been refunded to the way you paid")
    subject, lines = render_received({**base, "refunded": 10_000}, "pro")
    assert subject == "Payment received: 499.00 INR"
    assert lines[-1] == "100.00 INR of it has been refunded to the way you paid."
    assert render_received(base, "pro") == (
        "Payment received: 499.00 INR",
        ["We received 499.00 INR for the pro plan."],
    )


def test_a_recurring_charge_on_no_paid_plan_names_its_subscription_not_a_plan() -> None:
    """A linked Razorpay subscription charged a workspace on the free plan: the mail said "We
    received 999.00 INR for the free plan" (a billing tester's finding) for money that bought
    no plan here. It names the subscription and says the plan is unchanged."""
    base = {"amount": 99_900, "currency": "INR", "payment_id": "pay_x", "subscription_id": "sub_A1"}
    subject, lines = render_received({**base, "plan": "free"}, "free")
    assert subject == "Payment received: 999.00 INR"
    assert lines[0] == "We received 999.00 INR through your Razorpay subscription sub_A1."
    assert not [line for line in lines if "free plan" in line], lines
    assert render_received({**base, "plan": "pro"}, "pro")[1] == [
        "We received 999.00 INR for the pro plan."
    ]
