"""The dashboard's plan page buys through Razorpay Checkout: its routes create the order and verify
Checkout's answer through the billing services (against the fake Razorpay API), with CSRF, the
owner role and a verified email; the page's CSP allows Checkout's script origin there only.
The browser half (the stand-in Checkout in Chromium) is tests/e2e/test_dashboard_checkout.py."""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from api.runtime import Runtime
from billing.state import add_period
from core.config import Settings
from core.db import Database
from dashboard.web import utc_time
from tests.billing.conftest import (
    end_paid_period,
    order_row,
    post_webhook,
    sub_row,
    wrong_signature,
)
from tests.conftest import Owner, client_for, join, make_settings, signup
from tests.dashboard.conftest import PASSWORD, WebOwner, csrf_of
from tests.fakes.razorpay_server import (
    FakeRazorpay,
    checkout_signature,
    make_refund,
    webhook_payload,
)
from workspaces.plans import PLANS

JSON = {"Accept": "application/json"}
RAZORPAY_SCRIPT = "https://checkout.razorpay.com/v1/checkout.js"


async def web_login(client: httpx.AsyncClient, email: str, password: str) -> WebOwner:
    """Log in through the dashboard's form, as a browser does; lands on the first workspace."""
    page = await client.get("/app/login")
    login = await client.post(
        "/app/login",
        data={"csrf_token": csrf_of(page.text), "email": email, "password": password},
    )
    assert login.status_code == 303, login.text
    landing = await client.get(login.headers["location"])
    location = landing.headers["location"]
    home = await client.get(location)
    assert home.status_code == 200, home.text
    return WebOwner(
        client=client,
        email=email,
        workspace_id=location.rstrip("/").split("/")[-1],
        csrf=csrf_of(home.text),
    )


async def web_owner(client: httpx.AsyncClient, *, verify: bool = True) -> tuple[Owner, WebOwner]:
    owner = await signup(client, "Checkout Co", verify=verify)
    assert owner.password == PASSWORD
    return owner, await web_login(client, owner.email, owner.password)


async def order(web: WebOwner, plan: str = "starter", **kwargs: Any) -> httpx.Response:
    return await web.post(
        web.url("plan/order"), {"plan": plan, "period": "monthly"}, headers=JSON, **kwargs
    )


async def checkout(
    web: WebOwner,
    fake: FakeRazorpay,
    plan: str = "starter",
    before_verify: Callable[[dict[str, Any]], Awaitable[object]] | None = None,
) -> httpx.Response:
    """Buy ``plan`` (monthly) as the page's script does: the order, a captured payment (passed
    to ``before_verify`` first, if given), and Checkout's signed answer posted to
    ``plan/verify``."""
    order_id = (await order(web, plan)).json()["razorpay_order_id"]
    payment = fake.capture_payment(order_id)
    if before_verify is not None:
        await before_verify(payment)
    verified = await web.post(
        web.url("plan/verify"), checkout_answer(order_id, payment["id"], fake), headers=JSON
    )
    assert verified.status_code == 200, verified.text
    return verified


def checkout_answer(order_id: str, payment_id: str, fake: FakeRazorpay) -> dict[str, object]:
    """What Checkout hands the page's script for ``payment_id`` on ``order_id``, signed."""
    return {
        "razorpay_order_id": order_id,
        "razorpay_payment_id": payment_id,
        "razorpay_signature": checkout_signature(order_id, payment_id, fake.key_secret),
    }


async def verified_notice(web: WebOwner, order_id: str, payment_id: str, fake: FakeRazorpay) -> str:
    """The plan page the owner lands on once Checkout's answer for ``payment_id`` is verified
    (HTML entities decoded): what it says of the payment."""
    answer = checkout_answer(order_id, payment_id, fake)
    verified = await web.post(web.url("plan/verify"), answer, headers=JSON)
    assert verified.status_code == 200, verified.text
    return html.unescape((await web.client.get(verified.json()["redirect"])).text)


def offered_plans(page: str) -> list[tuple[str, str]]:
    """(plan, button label) of each Checkout form on the plan page, in order."""
    forms = re.findall(r"<form [^>]*data-checkout>(.*?)</form>", page, re.S)
    plans = [re.findall(r'name="plan" value="(\w+)"', form) for form in forms]
    labels = [re.findall(r"<button [^>]*>([^<]+)</button>", form) for form in forms]
    return [(plan, label) for [plan], [label] in zip(plans, labels, strict=True)]


def orders_created(fake: FakeRazorpay) -> int:
    return sum(1 for r in fake.requests if r.method == "POST" and r.path == "/v1/orders")


@pytest.fixture
async def web(bclient: httpx.AsyncClient) -> WebOwner:
    return (await web_owner(bclient))[1]


async def test_plan_page_offers_upgrades_and_allows_checkouts_script_there_only(
    web: WebOwner,
) -> None:
    page = await web.client.get(web.url("plan"))
    assert page.status_code == 200, page.text
    assert "Upgrade to Starter" in page.text
    assert "Upgrade to Pro" in page.text
    assert f'<script src="{RAZORPAY_SCRIPT}" defer></script>' in page.text
    assert '<script src="/app/static/checkout.js" defer></script>' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self' https://checkout.razorpay.com;" in csp
    assert "frame-src 'self' https://api.razorpay.com https://checkout.razorpay.com;" in csp
    assert "connect-src 'self';" in csp  # nothing else widens
    leads = await web.client.get(web.url("leads"))
    assert "razorpay" not in leads.headers["content-security-policy"]
    assert "checkout.js" not in leads.text
    script = await web.client.get("/app/static/checkout.js")
    assert script.status_code == 200
    assert "new window.Razorpay(" in script.text


async def test_order_route_creates_the_catalog_priced_order_checkout_opens(
    web: WebOwner, fake: FakeRazorpay
) -> None:
    response = await order(web, "pro")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["razorpay_order_id"] in fake.orders
    assert body["key_id"] == fake.key_id
    assert (
        body["amount"]
        == PLANS["pro"].price("monthly")
        == fake.orders[body["razorpay_order_id"]]["amount"]
    )
    assert body["currency"] == "INR"
    assert body["prefill"] == {"email": web.email}
    assert body["verify_url"] == web.url("plan/verify")


async def test_order_route_refuses_without_csrf_a_bad_plan_and_a_plain_form(
    web: WebOwner, fake: FakeRazorpay
) -> None:
    before = orders_created(fake)
    no_token = await web.client.post(
        web.url("plan/order"), data={"plan": "starter", "period": "monthly"}, headers=JSON
    )
    assert no_token.status_code == 403
    assert no_token.json()["error"]["code"] == "csrf_failed"
    bad_plan = await order(web, "free")
    assert bad_plan.status_code == 422
    assert bad_plan.json()["error"]["code"] == "plan_not_purchasable"
    bad_period = await web.post(
        web.url("plan/order"), {"plan": "pro", "period": "weekly"}, headers=JSON
    )
    assert bad_period.status_code == 422
    assert bad_period.json()["error"]["code"] == "validation_error"
    # Without our script (a plain form post) no order is created: Checkout needs the script.
    plain = await web.post(web.url("plan/order"), {"plan": "starter", "period": "monthly"})
    assert plain.status_code == 303
    assert "JavaScript" in (await web.client.get(plain.headers["location"])).text
    assert orders_created(fake) == before


async def test_unverified_owner_is_told_to_confirm_the_email(bclient: httpx.AsyncClient) -> None:
    _, web = await web_owner(bclient, verify=False)
    refused = await order(web)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "email_unverified"


async def test_members_see_no_buttons_and_are_refused(
    bclient: httpx.AsyncClient, billing_runtime: Runtime, fake: FakeRazorpay
) -> None:
    owner, web = await web_owner(bclient)
    person = await signup(bclient, "Elsewhere")
    await join(bclient, owner, person, "member")
    async with client_for(billing_runtime) as member_client:
        member = await web_login(member_client, person.email, person.password)
        member.workspace_id = web.workspace_id
        page = await member_client.get(member.url("plan"))
        assert page.status_code == 200, page.text
        assert "Upgrade to" not in page.text
        assert offered_plans(page.text) == []
        assert "razorpay" not in page.headers["content-security-policy"]
        member.csrf = csrf_of(page.text)
        before = orders_created(fake)
        refused = await order(member)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "insufficient_role"
        verify = await member.post(
            member.url("plan/verify"),
            {
                "razorpay_order_id": "order_x",
                "razorpay_payment_id": "pay_x",
                "razorpay_signature": "0" * 64,
            },
            headers=JSON,
        )
        assert verify.status_code == 403
        assert orders_created(fake) == before


async def test_verify_refuses_a_bad_signature_and_a_missing_csrf_token_changing_nothing(
    web: WebOwner, fake: FakeRazorpay, owner_db: Database
) -> None:
    created = (await order(web)).json()
    order_id = created["razorpay_order_id"]
    payment = fake.capture_payment(order_id)
    good = checkout_signature(order_id, payment["id"], fake.key_secret)
    answer = {
        "razorpay_order_id": order_id,
        "razorpay_payment_id": payment["id"],
        "razorpay_signature": wrong_signature(good),
    }
    bad = await web.post(web.url("plan/verify"), answer, headers=JSON)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_signature"
    no_token = await web.client.post(
        web.url("plan/verify"), data={**answer, "razorpay_signature": good}, headers=JSON
    )
    assert no_token.status_code == 403
    assert (await order_row(owner_db, order_id))["status"] == "created"
    assert (await sub_row(owner_db, web.workspace_id)).get("plan") in (None, "free")
    page = await web.client.get(web.url("plan"))
    assert "Plan in effect: <strong>free</strong>" in page.text
    assert "Payment history" not in page.text


async def test_checkouts_answer_grants_the_plan(web: WebOwner, fake: FakeRazorpay) -> None:
    verified = await checkout(web, fake)
    assert verified.json()["plan"] == "starter"
    page = await web.client.get(verified.json()["redirect"])
    assert "Payment received: the Starter plan is active until" in page.text
    assert "Plan in effect: <strong>starter</strong>" in page.text
    assert "Payment history" in page.text
    assert "INR 999.00" in page.text
    assert "Upgrade to Pro" in page.text
    assert "Upgrade to Starter" not in page.text


async def test_a_running_plan_can_be_extended_and_the_page_says_it_is_prepaid(
    web: WebOwner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """The review's F2: while Starter ran the page offered only Pro (no way to renew before the
    plan lapsed) and a "Cancel at period end" that changed nothing, implying a renewal that
    does not exist."""
    await checkout(web, fake)
    end = (await sub_row(owner_db, web.workspace_id))["current_period_end"]
    page = (await web.client.get(web.url("plan"))).text
    assert offered_plans(page) == [("starter", "Extend Starter"), ("pro", "Upgrade to Pro")]
    # With its zone: a date alone read as the owner's local day.
    until = f'Prepaid until <time datetime="{end.isoformat()}">{utc_time(end)}</time>'
    assert until in page
    assert utc_time(end).endswith(" UTC")
    assert "it ends then unless you extend it. Nothing is charged automatically." in page
    assert "Cancel at period end" not in page
    assert "renew" not in page.replace("do not renew on their own", "")
    # Extending from the page: the same plan again adds a month after the current end.
    verified = await checkout(web, fake, "starter")
    later = (await sub_row(owner_db, web.workspace_id))["current_period_end"]
    assert later == add_period(end, "monthly")
    shown = (await web.client.get(verified.json()["redirect"])).text
    assert f"Payment received: the Starter plan is active until {utc_time(later)}." in shown
    assert f'Prepaid until <time datetime="{later.isoformat()}">' in shown


async def test_the_page_says_an_upgrade_forfeits_the_running_plans_days(
    web: WebOwner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """Billing review 3, F4: "(the time left on the current plan is not credited)" read as "no
    proration"; the paid days are in fact lost, and the workspace does not go back to them when
    the upgrade's period ends."""
    await checkout(web, fake)  # a Starter month
    end = (await sub_row(owner_db, web.workspace_id))["current_period_end"]
    days = (end - datetime.now(UTC)).days + 1  # a month from the payment, a moment ago
    page = html.unescape((await web.client.get(web.url("plan"))).text)
    said = re.search(r'data-testid="upgrade-forfeits">(.*?)</strong>', page, re.S)
    assert said is not None
    assert said.group(1) == (
        f"The {days} days left on your starter plan are lost: not credited, and when the "
        "upgrade's period ends the workspace goes to the free plan, not back to starter."
    )


async def test_a_downgrade_intent_is_shown_as_a_plan_to_buy_not_one_that_applies(
    bclient: httpx.AsyncClient, fake: FakeRazorpay
) -> None:
    """The review's F5: after the API's cancel with ``downgrade_to`` the page said "then the
    starter plan applies", but nothing applies it: the workspace goes to its fallback plan."""
    owner, web = await web_owner(bclient)
    await checkout(web, fake, "pro")
    cancelled = await bclient.post(
        owner.url("/billing/subscription/cancel"),
        json={"downgrade_to": "starter"},
        headers=owner.headers,
    )
    assert cancelled.status_code == 200, cancelled.text
    page = (await web.client.get(web.url("plan"))).text
    assert "plan applies" not in page
    assert "You planned to move to the starter plan: buy it once this period has ended." in page


async def test_verifying_a_payment_refunded_before_it_was_reported_says_so(
    web: WebOwner, fake: FakeRazorpay
) -> None:
    """The review's F13: the page said "Payment received: the Free plan is active until the end
    of the period" for a payment whose refund had already been recorded."""

    async def refunded_first(payment: dict[str, Any]) -> object:
        refund = make_refund(payment_id=payment["id"], amount=payment["amount"])
        payload = webhook_payload("refund.processed", refund=refund, payment=payment)
        return await post_webhook(web.client, payload)

    verified = await checkout(web, fake, before_verify=refunded_first)
    shown = (await web.client.get(verified.json()["redirect"])).text
    assert "That payment has been refunded, so it changed nothing" in shown
    assert "Payment received" not in shown


async def test_verifying_a_payment_only_authorized_says_the_plan_waits_for_its_capture(
    web: WebOwner, fake: FakeRazorpay
) -> None:
    """The billing review's U1: Checkout's signature comes with the authorization; the page said
    "Payment received" and granted the plan for a payment nobody captured (manual capture).
    Verify captures such a payment itself; here Razorpay refuses that capture."""

    async def not_captured(payment: dict[str, Any]) -> object:
        fake.payments[payment["id"]].update(status="authorized", captured=False)
        fake.refuse_captures = True
        return None

    try:
        verified = await checkout(web, fake, before_verify=not_captured)
    finally:
        fake.refuse_captures = False
    assert verified.json()["plan"] == "free"
    shown = (await web.client.get(verified.json()["redirect"])).text
    assert "Your payment is authorized but not captured yet" in shown
    # Whole: the notice was cut at 100 characters, before the plan in effect.
    assert "The Free plan is in effect." in shown
    assert "Payment received" not in shown


async def test_verifying_a_second_authorization_on_a_paid_order_says_it_is_not_taken(
    web: WebOwner, fake: FakeRazorpay
) -> None:
    """A second attempt on an order another payment paid, left authorized: verify rightly does
    not capture it (one order buys one period), but the page said "the plan starts once
    Razorpay captures it", which never happens: nothing captures it and Razorpay returns it."""
    order_id = (await order(web)).json()["razorpay_order_id"]
    late = fake.authorize_payment(order_id)
    paid = fake.capture_payment(order_id)
    answer = checkout_answer(order_id, paid["id"], fake)
    assert (await web.post(web.url("plan/verify"), answer, headers=JSON)).status_code == 200

    answer = checkout_answer(order_id, late["id"], fake)
    verified = await web.post(web.url("plan/verify"), answer, headers=JSON)
    assert verified.status_code == 200, verified.text
    shown = (await web.client.get(verified.json()["redirect"])).text
    assert "not captured yet" not in shown
    assert "already paid by another payment" in shown
    assert "Razorpay returns it" in shown
    assert fake.payments[late["id"]]["status"] == "authorized"


async def test_verifying_an_authorization_on_a_refunded_order_says_it_was_refunded(
    web: WebOwner, fake: FakeRazorpay
) -> None:
    """The order's payment refunded, then a late authorization on it verified: the page said
    the order "was already paid by another payment", while the owner had been refunded."""
    order_id = (await order(web)).json()["razorpay_order_id"]
    late = fake.authorize_payment(order_id)
    paid = fake.capture_payment(order_id)
    answer = checkout_answer(order_id, paid["id"], fake)
    assert (await web.post(web.url("plan/verify"), answer, headers=JSON)).status_code == 200
    refund = make_refund(payment_id=paid["id"], amount=paid["amount"])
    refunded = {**paid, "amount_refunded": paid["amount"], "status": "refunded"}
    payload = webhook_payload("refund.processed", refund=refund, payment=refunded)
    assert (await post_webhook(web.client, payload)).json()["status"] == "applied"

    shown = await verified_notice(web, order_id, late["id"], fake)
    assert "already paid by another payment" not in shown
    assert "This order's payment was refunded" in shown
    assert "Razorpay returns it" in shown
    assert fake.payments[late["id"]]["status"] == "authorized"


async def test_verifying_a_payment_rejected_for_its_amount_says_it_changed_nothing(
    web: WebOwner, fake: FakeRazorpay
) -> None:
    """Billing review 3, F5: the webhook rejected the payment (Rs 1 for a Rs 999 order); the
    page then said "Payment received" and granted the plan on Checkout's signature."""

    async def one_rupee_reported(payment: dict[str, Any]) -> object:
        payload = webhook_payload("payment.captured", payment={**payment, "amount": 100})
        return await post_webhook(web.client, payload)

    verified = await checkout(web, fake, before_verify=one_rupee_reported)
    assert verified.json()["plan"] == "free"
    shown = (await web.client.get(verified.json()["redirect"])).text
    assert "That payment does not match its order, so it changed nothing" in shown
    assert "The Free plan is in effect." in shown
    assert "Payment received" not in shown


def test_checkout_script_url_setting_is_checked() -> None:
    assert make_settings().razorpay_checkout_script_url == RAZORPAY_SCRIPT
    local = make_settings(razorpay_checkout_script_url="http://127.0.0.1:9/v1/checkout.js")
    assert local.razorpay_checkout_script_url.startswith("http://127.0.0.1")
    for bad in ("javascript:alert(1)", "https://x.example/a.js' onload='x", "https://a.b/x;y"):
        with pytest.raises(ValidationError, match="RAZORPAY_CHECKOUT_SCRIPT_URL"):
            make_settings(razorpay_checkout_script_url=bad)
    with pytest.raises(ValidationError, match="https:// URL in production"):
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            environment="production",
            jwt_secret="p-k7Q2vX9pLm4Rt8Wn3Yb6Zc1Hd5Jf0Gs2Ae4Ui7Oq9Tx",
            public_base_url="https://bot.example.com",
            razorpay_checkout_script_url="http://127.0.0.1:9/v1/checkout.js",
        )


async def test_an_ended_period_offers_no_extension_and_says_it_ended(
    web: WebOwner, fake: FakeRazorpay, owner_db: Database
) -> None:
    """After the paid period ended (or a refund took it back), the page neither offers to
    extend it nor says it is paid until a past date: the same plan is bought afresh."""
    await checkout(web, fake)
    assert "Extend Starter" in (await web.client.get(web.url("plan"))).text
    await end_paid_period(owner_db, web.workspace_id)
    page = (await web.client.get(web.url("plan"))).text
    assert "Plan in effect: <strong>free</strong>" in page
    assert "The paid starter period ended" in page
    assert "Prepaid until" not in page
    assert offered_plans(page) == [("starter", "Upgrade to Starter"), ("pro", "Upgrade to Pro")]
