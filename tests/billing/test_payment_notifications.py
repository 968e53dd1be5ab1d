"""Payment notifications: a captured or failed payment mails the workspace's owners once, however
often Razorpay delivers the webhook (real SMTP server, fake Razorpay at the HTTP boundary)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from api.schedule import scheduled_jobs
from tests.billing.conftest import (
    MailingWorld,
    create_order,
    new_event_id,
    pay_by_webhook,
    payment_mails,
    post_webhook,
    subscription,
)
from tests.conftest import Owner, join, signup
from tests.fakes.razorpay_server import (
    make_dispute,
    make_payment,
    make_refund,
    make_subscription,
    razorpay_id,
    webhook_payload,
)


async def owner_and_admin(client: httpx.AsyncClient, workspace: str) -> tuple[Owner, Owner]:
    """A new workspace's owner, and an admin who joined it."""
    owner = await signup(client, workspace)
    admin = await signup(client, "Member")
    await join(client, owner, admin, "admin")
    return owner, admin


async def test_captured_and_failed_payments_mail_the_owners_once(
    mailing_world: MailingWorld,
) -> None:
    runtime, client, fake, smtp, _ = mailing_world
    owner, member = await owner_and_admin(client, "Acme")
    order = await create_order(client, owner)
    failed = fake.fail_payment(order["razorpay_order_id"])
    response = await post_webhook(client, webhook_payload("payment.failed", payment=failed))
    assert response.status_code == 200, response.text

    payment = fake.capture_payment(order["razorpay_order_id"])
    captured = webhook_payload("payment.captured", payment=payment)
    event_id = new_event_id()
    for _ in range(3):  # Razorpay retries the same event
        response = await post_webhook(client, captured, event_id=event_id)
        assert response.status_code == 200, response.text
    # The same payment through another event (order.paid) is the same notification.
    order_paid = webhook_payload(
        "order.paid", payment=payment, order=fake.orders[order["razorpay_order_id"]]
    )
    assert (await post_webhook(client, order_paid)).status_code == 200

    mails = await payment_mails(runtime, smtp, owner.email)
    subjects = sorted(str(m.message["Subject"]) for m in mails)
    amount = f"{order['amount'] / 100:,.2f} {order['currency']}"
    assert subjects == [
        f"[Acme] Payment failed: {amount}",
        f"[Acme] Payment received: {amount}",
    ]
    failed_mail = next(m for m in mails if "failed" in str(m.message["Subject"]))
    assert "Reason: Payment failed" in failed_mail.text
    assert failed["id"] in failed_mail.text
    # Admins may not see payments: nothing for them, whatever their settings.
    assert await payment_mails(runtime, smtp, member.email) == []


async def test_recurring_charges_and_failures_mail_the_owners_once_per_payment(
    mailing_world: MailingWorld,
) -> None:
    """Razorpay Subscriptions: each ``subscription.charged`` payment is one "received" mail, a
    failed renewal one "failed" mail (``payment.failed`` and the ``subscription.pending`` carrying
    the same payment), ``subscription.halted`` without a payment one more; retries add none."""
    runtime, client, _, smtp, _ = mailing_world
    owner = await signup(client, "Acme")
    stranger = await signup(client, "Other")
    sub = make_subscription(plan_id=razorpay_id("plan"), notes={"workspace_id": owner.workspace_id})

    def charge(status: str = "captured") -> dict[str, object]:
        # Razorpay's invoice order for a renewal is none of ours.
        return make_payment(order_id=razorpay_id("order"), amount=49_900, status=status)

    first, second = charge(), charge()
    for payment in (first, second):
        payload = webhook_payload("subscription.charged", subscription=sub, payment=payment)
        event_id = new_event_id()
        for _ in range(2):  # retried delivery
            response = await post_webhook(client, payload, event_id=event_id)
            assert response.status_code == 200, response.text
    # The same charge delivered again under another event id is still the same payment.
    again = webhook_payload("subscription.charged", subscription=sub, payment=first)
    assert (await post_webhook(client, again)).status_code == 200

    failed = charge("failed")
    failed["subscription_id"] = sub["id"]
    response = await post_webhook(client, webhook_payload("payment.failed", payment=failed))
    assert response.status_code == 200, response.text
    pending = webhook_payload("subscription.pending", subscription=sub, payment=failed)
    assert (await post_webhook(client, pending)).status_code == 200
    halted = webhook_payload("subscription.halted", subscription=sub)
    halted_id = new_event_id()
    for _ in range(2):
        assert (await post_webhook(client, halted, event_id=halted_id)).status_code == 200
    # The same signed body replayed under new event ids (the id is outside the signature):
    # no more mail.
    for _ in range(2):
        assert (await post_webhook(client, halted, event_id=new_event_id())).status_code == 200
    assert (await subscription(client, owner))["status"] == "past_due"

    mails = await payment_mails(runtime, smtp, owner.email)
    received = [m for m in mails if "Payment received: 499.00 INR" in str(m.message["Subject"])]
    assert len(received) == 2
    assert sum(str(first["id"]) in m.text for m in received) == 1
    assert sum(str(second["id"]) in m.text for m in received) == 1
    failures = [m for m in mails if "Payment failed" in str(m.message["Subject"])]
    assert len(failures) == 2, [m.message["Subject"] for m in mails]
    assert len(mails) == 4
    renewal = next(m for m in failures if str(failed["id"]) in m.text)
    assert "Reason: Payment failed" in renewal.text
    halt = next(m for m in failures if m is not renewal)
    assert halt.message["Subject"] == "[Acme] Payment failed"
    assert "A payment for the free plan failed." in halt.text
    assert "Reason: Every retry of the renewal charge failed" in halt.text
    assert f"Razorpay subscription: {sub['id']}" in halt.text
    # The subscription names its workspace: nobody else hears about it.
    assert await payment_mails(runtime, smtp, stranger.email) == []

    # A retry of the renewal charge succeeds: no longer past due (it stayed so). An older
    # halt delivered late does not take it back.
    paid = charge()
    later = int(time.time()) + 60  # after the halt (events of one second: the severer wins)
    late = webhook_payload("subscription.charged", subscription=sub, payment=paid, created_at=later)
    assert (await post_webhook(client, late)).status_code == 200
    assert (await subscription(client, owner))["status"] == "active"
    stale = webhook_payload("subscription.halted", subscription=sub, created_at=1_600_000_000)
    assert (await post_webhook(client, stale)).status_code == 200
    assert (await subscription(client, owner))["status"] == "active"


async def test_a_stale_failure_after_a_later_status_mails_nobody(
    mailing_world: MailingWorld,
) -> None:
    """Razorpay delivers out of order: a ``subscription.pending`` older than the cancellation
    already applied changes nothing, and tells nobody a payment failed and will be retried."""
    runtime, client, _, smtp, _ = mailing_world
    owner = await signup(client, "Late")
    sub = make_subscription(plan_id=razorpay_id("plan"), notes={"workspace_id": owner.workspace_id})
    cancelled = webhook_payload(
        "subscription.cancelled", subscription=sub, created_at=2_000_000_000
    )
    assert (await post_webhook(client, cancelled)).status_code == 200
    stale = webhook_payload("subscription.pending", subscription=sub, created_at=1_999_999_000)
    answer = await post_webhook(client, stale)
    assert answer.status_code == 200, answer.text
    assert answer.json()["reason"] == "stale_event"
    mails = await payment_mails(runtime, smtp, owner.email)
    assert [m for m in mails if "Payment failed" in str(m.message["Subject"])] == []


async def test_a_renewal_failure_delivered_after_the_charge_that_settled_it_changes_nothing(
    mailing_world: MailingWorld,
) -> None:
    """Out of order: ``subscription.charged`` (the retried renewal, paid) arrives before the
    ``subscription.pending`` of the attempt that failed a minute earlier. The subscription
    stayed ``past_due`` for good, and the owners read "Payment failed ... Razorpay will retry"
    after "Payment received"."""
    runtime, client, _, smtp, _ = mailing_world
    owner = await signup(client, "Renewed")
    sub = make_subscription(plan_id=razorpay_id("plan"), notes={"workspace_id": owner.workspace_id})
    activated = webhook_payload(
        "subscription.activated", subscription=sub, created_at=1_900_000_000
    )
    assert (await post_webhook(client, activated)).status_code == 200
    paid = make_payment(order_id=razorpay_id("order"), amount=49_900)
    charged = webhook_payload(
        "subscription.charged", subscription=sub, payment=paid, created_at=1_902_592_060
    )
    answer = await post_webhook(client, charged)
    assert answer.json()["reason"] == "recurring_charge", answer.text
    pending = webhook_payload("subscription.pending", subscription=sub, created_at=1_902_592_000)
    answer = await post_webhook(client, pending)
    assert answer.status_code == 200, answer.text
    assert answer.json()["reason"] == "stale_event"
    assert (await subscription(client, owner))["status"] == "active"
    mails = await payment_mails(runtime, smtp, owner.email)
    assert [str(m.message["Subject"]) for m in mails] == ["[Renewed] Payment received: 499.00 INR"]


async def test_a_recurring_charge_of_an_unknown_subscription_mails_nobody(
    mailing_world: MailingWorld,
) -> None:
    runtime, client, _, smtp, _ = mailing_world
    owner = await signup(client, "Acme")
    sub = make_subscription(plan_id=razorpay_id("plan"))  # no notes.workspace_id
    payment = make_payment(order_id=razorpay_id("order"), amount=49_900)
    payload = webhook_payload("subscription.charged", subscription=sub, payment=payment)
    response = await post_webhook(client, payload)
    assert response.status_code == 200, response.text
    assert response.json()["reason"] == "unknown_subscription"
    assert await payment_mails(runtime, smtp, owner.email) == []


async def test_owners_are_told_before_a_prepaid_plan_ends_once_per_notice(
    mailing_world: MailingWorld,
) -> None:
    """The review's F2: nothing warned that a paid plan was about to end (plans are prepaid and
    do not renew). The hourly ``plan_expiry_notices`` job tells the owners 7 days and 1 day
    before the end, once each; an admin hears nothing (payments are the owners')."""
    runtime, client, fake, smtp, owner_db = mailing_world
    owner, admin = await owner_and_admin(client, "Ending")
    order = await create_order(client, owner)
    payment = fake.capture_payment(order["razorpay_order_id"])
    captured = await post_webhook(client, webhook_payload("payment.captured", payment=payment))
    assert captured.json()["status"] == "applied", captured.text
    now = datetime.now(UTC).replace(microsecond=0)
    end = now + timedelta(days=3)
    async with owner_db.transaction() as s:
        for sql in (
            "UPDATE subscriptions SET current_period_end = :end WHERE workspace_id = :w",
            "UPDATE workspaces SET plan_expires_at = :end WHERE id = :w",
        ):
            await s.execute(text(sql), {"end": end, "w": owner.workspace_id})
    jobs = scheduled_jobs(
        runtime.lifecycle, runtime.ingestion, runtime.notifications, runtime.notifier
    )
    [job] = [j for j in jobs if j.name == "plan_expiry_notices"]
    for at in (now, now + timedelta(hours=1), end - timedelta(hours=12), end - timedelta(hours=11)):
        await job.run(at)
    await job.run(end + timedelta(minutes=1))  # ended: nothing more to tell

    mails = await payment_mails(runtime, smtp, owner.email, subject="plan ends on")
    assert [str(m.message["Subject"]) for m in mails] == [
        f"[Ending] Your Starter plan ends on {end:%Y-%m-%d}"
    ] * 2
    assert f"The Starter plan is prepaid until {end:%Y-%m-%d %H:%M} UTC" in mails[0].text
    assert "Extend it on the plan page" in mails[0].text
    assert "the Free plan from then on" in mails[0].text
    assert await payment_mails(runtime, smtp, admin.email, subject="plan ends on") == []


async def test_a_refund_that_ends_the_plan_mails_the_owners_once(
    mailing_world: MailingWorld,
) -> None:
    """The billing review's U3: a refund took the plan away and nobody was told; the owners
    found the workspace on Free. One mail per refunded payment, however often Razorpay delivers
    the webhook, saying which plan ended and the plan (with its limits) the workspace is on now;
    an owner who turned the kind off, and an admin, get none."""
    runtime, client, fake, smtp, _ = mailing_world
    owner, admin = await owner_and_admin(client, "Refunded")
    now = int(time.time())
    payment = await pay_by_webhook(client, owner, fake, "starter", "monthly", now - 60)
    quiet = await signup(client, "Quiet")  # a second owner (Starter allows more members)
    await join(client, owner, quiet, "owner")
    prefs = await client.put(
        owner.url("/notifications/preferences"),
        json={"preferences": {"plan.revoked": "off"}},
        headers=quiet.headers,
    )
    assert prefs.status_code == 200, prefs.text
    refund = make_refund(payment_id=str(payment["id"]), amount=int(str(payment["amount"])))
    back = {**payment, "amount_refunded": payment["amount"], "status": "refunded"}
    payload = webhook_payload("refund.processed", refund=refund, payment=back, created_at=now)
    event_id = new_event_id()
    for key in (event_id, event_id, new_event_id()):  # retried, then replayed under a new id
        response = await post_webhook(client, payload, event_id=key)
        assert response.status_code == 200, response.text
    assert (await subscription(client, owner))["effective_plan"] == "free"

    mails = await payment_mails(runtime, smtp, owner.email, subject="plan ended")
    assert [str(m.message["Subject"]) for m in mails] == [
        "[Refunded] Your Starter plan ended: the payment was refunded"
    ]
    text_ = mails[0].text
    assert "The Starter plan ended because 999.00 INR for it was refunded." in text_
    assert "The workspace is now on the Free plan." in text_
    assert "100 conversations a month, 1,000 messages a month, 20 documents" in text_
    assert str(payment["id"]) in text_
    assert await payment_mails(runtime, smtp, admin.email, subject="plan ended") == []
    assert await payment_mails(runtime, smtp, quiet.email, subject="plan ended") == []


async def test_a_lost_chargeback_of_an_upgrade_says_the_plan_it_fell_back_to(
    mailing_world: MailingWorld,
) -> None:
    """Starter for a year, then Pro for a month charged back: Pro ends, Starter (still paid)
    is in effect again, and the mail says so, with Starter's limits. A refund of that Pro
    payment delivered after the chargeback is the same money: no second mail."""
    runtime, client, fake, smtp, _ = mailing_world
    owner = await signup(client, "Disputed")
    now = int(time.time())
    starter = await pay_by_webhook(client, owner, fake, "starter", "yearly", now - 120)
    pro = await pay_by_webhook(client, owner, fake, "pro", "monthly", now - 60)
    amount = int(str(pro["amount"]))
    dispute = make_dispute(payment_id=str(pro["id"]), amount=amount, created_at=now)
    lost = webhook_payload("payment.dispute.lost", payment=pro, dispute=dispute, created_at=now)
    response = await post_webhook(client, lost)
    assert response.json()["reason"] == "period_revoked", response.text
    refund = make_refund(payment_id=str(pro["id"]), amount=amount)
    back = {**pro, "amount_refunded": amount, "status": "refunded"}
    late = webhook_payload("refund.processed", refund=refund, payment=back, created_at=now + 1)
    assert (await post_webhook(client, late)).status_code == 200
    sub = await subscription(client, owner)
    assert sub["effective_plan"] == "starter"

    mails = await payment_mails(runtime, smtp, owner.email, subject="plan ended")
    assert [str(m.message["Subject"]) for m in mails] == [
        "[Disputed] Your Pro plan ended: the payment was charged back"
    ]
    until = datetime.fromisoformat(sub["current_period_end"]).astimezone(UTC)
    assert f"The workspace is now on the Starter plan (paid until {until:%Y-%m-%d %H:%M} UTC)." in (
        mails[0].text
    )
    assert "2,000 conversations a month, 20,000 messages a month" in mails[0].text
    assert str(starter["id"]) not in mails[0].text


async def test_a_refund_that_only_shortens_a_running_plan_sends_no_ended_mail(
    mailing_world: MailingWorld,
) -> None:
    """Two Starter months in a row, the second refunded: Starter still runs (its first month),
    so nothing ended and no "plan ended" mail is sent."""
    runtime, client, fake, smtp, _ = mailing_world
    owner = await signup(client, "Shorter")
    now = int(time.time())
    await pay_by_webhook(client, owner, fake, "starter", "monthly", now - 120)
    second = await pay_by_webhook(client, owner, fake, "starter", "monthly", now - 60)
    refund = make_refund(payment_id=str(second["id"]), amount=int(str(second["amount"])))
    back = {**second, "amount_refunded": second["amount"], "status": "refunded"}
    payload = webhook_payload("refund.processed", refund=refund, payment=back, created_at=now)
    assert (await post_webhook(client, payload)).json()["reason"] == "period_revoked"
    assert (await subscription(client, owner))["effective_plan"] == "starter"
    assert await payment_mails(runtime, smtp, owner.email, subject="plan ended") == []
