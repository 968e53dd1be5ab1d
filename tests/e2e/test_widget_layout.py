"""The widget as a visitor reads it: right-to-left answers and typing. A real server and
Debian's Chromium; each test failed before its fix."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import DemoServer

pytestmark = pytest.mark.e2e
T = 60_000
SR = "document.querySelector('trulybot-widget').shadowRoot"


async def _with_history(page: Any, demo_server: DemoServer, history: list[dict[str, Any]]) -> None:
    """The demo page with ``history`` as the visitor's stored conversation, the chat open."""
    key = demo_server.credentials["public_key"]
    await page.goto(demo_server.base_url + "/")
    await page.evaluate(
        f"() => localStorage.setItem('trulybot:{key}:history', {json.dumps(json.dumps(history))})"
    )
    await page.reload()
    await page.get_by_test_id("launcher").click()
    await page.get_by_test_id("panel").wait_for(state="visible", timeout=T)


async def test_an_arabic_answer_that_starts_with_a_latin_name_reads_right_to_left(
    page: Any, demo_server: DemoServer
) -> None:
    """dir="auto" takes a bubble's direction from its first letter: an Arabic answer opening
    with the product's Latin name, or the visitor's Arabic question opening with "iPhone", was
    laid out left to right (left-aligned, its full stop and question mark at the wrong end,
    the citation marker in the middle). The direction is now the one most of its letters have;
    code stays left to right."""
    history = [
        {"role": "user", "t": "iPhone 15 لا يشحن منذ أمس، ماذا أفعل؟"},
        {
            "role": "bot",
            "t": "TrulyBot يقدم ضمانًا لمدة ثلاث سنوات على الجهاز [1].\n\n`pip install trulybot`",
            "c": [{"n": 1, "title": "الضمان", "url": "https://example.com/warranty"}],
            "id": str(uuid.uuid4()),
        },
        {"role": "bot", "t": "The Family plan costs 599 a month.", "id": str(uuid.uuid4())},
    ]
    await _with_history(page, demo_server, history)
    dirs = await page.evaluate(
        f"""() => [...{SR}.querySelectorAll('.bubble')].slice(1)
        .map(b => getComputedStyle(b).direction)"""
    )
    assert dirs == ["rtl", "rtl", "ltr"], dirs
    code = await page.evaluate(
        f"() => getComputedStyle({SR}.querySelectorAll('.bubble')[2].querySelector('code'))"
        ".direction"
    )
    assert code == "ltr"
    box = page.get_by_test_id("input")
    await box.fill("iPhone 15 لا يشحن منذ أمس، ماذا أفعل؟")
    assert await box.evaluate("e => e.matches(':dir(rtl)')"), "the message box reads LTR"
    await box.fill("Is there a free trial?")
    assert await box.evaluate("e => e.matches(':dir(ltr)')")
