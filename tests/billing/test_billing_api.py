"""Plans, orders, checkout verification, subscription and payments over HTTP."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from core.config import Settings
from core.db import Database
from tests.billing.conftest import (
    create_order,
    end_paid_period,
    order_row,
    orders_refused,
    post_webhook,
    settings_against,
    sub_row,
    subscription,
    wrong_signature,
)
from tests.conftest import Owner, client_for, join, make_runtime, signup
from tests.fakes.razorpay_server import (
    FakeRazorpay,
    checkout_signature,
    make_refund,
    webhook_payload,
)
from workspaces.models import Workspace
from workspaces.plans import get_plan
from workspaces.usage import effective_plan


async def count_orders(owner_db: Database, workspace_id: str) -> int:
    async with owner_db.transaction() as s:
        value = await s.scalar(
            text("SELECT count(*) FROM billing_orders WHERE workspace_id = :w"), {"w": workspace_id}
        )
    return int(value or 0)


async def verify(
    client: httpx.AsyncClient, owner: Owner, order: dict[str, object], payment_id: str, secret: str
) -> httpx.Response:
    rzp_order = str(order["razorpay_order_id"])
    return await client.post(
        owner.url("/billing/verify"),
        json={
            "razorpay_order_id": rzp_order,
            "razorpay_payment_id": payment_id,
            "razorpay_signature": checkout_signature(rzp_order, payment_id, secret),
        },
        headers=owner.headers,
    )


async def test_plans_are_public_even_without_keys(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/billing/plans")
    assert response.status_code == 200
    plans = {p["code"]: p for p in response.json()["items"]}
    assert set(plans) == {"free", "starter", "pro"}
    assert plans["starter"]["prices"] == {"monthly": 99_900, "yearly": 999_000}
    assert plans["free"]["purchasable"] is False
    assert plans["pro"]["purchasable"] is True


async def test_billing_without_keys_is_503(client: httpx.AsyncClient, owner: Owner) -> None:
    for method, path, body in (
        ("POST", "/billing/orders", {"plan": "starter"}),
        (
            "POST",
            "/billing/verify",
            {"razorpay_order_id": "o", "razorpay_payment_id": "p", "razorpay_signature": "s"},
        ),
        ("GET", "/billing/subscription", None),
        ("GET", "/billing/payments", None),
    ):
        response = await client.request(method, owner.url(path), json=body, headers=owner.headers)
        assert response.status_code == 503, (path, response.text)
        assert response.json()["error"]["code"] == "billing_disabled"
        assert "RAZORPAY_KEY_ID" in response.json()["error"]["message"]


async def test_order_amount_comes_from_the_catalog(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    order = await create_order(bclient, owner, "pro", "yearly")
    assert order["amount"] == get_plan("pro").price("yearly") == 4_999_000
    assert order["currency"] == "INR"
    assert order["key_id"] == fake.key_id
    sent = [r for r in fake.requests if r.method == "POST" and r.path == "/v1/orders"][-1].json()
    assert sent["amount"] == 4_999_000
    assert sent["receipt"] == order["order_id"]
    assert sent["notes"]["workspace_id"] == owner.workspace_id
    assert sent["notes"]["plan"] == "pro"
    assert fake.orders[order["razorpay_order_id"]]["amount"] == 4_999_000

    # The client cannot name its own price.
    response = await bclient.post(
        owner.url("/billing/orders"), json={"plan": "starter", "amount": 100}, headers=owner.headers
    )
    assert response.status_code == 422


@pytest.mark.parametrize("plan", ["free", "unlimited", "enterprise", ""])
async def test_unpurchasable_plans_are_422(
    bclient: httpx.AsyncClient, owner: Owner, owner_db: Database, plan: str
) -> None:
    response = await bclient.post(
        owner.url("/billing/orders"), json={"plan": plan}, headers=owner.headers
    )
    assert response.status_code == 422, response.text
    assert await count_orders(owner_db, owner.workspace_id) == 0


async def test_a_workspace_on_the_unlimited_plan_buys_nothing(
    bclient: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """The self-hosted plan: a paid plan would lower its limits and then end on free."""
    async with owner_db.transaction() as s:
        await s.execute(
            text("UPDATE workspaces SET plan = 'unlimited' WHERE id = :w"),
            {"w": owner.workspace_id},
        )
    await orders_refused(bclient, owner, ("starter", "pro"), "unlimited_plan")
    assert await count_orders(owner_db, owner.workspace_id) == 0
    usage = await bclient.get(owner.url("/usage"), headers=owner.headers)
    assert usage.json()["plan"] == "unlimited"


@asynccontextmanager
async def deployment_on(
    plan: str, fake: FakeRazorpay, db: Database, redis_client: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a deployment whose new workspaces start on ``plan`` (``DEFAULT_PLAN``)."""
    settings = settings_against(fake, default_plan=plan)
    async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as c:
        yield c


async def test_a_paid_period_ends_on_the_non_expiring_plan_the_workspace_had(
    fake: FakeRazorpay, db: Database, redis_client: Redis, owner_db: Database
) -> None:
    """DEFAULT_PLAN=starter: a month of Pro ended on Free, below what the workspace had before
    it paid (the review's F4)."""
    async with deployment_on("starter", fake, db, redis_client) as client:
        owner = await signup(client, "Starter by default")
        assert (await client.get(owner.url("/usage"), headers=owner.headers)).json()[
            "plan"
        ] == "starter"
        order = await create_order(client, owner, "pro")
        payment = fake.capture_payment(order["razorpay_order_id"])
        assert (
            await verify(client, owner, order, payment["id"], fake.key_secret)
        ).status_code == 200
        assert (await client.get(owner.url("/usage"), headers=owner.headers)).json()[
            "plan"
        ] == "pro"
        await end_paid_period(owner_db, owner.workspace_id)
        usage = await client.get(owner.url("/usage"), headers=owner.headers)
        assert usage.json()["plan"] == "starter"
        assert (await subscription(client, owner))["effective_plan"] == "starter"
        workspace = await client.get(owner.url(""), headers=owner.headers)
        assert workspace.json()["plan"] == "starter"
        # Pro can be bought again; Starter is what the workspace has anyway.
        await create_order(client, owner, "pro")
        await orders_refused(client, owner, ("starter",), "plan_included")


async def test_no_plan_at_or_below_a_non_expiring_plan_can_be_bought(
    fake: FakeRazorpay, db: Database, redis_client: Redis, owner_db: Database
) -> None:
    """DEFAULT_PLAN=pro: an order for Starter was accepted (no subscription ran), and paying it
    put the workspace on Starter for a month, then on Free."""
    async with deployment_on("pro", fake, db, redis_client) as client:
        owner = await signup(client, "Pro by default")
        await orders_refused(client, owner, ("starter", "pro"), "plan_included")
        assert await count_orders(owner_db, owner.workspace_id) == 0


async def test_an_unverified_owner_cannot_buy_a_plan(
    bclient: httpx.AsyncClient, owner_db: Database
) -> None:
    unverified = await signup(bclient, "Not yet", verify=False)
    response = await bclient.post(
        unverified.url("/billing/orders"), json={"plan": "starter"}, headers=unverified.headers
    )
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "email_unverified"
    assert await count_orders(owner_db, unverified.workspace_id) == 0


async def test_orders_are_owner_only(
    bclient: httpx.AsyncClient, owner: Owner, other: Owner
) -> None:
    who = await signup(bclient, "Their own")
    await join(bclient, owner, who, "admin")  # the free plan has room for one more member
    for role in ("admin", "member"):
        if role == "member":
            changed = await bclient.patch(
                owner.url(f"/members/{who.user_id}"), json={"role": role}, headers=owner.headers
            )
            assert changed.status_code == 200, changed.text
        response = await bclient.post(
            owner.url("/billing/orders"), json={"plan": "starter"}, headers=who.headers
        )
        assert response.status_code == 403, response.text
    response = await bclient.post(
        owner.url("/billing/orders"), json={"plan": "starter"}, headers=other.headers
    )
    assert response.status_code == 404
    # Another workspace's order cannot be verified from here either.
    order = await create_order(bclient, owner)
    response = await verify(bclient, other, order, "pay_X0000000000001", "anything")
    assert response.status_code == 404


@pytest.mark.parametrize("mode", [True, "close", "slow"])
async def test_razorpay_down_is_503_with_nothing_written(
    billing_settings: Settings,
    db: Database,
    redis_client: Redis,
    owner: Owner,
    owner_db: Database,
    fake: FakeRazorpay,
    mode: object,
) -> None:
    timeout = billing_settings.razorpay_timeout_seconds
    if mode == "slow":
        # Razorpay holds the request until the test ends (the fixture opens the gate): no
        # timing decides that the client gives up first.
        fake.gate = threading.Event()
        timeout = 1.0
    else:
        fake.down = mode  # type: ignore[assignment]
    settings = billing_settings.model_copy(update={"razorpay_timeout_seconds": timeout})
    async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as c:
        response = await c.post(
            owner.url("/billing/orders"), json={"plan": "starter"}, headers=owner.headers
        )
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "payment_provider_unavailable"
    assert await count_orders(owner_db, owner.workspace_id) == 0


async def test_verify_grants_the_plan_and_quotas_follow(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    order = await create_order(bclient, owner)
    payment = fake.capture_payment(order["razorpay_order_id"])

    good = checkout_signature(order["razorpay_order_id"], payment["id"], fake.key_secret)
    bad = await bclient.post(
        owner.url("/billing/verify"),
        json={
            "razorpay_order_id": order["razorpay_order_id"],
            "razorpay_payment_id": payment["id"],
            "razorpay_signature": wrong_signature(good),
        },
        headers=owner.headers,
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_signature"
    assert (await subscription(bclient, owner))["effective_plan"] == "free"

    response = await verify(bclient, owner, order, payment["id"], fake.key_secret)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["applied"] is True
    assert body["order_status"] == "paid"
    sub = await subscription(bclient, owner)
    assert sub["plan"] == sub["effective_plan"] == "starter"
    assert sub["status"] == "active"
    end = datetime.fromisoformat(sub["current_period_end"])
    assert timedelta(days=27) < end - datetime.now(UTC) < timedelta(days=32)

    usage = await bclient.get(owner.url("/usage"), headers=owner.headers)
    assert usage.json()["plan"] == "starter"
    assert usage.json()["metrics"]["members"]["limit"] == 5

    # Verifying again changes nothing.
    again = await verify(bclient, owner, order, payment["id"], fake.key_secret)
    assert again.status_code == 200
    assert again.json()["applied"] is False
    assert (await subscription(bclient, owner))["current_period_end"] == sub["current_period_end"]

    payments = await bclient.get(owner.url("/billing/payments"), headers=owner.headers)
    assert payments.status_code == 200
    [item] = payments.json()["items"]
    assert item["razorpay_payment_id"] == payment["id"]
    assert item["status"] == "captured"
    assert item["plan"] == "starter"


async def test_an_authorized_payment_grants_the_plan_only_once_captured(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """The billing review's U1: Checkout hands over its signature once a payment is authorized,
    and verify granted the plan on it. On manual capture (or an authorization too late for
    auto-capture) nobody captures it and Razorpay refunds it days later, with the plan kept.
    Now verify asks Razorpay: authorized grants nothing; the capture does (verify captures it
    itself, tests/billing/test_capture.py; here Razorpay refuses that capture)."""
    order = await create_order(bclient, owner)
    payment = fake.authorize_payment(order["razorpay_order_id"])
    authorized = await post_webhook(bclient, webhook_payload("payment.authorized", payment=payment))
    assert authorized.status_code == 200, authorized.text
    fake.refuse_captures = True
    try:
        response = await verify(bclient, owner, order, payment["id"], fake.key_secret)
    finally:
        fake.refuse_captures = False
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["applied"], body["reason"]) == (False, "payment_not_captured")
    assert body["order_status"] != "paid"
    assert body["subscription"]["effective_plan"] == "free"
    assert (await subscription(bclient, owner))["effective_plan"] == "free"
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] != "paid"

    captured = fake.capture(payment["id"])
    applied = await post_webhook(bclient, webhook_payload("payment.captured", payment=captured))
    assert applied.json()["status"] == "applied", applied.text
    again = await verify(bclient, owner, order, payment["id"], fake.key_secret)
    assert again.status_code == 200, again.text
    assert again.json()["order_status"] == "paid"
    assert (await subscription(bclient, owner))["effective_plan"] == "starter"


async def test_verify_with_razorpay_down_is_503_and_the_webhook_still_grants(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    order = await create_order(bclient, owner)
    payment = fake.capture_payment(order["razorpay_order_id"])
    fake.down = True
    response = await verify(bclient, owner, order, payment["id"], fake.key_secret)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "payment_provider_unavailable"
    fake.down = False
    assert (await subscription(bclient, owner))["effective_plan"] == "free"
    applied = await post_webhook(bclient, webhook_payload("payment.captured", payment=payment))
    assert applied.json()["status"] == "applied", applied.text
    assert (await subscription(bclient, owner))["effective_plan"] == "starter"


async def test_a_payment_refunded_before_its_capture_is_neither_paid_nor_announced(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """The review's F13: the refund arrived first (recorded), then the capture and the
    checkout's verify: the order became `paid`, verify answered `applied`, and the owners were
    mailed "Payment received" for money that had gone back."""
    order = await create_order(bclient, owner)
    payment = fake.capture_payment(order["razorpay_order_id"])
    refund = make_refund(payment_id=payment["id"], amount=payment["amount"])
    response = await post_webhook(
        bclient, webhook_payload("refund.processed", refund=refund, payment=payment)
    )
    assert response.json()["reason"] == "refund_recorded", response.text
    verified = await verify(bclient, owner, order, payment["id"], fake.key_secret)
    assert verified.status_code == 200, verified.text
    body = verified.json()
    assert (body["applied"], body["reason"], body["order_status"]) == (
        False,
        "payment_refunded",
        "refunded",
    )
    assert body["subscription"]["effective_plan"] == "free"
    captured = await post_webhook(bclient, webhook_payload("payment.captured", payment=payment))
    assert captured.json()["status"] == "ignored", captured.text
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "refunded"
    async with owner_db.transaction() as s:
        mails = await s.scalar(
            text(
                "SELECT count(*) FROM notification_events"
                " WHERE workspace_id = :w AND kind = 'payment.captured'"
            ),
            {"w": owner.workspace_id},
        )
    assert mails == 0
    history = await bclient.get(owner.url("/billing/payments"), headers=owner.headers)
    assert [p["status"] for p in history.json()["items"]] == ["refunded"]


@pytest.mark.parametrize("first", ["verify", "webhook"])
async def test_verify_and_webhook_grant_once(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database, first: str
) -> None:
    order = await create_order(bclient, owner)
    payment = fake.capture_payment(order["razorpay_order_id"])
    payload = webhook_payload("payment.captured", payment=payment)

    async def via_webhook() -> None:
        response = await post_webhook(bclient, payload)
        assert response.status_code == 200, response.text

    async def via_verify() -> None:
        response = await verify(bclient, owner, order, payment["id"], fake.key_secret)
        assert response.status_code == 200, response.text

    steps = [via_verify, via_webhook] if first == "verify" else [via_webhook, via_verify]
    await steps[0]()
    end = (await subscription(bclient, owner))["current_period_end"]
    await steps[1]()
    sub = await subscription(bclient, owner)
    assert sub["plan"] == "starter"
    assert sub["current_period_end"] == end  # not extended a second time
    row = await sub_row(owner_db, owner.workspace_id)
    assert row["applied_payment_ids"] == [payment["id"]]
    assert (await order_row(owner_db, order["razorpay_order_id"]))["status"] == "paid"
    # The plan change is audited once, with who made it: the owner whose checkout was verified
    # (user, request), or the system for a webhook (its fields were all empty after a verify).
    async with owner_db.transaction() as s:
        entries = (
            await s.execute(
                text(
                    "SELECT actor_user_id, request_id, user_agent FROM audit_log"
                    " WHERE workspace_id = :w AND action = 'plan.changed'"
                ),
                {"w": owner.workspace_id},
            )
        ).all()
    [(user_id, request_id, user_agent)] = entries
    if first == "verify":
        assert str(user_id) == owner.user_id
        assert request_id
        assert user_agent
    else:
        assert (user_id, request_id) == (None, None)


async def test_cancel_and_downgrade_take_effect_at_period_end(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    order = await create_order(bclient, owner, "pro")
    payment = fake.capture_payment(order["razorpay_order_id"])
    assert (await verify(bclient, owner, order, payment["id"], fake.key_secret)).status_code == 200

    # A lower plan cannot be bought while the higher one runs.
    response = await bclient.post(
        owner.url("/billing/orders"), json={"plan": "starter"}, headers=owner.headers
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "downgrade_at_period_end"

    response = await bclient.post(
        owner.url("/billing/subscription/cancel"),
        json={"downgrade_to": "starter"},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    sub = response.json()
    assert sub["cancel_at_period_end"] is True
    assert sub["pending_plan"] == "starter"
    assert sub["effective_plan"] == "pro"  # still paid for
    assert (await bclient.get(owner.url("/usage"), headers=owner.headers)).json()["plan"] == "pro"

    bad = await bclient.post(
        owner.url("/billing/subscription/cancel"),
        json={"downgrade_to": "pro"},
        headers=owner.headers,
    )
    assert bad.status_code == 422

    resumed = await bclient.post(owner.url("/billing/subscription/resume"), headers=owner.headers)
    assert resumed.status_code == 200
    assert resumed.json()["cancel_at_period_end"] is False

    # Once the period has ended the workspace falls back to the free plan's quotas.
    async with owner_db.transaction() as s:
        await s.execute(
            text(
                "UPDATE workspaces SET plan_expires_at = now() - interval '1 second' WHERE id = :w"
            ),
            {"w": owner.workspace_id},
        )
    usage = await bclient.get(owner.url("/usage"), headers=owner.headers)
    assert usage.json()["plan"] == "free"
    # Every view of the workspace names the plan in effect, not the one the period was for.
    me = await bclient.get("/api/v1/me", headers=owner.headers)
    assert [w["plan"] for w in me.json()["workspaces"]] == ["free"]
    workspace = await bclient.get(owner.url(""), headers=owner.headers)
    assert workspace.json()["plan"] == "free"


def test_effective_plan_follows_expiry() -> None:
    now = datetime(2026, 1, 15, tzinfo=UTC)
    ws = Workspace(plan="pro", plan_expires_at=now + timedelta(days=1), fallback_plan="free")
    assert effective_plan(ws, now) == "pro"
    assert effective_plan(ws, now + timedelta(days=1)) == "free"
    assert effective_plan(Workspace(plan="unlimited", plan_expires_at=None), now) == "unlimited"


async def _cancel(client: httpx.AsyncClient, owner: Owner, to: str) -> httpx.Response:
    return await client.post(
        owner.url("/billing/subscription/cancel"), json={"downgrade_to": to}, headers=owner.headers
    )


async def _refused_downgrade(client: httpx.AsyncClient, owner: Owner, to: str) -> None:
    """Cancelling towards ``to`` is 422 ``invalid_downgrade``, and records nothing."""
    response = await _cancel(client, owner, to)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_downgrade"
    sub = await subscription(client, owner)
    assert (sub["cancel_at_period_end"], sub["pending_plan"]) == (False, None)


async def test_a_downgrade_to_a_plan_that_cannot_be_bought_is_refused(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    """Billing review 2, F5: ``downgrade_to: free`` was accepted, and the plan page then told
    the owner to buy the free plan, which is 422 ``plan_not_purchasable`` to order."""
    order = await create_order(bclient, owner, "pro")
    payment = fake.capture_payment(order["razorpay_order_id"])
    assert (await verify(bclient, owner, order, payment["id"], fake.key_secret)).status_code == 200
    for plan in ("free", "unlimited", "nonsense"):
        await _refused_downgrade(bclient, owner, plan)
    assert (await _cancel(bclient, owner, "starter")).json()["pending_plan"] == "starter"


async def test_a_downgrade_to_the_plan_the_workspace_falls_back_to_is_refused(
    fake: FakeRazorpay, db: Database, redis_client: Redis
) -> None:
    """DEFAULT_PLAN=starter with Pro running: ``downgrade_to: starter`` was accepted, though
    Starter is what the workspace returns to anyway (ordering it is 409 ``plan_included``)."""
    async with deployment_on("starter", fake, db, redis_client) as client:
        owner = await signup(client, "Starter underneath")
        order = await create_order(client, owner, "pro")
        payment = fake.capture_payment(order["razorpay_order_id"])
        assert (
            await verify(client, owner, order, payment["id"], fake.key_secret)
        ).status_code == 200
        await _refused_downgrade(client, owner, "starter")
        cancelled = await client.post(
            owner.url("/billing/subscription/cancel"), json={}, headers=owner.headers
        )
        assert cancelled.json()["cancel_at_period_end"] is True
