"""A workspace linked to a Razorpay Subscription: cancelling its plan or deleting it cancels the
subscription at Razorpay (the real ``razorpay`` client against the fake), once, retried while
Razorpay is down, without holding up the deletion."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.runtime import Runtime
from billing import provider_cancels
from billing import repository as billing_repo
from core.db import Database
from core.models import utcnow
from tests.billing.conftest import (
    BillingWorld,
    MailingWorld,
    event_rows,
    new_event_id,
    pay_by_webhook,
    payment_mails,
    post_webhook,
    sub_row,
    subscription,
)
from tests.billing.razorpay_subscriptions import AT_CYCLE_END, NOW, cancel, linked
from tests.conftest import Owner, signup
from tests.fakes.razorpay_server import FakeRazorpay, make_payment, razorpay_id, webhook_payload
from tests.lifecycle.data import tick_due

# Razorpay's webhooks of a subscription ended on its side, with the status its entity says.
ENDINGS = [("subscription.cancelled", "cancelled"), ("subscription.completed", "completed")]


async def delete_workspace(client: httpx.AsyncClient, owner: Owner) -> None:
    """The owner deletes the workspace (202: the grace period runs)."""
    confirm = {"confirm": owner.workspace["slug"]}
    deleted = await client.request("DELETE", owner.url(), json=confirm, headers=owner.headers)
    assert deleted.status_code == 202, deleted.text


async def delete_account(client: httpx.AsyncClient, owner: Owner) -> None:
    """The owner deletes their account, and with it their sole workspace (no grace: 200)."""
    gone = await client.request(
        "DELETE", "/api/v1/me", json={"password": owner.password}, headers=owner.headers
    )
    assert gone.status_code == 200, gone.text


async def audit_actions(owner_db: Database, workspace_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with owner_db.transaction() as s:
        rows = await s.execute(
            text(
                "SELECT action, details FROM audit_log WHERE workspace_id = :w"
                " AND action LIKE 'billing.razorpay%' ORDER BY created_at"
            ),
            {"w": workspace_id},
        )
        return [(str(action), dict(details or {})) for action, details in rows.all()]


async def workspace_exists(owner_db: Database, workspace_id: str) -> bool:
    async with owner_db.transaction() as s:
        found = await s.execute(text("SELECT 1 FROM workspaces WHERE id = :w"), {"w": workspace_id})
        return found.first() is not None


async def test_cancel_at_period_end_cancels_the_razorpay_subscription_at_its_cycle_end_once(
    world: BillingWorld,
) -> None:
    bclient, billing_runtime, owner, fake, owner_db = world
    sub_id = await linked(bclient, owner, fake)
    await pay_by_webhook(bclient, owner, fake, "starter", "monthly", at=int(time.time()))

    response = await cancel(bclient, owner)
    assert response.status_code == 200, response.text
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [AT_CYCLE_END]
    assert fake.subscriptions[sub_id]["status"] == "active"  # charged no more after this cycle
    view = await subscription(bclient, owner)
    assert (view["cancel_at_period_end"], view["razorpay_cancel"]) == (True, "at_cycle_end")
    [(action, details)] = await audit_actions(owner_db, owner.workspace_id)
    assert action == "billing.razorpay_cancelled"
    assert (details["subscription_id"], details["at_cycle_end"]) == (sub_id, True)

    # Cancelling again asks Razorpay nothing more.
    assert (await cancel(bclient, owner)).status_code == 200
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [AT_CYCLE_END]

    # Razorpay cannot undo a cancel: resume says so rather than pretend the renewals go on.
    resumed = await bclient.post(owner.url("/billing/subscription/resume"), headers=owner.headers)
    assert resumed.status_code == 409, resumed.text
    assert resumed.json()["error"]["code"] == "razorpay_subscription_cancelled"
    assert (await subscription(bclient, owner))["cancel_at_period_end"] is True


async def test_a_linked_subscription_without_a_paid_period_of_ours_can_still_be_cancelled(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, owner: Owner, fake: FakeRazorpay
) -> None:
    """Recurring charges grant no plan of ours: the owner charged by one must still be able to
    stop it (before: 409 ``nothing_to_cancel`` and the card charged every cycle)."""
    sub_id = await linked(bclient, owner, fake)
    response = await cancel(bclient, owner)
    assert response.status_code == 200, response.text
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [AT_CYCLE_END]


async def test_razorpay_down_at_cancel_is_retried_by_the_sweep(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, owner: Owner, fake: FakeRazorpay
) -> None:
    sub_id = await linked(bclient, owner, fake)
    fake.down = True
    response = await cancel(bclient, owner)
    assert response.status_code == 200, response.text  # the owner is not told to try again
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [AT_CYCLE_END]  # tried, answered 503
    assert (await subscription(bclient, owner))["razorpay_cancel"] == "pending"

    fake.down = False
    later = utcnow() + timedelta(hours=2)
    assert "razorpay_cancels" in await tick_due(billing_runtime, "razorpay_cancels", later)
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [AT_CYCLE_END, AT_CYCLE_END]
    assert (await subscription(bclient, owner))["razorpay_cancel"] == "at_cycle_end"
    # Done: later sweeps send nothing.
    await tick_due(billing_runtime, "razorpay_cancels", later + timedelta(hours=2))
    await billing_runtime.jobs.drain()
    assert len(fake.cancels(sub_id)) == 2


async def test_deleting_the_workspace_cancels_at_once_and_retries_while_razorpay_is_down(
    world: BillingWorld,
) -> None:
    bclient, billing_runtime, owner, fake, owner_db = world
    sub_id = await linked(bclient, owner, fake)
    fake.down = True
    await delete_workspace(bclient, owner)  # Razorpay being down holds nothing up
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [NOW]
    assert (await sub_row(owner_db, owner.workspace_id))["provider_cancel"] == "now"

    fake.down = False
    later = utcnow() + timedelta(hours=2)
    await tick_due(billing_runtime, "razorpay_cancels", later)
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [NOW, NOW]
    assert fake.subscriptions[sub_id]["status"] == "cancelled"
    row = await sub_row(owner_db, owner.workspace_id)
    assert (row["provider_cancel"], row["provider_cancelled"]) == (None, "now")
    [(action, details)] = await audit_actions(owner_db, owner.workspace_id)
    assert (action, details["at_cycle_end"]) == ("billing.razorpay_cancelled", False)

    # A renewal Razorpay charged anyway (a charge already under way) re-activates nothing and
    # is recorded for the operator to refund.
    charge = make_payment(order_id=razorpay_id("order"), amount=49_900)
    sub = dict(fake.subscriptions[sub_id])
    event_id = new_event_id()
    charged = webhook_payload("subscription.charged", subscription=sub, payment=charge)
    response = await post_webhook(bclient, charged, event_id=event_id)
    assert (response.status_code, response.json()["status"]) == (200, "rejected"), response.text
    [event] = await event_rows(owner_db, event_id)
    assert event["reason"] == "charged_after_cancel"


async def test_deleting_the_account_purges_only_once_razorpay_took_the_cancel(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, fake: FakeRazorpay, owner_db: Database
) -> None:
    """No grace (the account went with it): the purge sends the cancel first; Razorpay down, the
    purge waits for the next sweep rather than delete the only record of what to cancel."""
    owner = await signup(bclient, "Solo")
    sub_id = await linked(bclient, owner, fake)
    fake.down = True
    await delete_account(bclient, owner)
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [NOW]
    assert await workspace_exists(owner_db, owner.workspace_id)

    fake.down = False
    later = utcnow() + timedelta(hours=2)
    await tick_due(billing_runtime, "purge_deleted_workspaces", later)
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [NOW, NOW]
    assert not await workspace_exists(owner_db, owner.workspace_id)


async def test_a_subscription_razorpay_already_ended_counts_as_cancelled(
    world: BillingWorld,
) -> None:
    bclient, billing_runtime, owner, fake, owner_db = world
    sub_id = await linked(bclient, owner, fake)
    fake.subscriptions[sub_id]["status"] = "completed"
    await delete_workspace(bclient, owner)
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [NOW]  # answered 400 "not cancellable in completed status"
    row = await sub_row(owner_db, owner.workspace_id)
    assert (row["provider_cancel"], row["provider_cancelled"]) == (None, "now")
    await tick_due(billing_runtime, "razorpay_cancels", utcnow() + timedelta(hours=2))
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [NOW]


async def test_a_purge_waits_for_razorpay_a_week_at_most(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, fake: FakeRazorpay, owner_db: Database
) -> None:
    owner = await signup(bclient, "Solo")
    sub_id = await linked(bclient, owner, fake)
    fake.down = True
    await delete_account(bclient, owner)
    await billing_runtime.jobs.drain()
    assert await workspace_exists(owner_db, owner.workspace_id)

    later = utcnow() + timedelta(days=8)
    await tick_due(billing_runtime, "purge_deleted_workspaces", later)
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [NOW, NOW]  # tried once more, then purged with an ERROR
    assert not await workspace_exists(owner_db, owner.workspace_id)


async def test_without_razorpay_keys_a_deletion_with_a_linked_subscription_still_purges(
    client: httpx.AsyncClient, runtime: Runtime, owner_db: Database
) -> None:
    """Development, no keys: nothing to call, and the purge does not wait for it."""
    owner = await signup(client, "Solo")
    async with owner_db.transaction() as s:
        await s.execute(
            text(
                "INSERT INTO subscriptions (workspace_id, razorpay_subscription_id) VALUES (:w, :s)"
            ),
            {"w": owner.workspace_id, "s": razorpay_id("sub")},
        )
    await delete_account(client, owner)
    await runtime.jobs.drain()
    assert not await workspace_exists(owner_db, owner.workspace_id)


async def test_a_subscription_first_linked_after_the_deletion_is_cancelled_at_once(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, owner: Owner, fake: FakeRazorpay
) -> None:
    """Its first webhook came after the workspace was deleted (Razorpay retries one for hours
    while the server is down): the link was made and no cancel asked for, so the card went on
    being charged every cycle, each charge held for a refund, and after the purge not even
    recorded. Linking a deleted workspace asks for the cancel at once, sent by the sweep."""
    await delete_workspace(bclient, owner)
    await billing_runtime.jobs.drain()
    sub_id = await linked(bclient, owner, fake)
    await tick_due(billing_runtime, "razorpay_cancels", utcnow() + timedelta(minutes=10))
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [NOW]
    assert fake.subscriptions[sub_id]["status"] == "cancelled"


async def test_a_cancel_a_late_job_is_sending_is_not_sent_again_meanwhile(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, owner: Owner, fake: FakeRazorpay
) -> None:
    """The sweep hands its job the sweep's time: a job run minutes later (a busy queue) held
    its send until that time plus two minutes, already past, so the next sweep or a purge sent
    the same cancel again while the first still waited for Razorpay's answer."""
    sub_id = await linked(bclient, owner, fake)
    workspace_id = uuid.UUID(owner.workspace_id)
    swept = utcnow() - timedelta(minutes=10)  # the sweep that enqueued the late job
    async with billing_runtime.db.transaction(workspace_id=workspace_id) as session:
        sub = await billing_repo.lock_existing_subscription(session, workspace_id)
        assert sub is not None  # a deletion's cancel, due since before that sweep
        assert await provider_cancels.request(
            session, workspace_id, sub, "now", swept - timedelta(minutes=1)
        )
    # The late job claims the send and is waiting for Razorpay (its call not answered yet)...
    assert await provider_cancels._claim(billing_runtime.db, workspace_id, swept) is not None
    # ...when the next sweep's job comes: it leaves the send to the first.
    outcome = await provider_cancels.send(
        billing_runtime.db,
        billing_runtime.payments,
        workspace_id,
        mark=billing_runtime.lifecycle.razorpay_mark,
    )
    assert (outcome, fake.cancels(sub_id)) == ("nothing", [])


async def razorpay_says(
    client: httpx.AsyncClient, fake: FakeRazorpay, sub_id: str, event: str, status: str
) -> httpx.Response:
    """Razorpay moved the subscription to ``status`` on its own side (the owner in Razorpay's
    dashboard, its last cycle charged, its retries exhausted) and sends ``event``."""
    fake.subscriptions[sub_id].update(status=status, ended_at=int(time.time()))
    payload = webhook_payload(event, subscription=dict(fake.subscriptions[sub_id]))
    response = await post_webhook(client, payload)
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize(("event", "status"), ENDINGS)
async def test_a_subscription_razorpay_ended_is_shown_cancelled_and_never_cancelled_again(
    world: BillingWorld,
    event: str,
    status: str,
) -> None:
    """The owner cancelled in Razorpay's dashboard (or its last cycle was charged): before, our
    row kept it as live, so cancel was still accepted and sent, and a deletion sent another."""
    bclient, billing_runtime, owner, fake, owner_db = world
    sub_id = await linked(bclient, owner, fake)
    await razorpay_says(bclient, fake, sub_id, event, status)
    assert (await subscription(bclient, owner))["razorpay_cancel"] == "cancelled"
    # Delivered again (a new event id, the same signed body): nothing more is recorded.
    await razorpay_says(bclient, fake, sub_id, event, status)
    [(action, details)] = await audit_actions(owner_db, owner.workspace_id)
    assert (action, details["subscription_id"], details["event"]) == (
        "billing.razorpay_subscription_ended",
        sub_id,
        event,
    )

    # Nothing of ours runs and nothing is left to stop at Razorpay.
    refused = await cancel(bclient, owner)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "nothing_to_cancel"
    await delete_workspace(bclient, owner)
    await tick_due(billing_runtime, "razorpay_cancels", utcnow() + timedelta(hours=2))
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == []


async def test_razorpay_ending_it_while_our_cancel_waits_stops_the_retries(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, owner: Owner, fake: FakeRazorpay
) -> None:
    sub_id = await linked(bclient, owner, fake)
    await pay_by_webhook(bclient, owner, fake, "starter", "monthly", at=int(time.time()))
    fake.down = True
    assert (await cancel(bclient, owner)).status_code == 200
    await billing_runtime.jobs.drain()
    assert (await subscription(bclient, owner))["razorpay_cancel"] == "pending"

    fake.down = False
    await razorpay_says(bclient, fake, sub_id, "subscription.cancelled", "cancelled")
    view = await subscription(bclient, owner)
    assert (view["razorpay_cancel"], view["cancel_at_period_end"]) == ("cancelled", True)
    await tick_due(billing_runtime, "razorpay_cancels", utcnow() + timedelta(hours=2))
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [AT_CYCLE_END]  # the one that met Razorpay down, no more
    resumed = await bclient.post(owner.url("/billing/subscription/resume"), headers=owner.headers)
    assert resumed.status_code == 409, resumed.text
    assert resumed.json()["error"]["code"] == "razorpay_subscription_cancelled"


async def test_a_halted_subscription_is_not_taken_as_ended(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, owner: Owner, fake: FakeRazorpay
) -> None:
    """Halted (every retry failed) is not an end: a new card makes it active again, so the
    owner's cancel is still sent."""
    sub_id = await linked(bclient, owner, fake)
    await razorpay_says(bclient, fake, sub_id, "subscription.halted", "halted")
    assert (await subscription(bclient, owner))["razorpay_cancel"] is None
    assert (await cancel(bclient, owner)).status_code == 200
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [AT_CYCLE_END]
    assert (await subscription(bclient, owner))["razorpay_cancel"] == "at_cycle_end"


async def test_the_last_cycles_charge_delivered_after_completed_is_still_a_charge(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, owner: Owner, fake: FakeRazorpay
) -> None:
    """Razorpay ending a subscription (after the owner's cancel at the cycle's end) changes how
    no charge is judged: its last charge, delivered after ``subscription.completed``, is the
    owner's ordinary charge, not ``charged_after_cancel``."""
    sub_id = await linked(bclient, owner, fake)
    assert (await cancel(bclient, owner)).status_code == 200
    await billing_runtime.jobs.drain()
    await razorpay_says(bclient, fake, sub_id, "subscription.completed", "completed")
    charge = make_payment(order_id=razorpay_id("order"), amount=49_900)
    charged = webhook_payload(
        "subscription.charged",
        subscription=dict(fake.subscriptions[sub_id]),
        payment=charge,
        created_at=int(time.time()) + 60,  # charged after the owner asked to cancel
    )
    response = await post_webhook(bclient, charged)
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["reason"]) == (
        "ignored",
        "recurring_charge",
    )


async def test_razorpay_ending_a_subscription_mails_nothing_however_often_it_comes(
    mailing_world: MailingWorld,
) -> None:
    runtime, client, fake, smtp, _ = mailing_world
    owner = await signup(client, "Acme")
    sub_id = await linked(client, owner, fake)
    before = len(await payment_mails(runtime, smtp, owner.email, subject=""))
    for _ in range(3):  # Razorpay retries it; a replay comes under new event ids
        await razorpay_says(client, fake, sub_id, "subscription.cancelled", "cancelled")
    await razorpay_says(client, fake, sub_id, "subscription.completed", "completed")
    assert len(await payment_mails(runtime, smtp, owner.email, subject="")) == before
    assert (await subscription(client, owner))["razorpay_cancel"] == "cancelled"


async def waiting_cancel(billing_runtime: Runtime, owner: Owner) -> uuid.UUID:
    """A cancel at the cycle's end recorded but not sent yet (its job not run: the queue was
    out of reach); the workspace's id."""
    workspace_id = uuid.UUID(owner.workspace_id)
    async with billing_runtime.db.transaction(workspace_id=workspace_id) as session:
        sub = await billing_repo.lock_existing_subscription(session, workspace_id)
        assert sub is not None
        assert await provider_cancels.request(session, workspace_id, sub, "cycle_end", utcnow())
    return workspace_id


async def test_resume_takes_back_a_cancel_not_sent_yet_without_a_paid_period(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, owner: Owner, fake: FakeRazorpay
) -> None:
    """A linked subscription with no paid period of ours may be cancelled; taking that cancel
    back before it was sent was 409 ``nothing_to_resume``."""
    sub_id = await linked(bclient, owner, fake)
    workspace_id = await waiting_cancel(billing_runtime, owner)
    resumed = await bclient.post(owner.url("/billing/subscription/resume"), headers=owner.headers)
    assert resumed.status_code == 200, resumed.text
    assert (resumed.json()["razorpay_cancel"], resumed.json()["razorpay_subscription"]) == (
        None,
        "active",
    )
    outcome = await provider_cancels.send(
        billing_runtime.db,
        billing_runtime.payments,
        workspace_id,
        mark=billing_runtime.lifecycle.razorpay_mark,
    )
    assert (outcome, fake.cancels(sub_id)) == ("nothing", [])
