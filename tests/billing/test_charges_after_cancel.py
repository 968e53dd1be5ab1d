"""A linked Razorpay Subscription after the owner cancelled: a charge for a cycle past the end
Razorpay confirmed for the cancel is held for a refund (``charged_after_cancel``), and a
subscription first linked after the owner's cancel at period end is cancelled at Razorpay (the
real ``razorpay`` client against the fake)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import httpx
import pytest

from api.runtime import Runtime
from core.db import Database
from core.models import utcnow
from tests.billing.conftest import (
    BillingWorld,
    end_paid_period,
    pay_by_webhook,
    post_webhook,
    sub_row,
    subscription,
)
from tests.billing.razorpay_subscriptions import (
    AT_CYCLE_END,
    DAY,
    NOW,
    a_charge,
    cancel,
    cancelled_at_cycle_end,
    charged,
    linked,
)
from tests.billing.test_razorpay_cancel import delete_workspace, razorpay_says
from tests.conftest import Owner
from tests.fakes.razorpay_server import FakeRazorpay, razorpay_id, webhook_payload
from tests.lifecycle.data import tick_due


async def sweep_cancels(billing_runtime: Runtime) -> None:
    """The ``razorpay_cancels`` sweep runs and its jobs are done."""
    await tick_due(billing_runtime, "razorpay_cancels", utcnow() + timedelta(minutes=10))
    await billing_runtime.jobs.drain()


@pytest.mark.parametrize("event", ["subscription.charged", "payment.captured"])
async def test_a_charge_for_a_cycle_after_a_confirmed_cancel_at_cycle_end_is_held(
    world: BillingWorld,
    event: str,
) -> None:
    """Razorpay took the cancel at the end of the cycle running then (its answer's
    ``current_end``): a charge of a cycle starting at or after that end is money taken after
    the owner cancelled. Before, it was the ordinary ``recurring_charge`` (a ``payment.captured``
    of it ``unknown_order``): re-activated, mailed "Payment received", and nothing told the
    operator a refund was owed."""
    bclient, billing_runtime, owner, fake, owner_db = world
    cancelled = await cancelled_at_cycle_end(bclient, billing_runtime, owner, fake)
    sub, start, end = cancelled.sub, cancelled.start, cancelled.end

    # The cycle under way when the owner cancelled: its charge, delivered late, is a charge.
    assert await charged(bclient, owner_db, a_charge(sub, start=start, event=event)) == (
        "ignored",
        "recurring_charge",
    )
    # The next cycle, which the cancel stopped: held for a refund.
    assert await charged(bclient, owner_db, a_charge(sub, start=end, event=event)) == (
        "rejected",
        "charged_after_cancel",
    )
    # Still so once Razorpay said the subscription ended (its cancel took effect).
    ended = dict(sub, status="cancelled", ended_at=end)
    done = webhook_payload("subscription.cancelled", subscription=ended, created_at=end)
    assert (await post_webhook(bclient, done)).status_code == 200
    assert await charged(bclient, owner_db, a_charge(sub, start=end + 30 * DAY, event=event)) == (
        "rejected",
        "charged_after_cancel",
    )


async def paid_cancelled_and_ended(
    client: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """The owner paid a monthly plan, cancelled at period end, and the period ended a day ago
    (nothing linked meanwhile)."""
    await pay_by_webhook(client, owner, fake, "starter", "monthly", at=int(time.time()))
    assert (await cancel(client, owner)).status_code == 200
    await end_paid_period(owner_db, owner.workspace_id)


async def test_a_subscription_linked_after_the_owners_cancel_took_effect_is_cancelled_at_once(
    world: BillingWorld,
) -> None:
    """The owner cancelled at period end and the period ended; then a Razorpay Subscription
    made for the workspace sends its first webhook. Before, it was linked and nothing asked
    Razorpay to cancel it: the owner who cancelled was charged every cycle."""
    bclient, billing_runtime, owner, fake, owner_db = world
    await paid_cancelled_and_ended(bclient, owner, fake, owner_db)

    # made in Razorpay's dashboard while the period ran; its first webhook comes now
    sub_id = await linked(bclient, owner, fake, created_at=int(time.time()) - 2 * DAY)
    await sweep_cancels(billing_runtime)
    assert fake.cancels(sub_id) == [NOW]
    assert fake.subscriptions[sub_id]["status"] == "cancelled"
    view = await subscription(bclient, owner)
    assert (view["razorpay_cancel"], view["razorpay_subscription"]) == ("cancelled", "ended")


async def test_one_made_after_the_cancelled_period_ended_is_the_owner_subscribing_again(
    world: BillingWorld,
) -> None:
    """The owner cancelled at period end, the period ended, and the owner subscribes again (a
    new Razorpay Subscription, as docs/billing.md tells them): the owner's cancel was that
    period's, carried out. Before, the new one was cancelled at once on its first webhook, and
    so was every later one made while nothing was linked (``cancel_at_period_end`` stays set
    and resume is 409 once the period ended): the owner could not subscribe again."""
    bclient, billing_runtime, owner, fake, owner_db = world
    await paid_cancelled_and_ended(bclient, owner, fake, owner_db)

    sub_id = await linked(bclient, owner, fake)  # made now
    await sweep_cancels(billing_runtime)
    assert fake.cancels(sub_id) == []
    view = await subscription(bclient, owner)
    assert (view["razorpay_subscription"], view["razorpay_cancel"]) == ("active", None)


async def test_one_linked_while_the_cancelled_period_runs_is_cancelled_at_its_cycle_end(
    world: BillingWorld,
) -> None:
    """Linked while the period the owner cancelled still runs: cancelled at the end of its
    cycle, as the owner's cancel would have done had it been linked then. Its
    ``subscription.authenticated`` (the mandate, before any charge) links it too: before, that
    event was ``unsupported_event`` and linked nothing."""
    bclient, billing_runtime, owner, fake, owner_db = world
    await pay_by_webhook(bclient, owner, fake, "starter", "monthly", at=int(time.time()))
    assert (await cancel(bclient, owner)).status_code == 200

    sub = fake.add_subscription(
        plan_id=razorpay_id("plan"),
        status="authenticated",
        notes={"workspace_id": owner.workspace_id},
    )
    authenticated = webhook_payload("subscription.authenticated", subscription=sub)
    response = await post_webhook(bclient, authenticated)
    assert response.status_code == 200, response.text
    assert (await sub_row(owner_db, owner.workspace_id))["razorpay_subscription_id"] == sub["id"]
    await sweep_cancels(billing_runtime)
    assert fake.cancels(sub["id"]) == [AT_CYCLE_END]
    # Resuming our plan cannot take back what Razorpay took.
    resumed = await bclient.post(owner.url("/billing/subscription/resume"), headers=owner.headers)
    assert resumed.status_code == 409, resumed.text


async def test_a_subscription_linked_without_a_cancel_is_left_alone(
    world: BillingWorld,
) -> None:
    """A period that simply ran out (no cancel asked) cancels nothing: the owner may have made
    the subscription to go on paying."""
    bclient, billing_runtime, owner, fake, owner_db = world
    await pay_by_webhook(bclient, owner, fake, "starter", "monthly", at=int(time.time()))
    await end_paid_period(owner_db, owner.workspace_id)
    sub_id = await linked(bclient, owner, fake)
    await sweep_cancels(billing_runtime)
    assert fake.cancels(sub_id) == []
    assert (await sub_row(owner_db, owner.workspace_id))["provider_cancel"] is None


async def test_a_new_subscription_after_the_linked_one_ended_is_linked_in_its_place(
    world: BillingWorld,
) -> None:
    """Once the linked subscription was cancelled, the owner "subscribes again (a new Razorpay
    Subscription) to be charged again" (docs/billing.md). Before, every event of the new one
    was ``subscription_conflict``: its charges were judged by nothing and mailed nothing, and
    deleting the workspace did not cancel it, so the card went on being charged."""
    bclient, billing_runtime, owner, fake, owner_db = world
    started = int(time.time())
    old_id = await linked(bclient, owner, fake)
    assert (await cancel(bclient, owner)).status_code == 200
    await billing_runtime.jobs.drain()
    await razorpay_says(bclient, fake, old_id, "subscription.cancelled", "cancelled")

    # The owner subscribes again, after the old one ended.
    new = fake.add_subscription(
        plan_id=razorpay_id("plan"), notes={"workspace_id": owner.workspace_id}
    )
    activated = webhook_payload("subscription.activated", subscription=new, created_at=started + 60)
    assert (await post_webhook(bclient, activated)).status_code == 200
    new_id = str(new["id"])
    assert (await sub_row(owner_db, owner.workspace_id))["razorpay_subscription_id"] == new_id
    view = await subscription(bclient, owner)
    assert (view["razorpay_subscription"], view["razorpay_cancel"]) == ("active", None)
    await sweep_cancels(billing_runtime)
    assert fake.cancels(new_id) == []  # the owner's cancel was the old one's, carried out

    await delete_workspace(bclient, owner)
    await billing_runtime.jobs.drain()
    assert fake.cancels(new_id) == [NOW]
    # A late event of the old one (dated before it ended) links nothing back.
    old = dict(fake.subscriptions[old_id], status="active")
    late = webhook_payload("subscription.charged", subscription=old, created_at=started - 60)
    response = await post_webhook(bclient, late)
    assert response.json()["reason"] == "subscription_conflict", response.text


@pytest.mark.parametrize("status", [["active"], {"value": "active"}])
async def test_a_status_that_is_no_text_is_no_500_when_a_subscription_could_take_the_place(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database, status: Any
) -> None:
    """A signed event whose subscription ``status`` is a list or an object, for a workspace
    whose linked subscription ended: the status was looked up in a set (a 500, which Razorpay
    retries for a day). Now a status that is no text says nothing, as an absent one."""
    started = int(time.time())
    old_id = await linked(bclient, owner, fake)
    await razorpay_says(bclient, fake, old_id, "subscription.cancelled", "cancelled")
    new = fake.add_subscription(
        plan_id=razorpay_id("plan"), notes={"workspace_id": owner.workspace_id}
    )
    activated = webhook_payload(
        "subscription.activated", subscription=dict(new, status=status), created_at=started + 60
    )
    response = await post_webhook(bclient, activated)
    assert response.status_code == 200, response.text
    assert (await sub_row(owner_db, owner.workspace_id))["razorpay_subscription_id"] == new["id"]
