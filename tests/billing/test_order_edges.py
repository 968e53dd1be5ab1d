"""Billing round 3 (the owner's and the payment provider's side): buying holds no transaction
across Razorpay, and payments Razorpay reports in unusual orders or states change what they
should and mail what they should."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import text

from core.db import Database
from tests.billing.test_billing_api import count_orders
from tests.conftest import Owner, make_settings
from tests.fakes.razorpay_server import FakeRazorpay


async def _idle_in_transaction(owner_db: Database) -> list[tuple[str, str]]:
    """This test database's other sessions idle inside a transaction: (user, last query)."""
    async with owner_db.transaction() as s:
        rows = await s.execute(
            text(
                "SELECT usename, left(query, 80) FROM pg_stat_activity"
                " WHERE state = 'idle in transaction' AND datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
        )
        return [(str(user), str(query)) for user, query in rows.all()]


async def test_no_transaction_is_held_while_razorpay_creates_the_order(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """A slow Razorpay kept the request's pooled connection idle in transaction for the whole
    call (up to RAZORPAY_TIMEOUT_SECONDS + 1 s): a few owners clicking "Upgrade" at once used
    up the pool every tenant's widget waits on."""
    fake.latency = 0.9  # the client's timeout is 1 s
    asked = len([r for r in fake.requests if r.path == "/v1/orders"])
    task = asyncio.create_task(
        bclient.post(owner.url("/billing/orders"), json={"plan": "starter"}, headers=owner.headers)
    )
    for _ in range(500):  # until Razorpay has the request (it answers 0.9 s later)
        if len([r for r in fake.requests if r.path == "/v1/orders"]) > asked:
            break
        await asyncio.sleep(0.001)
    held = await _idle_in_transaction(owner_db)
    assert not task.done()  # looked while Razorpay was still answering
    response = await task
    assert response.status_code == 201, response.text
    assert held == [], held
    assert await count_orders(owner_db, owner.workspace_id) == 1


async def test_an_order_razorpay_created_but_we_could_not_store_is_a_clear_503(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """Razorpay created the order, then writing our row failed (here: an id longer than the
    column): a 500 before. Now 503 ``order_not_recorded``; Checkout never opened on that order,
    so nothing was paid, and ordering again works."""
    fake.next_order_id = "order_" + "x" * 80
    response = await bclient.post(
        owner.url("/billing/orders"), json={"plan": "starter"}, headers=owner.headers
    )
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "order_not_recorded"
    assert "nothing was charged" in response.json()["error"]["message"]
    assert await count_orders(owner_db, owner.workspace_id) == 0
    again = await bclient.post(
        owner.url("/billing/orders"), json={"plan": "starter"}, headers=owner.headers
    )
    assert again.status_code == 201, again.text
    assert await count_orders(owner_db, owner.workspace_id) == 1


def test_the_razorpay_timeout_stays_well_below_the_idle_transaction_timeout() -> None:
    with pytest.raises(ValidationError):
        make_settings(razorpay_timeout_seconds=59)
    assert make_settings(razorpay_timeout_seconds=30).razorpay_timeout_seconds == 30
