"""Orders are limited per workspace (``RATE_LIMIT_BILLING_ORDERS``, 10 an hour): each one is a
call to the Razorpay account every workspace shares, and a row reconcile asks Razorpay about on
every run for a week. Before, one owner (a free sign-up with a confirmed address) could create
orders as fast as the per-IP limit let them, 300 a minute: the account's rate limit spent
(every owner's checkout and verify answered 503, the cancels' sweep and reconcile stopped at
Razorpay's 429) and reconcile's pending orders grown by 400,000 a day."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from core.db import Database
from tests.billing.conftest import settings_against
from tests.billing.test_billing_api import count_orders
from tests.billing.test_dashboard_checkout import order, web_owner
from tests.conftest import Owner, client_for, join, make_runtime, signup
from tests.fakes.razorpay_server import FakeRazorpay

DEFAULT_LIMIT = 10  # RATE_LIMIT_BILLING_ORDERS=10/hour


@pytest.fixture
async def limited(
    fake: FakeRazorpay, db: Database, redis_client: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    """Billing on, rate limits on; every other limit high enough that only the orders' refuses."""
    settings = settings_against(
        fake,
        rate_limits="on",
        rate_limit_ip="10000/minute",
        rate_limit_auth="10000/minute",
        rate_limit_invitations="10000/hour",
    )
    async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as c:
        yield c


async def test_orders_are_limited_per_workspace_before_razorpay_is_asked(
    limited: httpx.AsyncClient, fake: FakeRazorpay, owner_db: Database
) -> None:
    busy, calm = await signup(limited, "Busy"), await signup(limited, "Calm")
    member = await signup(limited, "Member of Busy")
    await join(limited, busy, member, "member")

    async def order(who: Owner, plan: str = "starter", of: Owner = busy) -> httpx.Response:
        return await limited.post(
            of.url("/billing/orders"), json={"plan": plan}, headers=who.headers
        )

    # Refused orders spend nothing: a member's (403), a plan that cannot be bought (422).
    for _ in range(DEFAULT_LIMIT + 1):
        assert (await order(member)).status_code == 403
    assert (await order(busy, "free")).status_code == 422
    asked_before = len(fake.orders)
    for _ in range(DEFAULT_LIMIT):
        response = await order(busy)
        assert response.status_code == 201, response.text
    refused = await order(busy)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    # Razorpay was not asked for the refused one, and no row was written.
    assert len(fake.orders) == asked_before + DEFAULT_LIMIT
    assert await count_orders(owner_db, busy.workspace_id) == DEFAULT_LIMIT
    # Another workspace's owner is not held up by it.
    assert (await order(calm, of=calm)).status_code == 201


async def test_the_plan_pages_orders_share_the_workspaces_limit(
    limited: httpx.AsyncClient, fake: FakeRazorpay, owner_db: Database
) -> None:
    owner, web = await web_owner(limited)
    for _ in range(DEFAULT_LIMIT - 1):
        response = await limited.post(
            owner.url("/billing/orders"), json={"plan": "starter"}, headers=owner.headers
        )
        assert response.status_code == 201, response.text
    assert (await order(web)).status_code == 200  # the tenth: Checkout opens on it
    refused = await order(web)
    assert refused.status_code == 429, refused.text
    assert "Retry-After" in refused.headers
    assert await count_orders(owner_db, owner.workspace_id) == DEFAULT_LIMIT
