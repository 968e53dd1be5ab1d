"""The owner stops the Razorpay Subscription charging their card from the plan page: before, the
page said "cancelling the plan also cancels it at Razorpay" but offered no way to cancel, so
stopping the charges took curl. The page's form calls the API's cancel service (the real
``razorpay`` client against the fake Razorpay), confirmed by a ticked box, CSRF-checked; a
cancel not sent yet can be undone; a refusal comes back on the plan page with its reason."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from api.runtime import Runtime
from billing import provider_cancels
from core.db import Database
from tests.billing.conftest import subscription
from tests.billing.razorpay_subscriptions import AT_CYCLE_END, linked
from tests.billing.test_dashboard_checkout import web_login, web_owner
from tests.billing.test_plan_page_razorpay_cancel import said
from tests.billing.test_razorpay_cancel import audit_actions, razorpay_says, waiting_cancel
from tests.conftest import Owner, client_for, join, signup
from tests.dashboard.conftest import WebOwner, csrf_of
from tests.fakes.razorpay_server import FakeRazorpay

STOP = "plan/razorpay/stop"
KEEP = "plan/razorpay/keep"
CONFIRMED = {"confirm": "yes"}


def forms(page: str) -> list[str]:
    """The plan page's forms about the Razorpay subscription, by their test ids."""
    return re.findall(r'<form [^>]*data-testid="(stop-razorpay|keep-razorpay)"', page)


async def plan_page(web: WebOwner) -> str:
    page = await web.client.get(web.url("plan"))
    assert page.status_code == 200, page.text
    return html.unescape(page.text)


async def posted(web: WebOwner, path: str, data: dict[str, object] | None = None) -> str:
    """Post a plan page form as a browser does: the page it lands on (HTML entities decoded)."""
    response = await web.post(web.url(path), data)
    assert response.status_code == 303, response.text
    landed = await web.client.get(response.headers["location"])
    assert landed.status_code == 200, landed.text
    return html.unescape(landed.text)


async def linked_owner(
    client: httpx.AsyncClient, fake: FakeRazorpay
) -> tuple[Owner, WebOwner, str]:
    """An owner signed in to the dashboard whose workspace a Razorpay Subscription charges."""
    owner, web = await web_owner(client)
    return owner, web, await linked(client, owner, fake)


async def test_the_owner_stops_the_razorpay_subscription_from_the_page_once(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, fake: FakeRazorpay, owner_db: Database
) -> None:
    owner, web = await web_owner(bclient)
    assert forms(await plan_page(web)) == []  # nothing linked: nothing to stop
    sub_id = await linked(bclient, owner, fake)
    page = await plan_page(web)
    assert forms(page) == ["stop-razorpay"]
    assert "Stop the Razorpay subscription" in page

    shown = await posted(web, STOP, CONFIRMED)
    assert "You asked Razorpay to stop the subscription" in shown
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [AT_CYCLE_END]
    assert (await subscription(bclient, owner))["razorpay_subscription"] == "ending"
    page = await plan_page(web)
    assert "Razorpay charges your card no more once its current billing cycle ends" in page
    assert forms(page) == []  # nothing left to stop, nor to undo (Razorpay cannot)
    [(action, details)] = await audit_actions(owner_db, owner.workspace_id)
    assert (action, details["subscription_id"]) == ("billing.razorpay_cancelled", sub_id)

    # The same form posted again (a reload, a second click) asks Razorpay nothing more.
    await posted(web, STOP, CONFIRMED)
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [AT_CYCLE_END]
    assert len(await audit_actions(owner_db, owner.workspace_id)) == 1


async def test_without_the_box_ticked_or_the_csrf_token_nothing_is_stopped(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, fake: FakeRazorpay
) -> None:
    owner, web, sub_id = await linked_owner(bclient, fake)
    shown = await posted(web, STOP)
    assert "Nothing was stopped: tick the box to confirm" in shown
    assert forms(shown) == ["stop-razorpay"]
    forged = await web.client.post(web.url(STOP), data=CONFIRMED)
    assert forged.status_code == 403
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == []
    assert (await subscription(bclient, owner))["razorpay_cancel"] is None


@pytest.mark.parametrize("role", ["member", "admin"])
async def test_members_see_the_state_but_no_button_and_cannot_post_it(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, fake: FakeRazorpay, role: str
) -> None:
    owner, web, sub_id = await linked_owner(bclient, fake)
    person = await signup(bclient, "Elsewhere")
    await join(bclient, owner, person, role)
    async with client_for(billing_runtime) as member_client:
        member = await web_login(member_client, person.email, person.password)
        member.workspace_id = web.workspace_id
        page = await plan_page(member)
        assert "charges your card every billing cycle" in page
        assert forms(page) == []
        member.csrf = csrf_of(page)
        for path in (STOP, KEEP):
            refused = await member.post(member.url(path), CONFIRMED)
            assert refused.status_code == 403, refused.text
            assert "Only owners can buy, verify, cancel or resume a plan" in refused.text
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == []


async def test_a_cancel_not_sent_yet_can_be_undone_from_the_page(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, fake: FakeRazorpay
) -> None:
    owner, web, sub_id = await linked_owner(bclient, fake)
    workspace_id = await waiting_cancel(billing_runtime, owner)
    page = await plan_page(web)
    assert "is being cancelled" in page
    assert forms(page) == ["keep-razorpay"]

    shown = await posted(web, KEEP)
    assert "The Razorpay subscription goes on" in shown
    assert forms(shown) == ["stop-razorpay"]
    assert "charges your card every billing cycle" in await said(web)
    sent = await provider_cancels.send(
        billing_runtime.db,
        billing_runtime.payments,
        workspace_id,
        mark=billing_runtime.lifecycle.razorpay_mark,
    )
    assert (sent, fake.cancels(sub_id)) == ("nothing", [])


async def test_refusals_come_back_on_the_plan_page_with_their_reason(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, fake: FakeRazorpay
) -> None:
    """Forms left open in another tab: an undo once the cancel was sent (409
    ``razorpay_subscription_cancelled``), a stop once Razorpay ended the subscription (409
    ``nothing_to_cancel``): the plan page says why, never an error page."""
    owner, web, sub_id = await linked_owner(bclient, fake)
    workspace_id = await waiting_cancel(billing_runtime, owner)
    assert forms(await plan_page(web)) == ["keep-razorpay"]
    sent = await provider_cancels.send(
        billing_runtime.db,
        billing_runtime.payments,
        workspace_id,
        mark=billing_runtime.lifecycle.razorpay_mark,
    )
    assert (sent, fake.cancels(sub_id)) == ("cancelled", [AT_CYCLE_END])

    shown = await posted(web, KEEP)
    assert "Razorpay cannot resume a cancelled subscription" in shown
    assert "once its current billing cycle ends" in shown

    await razorpay_says(bclient, fake, sub_id, "subscription.cancelled", "cancelled")
    shown = await posted(web, STOP, CONFIRMED)
    assert "There is no paid period to cancel" in shown
    assert "Razorpay charges your card no more." in shown
    await billing_runtime.jobs.drain()
    assert fake.cancels(sub_id) == [AT_CYCLE_END]
