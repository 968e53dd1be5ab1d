"""Builders for a workspace linked to a Razorpay Subscription and the owner's cancel of it,
shared by the tests of held recurring charges (test_razorpay_cancel.py,
test_charges_after_cancel.py, test_cancel_edges.py, test_held_charge_notice.py,
test_held_charge_story.py): the real app, the real ``razorpay`` client against the fake and
signed webhooks, as each test set them up by hand before."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from api.runtime import Runtime
from core.db import Database
from tests.billing.conftest import event_rows, new_event_id, post_webhook
from tests.conftest import Owner
from tests.fakes.razorpay_server import FakeRazorpay, make_payment, razorpay_id, webhook_payload

DAY = 86_400
# What our cancel asks of Razorpay: at the current cycle's end, or at once.
AT_CYCLE_END = {"cancel_at_cycle_end": 1}
NOW = {"cancel_at_cycle_end": 0}


async def linked(client: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, **fields: Any) -> str:
    """A Razorpay Subscription (known to the fake) whose first event links it to the workspace
    from its signed ``notes.workspace_id``; its id."""
    sub = fake.add_subscription(
        plan_id=razorpay_id("plan"), notes={"workspace_id": owner.workspace_id}, **fields
    )
    response = await post_webhook(
        client, webhook_payload("subscription.activated", subscription=sub)
    )
    assert response.status_code == 200, response.text
    return str(sub["id"])


async def cancel(client: httpx.AsyncClient, owner: Owner) -> httpx.Response:
    return await client.post(owner.url("/billing/subscription/cancel"), headers=owner.headers)


def a_charge(sub: dict[str, Any], *, start: int, event: str = "subscription.charged") -> Any:
    """Razorpay's charge of the cycle that starts at ``start`` (its event at that time + 5 s):
    the subscription entity names that cycle; ``payment.captured`` carries only the payment."""
    payment = make_payment(order_id=razorpay_id("order"), amount=49_900)
    if event == "payment.captured":
        payment["subscription_id"] = sub["id"]
        return webhook_payload(event, payment=payment, created_at=start + 5)
    cycle = dict(sub, current_start=start, current_end=start + 30 * DAY, charge_at=start)
    return webhook_payload(event, subscription=cycle, payment=payment, created_at=start + 5)


async def charged(client: httpx.AsyncClient, owner_db: Database, payload: Any) -> tuple[str, str]:
    event_id = new_event_id()
    response = await post_webhook(client, payload, event_id=event_id)
    assert response.status_code == 200, response.text
    [row] = await event_rows(owner_db, event_id)
    return str(row["outcome"]), str(row["reason"])


def copy_of(body: dict[str, Any], n: int = 1) -> dict[str, Any]:
    """The same event delivered again as a copy whose bytes differ (re-serialised, say): judged
    by the ids and times it names. The very same signed body under a new event id is a
    ``duplicate`` before anything is judged (test_webhook_replays.py)."""
    return {**body, "delivered": n}


def payment_of(body: dict[str, Any]) -> str:
    return str(body["payload"]["payment"]["entity"]["id"])


def both_webhooks(sub: dict[str, Any], *, start: int) -> dict[str, dict[str, Any]]:
    """One charge of the cycle from ``start`` as Razorpay reports it twice: its
    ``subscription.charged`` and its payment's ``payment.captured`` (same payment, same time)."""
    body = a_charge(sub, start=start)
    payment = dict(body["payload"]["payment"]["entity"], subscription_id=sub["id"])
    captured = webhook_payload("payment.captured", payment=payment, created_at=body["created_at"])
    return {"subscription.charged": body, "payment.captured": captured}


@dataclass(frozen=True)
class CancelledAtCycleEnd:
    """A linked subscription whose cancel Razorpay took at its cycle's end."""

    sub_id: str
    sub: dict[str, Any]  # its entity as the fake holds it after the cancel
    start: int  # the cycle the owner cancelled in (Unix seconds)
    end: int  # its end, the one Razorpay confirmed for the cancel


async def cancelled_at_cycle_end(
    client: httpx.AsyncClient,
    runtime: Runtime,
    owner: Owner,
    fake: FakeRazorpay,
    *,
    days_in: int = 10,
) -> CancelledAtCycleEnd:
    """The workspace linked to a Razorpay Subscription whose 30-day cycle started ``days_in``
    days ago; the owner cancels and the job sends it: Razorpay takes the cancel at the cycle's
    end (asked once)."""
    start = int(time.time()) - days_in * DAY
    end = start + 30 * DAY
    sub_id = await linked(client, owner, fake, current_start=start, current_end=end)
    assert (await cancel(client, owner)).status_code == 200
    await runtime.jobs.drain()
    assert fake.cancels(sub_id) == [AT_CYCLE_END]
    return CancelledAtCycleEnd(sub_id, dict(fake.subscriptions[sub_id]), start, end)
