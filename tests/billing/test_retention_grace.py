"""The ended plan's conversation retention holds for RETENTION_GRACE after a lower plan is bought
(billing review 2, F1): the grace was read from the workspace's current plan only, so buying a
lower plan (or a refund falling back to one) deleted the ended plan's conversations that night."""

from __future__ import annotations

import time
from datetime import datetime

import httpx
from sqlalchemy import text

from core.db import Database
from core.models import utcnow
from lifecycle.retention import RETENTION_GRACE
from tests.billing.conftest import (
    end_paid_period,
    owner_json,
    pay_by_webhook,
    post_webhook,
    subscription,
)
from tests.conftest import Owner
from tests.fakes.razorpay_server import FakeRazorpay, make_refund, webhook_payload


async def test_a_lower_plan_bought_after_pro_ended_keeps_pros_retention_for_the_grace(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """A yearly Pro ends; a day later the owner buys a Starter month. Pro's 365 days hold until
    30 days after Pro ended, then Starter's 90 (before: 90 at once, so that night's purge
    deleted the conversations aged 90 to 365 days for good)."""
    now = int(time.time())
    await pay_by_webhook(bclient, owner, fake, "pro", "yearly", now - 60)
    await end_paid_period(owner_db, owner.workspace_id)
    async with owner_db.transaction() as s:
        ended = await s.scalar(
            text("SELECT plan_expires_at FROM workspaces WHERE id = :w"), {"w": owner.workspace_id}
        )
    lapsed = await owner_json(bclient, owner, "/retention")
    assert lapsed["conversation_retention_days"] == 365
    assert datetime.fromisoformat(lapsed["grace_until"]) == ended + RETENTION_GRACE

    await pay_by_webhook(bclient, owner, fake, "starter", "monthly", now)
    assert (await subscription(bclient, owner))["effective_plan"] == "starter"
    shown = await owner_json(bclient, owner, "/retention")
    assert shown["conversation_retention_days"] == 365
    assert shown["plan_default"] == 90
    assert datetime.fromisoformat(shown["grace_until"]) == ended + RETENTION_GRACE


async def test_an_upgrade_refunded_back_to_starter_keeps_pros_retention_for_the_grace(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    """Starter yearly, then a Pro month refunded in full: the workspace is back on Starter (its
    year still runs), and Pro's 365 days hold for 30 days from the refund, as docs/deploy.md
    promises for a plan "ended by a refund" (before: Starter's 90 at once)."""
    now = int(time.time())
    await pay_by_webhook(bclient, owner, fake, "starter", "yearly", now - 120)
    pro = await pay_by_webhook(bclient, owner, fake, "pro", "monthly", now - 60)
    before = utcnow()
    refund = make_refund(payment_id=pro["id"], amount=pro["amount"], created_at=now)
    refunded = {**pro, "amount_refunded": pro["amount"], "status": "refunded"}
    payload = webhook_payload("refund.processed", refund=refund, payment=refunded, created_at=now)
    assert (await post_webhook(bclient, payload)).json()["reason"] == "period_revoked"
    after = utcnow()
    assert (await subscription(bclient, owner))["effective_plan"] == "starter"

    shown = await owner_json(bclient, owner, "/retention")
    assert shown["conversation_retention_days"] == 365
    assert shown["plan_default"] == 90
    grace_until = datetime.fromisoformat(shown["grace_until"])
    assert before + RETENTION_GRACE <= grace_until <= after + RETENTION_GRACE
