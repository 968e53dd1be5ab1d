"""What an owner does to the workspace's plan is in its audit log, with who did it and from where:
ordering a plan (the purchase started, whatever pays it later), cancelling at the period's end
and resuming. Before, only the plan change a payment made was there (``plan.changed``): an owner
who cancelled (or took the cancel back) left no trace, and a plan granted by the webhook read
as the system's with nothing naming the owner who bought it."""

from __future__ import annotations

from datetime import datetime

import httpx

from tests.billing.conftest import create_order, post_webhook
from tests.conftest import Owner
from tests.fakes.razorpay_server import FakeRazorpay, webhook_payload
from tests.workspaces.conftest import audit_entries


async def test_an_order_is_audited_with_the_owner_who_made_it(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    order = await create_order(bclient, owner, "pro", "yearly")
    [entry] = await audit_entries(bclient, owner, "billing.order_created")
    assert entry["actor_user_id"] == owner.user_id
    assert entry["request_id"]
    assert entry["target_type"] == "billing_order"
    assert entry["target_id"] == order["razorpay_order_id"]
    assert entry["details"] == {
        "plan": "pro",
        "period": "yearly",
        "amount": order["amount"],
        "currency": order["currency"],
    }
    # Paid through the webhook (the owner's browser never came back): the plan change is the
    # system's, and the order's entry says who bought it.
    payment = fake.capture_payment(order["razorpay_order_id"])
    paid = await post_webhook(bclient, webhook_payload("payment.captured", payment=payment))
    assert paid.json()["status"] == "applied", paid.text
    [changed] = await audit_entries(bclient, owner, "plan.changed")
    assert changed["details"]["to"] == "pro"


async def test_a_refused_order_leaves_no_entry(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    fake.down = True
    response = await bclient.post(
        owner.url("/billing/orders"), json={"plan": "starter"}, headers=owner.headers
    )
    assert response.status_code == 503, response.text
    assert await audit_entries(bclient, owner, "billing.order_created") == []


async def test_cancel_and_resume_are_audited_with_the_owner(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    # Nothing to cancel yet: refused, and nothing audited.
    refused = await bclient.post(owner.url("/billing/subscription/cancel"), headers=owner.headers)
    assert refused.status_code == 409, refused.text
    order = await create_order(bclient, owner, "pro")
    payment = fake.capture_payment(order["razorpay_order_id"])
    paid = await post_webhook(bclient, webhook_payload("payment.captured", payment=payment))
    assert paid.json()["status"] == "applied", paid.text

    cancelled = await bclient.post(
        owner.url("/billing/subscription/cancel"),
        json={"downgrade_to": "starter"},
        headers=owner.headers,
    )
    assert cancelled.status_code == 200, cancelled.text
    [cancel] = await audit_entries(bclient, owner, "billing.cancel_requested")
    assert cancel["actor_user_id"] == owner.user_id
    assert cancel["request_id"]
    assert cancel["target_type"] == "subscription"
    details = cancel["details"]
    assert (details["plan"], details["downgrade_to"]) == ("pro", "starter")
    period_end = cancelled.json()["current_period_end"]
    assert datetime.fromisoformat(details["current_period_end"]) == datetime.fromisoformat(
        period_end
    )

    resumed = await bclient.post(owner.url("/billing/subscription/resume"), headers=owner.headers)
    assert resumed.status_code == 200, resumed.text
    [resume] = await audit_entries(bclient, owner, "billing.resumed")
    assert resume["actor_user_id"] == owner.user_id
    assert resume["details"] == {"plan": "pro", "downgrade_to": "starter"}
    # Resuming again changes nothing and is not audited again.
    again = await bclient.post(owner.url("/billing/subscription/resume"), headers=owner.headers)
    assert again.status_code == 200, again.text
    assert len(await audit_entries(bclient, owner, "billing.resumed")) == 1


async def test_cancelling_again_changes_nothing_and_is_not_audited_again(
    bclient: httpx.AsyncClient, owner: Owner, fake: FakeRazorpay
) -> None:
    """A second identical cancel (a double click, a retried request) is answered as the first
    and leaves one entry; one that changes the plan to buy then is a change, and audited."""
    order = await create_order(bclient, owner, "pro")
    payment = fake.capture_payment(order["razorpay_order_id"])
    paid = await post_webhook(bclient, webhook_payload("payment.captured", payment=payment))
    assert paid.json()["status"] == "applied", paid.text
    cancel = owner.url("/billing/subscription/cancel")
    answers = []
    for _ in range(3):
        response = await bclient.post(cancel, json={}, headers=owner.headers)
        assert response.status_code == 200, response.text
        answers.append(response.json())
    assert answers[0] == answers[1] == answers[2]
    assert len(await audit_entries(bclient, owner, "billing.cancel_requested")) == 1
    changed = await bclient.post(cancel, json={"downgrade_to": "starter"}, headers=owner.headers)
    assert changed.json()["pending_plan"] == "starter", changed.text
    entries = await audit_entries(bclient, owner, "billing.cancel_requested")
    assert sorted(e["details"]["downgrade_to"] or "" for e in entries) == ["", "starter"]
