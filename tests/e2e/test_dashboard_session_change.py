"""In Debian's Chromium against a real `trulybot serve`: a dashboard tab left open while the
owner signs out and in again in another tab. Its form was refused "The form expired" and the
long FAQ answer typed into it was lost; now the answer comes back in the form, with the
browser's own Origin and Sec-Fetch-Site telling the server the form is this site's."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import DemoServer
from tests.e2e.test_dashboard_browser import _login

pytestmark = pytest.mark.e2e
TIMEOUT = 30_000


async def test_a_form_of_a_tab_left_open_comes_back_with_what_was_typed(
    browser: Any, demo_server: DemoServer
) -> None:
    context = await browser.new_context()
    try:
        tab = await context.new_page()
        base = await _login(tab, demo_server)
        await tab.goto(f"{base}/knowledge")
        question = f"Do you ship to Iceland ({uuid.uuid4().hex[:6]})?"
        answer = "Yes: orders to Iceland leave on Mondays.\nCustoms fees are paid on delivery."
        await tab.get_by_label("Question", exact=True).fill(question)
        await tab.locator("#faq-answer").fill(answer)

        other = await context.new_page()  # the other tab: out and in again
        await other.goto(f"{base}/knowledge")
        await other.get_by_role("button", name="Log out").click()
        await other.get_by_label("Email").wait_for(timeout=TIMEOUT)
        await _login(other, demo_server)

        await tab.get_by_role("button", name="Add FAQ").click()
        await tab.get_by_role("heading", name="Your session changed").wait_for(timeout=TIMEOUT)
        assert await tab.get_by_label("Answer").input_value() == answer
        assert await tab.get_by_label("Question", exact=True).input_value() == question
        await tab.get_by_role("button", name="Send again").click()
        await tab.get_by_text("FAQ added").first.wait_for(timeout=TIMEOUT)
        assert question in await tab.content()
    finally:
        await context.close()
