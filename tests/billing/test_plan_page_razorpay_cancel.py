"""The plan page tells an owner what became of the Razorpay Subscription charging their card
(the subscription view's ``razorpay_cancel``): before, an owner who cancelled saw nothing of it,
not even when Razorpay refused the cancel and the card went on being charged."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx

from api.runtime import Runtime
from core.models import utcnow
from tests.billing.test_dashboard_checkout import web_owner
from tests.billing.test_razorpay_cancel import cancel, linked, razorpay_says
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
    assert await said(web) == ""

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
