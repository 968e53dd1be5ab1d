"""The plan page tells an owner what became of the Razorpay Subscription charging their card
(the subscription view's ``razorpay_cancel`` and ``razorpay_subscription``): before, an owner
who cancelled saw nothing of it, not even when Razorpay refused the cancel and the card went on
being charged; and an owner whose card Razorpay charged every cycle read "Nothing is charged
automatically"."""

from __future__ import annotations

import html
import re
import time
from datetime import timedelta

import httpx

from api.runtime import Runtime
from core.models import utcnow
from tests.billing.conftest import pay_by_webhook, subscription
from tests.billing.razorpay_subscriptions import cancel, linked
from tests.billing.test_dashboard_checkout import web_owner
from tests.billing.test_razorpay_cancel import razorpay_says
from tests.dashboard.conftest import WebOwner
from tests.fakes.razorpay_server import FakeRazorpay
from tests.lifecycle.data import tick_due


async def said(web: WebOwner) -> str:
    """What the plan page says of the Razorpay subscription ('' when nothing)."""
    page = await web.client.get(web.url("plan"))
    assert page.status_code == 200, page.text
    found = re.search(r'<p [^>]*data-testid="razorpay-cancel"[^>]*>(.*?)</p>', page.text, re.S)
    return " ".join(html.unescape(found.group(1)).split()) if found else ""


async def test_the_plan_page_follows_the_razorpay_cancel_from_pending_to_cancelled(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, fake: FakeRazorpay
) -> None:
    owner, web = await web_owner(bclient)
    sub_id = await linked(bclient, owner, fake)
    assert "charges your card every billing cycle" in await said(web)

    fake.down = True
    assert (await cancel(bclient, owner)).status_code == 200
    await billing_runtime.jobs.drain()
    pending = await said(web)
    assert "being cancelled" in pending
    assert "Razorpay has not confirmed it yet" in pending

    fake.down = False
    await tick_due(billing_runtime, "razorpay_cancels", utcnow() + timedelta(hours=2))
    await billing_runtime.jobs.drain()
    at_cycle_end = await said(web)
    assert "is cancelled" in at_cycle_end
    assert "once its current billing cycle ends" in at_cycle_end

    await razorpay_says(bclient, fake, sub_id, "subscription.cancelled", "cancelled")
    assert "is cancelled: Razorpay charges your card no more." in await said(web)


async def test_a_refused_cancel_tells_the_owner_what_to_do(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, fake: FakeRazorpay
) -> None:
    owner, web = await web_owner(bclient)
    sub_id = await linked(bclient, owner, fake)
    del fake.subscriptions[sub_id]  # Razorpay answers 400 "The id provided does not exist"
    assert (await cancel(bclient, owner)).status_code == 200
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [{"cancel_at_cycle_end": 1}]
    failed = await said(web)
    assert "Razorpay refused to cancel" in failed
    assert "may still charge your card" in failed
    assert "contact whoever runs this service for you" in failed


async def test_a_live_linked_subscription_is_not_nothing_charged_automatically(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, fake: FakeRazorpay
) -> None:
    """A prepaid plan running and a Razorpay Subscription linked, no cancel asked: Razorpay
    charges the card every cycle, yet the page said "Nothing is charged automatically" and
    nothing of the subscription, and the view had no field saying one was linked."""
    owner, web = await web_owner(bclient)
    assert (await subscription(bclient, owner))["razorpay_subscription"] == "none"
    await pay_by_webhook(bclient, owner, fake, "starter", "monthly", int(time.time()))
    page = (await web.client.get(web.url("plan"))).text
    assert "Nothing is charged automatically." in page  # nothing linked: true
    sub_id = await linked(bclient, owner, fake)

    view = await subscription(bclient, owner)
    assert (view["razorpay_subscription"], view["razorpay_cancel"]) == ("active", None)
    page = (await web.client.get(web.url("plan"))).text
    assert "Prepaid until" in page
    assert "Nothing is charged automatically" not in page
    live = await said(web)
    assert "linked to a Razorpay subscription" in live
    assert "Razorpay charges your card every billing cycle" in live
    assert "also cancels it at Razorpay at the end of its current billing cycle" in live

    assert (await cancel(bclient, owner)).status_code == 200
    await billing_runtime.jobs.drain()
    assert (await subscription(bclient, owner))["razorpay_subscription"] == "ending"
    assert "once its current billing cycle ends" in await said(web)

    await razorpay_says(bclient, fake, sub_id, "subscription.cancelled", "cancelled")
    assert (await subscription(bclient, owner))["razorpay_subscription"] == "ended"
    assert "Razorpay charges your card no more." in await said(web)
