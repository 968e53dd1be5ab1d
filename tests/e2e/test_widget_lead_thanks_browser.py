"""The contact form thanks a visitor in the language they chat in (the widget always showed its
English default, "Thanks! We'll be in touch at ...", unless the owner wrote their own)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.conftest import DemoServer
from tests.e2e.test_widget_browser import TIMEOUT, _ask, _open, leave_address


async def test_a_german_visitor_is_thanked_in_german(page: Any, demo_server: DemoServer) -> None:
    await page.goto(demo_server.base_url + "/")
    await _open(page)
    await _ask(page, "Ich möchte mit einem Menschen sprechen")
    await page.get_by_test_id("lead-form").wait_for(state="visible", timeout=TIMEOUT)
    email = f"kunde-{uuid.uuid4().hex[:8]}@example.com"
    shown = await leave_address(page, email)
    assert f"Danke! Wir melden uns unter {email}." in shown, shown
    assert "We'll be in touch" not in shown
