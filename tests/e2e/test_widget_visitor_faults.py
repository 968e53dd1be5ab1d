"""What a visitor meets on a real customer's site: the site's own keyboard shortcuts, a
connection lost in the middle of an answer, a contact form the server cannot take, a chat that
starts late. A real server and Debian's Chromium; each test failed before its fix."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import DemoServer, QuietHandler, chat_answered_by, static_site
from tests.e2e.test_widget_browser import (
    FINISHED_ANSWERS,
    LEAD_ALERT,
    TIMEOUT,
    _open,
    _over_quota,
    _send,
)

pytestmark = pytest.mark.e2e
SR = "document.querySelector('trulybot-widget').shadowRoot"

# The search shortcut of every Sphinx documentation site since Sphinx 5.2 (doctools.js,
# ENABLE_SEARCH_SHORTCUTS on by default; Python's own documentation has it): "/" typed anywhere
# but in a text field focuses the site's search box. It asks document.activeElement, which for
# the chat's message box is the widget's host element.
SHORTCUT_SITE = """<!doctype html><html><head><title>Docs</title></head><body>
<h1>Docs</h1><form role="search"><input type="text" name="q" aria-label="Search"></form>
<script>
const TEXT_FIELDS = new Set(["TEXTAREA", "INPUT", "SELECT", "BUTTON"]);
document.addEventListener("keydown", (event) => {{
  if (TEXT_FIELDS.has(document.activeElement.tagName)) return;
  if (event.key === "/") {{
    document.querySelector('input[name="q"]').focus();
    event.preventDefault();
  }}
}});
</script>
<script src="{base}/widget.js" data-key="{key}" async></script></body></html>"""


async def test_a_sites_keyboard_shortcuts_leave_what_the_visitor_types_alone(
    page: Any, demo_server: DemoServer
) -> None:
    """On a documentation site with Sphinx's "/" search shortcut, a visitor typing a path into
    the chat ("/etc/trulybot.conf") lost every "/": the site's handler saw the keys come from
    the widget's host element, not a text field, and took them for its search box. Keys typed
    in the chat's fields now stay in the chat."""
    html = SHORTCUT_SITE.format(
        base=demo_server.base_url, key=demo_server.credentials["public_key"]
    )
    with static_site(html.encode()) as site:
        await page.goto(site)
        await _open(page)
        box = page.get_by_test_id("input")
        await box.press_sequentially("Where is /etc/trulybot.conf?")
        assert await box.input_value() == "Where is /etc/trulybot.conf?"
        assert await page.locator('input[name="q"]').input_value() == ""
        focused = await page.evaluate(f"() => {SR}.activeElement?.dataset.testid")
        assert focused == "input"


CUT_OFF_AT = "Yearly plans can be refunded within"
ANSWER = CUT_OFF_AT + " 30 days of purchase."


async def test_a_connection_lost_mid_answer_says_the_answer_was_cut_off(
    page: Any, demo_server: DemoServer
) -> None:
    """The connection drops while the answer streams in (a phone changing networks, a proxy
    reset): the part shown was marked interrupted, but the visitor read "The chat can't be
    reached right now. Please try again in a few minutes.", untrue of a server that was
    answering a moment before and a reason to wait instead of pressing Retry. It now reads as a
    stream that closed early does: the answer was cut off, try again; Retry answers it."""
    partial_shown = threading.Event()
    posts: list[dict[str, Any]] = []

    class Chat(QuietHandler):
        def do_POST(self) -> None:
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            events = [
                ("meta", {"intent": "question", "message_id": str(uuid.uuid4())}),
                ("delta", {"text": CUT_OFF_AT}),
            ]
            if len(posts) > 1:
                events += [("done", {"answer": ANSWER, "citations": []})]
            body = "".join(f"event: {n}\ndata: {json.dumps(d)}\n\n" for n, d in events).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            # The first answer promises more than it sends, and its connection closes once
            # the part sent is on the visitor's screen: the browser reports a network error.
            self.send_header("Content-Length", str(len(body) + (1000 if len(posts) == 1 else 0)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            if len(posts) == 1:
                partial_shown.wait(timeout=120)

    async with chat_answered_by(page, Chat):
        await page.goto(demo_server.base_url + "/")
        await _open(page)
        box = page.get_by_test_id("input")
        await box.fill("Can I get a refund on a yearly plan?")
        await box.press("Enter")
        answer = page.locator('[data-testid="message"][data-role="bot"]').nth(1)
        try:
            await answer.get_by_text(CUT_OFF_AT).wait_for(timeout=TIMEOUT)
        finally:
            partial_shown.set()
        error = page.get_by_test_id("error")
        await error.wait_for(state="visible", timeout=TIMEOUT)
        assert await error.locator("span").inner_text() == (
            "The answer was cut off. Please try again."
        )
        assert "This answer was interrupted." in await answer.inner_text()
        assert len(posts) == 1  # not sent again by itself: part of it was shown

        await page.get_by_test_id("retry").click()
        await page.wait_for_function(f"() => ({FINISHED_ANSWERS})() > 0", timeout=TIMEOUT)
        assert ANSWER in await page.locator('[data-role="bot"]').last.inner_text()
        assert await error.is_hidden()
        assert await page.locator('[data-testid="message"][data-role="user"]').count() == 1
        assert len({post["client_message_id"] for post in posts}) == 1


async def test_a_contact_form_sent_from_the_keyboard_and_refused_keeps_the_focus(
    page: Any, demo_server: DemoServer
) -> None:
    """A keyboard user sends the contact form from its Send button and the server cannot take
    it (a 503): the form said so, but the button had been disabled while the form was sent, so
    the focus fell to the page's <body>; the visitor's screen reader lost its place and Escape
    no longer closed the chat. The focus stays on Send, which sends again."""
    sent: list[str] = []

    async def unavailable(route: Any) -> None:
        sent.append(route.request.post_data or "")
        await route.fulfill(
            status=503,
            content_type="application/json",
            body='{"error": {"code": "unavailable", "message": "down", "details": null}}',
        )

    await page.route("**/api/v1/chat", _over_quota)  # the form comes with the refusal
    await page.route("**/api/v1/widget/leads", unavailable)
    await page.goto(demo_server.base_url + "/")
    panel = await _open(page)
    await _send(page, "Can someone call me about the Family plan?")
    await page.get_by_test_id("lead-form").wait_for(state="visible", timeout=TIMEOUT)
    await page.get_by_test_id("lead-email").fill(f"visitor-{uuid.uuid4().hex[:8]}@example.com")
    await page.get_by_test_id("lead-submit").focus()
    await page.keyboard.press("Enter")
    await page.wait_for_function(f"() => {LEAD_ALERT} !== ''", timeout=TIMEOUT)
    assert await page.evaluate(f"() => {LEAD_ALERT}") == "Something went wrong. Please try again."
    focused = await page.evaluate(f"() => {SR}.activeElement?.dataset.testid")
    assert focused == "lead-submit"
    async with page.expect_response("**/api/v1/widget/leads", timeout=TIMEOUT):
        await page.keyboard.press("Enter")  # sent again from where the focus is
    await page.wait_for_function(f"() => {LEAD_ALERT} !== ''", timeout=TIMEOUT)
    assert len(sent) == 2
    await page.keyboard.press("Escape")
    await panel.wait_for(state="hidden", timeout=TIMEOUT)


async def test_a_message_typed_before_the_chat_could_start_waits_for_the_contact_form(
    page: Any, demo_server: DemoServer
) -> None:
    """The chat's settings could not be read at first; the visitor typed a message and sent it
    once the server answered. The settings ask for contact details before the chat: the form
    came, and the message was gone (not sent, not in the box). It now waits in the box, to be
    sent once the form is filled in."""
    down = True

    async def settings(route: Any) -> None:
        if down:
            await route.abort("connectionrefused")
            return
        response = await route.fetch()
        await route.fulfill(
            response=response, json=await response.json() | {"lead_capture": "before_chat"}
        )

    async def taken(route: Any) -> None:
        await route.fulfill(status=201, content_type="application/json", body="{}")

    await page.route("**/api/v1/widget/config", settings)
    await page.route("**/api/v1/widget/leads", taken)
    await page.goto(demo_server.base_url + "/")
    await _open(page)
    await page.get_by_test_id("error").wait_for(state="visible", timeout=TIMEOUT)
    down = False
    question = "Do you ship the appliance to Pune?"
    await _send(page, question)
    form = page.get_by_test_id("lead-form")
    await form.wait_for(state="visible", timeout=TIMEOUT)
    await page.get_by_test_id("lead-email").fill(f"visitor-{uuid.uuid4().hex[:8]}@example.com")
    await page.get_by_test_id("lead-submit").click()
    await form.wait_for(state="hidden", timeout=TIMEOUT)
    assert await page.get_by_test_id("input").input_value() == question
    assert await page.locator('[data-testid="message"][data-role="user"]').count() == 0


async def _settings_read_again_slowly(page: Any, url: str) -> asyncio.Event:
    """The chat opened while its settings cannot be read (it says so), then Retry pressed while
    the server is slow to answer them: the returned event, once set, lets the answer through.
    Returns when the settings are being read again (the visitor may type meanwhile)."""
    down = True
    asked = asyncio.Event()
    answer = asyncio.Event()

    async def settings(route: Any) -> None:
        if down:
            await route.abort("connectionrefused")
            return
        asked.set()
        await answer.wait()
        await route.continue_()

    await page.route("**/api/v1/widget/config", settings)
    await page.goto(url)
    await _open(page)
    await page.get_by_test_id("error").wait_for(state="visible", timeout=TIMEOUT)
    down = False
    await page.get_by_test_id("retry").click()
    await asyncio.wait_for(asked.wait(), timeout=TIMEOUT / 1000)
    return answer


async def test_a_message_sent_while_the_settings_are_read_again_is_sent_once_they_arrive(
    page: Any, demo_server: DemoServer
) -> None:
    """The chat could not read its settings and was reading them again (Retry, or opened: up to
    10 s when the server is slow); the visitor typed a question and pressed Enter meanwhile. The
    settings arrived, the chat started over with them, and the question was gone: not sent, not
    in the box (the press was dropped while a read was under way, and the chat was built anew).
    It is now sent once the settings arrive, once."""
    answer = await _settings_read_again_slowly(page, demo_server.base_url + "/")
    question = f"Do you deliver to Kochi? ({uuid.uuid4().hex[:6]})"
    await _send(page, question)
    answer.set()
    greeting = page.locator('[data-testid="message"][data-role="bot"]')
    await greeting.first.wait_for(state="visible", timeout=TIMEOUT)  # started over: greets
    mine = page.locator('[data-testid="message"][data-role="user"]')
    assert await mine.count() == 1
    assert question in await mine.inner_text()
    assert await page.get_by_test_id("input").input_value() == ""


async def test_a_message_typed_while_the_settings_are_read_again_stays_in_the_box(
    page: Any, demo_server: DemoServer
) -> None:
    """Typed, not sent yet, while the chat read its settings again: the chat started over with
    them and emptied the box under the visitor's fingers. What is typed stays there."""
    answer = await _settings_read_again_slowly(page, demo_server.base_url + "/")
    draft = "Do you deliver to"
    await page.get_by_test_id("input").fill(draft)
    answer.set()
    greeting = page.locator('[data-testid="message"][data-role="bot"]')
    await greeting.first.wait_for(state="visible", timeout=TIMEOUT)  # started over: greets
    assert await page.get_by_test_id("input").input_value() == draft
    assert await page.locator('[data-testid="message"][data-role="user"]').count() == 0
