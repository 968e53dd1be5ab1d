"""Payments are paged on (paid_at, id): payments paid at the same moment (a restore, a bulk
import) are all listed, and the last page says there is no next one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from core.db import Database
from tests.conftest import Owner

MOMENT = datetime(2026, 1, 1, tzinfo=UTC)


async def insert_payments(owner_db: Database, owner: Owner, count: int) -> list[str]:
    """One order and ``count`` payments of it, all paid at the same moment (``MOMENT``), each
    recorded a minute after the one before."""
    order_id = uuid.uuid4()
    tag = uuid.uuid4().hex[:12]
    payment_ids = [f"pay_{tag}{n}" for n in range(count)]
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO billing_orders (id, workspace_id, plan, period, amount, currency,"
                " razorpay_order_id, status, created_at, updated_at) VALUES (:id, :w,"
                " 'starter', 'monthly', 100, 'INR', :rp, 'paid', :at, :at)"
            ),
            {"id": order_id, "w": owner.workspace_id, "rp": f"order_{tag}", "at": MOMENT},
        )
        for n, payment_id in enumerate(payment_ids):
            await session.execute(
                text(
                    "INSERT INTO billing_payments (id, workspace_id, order_id,"
                    " razorpay_payment_id, amount, currency, status, source, raw, paid_at,"
                    " created_at, updated_at) VALUES (:id, :w, :o, :rp, 100, 'INR', 'captured',"
                    " 'webhook', '{}', :paid, :at, :at)"
                ),
                {
                    "id": uuid.uuid4(),
                    "w": owner.workspace_id,
                    "o": order_id,
                    "rp": payment_id,
                    "paid": MOMENT,
                    "at": MOMENT + timedelta(minutes=n),
                },
            )
    return payment_ids


async def test_payments_at_the_same_moment_are_all_listed(
    bclient: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    payment_ids = await insert_payments(owner_db, owner, 3)
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 2}
    pages = 0
    while True:
        response = await bclient.get(
            owner.url("/billing/payments"), params=params, headers=owner.headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        seen += [p["razorpay_payment_id"] for p in page["items"]]
        if page["next_cursor"] is None:
            break
        params = {"limit": 2, "cursor": page["next_cursor"]}
    assert sorted(seen) == sorted(payment_ids)
    assert len(seen) == len(set(seen))
    assert pages == 2

    # A full last page says there is none after it.
    whole = await bclient.get(
        owner.url("/billing/payments"), params={"limit": 3}, headers=owner.headers
    )
    assert whole.json()["next_cursor"] is None
    assert whole.json()["next_before"] is None
