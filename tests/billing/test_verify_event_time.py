"""Checkout verification applies a payment at the payment's own time, as webhooks and reconcile
do (billing round 8).

Verify applied the payment at the server's clock when the owner's browser called it, while the
webhook applies it at Razorpay's event time: the same payment verified late gave another paid
period than its webhook, depending on which arrived first, and a late verify put an older
payment after payments made since (a Pro payment made before a Starter one was taken as the
latest and replaced it, where its webhook holds the Starter payment). Real PostgreSQL; Razorpay
is the local fake, webhooks are signed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from billing.provider import RazorpayProvider
from billing.reconcile import reconcile
from billing.state import add_period
from core.config import Settings
from core.db import Database
from tests.billing.conftest import create_order, post_webhook, subscription
from tests.billing.test_billing_api import verify
from tests.billing.test_order_paid_twice import _statuses
from tests.conftest import signup
from tests.fakes.razorpay_server import FakeRazorpay, webhook_payload

DAY = 86_400


@pytest.mark.parametrize("first", ["verify", "webhook"])
async def test_a_late_verify_gives_the_period_its_webhook_gives(
    bclient: httpx.AsyncClient, fake: FakeRazorpay, first: str
) -> None:
    owner = await signup(bclient, f"Late Verify {first}")
    order = await create_order(bclient, owner, "starter")
    payment = fake.capture_payment(order["razorpay_order_id"])
    paid_at = int(time.time()) - 3 * DAY  # the payment three days ago; its verify comes now
    fake.payments[payment["id"]]["created_at"] = paid_at
    payment["created_at"] = paid_at
    webhook = webhook_payload("payment.captured", payment=payment, created_at=paid_at)

    if first == "verify":
        response = await verify(bclient, owner, order, payment["id"], fake.key_secret)
        assert response.json()["applied"] is True, response.text
        assert (await post_webhook(bclient, webhook)).json()["reason"] == "duplicate_payment"
    else:
        assert (await post_webhook(bclient, webhook)).json()["status"] == "applied"
        response = await verify(bclient, owner, order, payment["id"], fake.key_secret)
        assert response.status_code == 200, response.text

    shown = await subscription(bclient, owner)
    expected = add_period(datetime.fromtimestamp(paid_at, UTC), "monthly")
    assert datetime.fromisoformat(shown["current_period_end"]) == expected


async def test_a_late_verify_of_an_earlier_pro_payment_holds_the_starter_paid_within_it(
    bclient: httpx.AsyncClient, fake: FakeRazorpay
) -> None:
    """Pro paid three days ago (its webhook not come yet), Starter paid two days ago from a
    second tab and applied; then Pro's checkout is verified. Pro, paid first, covers the time
    the Starter payment was made: Starter is held, as Pro's webhook would have done."""
    owner = await signup(bclient, "Late Pro Verify")
    pro = await create_order(bclient, owner, "pro")
    starter = await create_order(bclient, owner, "starter")
    now = int(time.time())
    pro_payment = fake.capture_payment(pro["razorpay_order_id"])
    fake.payments[pro_payment["id"]]["created_at"] = now - 3 * DAY
    starter_payment = fake.capture_payment(starter["razorpay_order_id"])
    starter_webhook = webhook_payload(
        "payment.captured", payment=starter_payment, created_at=now - 2 * DAY
    )
    assert (await post_webhook(bclient, starter_webhook)).json()["status"] == "applied"

    response = await verify(bclient, owner, pro, pro_payment["id"], fake.key_secret)
    assert response.json()["applied"] is True, response.text
    shown = await subscription(bclient, owner)
    assert shown["plan"] == "pro"
    pro_end = add_period(datetime.fromtimestamp(now - 3 * DAY, UTC), "monthly")
    assert datetime.fromisoformat(shown["current_period_end"]) == pro_end
    assert pro_end - datetime.fromtimestamp(now, UTC) < timedelta(days=31)
    assert await _statuses(bclient, owner) == {
        pro_payment["id"]: "captured",
        starter_payment["id"]: "held",
    }


async def test_a_payment_verify_captures_late_starts_when_it_is_captured(
    bclient: httpx.AsyncClient, fake: FakeRazorpay
) -> None:
    """A payment authorized three days ago and left authorized (no money taken, no plan):
    verify captures it now, and its month starts now, as its capture's webhook says, not at
    the authorization three days before."""
    owner = await signup(bclient, "Captured At Verify")
    order = await create_order(bclient, owner, "starter")
    payment = fake.authorize_payment(order["razorpay_order_id"])
    authorized_at = int(time.time()) - 3 * DAY
    fake.payments[payment["id"]]["created_at"] = authorized_at

    response = await verify(bclient, owner, order, payment["id"], fake.key_secret)
    assert response.json()["applied"] is True, response.text
    end = datetime.fromisoformat((await subscription(bclient, owner))["current_period_end"])
    from_authorization = add_period(datetime.fromtimestamp(authorized_at, UTC), "monthly")
    assert end > from_authorization + timedelta(days=2)


async def test_a_payment_reconcile_captures_late_starts_when_it_is_captured(
    bclient: httpx.AsyncClient,
    fake: FakeRazorpay,
    db: Database,
    billing_settings: Settings,
) -> None:
    """Reconcile captured an authorization left three days ago and applied it at the
    authorization's time, while the capture's webhook (dated now) would start the month now: the
    paid month was three days shorter when reconcile came first. It starts at its capture, as
    verify's own capture does, and the capture's webhook then changes nothing."""
    owner = await signup(bclient, "Captured At Reconcile")
    order = await create_order(bclient, owner, "starter")
    payment = fake.authorize_payment(order["razorpay_order_id"])
    authorized_at = int(time.time()) - 3 * DAY
    fake.payments[payment["id"]]["created_at"] = authorized_at

    provider = RazorpayProvider.from_settings(billing_settings)
    report = await reconcile(db, provider, older_than=timedelta(0))
    assert f"{order['razorpay_order_id']}: {payment['id']} applied" in report.details, report
    end = datetime.fromisoformat((await subscription(bclient, owner))["current_period_end"])
    from_authorization = add_period(datetime.fromtimestamp(authorized_at, UTC), "monthly")
    assert end > from_authorization + timedelta(days=2)

    captured = dict(fake.payments[payment["id"]])
    webhook = webhook_payload("payment.captured", payment=captured, created_at=int(time.time()))
    assert (await post_webhook(bclient, webhook)).json()["reason"] == "duplicate_payment"
    shown = await subscription(bclient, owner)
    assert datetime.fromisoformat(shown["current_period_end"]) == end
