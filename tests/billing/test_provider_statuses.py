"""Razorpay answering 401 (the server's API keys refused) or 429 (rate limited).

The ``razorpay`` client (2.0.1) raises the same ``BadRequestError`` for both as for a 400
refusal (Razorpay's code is ``BAD_REQUEST_ERROR`` in all three). So a rate-limited checkout was
502 "refused", a cancel sent while rate limited was given up for good (never retried: the owner
went on being charged), a cancel sent with bad keys likewise, and the operator read "refused"
where the keys were wrong. Now a 401 is ``payment_provider_keys_refused`` (503, logged at
ERROR naming the settings to check; whatever asked is retried once the keys are fixed) and a
429 is ``payment_provider_unavailable`` (503, ``Retry-After``; retried later).

The real app and the real ``razorpay`` client against the local fake.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from api.runtime import Runtime
from billing import provider_cancels
from billing.provider import RazorpayProvider
from billing.reconcile import STOPPED, reconcile
from core.config import Settings
from core.db import Database
from core.models import utcnow
from tests.billing.conftest import BillingWorld, create_order, sub_row, subscription
from tests.billing.razorpay_subscriptions import AT_CYCLE_END, NOW, cancel, linked
from tests.billing.test_razorpay_cancel import delete_account, workspace_exists
from tests.conftest import client_for, make_runtime, signup
from tests.fakes.razorpay_server import FakeRazorpay
from tests.lifecycle.data import tick_due

WRONG_SECRET = "not_the_key_secret_0001"


@pytest.fixture
async def bad_keys(
    billing_settings: Settings, db: Database, redis_client: Redis
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    """The app whose Razorpay key secret is not the account's: every call answers 401."""
    settings = billing_settings.model_copy(update={"razorpay_key_secret": WRONG_SECRET})
    async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as client:
        yield runtime, client


async def order_count(owner_db: Database, workspace_id: str) -> int:
    async with owner_db.transaction() as s:
        query = text("SELECT count(*) FROM billing_orders WHERE workspace_id = :w")
        return int((await s.execute(query, {"w": workspace_id})).scalar_one())


def assert_rate_limited(response: httpx.Response, retry_after: str) -> None:
    """Razorpay's 429, as an owner's checkout reads it: 503 ``payment_provider_unavailable``,
    ``reason`` ``rate_limited``, with ``retry_after`` (the ``Retry-After`` header)."""
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert (error["code"], error["details"]["reason"]) == (
        "payment_provider_unavailable",
        "rate_limited",
    )
    assert response.headers["Retry-After"] == retry_after


async def test_a_checkout_with_keys_razorpay_refuses_tells_the_operator_and_stores_nothing(
    bad_keys: tuple[Runtime, httpx.AsyncClient],
    owner_db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, client = bad_keys
    owner = await signup(client, "Bad Keys Co")
    with caplog.at_level(logging.ERROR, logger="trulybot.billing"):
        response = await client.post(
            owner.url("/billing/orders"), json={"plan": "starter"}, headers=owner.headers
        )
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "payment_provider_keys_refused", error
    assert error["details"]["operation"] == "create_order"
    assert await order_count(owner_db, owner.workspace_id) == 0
    told = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("RAZORPAY_KEY_SECRET" in line and "401" in line for line in told), told


@pytest.mark.parametrize(
    ("razorpay_says", "we_say"),
    [
        (None, "60"),
        ("120", "120"),
        ("-5", "60"),
        ("Sun, 06 Nov 1994 08:49:37 GMT", "1"),  # a date past: now
        ("Wed, 21 Oct 99999999999999999999 07:28:00 GMT", "60"),
        ("\u00b2", "60"),  # a digit to str.isdigit, none to int(): "2" raised to the power
    ],
    ids=["none", "seconds", "negative", "date-past", "year-overflow", "superscript-two"],
)
async def test_a_rate_limited_checkout_is_try_again_later_and_stores_nothing(
    world: BillingWorld, razorpay_says: str | None, we_say: str
) -> None:
    """``Retry-After``: Razorpay's when its 429 carries one (was always 60), else 60. One this
    server cannot read is none: before, a date whose year overflowed raised OverflowError from
    the response hook (500, and the cancel sweep's job died at it), and "\u00b2" a ValueError
    (the 429 taken for an unreadable answer: no rate limit, no mark)."""
    bclient, _, owner, fake, owner_db = world
    fake.throttled_paths.add("/v1/orders")
    fake.retry_after = razorpay_says
    try:
        response = await bclient.post(
            owner.url("/billing/orders"), json={"plan": "starter"}, headers=owner.headers
        )
    finally:
        fake.throttled_paths.clear()
    assert_rate_limited(response, we_say)
    assert await order_count(owner_db, owner.workspace_id) == 0
    assert (await create_order(bclient, owner))["razorpay_order_id"]  # and later it works


async def test_a_cancel_rate_limited_by_razorpay_is_retried_not_given_up(
    world: BillingWorld,
) -> None:
    bclient, billing_runtime, owner, fake, owner_db = world
    sub_id = await linked(bclient, owner, fake)
    path = f"/v1/subscriptions/{sub_id}/cancel"
    fake.throttled_paths.add(path)
    try:
        assert (await cancel(bclient, owner)).status_code == 200
        await billing_runtime.jobs.drain()
    finally:
        fake.throttled_paths.discard(path)
    assert fake.cancels(sub_id) == [AT_CYCLE_END]  # asked, answered 429
    assert (await subscription(bclient, owner))["razorpay_cancel"] == "pending"
    row = await sub_row(owner_db, owner.workspace_id)
    assert row["provider_cancel"] == "cycle_end", row
    assert "rate limited" in row["provider_cancel_error"], row

    assert billing_runtime.payments is not None
    later = utcnow() + timedelta(hours=2)
    workspace = row["workspace_id"]
    sent = await provider_cancels.send(
        billing_runtime.db,
        billing_runtime.payments,
        workspace,
        mark=billing_runtime.lifecycle.razorpay_mark,
        now=later,
    )
    assert sent == "cancelled"
    assert fake.cancels(sub_id) == [AT_CYCLE_END, AT_CYCLE_END]
    assert (await subscription(bclient, owner))["razorpay_cancel"] == "at_cycle_end"


async def test_a_cancel_sent_with_refused_keys_waits_for_the_right_keys(
    bad_keys: tuple[Runtime, httpx.AsyncClient],
    billing_runtime: Runtime,
    fake: FakeRazorpay,
    owner_db: Database,
) -> None:
    """Sent by a replica with wrong keys (401): kept waiting, the error saying so; a replica
    with the right keys sends it later. Before, it was given up for good."""
    bad_runtime, client = bad_keys
    owner = await signup(client, "Keys Cancel Co")
    sub_id = await linked(client, owner, fake)
    assert (await cancel(client, owner)).status_code == 200
    await bad_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [AT_CYCLE_END]
    row = await sub_row(owner_db, owner.workspace_id)
    assert row["provider_cancel"] == "cycle_end", row
    assert "API keys" in row["provider_cancel_error"], row

    assert billing_runtime.payments is not None
    later = utcnow() + timedelta(hours=2)
    sent = await provider_cancels.send(
        billing_runtime.db,
        billing_runtime.payments,
        row["workspace_id"],
        mark=billing_runtime.lifecycle.razorpay_mark,
        now=later,
    )
    assert sent == "cancelled"
    assert (await subscription(client, owner))["razorpay_cancel"] == "at_cycle_end"


async def test_reconcile_tells_refused_keys_and_rate_limits_apart_from_refusals(
    world: BillingWorld, billing_settings: Settings
) -> None:
    bclient, billing_runtime, owner, fake, _ = world
    order = await create_order(bclient, owner)
    rzp = order["razorpay_order_id"]
    wrong = RazorpayProvider(
        key_id=fake.key_id,
        key_secret=WRONG_SECRET,
        base_url=fake.base_url,
        timeout_seconds=billing_settings.razorpay_timeout_seconds,
    )
    await create_order(bclient, owner, "pro")  # two pending orders (and other tests')
    asked = len(fake.requests)
    report = await reconcile(billing_runtime.db, wrong, older_than=timedelta(0))
    # Refused once, then no more asking: every other call would be refused alike.
    assert [r.authenticated for r in fake.requests[asked:]] == [False]
    [line] = [d for d in report.details if "API keys (HTTP 401)" in d]
    assert report.details[-1] == STOPPED, report.details
    assert (report.provider_errors, report.applied) == (1, 0)

    path = f"/v1/orders/{rzp}/payments"
    fake.throttled_paths.add(path)
    try:
        assert billing_runtime.payments is not None
        report = await reconcile(
            billing_runtime.db, billing_runtime.payments, older_than=timedelta(0)
        )
    finally:
        fake.throttled_paths.discard(path)
    line = next(d for d in report.details if d.startswith(f"{rzp}:"))
    assert "rate limited this server (HTTP 429)" in line, line


async def test_a_purge_whose_cancel_meets_refused_keys_waits_a_week_at_most(
    bad_keys: tuple[Runtime, httpx.AsyncClient], fake: FakeRazorpay, owner_db: Database
) -> None:
    """Review 11: a cancel answered 401 is retried, never given up, so the purge that waits
    for it must still end: it waits as while Razorpay is down (``PATIENCE``), then purges."""
    runtime, client = bad_keys
    owner = await signup(client, "Keys Purge Co")
    sub_id = await linked(client, owner, fake)
    await delete_account(client, owner)
    await runtime.jobs.drain()
    assert fake.cancels(sub_id) == [NOW]  # answered 401
    await tick_due(runtime, "purge_deleted_workspaces", utcnow() + timedelta(hours=2))
    await runtime.jobs.drain()
    assert await workspace_exists(owner_db, owner.workspace_id)  # waits for the right keys
    await tick_due(runtime, "purge_deleted_workspaces", utcnow() + timedelta(days=8))
    await runtime.jobs.drain()
    assert not await workspace_exists(owner_db, owner.workspace_id)
