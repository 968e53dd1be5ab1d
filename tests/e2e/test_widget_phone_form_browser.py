"""The widget's contact form with its phone field takes a number instead of an address: before,
the address was required whatever the form showed ("Please enter a valid email address." to a
visitor who typed only their number), so a visitor without one could not send it."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.conftest import DemoServer
from tests.e2e.test_widget_browser import LEAD_ALERT, TIMEOUT, _open, _over_quota, _send


async def test_a_visitor_leaves_a_phone_number_instead_of_an_address(
    page: Any, demo_server: DemoServer
) -> None:
    patched = demo_server.api(
        "PATCH", demo_server.workspace("/widget"), json={"lead_fields": ["email", "name", "phone"]}
    )
    assert patched.status_code == 200, patched.text
    sent: list[str] = []
    page.on(
        "request",
        lambda r: sent.append(r.post_data or "") if r.url.endswith("/widget/leads") else None,
    )
    number = f"+91 9{uuid.uuid4().int % 10**4:04d} {uuid.uuid4().int % 10**5:05d}"
    try:
        await page.route("**/api/v1/chat", _over_quota)
        await page.goto(demo_server.base_url + "/")
        await _open(page)
        await _send(page, "Can someone call me about the Family plan?")
        form = page.get_by_test_id("lead-form")
        await form.wait_for(state="visible", timeout=TIMEOUT)
        assert await page.get_by_test_id("lead-email").get_attribute("required") is None

        # Neither: said in words, nothing sent.
        await page.get_by_test_id("lead-submit").click()
        await page.wait_for_function(f"() => {LEAD_ALERT} !== ''", timeout=TIMEOUT)
        assert await page.evaluate(f"() => {LEAD_ALERT}") == (
            "Please enter your email address or your phone number."
        )
        # A number no one could call, alone: caught in the browser.
        await page.get_by_test_id("lead-phone").fill("12345")
        await page.get_by_test_id("lead-submit").click()
        await page.wait_for_function(
            f"() => {LEAD_ALERT}.startsWith('Please enter a valid phone number')",
            timeout=TIMEOUT,
        )
        assert sent == []

        await page.get_by_test_id("lead-phone").fill(number)
        await page.get_by_test_id("lead-submit").click()
        await form.wait_for(state="hidden", timeout=TIMEOUT)
        thanks = page.locator('[data-testid="message"][data-role="bot"]').last
        await thanks.wait_for(timeout=TIMEOUT)
        assert f"Thanks! We'll be in touch at {number}." in await thanks.inner_text()
        [body] = sent
        assert "email" not in body, body
        leads = demo_server.api("GET", demo_server.workspace("/leads"), params={"q": number})
        assert [(lead["email"], lead["phone"]) for lead in leads.json()["items"]] == [
            (None, number)
        ]
    finally:
        demo_server.api(
            "PATCH", demo_server.workspace("/widget"), json={"lead_fields": ["email", "name"]}
        )
