"""Upgrading through Checkout in Debian's Chromium, against a real `trulybot serve` with billing on
(the fake Razorpay API behind RAZORPAY_BASE_URL) whose plan page loads a local stand-in of
Razorpay's checkout.js (RAZORPAY_CHECKOUT_SCRIPT_URL, tests/fakes/checkout_standin.py): the same
``new Razorpay(options).open()`` contract, a handler signed with the key secret as Razorpay signs,
``payment.failed`` and ``modal.ondismiss``. Each test buys in a workspace of its own."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from billing.state import add_period
from tests.e2e.conftest import OUTPUT, DemoServer, running_server
from tests.fakes.checkout_standin import CheckoutStandIn
from tests.fakes.razorpay_server import FakeRazorpay
from workspaces.plans import PLANS

pytestmark = pytest.mark.e2e
TIMEOUT = 30_000
SHOTS = OUTPUT / "dashboard"
SHOTS.mkdir(parents=True, exist_ok=True)


@dataclass
class BillingServer:
    server: DemoServer
    fake: FakeRazorpay
    standin: CheckoutStandIn


@pytest.fixture(scope="module")
def billing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BillingServer]:
    data_dir = tmp_path_factory.mktemp("trulybot-checkout")
    with (
        FakeRazorpay() as fake,
        CheckoutStandIn(key_secret=fake.key_secret, razorpay=fake) as standin,
        running_server(
            data_dir,
            SEED_DEMO="true",
            EMBEDDING_PROVIDER="hash",
            RAZORPAY_KEY_ID=fake.key_id,
            RAZORPAY_KEY_SECRET=fake.key_secret,
            RAZORPAY_BASE_URL=fake.base_url,
            RAZORPAY_CHECKOUT_SCRIPT_URL=standin.script_url,
        ) as base_url,
    ):
        credentials = json.loads((data_dir / "demo-owner.json").read_text())
        token = httpx.post(
            f"{base_url}/api/v1/auth/login",
            json={"email": credentials["email"], "password": credentials["password"]},
            timeout=30,
        ).json()["access_token"]
        server = DemoServer(base_url=base_url, credentials=credentials, token=token)
        yield BillingServer(server=server, fake=fake, standin=standin)


@pytest.fixture(scope="module")
async def signed_in(browser: Any, billing_server: BillingServer) -> dict[str, Any]:
    """The demo owner's cookies, signed in once (the login form is rate limited)."""
    server = billing_server.server
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(server.base_url + "/app/login")
    await page.get_by_label("Email").fill(server.credentials["email"])
    await page.get_by_label("Password").fill(server.credentials["password"])
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("heading", name="Getting started").wait_for(timeout=TIMEOUT)
    state: dict[str, Any] = await context.storage_state()
    await context.close()
    return state


@pytest.fixture
async def plan_page(
    browser: Any, billing_server: BillingServer, signed_in: dict[str, Any]
) -> AsyncIterator[tuple[Any, str, list[str]]]:
    """The plan page of a new workspace of the demo owner (on the free plan), and what the
    browser logged (to assert that no CSP violation happened)."""
    server = billing_server.server
    created = server.api("POST", "/workspaces", json={"name": f"Shop {uuid.uuid4().hex[:6]}"})
    assert created.status_code == 201, created.text
    url = f"{server.base_url}/app/w/{created.json()['id']}/plan"
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, storage_state=signed_in
    )
    page = await context.new_page()
    messages: list[str] = []
    page.on("console", lambda msg: messages.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda err: messages.append(f"pageerror: {err}"))
    try:
        yield page, url, messages
        assert [m for m in messages if "Content Security Policy" in m] == []
    finally:
        await context.close()


async def test_upgrade_through_checkout_shows_the_new_plan_and_the_payment(
    billing_server: BillingServer, plan_page: tuple[Any, str, list[str]]
) -> None:
    page, url, messages = plan_page
    billing_server.standin.mode = "pay"
    response = await page.goto(url)
    assert response.status == 200
    csp = response.headers["content-security-policy"]
    origin = billing_server.standin.script_url.rsplit("/v1/", 1)[0]
    assert f"script-src 'self' {origin};" in csp
    await page.get_by_text("Plan in effect: free").wait_for(timeout=TIMEOUT)
    await page.get_by_role("button", name="Upgrade to Starter").click()

    notice = page.get_by_text("Payment received: the Starter plan is active until")
    await notice.wait_for(timeout=TIMEOUT)
    await page.get_by_text("Plan in effect: starter").wait_for(timeout=TIMEOUT)
    history = page.locator("section", has=page.get_by_role("heading", name="Payment history"))
    row = history.locator("tbody tr").first
    assert "starter (monthly)" in await row.inner_text()
    assert "INR 999.00" in await row.inner_text()
    assert "captured" in await row.inner_text()
    assert await page.get_by_role("button", name="Upgrade to Starter").count() == 0
    await page.screenshot(path=str(SHOTS / "plan-upgraded.png"), full_page=True)
    [order] = [
        o
        for o in billing_server.fake.orders.values()
        if o["notes"] and o["notes"].get("workspace_id") == url.split("/")[-2]
    ]
    assert order["amount"] == PLANS["starter"].price("monthly")

    # Prepaid, nothing to cancel: extending pays the same plan again, a month after the end.
    paid_until = await page.get_by_test_id("paid-until").locator("time").get_attribute("datetime")
    assert paid_until is not None
    later = add_period(datetime.fromisoformat(paid_until), "monthly")
    assert await page.get_by_role("button", name="Cancel at period end").count() == 0
    await page.get_by_role("button", name="Extend Starter").click()
    await page.get_by_text(f"the Starter plan is active until {later:%Y-%m-%d}").wait_for(
        timeout=TIMEOUT
    )
    extended = await page.get_by_test_id("paid-until").locator("time").get_attribute("datetime")
    assert extended == later.isoformat()
    assert "Plan in effect: starter" in await page.locator("main").inner_text()
    assert [m for m in messages if m.startswith(("error", "pageerror"))] == []


async def test_checkout_options_carry_the_order_key_amount_and_email(
    billing_server: BillingServer, plan_page: tuple[Any, str, list[str]]
) -> None:
    page, url, _ = plan_page
    billing_server.standin.mode = "dismiss"
    await page.goto(url)
    await page.get_by_role("button", name="Upgrade to Pro").click()
    status = page.locator("#checkout-status")
    await page.get_by_text("Payment cancelled").wait_for(timeout=TIMEOUT)
    assert "Your plan is unchanged" in await status.inner_text()
    options = await page.evaluate("() => window.__checkoutOptions")
    assert options["key"] == billing_server.fake.key_id
    assert options["order_id"] in billing_server.fake.orders
    assert options["amount"] == PLANS["pro"].price("monthly")
    assert options["currency"] == "INR"
    assert options["prefill"] == {"email": billing_server.server.credentials["email"]}


async def test_a_failed_payment_says_so_and_leaves_the_plan(
    billing_server: BillingServer, plan_page: tuple[Any, str, list[str]]
) -> None:
    page, url, _ = plan_page
    billing_server.standin.mode = "fail"
    await page.goto(url)
    await page.get_by_role("button", name="Upgrade to Starter").click()
    status = page.locator("#checkout-status")
    await page.get_by_text("The payment failed").wait_for(timeout=TIMEOUT)
    text = await status.inner_text()
    assert "Your payment has been cancelled. Try again or complete the payment later. Your" in text
    assert "Your plan is unchanged" in text
    assert await page.get_by_role("button", name="Upgrade to Starter").is_enabled()
    await page.screenshot(path=str(SHOTS / "plan-payment-failed.png"), full_page=True)
    await page.reload()
    main = await page.locator("main").inner_text()
    assert "Plan in effect: free" in main
    assert "Payment history" not in main
