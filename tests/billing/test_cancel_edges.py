"""A linked Razorpay Subscription's charges judged against the owner's cancel at its edges: a
cancel Razorpay took only after a renewal, a subscription whose first charge links it after
the owner's cancel took effect, and the two webhooks of one charge held once (the real
``razorpay`` client against the fake, signed webhooks)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from core.models import utcnow
from tests.billing.conftest import BillingWorld, post_webhook, sub_row, subscription
from tests.billing.razorpay_subscriptions import (
    AT_CYCLE_END,
    DAY,
    NOW,
    a_charge,
    both_webhooks,
    cancel,
    cancelled_at_cycle_end,
    charged,
    copy_of,
    linked,
    payment_of,
)
from tests.billing.test_charges_after_cancel import paid_cancelled_and_ended, sweep_cancels
from tests.billing.test_razorpay_cancel import (
    ENDINGS,
    delete_workspace,
    razorpay_says,
    workspace_exists,
)
from tests.conftest import Owner, signup
from tests.fakes.razorpay_server import FakeRazorpay, make_refund, razorpay_id, webhook_payload
from tests.lifecycle.data import tick_due


async def flagged_rows(owner_db: Database, body: dict[str, Any]) -> list[tuple[str, str]]:
    """The billing events of the payment ``body`` names (event type, reason) recorded
    ``rejected`` / ``charged_after_cancel``: what the operator refunds from (docs/billing.md)."""
    payment_id = payment_of(body)
    async with owner_db.transaction() as s:
        rows = await s.execute(
            text(
                "SELECT event_type, reason FROM billing_events WHERE razorpay_payment_id = :p"
                " AND reason = 'charged_after_cancel'"
            ),
            {"p": payment_id},
        )
        return [(str(kind), str(reason)) for kind, reason in rows.all()]


async def renewed_while_the_cancel_waited(
    client: httpx.AsyncClient,
    billing_runtime: Runtime,
    owner: Owner,
    fake: FakeRazorpay,
    owner_db: Database,
) -> tuple[str, dict[str, Any], int, int]:
    """The owner cancelled a day ago, while the cycle ending 12 hours ago ran; Razorpay was
    down, so the cancel still waits, and renewed the subscription at that end: (its id, its
    renewed entity, the owner's cycle's start and end)."""
    now = int(time.time())
    start, end = now - 30 * DAY + 12 * 3600, now - 12 * 3600
    sub_id = await linked(client, owner, fake, current_start=start, current_end=end)
    fake.down = True
    assert (await cancel(client, owner)).status_code == 200
    await billing_runtime.jobs.drain()
    async with owner_db.transaction() as s:  # asked a day ago, before the renewal
        await s.execute(
            text(
                "UPDATE subscriptions SET provider_cancel_requested_at = now() - interval '1 day'"
                " WHERE workspace_id = :w"
            ),
            {"w": owner.workspace_id},
        )
    renewed = {"current_start": end, "current_end": end + 30 * DAY, "charge_at": end + 30 * DAY}
    fake.subscriptions[sub_id].update(renewed)
    return sub_id, dict(fake.subscriptions[sub_id]), start, end


async def first_charge_held(
    client: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay, owner_db: Database
) -> tuple[dict[str, Any], int]:
    """The owner cancelled at period end and the period ended a day ago; a Razorpay
    Subscription made while it ran is first heard of by its charge for a cycle that started an
    hour ago, which links it, asks for its cancel at once and is held: (the subscription, that
    cycle's start)."""
    await paid_cancelled_and_ended(client, owner, fake, owner_db)
    made = int(time.time()) - 2 * DAY
    sub = fake.add_subscription(
        plan_id=razorpay_id("plan"), notes={"workspace_id": owner.workspace_id}, created_at=made
    )
    cycle = int(time.time()) - 3600
    assert await charged(client, owner_db, a_charge(sub, start=cycle)) == (
        "rejected",
        "charged_after_cancel",
    )
    return sub, cycle


async def test_a_cancel_razorpay_took_after_a_renewal_holds_that_renewal(
    world: BillingWorld,
) -> None:
    """The owner cancelled a day ago, while the cycle ending 12 hours ago ran: the plan page
    told them Razorpay charges the card no more once that cycle ends. Razorpay was down and
    renewed the subscription before the cancel reached it. Before, the renewal's charge was the
    ordinary ``recurring_charge`` ("Payment received", nothing to refund): delivered while the
    cancel waited, nothing was known of its end; delivered after, Razorpay's answer names the
    renewed cycle, whose end was stored."""
    bclient, billing_runtime, owner, fake, owner_db = world
    sub_id, sub, start, end = await renewed_while_the_cancel_waited(
        bclient, billing_runtime, owner, fake, owner_db
    )
    # The renewal's webhook comes while our cancel still waits.
    assert await charged(bclient, owner_db, a_charge(sub, start=end)) == (
        "rejected",
        "charged_after_cancel",
    )
    # Razorpay is back and takes the cancel, naming the renewed cycle.
    fake.down = False
    await sweep_cancels(billing_runtime)
    assert fake.cancels(sub_id)[-1] == AT_CYCLE_END
    assert (await subscription(bclient, owner))["razorpay_cancel"] == "at_cycle_end"
    # The cycle the owner was told of, its charge delivered late: a charge.
    assert await charged(bclient, owner_db, a_charge(sub, start=start)) == (
        "ignored",
        "recurring_charge",
    )
    # A charge of the renewed cycle judged now, by what Razorpay's answer stored (a
    # payment.captured names no cycle: its time is taken), is held too.
    assert await charged(bclient, owner_db, a_charge(sub, start=end, event="payment.captured")) == (
        "rejected",
        "charged_after_cancel",
    )


async def test_the_first_charge_of_a_subscription_linked_after_the_cancel_took_effect_is_held(
    world: BillingWorld,
) -> None:
    """The owner cancelled at period end and the period ended a day ago; a Razorpay
    Subscription made while it ran is first heard of by its charge for a cycle that started an
    hour ago. That charge links it and asks for its cancel at once, but before, it was the
    ordinary ``recurring_charge`` itself: money taken after the owner's cancel took effect,
    mailed "Payment received", with nothing telling the operator to refund it."""
    bclient, billing_runtime, owner, fake, owner_db = world
    sub, cycle = await first_charge_held(bclient, owner, fake, owner_db)
    assert (await sub_row(owner_db, owner.workspace_id))["razorpay_subscription_id"] == sub["id"]
    await sweep_cancels(billing_runtime)
    assert fake.cancels(sub["id"]) == [NOW]
    # Its next cycle, charged before Razorpay took the cancel, is held too.
    assert await charged(bclient, owner_db, a_charge(sub, start=cycle + 30 * DAY)) == (
        "rejected",
        "charged_after_cancel",
    )


async def test_a_charge_held_after_a_cancel_is_flagged_once_for_both_its_webhooks(
    world: BillingWorld,
) -> None:
    """Razorpay reports one recurring charge twice, as ``subscription.charged`` and as its
    payment's ``payment.captured``. Held after the owner's cancel, both were recorded
    ``charged_after_cancel``: the operator's query (docs/billing.md) listed one charge twice,
    one refund owed. Now the charge is flagged once, whichever comes first; the other is
    recorded as the same charge."""
    bclient, billing_runtime, owner, fake, owner_db = world
    cancelled = await cancelled_at_cycle_end(bclient, billing_runtime, owner, fake)
    sub, end = cancelled.sub, cancelled.end

    for first, second in (
        ("subscription.charged", "payment.captured"),
        ("payment.captured", "subscription.charged"),
    ):
        both = both_webhooks(sub, start=end + 30 * DAY)
        assert await charged(bclient, owner_db, both[first]) == ("rejected", "charged_after_cancel")
        assert await charged(bclient, owner_db, both[second]) == ("ignored", "charge_already_held")
        # The same signed body under a new event id is that delivery again (nothing stored),
        # and a copy that differs (re-serialised, say) holds nothing more either.
        again = await post_webhook(bclient, both[first])
        assert again.json()["status"] == "duplicate", again.text
        copy = copy_of(both[first])
        assert await charged(bclient, owner_db, copy) == ("ignored", "charge_already_held")
        assert await flagged_rows(owner_db, both[first]) == [(first, "charged_after_cancel")]
    # Both at once: the second waits for the first on the subscription's row.
    both = both_webhooks(sub, start=end + 60 * DAY)
    outcomes = await asyncio.gather(*(charged(bclient, owner_db, body) for body in both.values()))
    assert sorted(outcomes) == [
        ("ignored", "charge_already_held"),
        ("rejected", "charged_after_cancel"),
    ]


@pytest.mark.parametrize("earlier_build", [False, True])
async def test_the_purge_names_a_charge_held_after_the_cancel_once(
    bclient: httpx.AsyncClient,
    billing_runtime: Runtime,
    fake: FakeRazorpay,
    owner_db: Database,
    caplog: pytest.LogCaptureFixture,
    earlier_build: bool,
) -> None:
    """The workspace was deleted and its subscription cancelled at once; a charge Razorpay
    took anyway, in the grace period, is held (``charged_after_cancel``). The purge deletes
    the event rows the operator's query finds it by: before, its log named the payments held
    or rejected but not such a charge, so after the purge nothing but the flag's own WARNING
    was left of it. Now it is named once, as those are; also when an earlier build flagged
    both of its webhooks (two rows, one charge), which was named twice."""
    owner = await signup(bclient, "Solo")
    sub_id = await linked(bclient, owner, fake)
    await delete_workspace(bclient, owner)
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [NOW]
    both = both_webhooks(dict(fake.subscriptions[sub_id]), start=int(time.time()))
    assert await charged(bclient, owner_db, both["subscription.charged"]) == (
        "rejected",
        "charged_after_cancel",
    )
    assert await charged(bclient, owner_db, both["payment.captured"]) == (
        "ignored",
        "charge_already_held",
    )
    payment_id = payment_of(both["subscription.charged"])
    if earlier_build:  # it recorded the second webhook of the charge as the first
        async with owner_db.transaction() as s:
            await s.execute(
                text(
                    "UPDATE billing_events SET outcome = 'rejected',"
                    " reason = 'charged_after_cancel' WHERE razorpay_payment_id = :p"
                ),
                {"p": payment_id},
            )
        assert len(await flagged_rows(owner_db, both["payment.captured"])) == 2

    caplog.set_level(logging.WARNING, logger="trulybot")
    grace = timedelta(hours=billing_runtime.settings.workspace_deletion_grace_hours, minutes=1)
    await tick_due(billing_runtime, "purge_deleted_workspaces", utcnow() + grace)
    await billing_runtime.jobs.drain()
    assert not await workspace_exists(owner_db, owner.workspace_id)
    named = [  # this workspace's: the sweep purges every workspace due, another test's too
        r.getMessage()
        for r in caplog.records
        if f"workspace {owner.workspace_id} purged with payment" in r.getMessage()
    ]
    assert named == [
        f"workspace {owner.workspace_id} purged with payment {payment_id} (INR 49900)"
        " held for a refund"
    ]


async def test_a_subscription_kept_by_the_owner_before_its_cancel_was_sent_charges_as_before(
    world: BillingWorld,
) -> None:
    """The owner cancelled at period end and the period ended; a Razorpay Subscription made
    while it ran is first heard of by a charge, which is held and asks for its cancel at once.
    Before the sweep sent that cancel the owner chose "Keep the Razorpay subscription"
    (resume): nothing is sent and Razorpay goes on charging, so its next charges are the
    owner's ordinary charges. Before, the hold's start (``provider_cycle_end``) outlived the
    withdrawn cancel: every later charge was ``charged_after_cancel`` for good, no "Payment
    received", one more refund listed for the operator each cycle."""
    bclient, billing_runtime, owner, fake, owner_db = world
    sub, cycle = await first_charge_held(bclient, owner, fake, owner_db)
    resumed = await bclient.post(owner.url("/billing/subscription/resume"), headers=owner.headers)
    assert resumed.status_code == 200, resumed.text
    assert (resumed.json()["razorpay_cancel"], resumed.json()["razorpay_subscription"]) == (
        None,
        "active",
    )
    await sweep_cancels(billing_runtime)
    assert fake.cancels(sub["id"]) == []
    for later in (cycle + 30 * DAY, cycle + 60 * DAY):
        for event in ("subscription.charged", "payment.captured"):
            assert await charged(bclient, owner_db, a_charge(sub, start=later, event=event)) == (
                "ignored",
                "recurring_charge",
            )


@pytest.mark.parametrize(("event", "status"), ENDINGS)
async def test_a_renewal_the_waiting_cancel_did_not_stop_is_held_when_razorpay_says_it_ended_first(
    world: BillingWorld,
    event: str,
    status: str,
) -> None:
    """The owner cancelled a day ago; Razorpay was down and renewed the subscription 12 hours
    ago, then ended it (the owner cancelled in Razorpay's dashboard, or that renewal was its
    last and it completed). Delivered before that end's webhook the renewal's charge is
    held (its cycle started after the cancel was asked); delivered after, it was the ordinary
    ``recurring_charge`` with "Payment received": the end dropped the waiting cancel and with
    it what the charge was judged by. Now the end's cycle, started after the cancel was asked,
    is kept as the hold's start, so the order of the two webhooks does not matter."""
    bclient, billing_runtime, owner, fake, owner_db = world
    sub_id, sub, start, end = await renewed_while_the_cancel_waited(
        bclient, billing_runtime, owner, fake, owner_db
    )
    await razorpay_says(bclient, fake, sub_id, event, status)
    for kind in ("subscription.charged", "payment.captured"):
        assert await charged(bclient, owner_db, a_charge(sub, start=end, event=kind)) == (
            "rejected",
            "charged_after_cancel",
        )
    # The cycle the owner was told of, its charge delivered late: a charge.
    assert await charged(bclient, owner_db, a_charge(sub, start=start)) == (
        "ignored",
        "recurring_charge",
    )


# The operator's list of recurring charges still to refund, as docs/billing.md gives it
# ("Razorpay Subscriptions: cancel"): one row per charge, none once Razorpay reported its refund.
TO_REFUND = """
SELECT DISTINCT ON (e.razorpay_payment_id) e.workspace_id, e.razorpay_payment_id, e.received_at,
       c.currency, c.amount - r.refunded AS owed
FROM billing_events e
CROSS JOIN LATERAL (SELECT (e.payload #>> '{payload,payment,entity,amount}')::bigint AS amount,
                           e.payload #>> '{payload,payment,entity,currency}' AS currency) c
CROSS JOIN LATERAL (
  SELECT coalesce(sum(x.amount), 0) AS refunded FROM (
    SELECT DISTINCT ON (coalesce(f.payload #>> '{payload,refund,entity,id}',
                                 f.payload #>> '{payload,dispute,entity,id}'))
           coalesce(f.payload #>> '{payload,refund,entity,amount}',
                    f.payload #>> '{payload,dispute,entity,amount}')::bigint AS amount
    FROM billing_events f
    WHERE f.event_type IN ('refund.processed', 'payment.dispute.lost')
      AND f.razorpay_payment_id = e.razorpay_payment_id
      AND NOT EXISTS (
        SELECT 1 FROM billing_events w
        WHERE f.event_type = 'payment.dispute.lost' AND w.event_type = 'payment.dispute.won'
          AND w.outcome <> 'rejected' AND w.razorpay_payment_id = f.razorpay_payment_id
          AND (coalesce(array_position(ARRAY['retrieval', 'chargeback', 'pre_arbitration',
                 'arbitration'], w.payload #>> '{payload,dispute,entity,phase}'), 2),
               w.payload -> 'created_at')
            > (coalesce(array_position(ARRAY['retrieval', 'chargeback', 'pre_arbitration',
                 'arbitration'], f.payload #>> '{payload,dispute,entity,phase}'), 2),
               f.payload -> 'created_at'))
  ) x) r
WHERE e.reason = 'charged_after_cancel'
  AND (c.amount > r.refunded OR (c.amount IS NULL AND r.refunded = 0))
ORDER BY e.razorpay_payment_id, e.received_at
"""


async def test_the_operators_list_of_held_charges_drops_one_once_refunded(
    world: BillingWorld,
) -> None:
    """A charge held after the owner's cancel is refunded in Razorpay's dashboard; Razorpay's
    ``refund.processed`` for it is recorded (``held_charge_refunded``: no order of ours) with
    its payment id and the workspace that held it. The query docs/billing.md gave (every
    ``charged_after_cancel`` row) went on listing the refunded charge at every look; the one it
    gives now lists it until then."""
    bclient, billing_runtime, owner, fake, owner_db = world
    documented = " ".join((Path(__file__).parents[2] / "docs" / "billing.md").read_text().split())
    assert " ".join(TO_REFUND.split()) in documented
    cancelled = await cancelled_at_cycle_end(bclient, billing_runtime, owner, fake)
    both = both_webhooks(cancelled.sub, start=cancelled.end)
    for body in both.values():
        await charged(bclient, owner_db, body)
    payment = both["payment.captured"]["payload"]["payment"]["entity"]

    async def listed(query: str) -> list[str]:
        """What ``query`` lists of this workspace (other tests' rows share the table)."""
        async with owner_db.transaction() as s:
            rows = (await s.execute(text(query))).mappings().all()
        mine = [row for row in rows if str(row["workspace_id"]) == owner.workspace_id]
        return [str(row["razorpay_payment_id"]) for row in mine]

    assert await listed(TO_REFUND) == [payment["id"]]
    refund = make_refund(payment_id=payment["id"], amount=payment["amount"])
    refunded = webhook_payload("refund.processed", refund=refund, payment=payment)
    # Recorded against the workspace that held it (it was ``unknown_order``, no workspace).
    assert await charged(bclient, owner_db, refunded) == ("ignored", "held_charge_refunded")
    assert await listed(TO_REFUND) == []
    old = "SELECT * FROM billing_events WHERE reason = 'charged_after_cancel'"
    assert await listed(old) == [payment["id"]]  # what the old query still listed
