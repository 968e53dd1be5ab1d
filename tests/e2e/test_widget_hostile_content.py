"""Hostile text in an answer and its sources, as a document a site's owner uploaded may carry
it: shown as text, nothing runs, links only to http(s) addresses and opened apart from the page.
A guard of what the widget does (it inserts text only with textContent and makes links only for
http(s) URLs); a real server and Debian's Chromium."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import DemoServer
from tests.e2e.test_widget_browser import FINISHED_ANSWERS, TIMEOUT, _open, _send

pytestmark = pytest.mark.e2e

HOSTILE = (
    'Press <img src=x onerror="window.__ran=1"> then [the manual](javascript:window.__ran=2), '
    "[a page](data:text/html,<script>window.__ran=3</script>), "
    "[another](JaVaScRiPt:window.__ran=4) or [the site](https://example.com/help) [1] [2] [3]"
    " <script>window.__ran=5</script>"
)
CITATIONS = [
    {"n": 1, "title": "<img src=x onerror=window.__ran=6>", "url": "javascript:window.__ran=7"},
    {"n": 2, "title": "Data", "url": "data:text/html,<script>window.__ran=8</script>"},
    {"n": 3, "title": "Help", "url": "https://example.com/doc", "snippet": "<b onclick=x>s</b>"},
]

LINKS = """() => Array.from(
    document.querySelector('trulybot-widget').shadowRoot.querySelectorAll('.log a'),
    (a) => [a.textContent, a.getAttribute('href'), a.target, a.rel],
)"""


async def test_hostile_text_in_an_answer_and_its_sources_runs_nothing(
    page: Any, demo_server: DemoServer
) -> None:
    message_id = str(uuid.uuid4())
    events = [
        ("meta", {"intent": "question", "message_id": message_id}),
        ("delta", {"text": HOSTILE}),
        ("citations", {"citations": CITATIONS}),
        ("done", {"answer": HOSTILE, "citations": CITATIONS, "message_id": message_id}),
    ]
    body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)

    async def hostile(route: Any) -> None:
        await route.fulfill(status=200, content_type="text/event-stream", body=body)

    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await page.route("**/api/v1/chat", hostile)
    await page.goto(demo_server.base_url + "/")
    await _open(page)
    await _send(page, "How do I set it up?")
    await page.wait_for_function(f"() => ({FINISHED_ANSWERS})() > 0", timeout=TIMEOUT)

    answer = page.locator('[data-testid="message"][data-role="bot"]').last
    shown = await answer.inner_text()
    assert '<img src=x onerror="window.__ran=1">' in shown  # the markup, as text
    assert "<script>window.__ran=5</script>" in shown
    assert await answer.locator("img, script, iframe").count() == 0
    assert await page.evaluate("() => window.__ran") is None
    assert dialogs == []
    assert await page.evaluate(LINKS) == [
        ["the site", "https://example.com/help", "_blank", "noopener noreferrer"],
        ["[3]", "https://example.com/doc", "_blank", "noopener noreferrer"],
        ["Help", "https://example.com/doc", "_blank", "noopener noreferrer"],
    ]
    sources = page.get_by_test_id("citation")
    assert await sources.first.inner_text() == "[1] <img src=x onerror=window.__ran=6>"
