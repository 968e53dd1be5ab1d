"""The widget open in several tabs of one site: they share one conversation and one history
(localStorage), whatever order the visitor acts in."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.e2e.conftest import DemoServer
from tests.e2e.test_widget_browser import TIMEOUT, _ask, _open

pytestmark = pytest.mark.e2e
SR = "document.querySelector('trulybot-widget').shadowRoot"

STORED = """(name) => {
    const key = Object.keys(localStorage).find((k) => k.endsWith(':' + name));
    return key === undefined ? null : localStorage.getItem(key);
}"""


def _chat_bodies(tab: Any) -> list[dict[str, Any]]:
    """The JSON bodies of the tab's chat requests, as they are sent."""
    seen: list[dict[str, Any]] = []

    def on_request(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/api/v1/chat"):
            seen.append(json.loads(request.post_data or "{}"))

    tab.on("request", on_request)
    return seen


async def _asked(tab: Any) -> list[str]:
    mine = await tab.locator('[data-testid="message"][data-role="user"]').all()
    return [(await m.inner_text()).removeprefix("You:").strip() for m in mine]


async def _open_tabs(page: Any, demo_server: DemoServer) -> Any:
    other = await page.context.new_page()
    for tab in (page, other):
        await tab.goto(demo_server.base_url + "/")
        await _open(tab)
    return other


async def test_a_new_conversation_in_one_tab_is_kept_by_the_other(
    page: Any, demo_server: DemoServer
) -> None:
    """The visitor starts over in one tab, then asks in another: the question starts a new
    conversation. The other tab kept the old conversation's id in memory and sent it, and wrote
    it back, so both tabs went on with the conversation the visitor had left."""
    other = await _open_tabs(page, demo_server)
    try:
        sent = _chat_bodies(other)
        await _ask(other, "How long do refunds take?")
        old = await other.evaluate(STORED, "conversation")
        assert old

        await page.get_by_test_id("reset").click()
        # The other tab shows the emptied conversation (the storage event reached it).
        await other.locator('[data-testid="message"][data-role="user"]').first.wait_for(
            state="detached", timeout=TIMEOUT
        )

        await _ask(other, "Is there a free trial?")
        assert "conversation_id" not in sent[-1], sent[-1]
        # The other tab's write reaches this one through the browser process, not at once.
        stored = await page.wait_for_function(
            f"(old) => {{ const id = ({STORED})('conversation'); return id && id !== old && id; }}",
            arg=old,
            timeout=TIMEOUT,
        )
        new = await stored.json_value()
        assert new
        assert new != old
        assert await other.evaluate(STORED, "conversation") == new
        assert await _asked(other) == ["Is there a free trial?"]
    finally:
        await other.close()


async def _canned(route: Any) -> None:
    """A chat answer made here, not by the server (it spends none of the address's chat limit)."""
    answer = {"answer": "An answer.", "message_id": str(uuid.uuid4()), "citations": []}
    await route.fulfill(status=200, content_type="application/json", body=json.dumps(answer))


async def _answer_late(
    page: Any,
    other: Any,
    meanwhile: Callable[[], Awaitable[None]] | None = None,
    canned: bool = False,
) -> None:
    """Ask in ``page`` with its chat request held until ``other`` has asked and been answered
    (and ``meanwhile`` has run); return when the late answer is in. ``canned``: both answers
    made by the test, not by the server."""
    held = asyncio.Event()
    release = asyncio.Event()

    async def hold(route: Any) -> None:
        held.set()
        await release.wait()
        await (_canned(route) if canned else route.continue_())

    await page.route("**/api/v1/chat", hold)
    if canned:
        await other.route("**/api/v1/chat", _canned)
    late = asyncio.create_task(_ask(page, "How long do refunds take?"))
    try:
        await asyncio.wait_for(held.wait(), timeout=TIMEOUT / 1000)
        await _ask(other, "Is there a free trial?")
        if meanwhile is not None:
            await meanwhile()
        release.set()
        await late
    finally:
        release.set()
        if not late.done():
            late.cancel()


async def test_an_answer_arriving_late_keeps_what_the_other_tab_asked_meanwhile(
    page: Any, demo_server: DemoServer
) -> None:
    """One tab waits for its answer while the visitor asks in another. The late answer was
    added to the history the waiting tab had read before, and that copy was written over the
    other tab's question and answer: they were gone from every tab."""
    other = await _open_tabs(page, demo_server)
    try:
        await _answer_late(page, other)
        both = ["How long do refunds take?", "Is there a free trial?"]
        stored = json.loads(await page.evaluate(STORED, "history"))
        assert [e["t"] for e in stored if e.get("role") == "user"] == both
        assert len([e for e in stored if e.get("role") == "bot"]) == 2
        # The waiting tab shows the other's question once its answer is in; a new tab shows both.
        await (
            page.locator('[data-testid="message"][data-role="user"]')
            .nth(1)
            .wait_for(timeout=TIMEOUT)
        )
        assert await _asked(page) == both
        third = await page.context.new_page()
        try:
            await third.goto(demo_server.base_url + "/")
            await _open(third)
            await (
                third.locator('[data-testid="message"][data-role="user"]')
                .nth(1)
                .wait_for(timeout=TIMEOUT)
            )
            assert await _asked(third) == both
        finally:
            await third.close()
    finally:
        await other.close()


def _entry(role: str, text: str) -> dict[str, Any]:
    if role == "user":
        return {"role": "user", "t": text, "k": str(uuid.uuid4())}
    return {"role": "bot", "t": text, "c": [], "id": str(uuid.uuid4())}


async def _store(tab: Any, demo_server: DemoServer, history: list[dict[str, Any]]) -> None:
    """``history`` written as the visitor's stored conversation, from ``tab``."""
    key = demo_server.credentials["public_key"]
    await tab.evaluate(
        f"() => localStorage.setItem('trulybot:{key}:history', {json.dumps(json.dumps(history))})"
    )


async def _open_with(page: Any, demo_server: DemoServer, history: list[dict[str, Any]]) -> None:
    """The demo page with ``history`` stored, the chat open."""
    await page.goto(demo_server.base_url + "/")
    await _store(page, demo_server, history)
    await page.reload()
    await _open(page)


async def _written_in_another_tab(
    page: Any, demo_server: DemoServer, history: list[dict[str, Any]]
) -> None:
    """``history`` stored from another tab of the site (``page`` gets the storage event)."""
    other = await page.context.new_page()
    try:
        await other.goto(demo_server.base_url + "/")
        await _store(other, demo_server, history)
    finally:
        await other.close()


async def test_a_message_from_another_tab_is_added_without_redrawing_the_conversation(
    page: Any, demo_server: DemoServer
) -> None:
    """When another tab wrote the conversation, this tab emptied its log and drew it all
    again: a screen reader could read the whole conversation out again, and the visitor, who
    had scrolled up to read, was taken to the bottom. Only the new messages are added now."""
    history = [_entry("user" if i % 2 == 0 else "bot", f"Message {i} " * 30) for i in range(16)]
    await _open_with(page, demo_server, history)
    messages = page.locator('[data-testid="message"]')
    await messages.nth(len(history) - 1).wait_for(timeout=TIMEOUT)
    shown = await messages.count()
    await page.evaluate(f"""() => {{
        const s = {SR}.querySelector('.scroll');
        s.scrollTop = 200;
        for (const m of {SR}.querySelectorAll('[data-testid="message"]')) m.__before = true;
    }}""")

    more = [*history, _entry("user", "One more question?"), _entry("bot", "One more answer.")]
    await _written_in_another_tab(page, demo_server, more)
    await messages.nth(shown + 1).wait_for(timeout=TIMEOUT)
    assert await messages.count() == shown + 2
    kept = await page.evaluate(f"""() => [...{SR}.querySelectorAll('[data-testid="message"]')]
        .map((m) => !!m.__before)""")
    assert kept == [True] * shown + [False, False]
    assert await page.evaluate(f"() => {SR}.querySelector('.scroll').scrollTop") == 200
    assert "One more answer." in await messages.last.inner_text()


async def test_a_rating_in_another_tab_updates_only_the_rated_answer(
    page: Any, demo_server: DemoServer
) -> None:
    """The visitor rates an answer in one tab. Every other open tab emptied its conversation
    and drew it all again: the messages were new elements, and the rating button a keyboard
    user had focused there was gone (focus fell to the page). Only the rated answer's buttons
    change now."""
    other = await _open_tabs(page, demo_server)
    try:
        await _ask(page, "How long do refunds take?")
        answer = other.locator('[data-testid="message"][data-role="bot"]').last
        down = answer.get_by_test_id("feedback-down")
        await down.wait_for(timeout=TIMEOUT)
        await other.get_by_test_id("input").fill("And for a yearly plan")
        await down.focus()
        await other.evaluate(
            f"() => {{ for (const m of {SR}.querySelectorAll('[data-testid=\"message\"]'))"
            " m.__before = true; }"
        )

        await (
            page.locator('[data-testid="message"][data-role="bot"]')
            .last.get_by_test_id("feedback-up")
            .click()
        )
        await (
            answer.get_by_test_id("feedback-up")
            .and_(other.locator('[aria-pressed="true"]'))
            .wait_for(timeout=TIMEOUT)
        )

        kept = await other.evaluate(
            f"() => [...{SR}.querySelectorAll('[data-testid=\"message\"]')]"
            ".map((m) => !!m.__before)"
        )
        assert kept == [True] * len(kept), kept
        focused = await other.evaluate(
            f"() => {SR}.activeElement && {SR}.activeElement.dataset.testid"
        )
        assert focused == "feedback-down"
        assert await down.get_attribute("aria-pressed") == "false"
        assert await other.get_by_test_id("input").input_value() == "And for a yearly plan"
    finally:
        await other.close()


async def test_a_tab_open_for_long_shows_no_more_than_the_kept_history(
    page: Any, demo_server: DemoServer
) -> None:
    """The history keeps the last 40 messages. A tab left open while the visitor chatted in
    another added each new message and removed none: its conversation grew without end, longer
    than a reload or any new tab showed. It now drops the oldest ones the history dropped."""
    history = [_entry("user" if i % 2 == 0 else "bot", f"Old message {i}") for i in range(40)]
    await _open_with(page, demo_server, history)
    messages = page.locator('[data-testid="message"]')
    await messages.nth(40).wait_for(timeout=TIMEOUT)  # the greeting and the 40

    more = [*history, _entry("user", "One more question?"), _entry("bot", "One more answer.")]
    await _written_in_another_tab(page, demo_server, more[-40:])
    await page.get_by_text("One more answer.").wait_for(timeout=TIMEOUT)
    texts = [t.strip().splitlines()[-1] for t in await messages.all_inner_texts()]
    assert len(texts) == 41, texts[:4]
    assert texts[1] == "Old message 2"
    assert texts[-1] == "One more answer."


async def test_an_answer_arriving_late_adds_the_other_tabs_messages_without_a_redraw(
    page: Any, demo_server: DemoServer
) -> None:
    """One tab waits for its answer while the visitor asks in another. When the late answer
    came in, the waiting tab emptied its conversation and drew it all again to show the other
    tab's question: every message a new element (a screen reader's place, the focus on a
    rating button gone) and the log silenced just as the late answer should be read out. The
    other tab's messages are now added among those shown."""
    other = await _open_tabs(page, demo_server)

    async def mark() -> None:
        await page.evaluate(
            f"() => {{ for (const m of {SR}.querySelectorAll('[data-testid=\"message\"]'))"
            " m.__before = true; }"
        )

    try:
        await _answer_late(page, other, mark, canned=True)
        await (
            page.locator('[data-testid="message"][data-role="user"]')
            .nth(1)
            .wait_for(timeout=TIMEOUT)
        )
        assert await _asked(page) == ["How long do refunds take?", "Is there a free trial?"]
        kept = await page.evaluate(
            f"() => [...{SR}.querySelectorAll('[data-testid=\"message\"]')]"
            ".map((m) => [m.dataset.role, !!m.__before])"
        )
        # the greeting and the waiting tab's question are the elements they were
        assert kept[:2] == [["bot", True], ["user", True]], kept
        assert len(kept) == 5, kept
    finally:
        await other.close()
