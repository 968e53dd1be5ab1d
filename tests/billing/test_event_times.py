"""A signed event whose time is near year 9999 is rejected, never a 500 (billing review 2, F2):
a paid period added to it did not fit a datetime, and Razorpay retried the 500 for a day."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from core.db import Database
from tests.billing.conftest import (
    create_order,
    event_rows,
    new_event_id,
    post_webhook,
    subscription,
)
from tests.conftest import Owner
from tests.fakes.razorpay_server import FakeRazorpay, webhook_payload

LAST_SECOND_OF_9999 = 253402300799
ENDS_IN_9999 = text(
    "UPDATE subscriptions SET current_period_end = '9999-12-15T00:00:00Z',"
    " paid_periods = '[]'::jsonb, applied_payment_ids = '{}' WHERE workspace_id = :w"
)


async def test_a_capture_dated_9999_is_rejected_not_500(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    order = await create_order(bclient, owner, "starter")
    payment = fake.capture_payment(order["razorpay_order_id"])
    event_id = new_event_id()
    late = webhook_payload("payment.captured", payment=payment, created_at=LAST_SECOND_OF_9999)
    response = await post_webhook(bclient, late, event_id=event_id)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    assert response.json()["reason"] == "invalid_payload"
    assert (await subscription(bclient, owner))["effective_plan"] == "free"
    # The same payment with its true time is applied.
    response = await post_webhook(bclient, webhook_payload("payment.captured", payment=payment))
    assert response.json()["status"] == "applied", response.text
    assert (await subscription(bclient, owner))["effective_plan"] == "starter"


async def test_an_extension_past_year_9999_is_rejected_not_500(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """The backstop: a period that starts where one ending in December 9999 ends cannot end a
    month later. Recorded as rejected, the stored period kept."""
    first = await create_order(bclient, owner, "starter")
    paid = fake.capture_payment(first["razorpay_order_id"])
    assert (await post_webhook(bclient, webhook_payload("payment.captured", payment=paid))).json()[
        "status"
    ] == "applied"
    async with owner_db.transaction() as s:
        await s.execute(ENDS_IN_9999, {"w": owner.workspace_id})
    second = await create_order(bclient, owner, "starter")
    payment = fake.capture_payment(second["razorpay_order_id"])
    event_id = new_event_id()
    response = await post_webhook(
        bclient, webhook_payload("payment.captured", payment=payment), event_id=event_id
    )
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["reason"]) == ("rejected", "invalid_payload")
    [row] = await event_rows(owner_db, event_id)
    assert row["outcome"] == "rejected"
    shown = await subscription(bclient, owner)
    assert shown["current_period_end"].startswith("9999-12-15")
