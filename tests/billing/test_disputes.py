"""A payment's disputes through signed webhooks, in either delivery order: a lost dispute is a
chargeback and ends its payment's disputes; a won one keeps the money and changes nothing, and
is recorded against the payment's workspace (docs/billing.md, "State machine")."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.db import Database
from core.models import utcnow
from tests.billing.conftest import (
    MailingWorld,
    create_order,
    event_rows,
    new_event_id,
    order_row,
    owner_json,
    payment_mails,
    post_webhook,
    sub_row,
    subscription,
    webhook_of,
)
from tests.billing.razorpay_subscriptions import copy_of
from tests.billing.test_order_paid_twice import _statuses, _two_attempts
from tests.conftest import Owner, signup
from tests.fakes.razorpay_server import FakeRazorpay, make_dispute, webhook_payload


def dispute(payment: dict[str, Any], status: str, phase: str, at: int) -> dict[str, Any]:
    """Razorpay's ``payment.dispute.<status>`` for a dispute of ``payment`` in ``phase``."""
    entity = dict(make_dispute(payment_id=payment["id"], amount=payment["amount"], status=status))
    entity["phase"] = phase
    return webhook_payload(
        f"payment.dispute.{status}", payment=payment, dispute=entity, created_at=at
    )


async def delivered(
    client: httpx.AsyncClient, owner_db: Database, payload: dict[str, Any]
) -> dict[str, Any]:
    """``payload`` signed and delivered (200); its stored event row."""
    event_id = new_event_id()
    response = await post_webhook(client, payload, event_id=event_id)
    assert response.status_code == 200, response.text
    [row] = await event_rows(owner_db, event_id)
    return row


async def paid_20_days_ago(
    client: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Starter order paid 20 days ago, its capture applied by the webhook: (order, payment)."""
    order = await create_order(client, owner)
    payment = fake.capture_payment(order["razorpay_order_id"])
    at = int(time.time()) - 20 * 86_400
    captured = webhook_payload("payment.captured", payment=payment, created_at=at)
    assert (await delivered(client, owner_db, captured))["outcome"] == "applied"
    return order, payment


async def plan_and_history(client: httpx.AsyncClient, owner: Owner) -> tuple[str, list[str]]:
    """What the owner sees: the plan in effect and the payment history's statuses."""
    history = await owner_json(client, owner, "/billing/payments")
    plan = (await subscription(client, owner))["effective_plan"]
    return plan, [p["status"] for p in history["items"]]


@pytest.mark.parametrize("lost_first", [True, False])
async def test_a_won_chargeback_and_a_lost_pre_arbitration_end_charged_back_in_any_order(
    bclient: httpx.AsyncClient,
    owner: Owner,
    fake: FakeRazorpay,
    owner_db: Database,
    lost_first: bool,
) -> None:
    """The merchant won the chargeback, the customer challenged again and the pre-arbitration
    was lost (Razorpay's phases: pre-arbitration follows only a won chargeback, so a lost
    dispute is the last of a payment's). Delivered in either order, the payment ends charged
    back: the plan taken back, the order refunded, the payment ``chargeback``. The win is
    recorded against the workspace and changes nothing; before, it was ``unsupported_event``
    with no workspace."""
    now = int(time.time())
    order, payment = await paid_20_days_ago(bclient, owner, fake, owner_db)

    won = dispute(payment, "won", "chargeback", now - 10 * 86_400)
    lost = dispute(payment, "lost", "pre_arbitration", now - 86_400)
    for payload in (lost, won) if lost_first else (won, lost):
        row = await delivered(bclient, owner_db, payload)
        if payload is won:
            assert (row["outcome"], row["reason"]) == ("ignored", "dispute_won"), row
            assert str(row["workspace_id"]) == owner.workspace_id
            assert row["razorpay_payment_id"] == payment["id"]
        else:
            assert (row["outcome"], row["reason"]) == ("applied", "period_revoked"), row
    assert await plan_and_history(bclient, owner) == ("free", ["chargeback"])
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "refunded"


async def test_a_won_dispute_alone_keeps_the_plan_and_the_payment(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """Won: the merchant keeps the money; the plan, the order and the payment stay as they
    were, and the event is recorded for the workspace."""
    order = await create_order(bclient, owner)
    payment = fake.capture_payment(order["razorpay_order_id"])
    assert (
        await delivered(bclient, owner_db, webhook_payload("payment.captured", payment=payment))
    )["outcome"] == "applied"
    row = await delivered(
        bclient, owner_db, dispute(payment, "won", "chargeback", int(time.time()))
    )
    assert (row["outcome"], row["reason"], str(row["workspace_id"])) == (
        "ignored",
        "dispute_won",
        owner.workspace_id,
    )
    assert await plan_and_history(bclient, owner) == ("starter", ["captured"])
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "paid"


ARBITRATION_ORDERS = {
    "in_time_order": ("won_chargeback", "lost_pre_arbitration", "won_arbitration"),
    "final_win_first": ("won_arbitration", "won_chargeback", "lost_pre_arbitration"),
    "loss_last": ("won_chargeback", "won_arbitration", "lost_pre_arbitration"),
}


@pytest.mark.parametrize("order", sorted(ARBITRATION_ORDERS))
async def test_a_pre_arbitration_lost_then_an_arbitration_won_ends_with_the_money_kept(
    bclient: httpx.AsyncClient,
    owner: Owner,
    fake: FakeRazorpay,
    owner_db: Database,
    order: str,
) -> None:
    """Razorpay's phases: chargeback, pre-arbitration (the customer challenging a chargeback
    the merchant won), arbitration (the card network rules). The pre-arbitration lost, the
    merchant took it to arbitration and won it: the money came back (Razorpay deducts at the
    onset and credits a win). The latest phase decides, in any delivery order: the plan, the
    order and the payment end as if no chargeback was lost. Before, the loss stood for good:
    the workspace read charged back while its money was kept."""
    now = int(time.time())
    order_body, payment = await paid_20_days_ago(bclient, owner, fake, owner_db)
    end_before = (await subscription(bclient, owner))["current_period_end"]
    bodies = {
        "won_chargeback": dispute(payment, "won", "chargeback", now - 10 * 86_400),
        "lost_pre_arbitration": dispute(payment, "lost", "pre_arbitration", now - 5 * 86_400),
        "won_arbitration": dispute(payment, "won", "arbitration", now - 86_400),
    }
    for name in ARBITRATION_ORDERS[order]:
        await delivered(bclient, owner_db, bodies[name])
    assert await plan_and_history(bclient, owner) == ("starter", ["captured"])
    shown = await subscription(bclient, owner)
    assert (shown["status"], shown["current_period_end"]) == ("active", end_before)
    history = await owner_json(bclient, owner, "/billing/payments")
    assert history["items"][0]["amount_refunded"] == 0
    assert (await order_row(owner_db, order_body["razorpay_order_id"]))["status"] == "paid"


async def test_a_held_payment_charged_back_then_won_in_arbitration_is_held_again(
    bclient: httpx.AsyncClient, fake: FakeRazorpay, owner_db: Database
) -> None:
    """A second charge on a paid order (held for a refund: it bought nothing) is disputed: the
    pre-arbitration lost, the arbitration won. The money is the merchant's again and still owed
    back: the history reads ``held`` (the operator's list of payments to refund), not
    ``chargeback`` nor ``captured``; the order stays paid by the other payment, the plan as
    it was."""
    now = int(time.time())
    owner, order, first, second = await _two_attempts(bclient, fake, "Held Dispute Co")
    assert (await webhook_of(bclient, "payment.captured", second, now - 20 * 86_400))[
        "status"
    ] == "applied"
    late = fake.capture(first["id"])
    body = await webhook_of(bclient, "payment.captured", late, now - 20 * 86_400 + 60)
    assert body["reason"] == "order_paid_twice", body
    before = await subscription(bclient, owner)
    await delivered(bclient, owner_db, dispute(late, "lost", "pre_arbitration", now - 5 * 86_400))
    row = await delivered(bclient, owner_db, dispute(late, "won", "arbitration", now - 86_400))
    assert (row["outcome"], row["reason"]) == ("applied", "chargeback_reversed"), row
    assert await _statuses(bclient, owner) == {second["id"]: "captured", late["id"]: "held"}
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "paid"
    after = await subscription(bclient, owner)
    assert (after["effective_plan"], after["current_period_end"]) == (
        before["effective_plan"],
        before["current_period_end"],
    )


async def test_the_owner_told_the_plan_ended_at_the_loss_is_told_it_is_back_at_the_win(
    mailing_world: MailingWorld,
) -> None:
    """The pre-arbitration lost mailed "Your Starter plan ended: the payment was charged back";
    the arbitration won gave the plan back and mailed nothing: the owner's last word was that
    the plan had ended. Now one more mail says it runs again, and until when; delivered again,
    nothing more."""
    runtime, client, fake, smtp, owner_db = mailing_world
    owner = await signup(client, "Back Again Co")
    now = int(time.time())
    _, payment = await paid_20_days_ago(client, owner, fake, owner_db)
    await delivered(client, owner_db, dispute(payment, "lost", "pre_arbitration", now - 5 * 86_400))
    won = dispute(payment, "won", "arbitration", now - 86_400)
    for n in range(2):  # delivered again (a copy, under a new event id): nothing more
        await delivered(client, owner_db, copy_of(won, n))
    plan_mails = await payment_mails(runtime, smtp, owner.email, "plan")
    assert [str(m.message["Subject"]) for m in plan_mails] == [
        "[Back Again Co] Your Starter plan ended: the payment was charged back",
        "[Back Again Co] Your Starter plan is back: the chargeback was reversed",
    ]
    until = (await subscription(client, owner))["current_period_end"][:10]
    assert until in " ".join(plan_mails[1].text.split())


async def test_a_chargeback_reversed_after_the_workspace_was_deleted_gives_no_plan_back(
    bclient: httpx.AsyncClient,
    owner: Owner,
    fake: FakeRazorpay,
    owner_db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The pre-arbitration lost took the plan back; the owner deleted the workspace; then the
    arbitration was won and Razorpay credited the money back. A payment captured for a deleted
    workspace grants nothing (``workspace_deleted``), and so must this: before, the win gave the
    deleted workspace its plan back (and its period). Now the plan stays as the loss and the
    deletion left it, and the money, kept while it buys nothing, is listed ``held`` for a human
    to refund (what the purge logs), the order paid again; the win still counts as the
    dispute's outcome (an earlier phase's loss delivered after it takes nothing)."""
    now = int(time.time())
    order, payment = await paid_20_days_ago(bclient, owner, fake, owner_db)
    lost = dispute(payment, "lost", "pre_arbitration", now - 5 * 86_400)
    assert (await delivered(bclient, owner_db, lost))["reason"] == "period_revoked"
    ws = await owner_json(bclient, owner, "")
    deleted = await bclient.request(
        "DELETE", owner.url(""), headers=owner.headers, json={"confirm": ws["slug"]}
    )
    assert deleted.status_code == 202, deleted.text
    before = await sub_row(owner_db, owner.workspace_id)
    with caplog.at_level(logging.WARNING, logger="trulybot.billing"):
        row = await delivered(bclient, owner_db, dispute(payment, "won", "arbitration", now - 60))
    assert (row["outcome"], row["reason"]) == ("ignored", "workspace_deleted"), row
    assert str(row["workspace_id"]) == owner.workspace_id
    assert f"payment {payment['id']} held for a refund: workspace_deleted" in caplog.text
    after = await sub_row(owner_db, owner.workspace_id)
    for column in ("plan", "status", "current_period_end", "cancel_at_period_end"):
        assert after[column] == before[column], column
    async with owner_db.transaction() as s:
        plan = await s.execute(
            text("SELECT plan, plan_expires_at FROM workspaces WHERE id = :w"),
            {"w": owner.workspace_id},
        )
        _, expires = plan.one()
        assert expires is not None
        assert expires < utcnow()  # ended at the loss: not given back
        statuses = await s.execute(
            text("SELECT status FROM billing_payments WHERE workspace_id = :w"),
            {"w": owner.workspace_id},
        )
        assert list(statuses.scalars()) == ["held"]
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "paid"
    again = dispute(payment, "lost", "chargeback", now - 10 * 86_400)  # an earlier phase, late
    assert (await delivered(bclient, owner_db, again))["reason"] == "dispute_won_later"
