"""The widget in a real browser against a real server: ask, stream, cite, capture a lead."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import OUTPUT, DemoServer, static_site

pytestmark = pytest.mark.e2e
TIMEOUT = 30_000


async def _open(page: Any) -> Any:
    await page.get_by_test_id("launcher").click(timeout=TIMEOUT)
    panel = page.get_by_test_id("panel")
    await panel.wait_for(state="visible", timeout=TIMEOUT)
    return panel


# The answers shown finished: the rating buttons come with the final answer, not its start.
FINISHED_ANSWERS = """() => {
    const host = document.querySelector('trulybot-widget');
    const root = host && host.shadowRoot;
    const sel = '[data-testid="message"][data-role="bot"] [data-testid="feedback-up"]';
    return root ? root.querySelectorAll(sel).length : 0;
}"""


async def _ask(page: Any, question: str) -> Any:
    """Ask, and wait for this question's answer to finish (not an earlier one's)."""
    before = await page.evaluate(FINISHED_ANSWERS)
    await page.get_by_test_id("input").fill(question)
    await page.get_by_test_id("input").press("Enter")
    answer = page.locator('[data-testid="message"][data-role="bot"]').last
    await page.wait_for_function(f"() => ({FINISHED_ANSWERS})() > {before}", timeout=TIMEOUT)
    return answer


async def _wait_until_ready(page: Any, demo_server: DemoServer, document_id: str) -> None:
    url = demo_server.workspace(f"/documents/{document_id}")
    for _ in range(120):
        status = demo_server.api("GET", url).json()["status"]
        if status in ("ready", "failed"):
            break
        await page.wait_for_timeout(250)
    assert status == "ready"


WARRANTY_PAGE = b"""<!doctype html><html><head><title>Warranty</title></head><body>
<nav>Home | Pricing | Help</nav><main><h1>Hardware warranty</h1>
<p>The Acme backup appliance comes with a three-year warranty covering parts and labour.</p>
<p>Warranty claims are handled by sending the appliance to our service centre in Pune.</p>
</main></body></html>"""


async def test_citations_of_web_pages_link_to_the_page(page: Any, demo_server: DemoServer) -> None:
    with customer_site(demo_server, {"/help/warranty.html": WARRANTY_PAGE}) as site:
        url = f"{site}/help/warranty.html"
        created = demo_server.api("POST", demo_server.workspace("/documents"), json={"url": url})
        assert created.status_code == 202, created.text
        document_id = created.json()["id"]
        await _wait_until_ready(page, demo_server, document_id)
        await page.goto(demo_server.base_url + "/")
        await _open(page)
        await _ask(page, "How long is the warranty on the backup appliance?")
        link = page.get_by_test_id("citation").locator("a").first
        await link.wait_for(timeout=TIMEOUT)
        assert await link.get_attribute("href") == url
        assert await link.get_attribute("rel") == "noopener noreferrer"
    demo_server.api("DELETE", demo_server.workspace(f"/documents/{document_id}"))


async def test_visitor_gets_a_cited_answer_and_leaves_a_lead(
    page: Any, demo_server: DemoServer
) -> None:
    await page.goto(demo_server.base_url + "/")
    assert await page.title() == "TrulyBot demo"
    await _open(page)
    answer = await _ask(page, "How much does the Family plan cost per month?")
    await answer.wait_for(timeout=TIMEOUT)
    await page.get_by_test_id("citation").first.wait_for(timeout=TIMEOUT)
    assert "599" in await answer.inner_text()
    # Each source is named by what it shows ("[1] Family plan"), not by its passage (the
    # snippet in its tooltip, which screen readers read as its name).
    cited = page.get_by_test_id("citation").first
    shown = " ".join((await cited.inner_text()).split())
    assert shown.startswith("[1] ")
    assert await page.get_by_role("listitem", name=shown, exact=True).count() >= 1
    link = page.get_by_test_id("citation").first.locator("a")
    if await link.count():
        assert re.match(r"^https?://", await link.first.get_attribute("href") or "")
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / "widget-open.png"))

    # A price question answered from the documents brings no form; asking for sales does: the
    # form appears; fill it in.
    form = page.get_by_test_id("lead-form")
    assert await form.count() == 0
    await _ask(page, "Can someone from your sales team contact me about it?")
    await form.wait_for(state="visible", timeout=TIMEOUT)
    # The visitor's next question still goes into the message box: the form does not take the
    # focus (it did, and the question was typed into the email field).
    focused = await page.evaluate(
        "() => document.querySelector('trulybot-widget').shadowRoot.activeElement?.dataset.testid"
    )
    assert focused == "input"
    email = f"visitor-{uuid.uuid4().hex[:8]}@example.com"
    await page.get_by_test_id("lead-email").fill(email)
    if await page.get_by_test_id("lead-name").count():
        await page.get_by_test_id("lead-name").fill("Browser Visitor")
    await page.get_by_test_id("lead-submit").click()
    await form.wait_for(state="hidden", timeout=TIMEOUT)

    leads = demo_server.api("GET", demo_server.workspace("/leads"), params={"q": email}).json()
    assert [lead["email"] for lead in leads["items"]] == [email]
    assert leads["items"][0]["source"] == "widget"
    assert leads["items"][0]["conversation_id"] is not None


async def test_an_email_typed_in_the_chat_closes_the_contact_form(
    page: Any, demo_server: DemoServer
) -> None:
    """The bot did not know and offered its form; the visitor typed the address into the chat
    instead: it was taken, so the form goes away (it stayed, asking again; a tester's finding)."""
    await page.goto(demo_server.base_url + "/")
    await _open(page)
    await _ask(page, "Do you sell submarines?")
    form = page.get_by_test_id("lead-form")
    await form.wait_for(state="visible", timeout=TIMEOUT)
    email = f"typed-{uuid.uuid4().hex[:8]}@example.com"
    answer = await _ask(page, f"my email is {email}")
    assert "email" in (await answer.inner_text()).lower()
    await form.wait_for(state="hidden", timeout=TIMEOUT)
    leads = demo_server.api("GET", demo_server.workspace("/leads"), params={"q": email}).json()
    assert [(lead["email"], lead["source"]) for lead in leads["items"]] == [(email, "chat")]


async def leave_address(page: Any, email: str) -> str:
    """Send the contact form (shown) with ``email``; what the bot thanks the visitor with."""
    await page.get_by_test_id("lead-email").fill(email)
    await page.get_by_test_id("lead-submit").click()
    await page.get_by_test_id("lead-form").wait_for(state="hidden", timeout=TIMEOUT)
    thanks = page.locator('[data-testid="message"][data-role="bot"]').last
    await thanks.wait_for(timeout=TIMEOUT)
    return str(await thanks.inner_text())


async def _look(page: Any) -> tuple[str, dict[str, float]]:
    panel = await _open(page)
    box = await panel.bounding_box()
    assert box is not None
    font = await page.get_by_test_id("input").evaluate("el => getComputedStyle(el).fontSize")
    return font, box


async def test_hostile_host_css_leaves_the_widget_usable(
    page: Any, demo_server: DemoServer
) -> None:
    await page.goto(demo_server.base_url + "/")
    plain_font, plain_box = await _look(page)
    await page.goto(demo_server.base_url + "/demo/hostile")
    font, box = await _look(page)
    # `* { all: unset }` and a 48px root font change nothing inside the widget.
    assert font == plain_font
    assert abs(box["width"] - plain_box["width"]) < 1
    assert abs(box["height"] - plain_box["height"]) < 1
    assert box["height"] >= 300
    answer = await _ask(page, "Does it work on Linux?")
    assert "linux" in (await answer.inner_text()).lower()
    await page.screenshot(path=str(OUTPUT / "widget-hostile.png"))


@contextmanager
def customer_site(
    demo_server: DemoServer,
    pages: dict[str, bytes] | None = None,
    headers: dict[str, str] | None = None,
) -> Iterator[str]:
    """A customer's page on its own origin (another local port) that embeds the widget from
    the TrulyBot server, so every widget request is cross-origin."""
    key = demo_server.credentials["public_key"]
    html = (
        "<!doctype html><html><head><title>Customer site</title></head><body>"
        "<h1>Customer site</h1>"
        f'<script src="{demo_server.base_url}/widget.js" data-key="{key}" async></script>'
        "</body></html>"
    ).encode()

    with static_site(html, pages, headers) as url:
        yield url


async def test_a_site_with_a_strict_content_security_policy_gets_a_styled_widget(
    page: Any, demo_server: DemoServer
) -> None:
    """A site whose policy allows the widget's script and requests but no inline styles (the
    lines docs/deploy.md gives embedding sites): the widget keeps its look and answers. Before,
    its <style> element was refused and the launcher sat unstyled at the end of the page."""
    server = demo_server.base_url
    policy = (
        f"default-src 'self'; script-src {server}; connect-src {server}; img-src https:; "
        "style-src 'none'; require-trusted-types-for 'script'; trusted-types 'none'"
    )
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    with customer_site(demo_server, headers={"Content-Security-Policy": policy}) as shop:
        await page.goto(shop)
        launcher = page.get_by_test_id("launcher")
        await launcher.wait_for(timeout=TIMEOUT)
        box = await launcher.bounding_box()
        assert box is not None
        assert (round(box["width"]), round(box["height"])) == (56, 56)
        position = await launcher.evaluate("el => getComputedStyle(el.closest('.root')).position")
        assert position == "fixed"
        viewport = page.viewport_size
        assert round(viewport["width"] - box["x"] - box["width"]) == 20  # its corner, 20px in
        assert round(viewport["height"] - box["y"] - box["height"]) == 20
        await _open(page)
        answer = await _ask(page, "Is there a free trial?")
        assert "14-day" in await answer.inner_text()
    assert violations == []


async def test_only_allowlisted_sites_get_answers(page: Any, demo_server: DemoServer) -> None:
    allowed = demo_server.api(
        "PATCH",
        demo_server.workspace("/widget"),
        json={"allowed_origins": ["http://localhost:5001"]},
    )
    assert allowed.status_code == 200
    try:
        with customer_site(demo_server) as shop, customer_site(demo_server) as other_site:
            allowed = demo_server.api(
                "PATCH", demo_server.workspace("/widget"), json={"allowed_origins": [shop]}
            )
            assert allowed.status_code == 200
            # The allowed site: cross-origin requests pass CORS and the visitor gets an answer.
            await page.goto(shop)
            await _open(page)
            answer = await _ask(page, "Is there a free trial?")
            assert "14-day" in await answer.inner_text()

            # Another site embedding the same key: refused, and the widget reads why (the
            # refusal is readable cross-origin; it holds no workspace data), so it stays away.
            # Before, the browser blocked the 403, the widget took it for a network error and
            # showed itself with default settings after its retries, answering "Connection
            # problem" to every question.
            statuses: list[int] = []
            page.on(
                "response",
                lambda r: statuses.append(r.status) if "/api/v1/" in r.url else None,
            )
            async with page.expect_console_message(
                lambda m: "widget disabled: origin_not_allowed" in m.text, timeout=TIMEOUT
            ):
                await page.goto(other_site)
            assert statuses == [403]
            assert await page.get_by_test_id("launcher").count() == 0
    finally:
        demo_server.api("PATCH", demo_server.workspace("/widget"), json={"allowed_origins": []})


async def test_a_message_the_server_refuses_goes_back_to_the_box(
    page: Any, demo_server: DemoServer
) -> None:
    """The box takes no more than the server does; a message refused as written (here longer,
    set by a script past the limit) comes back to the box to be shortened, with the reason and
    no Retry, and stays out of the conversation."""
    await page.goto(demo_server.base_url + "/")
    await _open(page)
    box = page.get_by_test_id("input")
    assert await box.get_attribute("maxlength") == "2000"
    text = "Please tell me about refunds. " * 90  # 2,700 characters
    await box.evaluate("(el, v) => { el.value = v; }", text)
    await box.press("Enter")
    error = page.get_by_test_id("error")
    await error.wait_for(state="visible", timeout=TIMEOUT)
    assert "longer than 2000 characters" in await error.inner_text()
    assert await page.get_by_test_id("retry").is_hidden()
    assert await box.input_value() == text.strip()
    assert await page.locator('[data-testid="message"][data-role="user"]').count() == 0


async def test_a_message_a_proxy_finds_too_large_goes_back_to_the_box(
    page: Any, demo_server: DemoServer
) -> None:
    """A proxy in front with a smaller body limit answers 413 with its own page: the message
    comes back to the box to be shortened, as the server's own refusal does (it stayed in the
    conversation unanswered, "Something went wrong", with a Retry that could only fail again)."""

    async def too_large(route: Any) -> None:
        await route.fulfill(
            status=413, content_type="text/html", body="<html><h1>413 Request Entity Too Large"
        )

    question = "Please tell me about refunds on the yearly Family plan."
    error = await _ask_routed_until_error(page, demo_server, too_large, question)
    assert "too long" in await error.inner_text()
    assert await page.get_by_test_id("retry").is_hidden()
    assert await page.get_by_test_id("input").input_value() == question
    assert await page.locator('[data-testid="message"][data-role="user"]').count() == 0


async def test_a_widget_whose_server_is_out_of_reach_says_so_then_starts_when_it_answers(
    page: Any, demo_server: DemoServer
) -> None:
    """The settings could not be read (our server down): the chat opened as "Assistant" with
    the default greeting and failed only at the first message, with "Check your internet"
    (a browser walk's finding). Now it says the chat cannot be reached, greets in no one's
    words, and once the server answers, a message sent starts it with the owner's settings and
    is answered."""
    config = httpx.get(
        f"{demo_server.base_url}/api/v1/widget/config",
        headers={"X-Widget-Key": demo_server.credentials["public_key"]},
    ).json()

    async def down(route: Any) -> None:
        await route.abort("connectionrefused")

    await page.route("**/api/v1/widget/config", down)
    await page.goto(demo_server.base_url + "/")
    await _open(page)
    error = page.get_by_test_id("error")
    await error.wait_for(state="visible", timeout=TIMEOUT)
    assert "The chat can't be reached right now" in await error.inner_text()
    assert "internet" not in await error.inner_text()
    assert await page.locator('[data-testid="message"]').count() == 0

    await page.unroute("**/api/v1/widget/config")
    await page.get_by_test_id("input").fill("How long do refunds take?")
    await page.get_by_test_id("input").press("Enter")
    await page.wait_for_function(f"() => ({FINISHED_ANSWERS})() > 0", timeout=TIMEOUT)
    assert await page.locator("#tb-title").inner_text() == config["bot_name"]
    first = page.locator('[data-testid="message"]').first
    assert config["greeting"].strip() in await first.inner_text()
    assert await page.locator('[data-testid="message"][data-role="user"]').count() == 1
    assert await error.is_hidden()


async def test_a_visitor_offline_is_told_to_check_their_connection(
    page: Any, demo_server: DemoServer
) -> None:
    """The browser knows it is offline: the message is not sent again and again for seconds,
    and the visitor reads that their connection is the problem (the chat's server is not)."""
    await page.goto(demo_server.base_url + "/")
    await _open(page)
    await page.context.set_offline(True)
    try:
        await page.get_by_test_id("input").fill("How long do refunds take?")
        await page.get_by_test_id("input").press("Enter")
        error = page.get_by_test_id("error")
        await error.wait_for(state="visible", timeout=TIMEOUT)
        assert await error.locator("span").first.inner_text() == (
            "You seem to be offline. Check your internet connection and try again."
        )
    finally:
        await page.context.set_offline(False)


async def _ask_routed_until_error(
    page: Any,
    demo_server: DemoServer,
    chat_route: Callable[[Any], Awaitable[None]],
    question: str = "Can I get a refund on a yearly plan?",
) -> Any:
    """Ask ``question`` with the chat API routed to ``chat_route``, until the widget shows its
    error; the error's locator."""
    await page.route("**/api/v1/chat", chat_route)
    await page.goto(demo_server.base_url + "/")
    await _open(page)
    await page.get_by_test_id("input").fill(question)
    await page.get_by_test_id("input").press("Enter")
    error = page.get_by_test_id("error")
    await error.wait_for(state="visible", timeout=TIMEOUT)
    return error


async def test_an_answer_cut_off_before_its_end_is_shown_as_interrupted(
    page: Any, demo_server: DemoServer
) -> None:
    """The stream closes after part of the answer and before its ``done`` event (a proxy's
    timeout, a restart): the part is marked interrupted with Retry, not shown as the answer."""
    cut = (
        'event: meta\ndata: {"intent": "question"}\n\n'
        'event: delta\ndata: {"text": "Yearly plans can be refunded in"}\n\n'
    )

    async def cut_off(route: Any) -> None:
        await route.fulfill(status=200, content_type="text/event-stream", body=cut)

    await _ask_routed_until_error(page, demo_server, cut_off)
    answer = page.locator('[data-testid="message"][data-role="bot"]').last
    assert "This answer was interrupted." in await answer.inner_text()
    assert await answer.locator('[data-testid="feedback-up"]').count() == 0
    assert await page.get_by_test_id("retry").is_visible()


async def _over_quota(route: Any) -> None:
    """The chat answered as when the workspace's monthly answers are used up."""
    await route.fulfill(
        status=429,
        content_type="application/json",
        headers={"Retry-After": "3600"},
        body='{"error": {"code": "quota_exceeded", "message": "no", "details": null}}',
    )


META_ONLY = "event: meta\ndata: {}\n\n".format(
    json.dumps(
        {
            "conversation_id": str(uuid.uuid4()),
            "message_id": str(uuid.uuid4()),
            "intent": "question",
        }
    )
)
"""A stream lost after its first event: the server recorded the message (meta comes after the
commit) and the connection went before any text."""


async def _skip_the_pause(page: Any) -> None:
    """The widget's pause before its next try of a lost stream (1, 2 or 4 s and up to 0.3 s
    more) jumped over on the page's clock (installed by the test), once the widget had a moment
    to see the stream end and start it. One jump per lost stream: the 45 s a try may take is
    never jumped over. Started too early the jump is lost and the pause is waited for: slower,
    never wrong."""
    await asyncio.sleep(0.15)
    await page.clock.fast_forward(4500)


async def test_a_message_sent_again_carries_the_same_client_message_id(
    page: Any, demo_server: DemoServer
) -> None:
    """Every stream ends after ``meta``: the widget sends the message again by itself (3 more
    times) and on Retry, each time with the id it made for that message, which lets the server
    record and meter it once; the next message gets another id."""
    posts: list[dict[str, Any]] = []

    async def lost_after_meta(route: Any) -> None:
        posts.append(route.request.post_data_json)
        await route.fulfill(status=200, content_type="text/event-stream", body=META_ONLY)
        await _skip_the_pause(page)

    await page.clock.install()
    error = await _ask_routed_until_error(page, demo_server, lost_after_meta)
    assert len(posts) == 4
    await page.get_by_test_id("retry").click()  # hides the error, then asks again
    await error.wait_for(state="hidden", timeout=TIMEOUT)
    await error.wait_for(state="visible", timeout=TIMEOUT)
    assert len(posts) == 8
    ids = {post.get("client_message_id") for post in posts}
    assert len(ids) == 1
    assert uuid.UUID(str(next(iter(ids))))
    assert {post["message"] for post in posts} == {"Can I get a refund on a yearly plan?"}
    # the tries after the first continue the conversation the first one's "meta" named
    assert all(post.get("conversation_id") for post in posts[1:])

    await page.get_by_test_id("input").fill("And on a monthly plan?")
    await page.get_by_test_id("input").press("Enter")  # hides the error, then asks
    await error.wait_for(state="hidden", timeout=TIMEOUT)
    await error.wait_for(state="visible", timeout=TIMEOUT)
    later = {post.get("client_message_id") for post in posts[8:]}
    assert len(posts) == 12
    assert len(later) == 1
    assert later != ids


async def test_a_message_still_being_answered_is_asked_for_again(
    page: Any, demo_server: DemoServer
) -> None:
    """The stream is lost after ``meta``; the next try hears 409 ``message_in_progress``
    (Retry-After: 1) and waits; the one after reaches the server and its answer is shown, once."""
    posts: list[dict[str, Any]] = []

    async def flaky(route: Any) -> None:
        posts.append(route.request.post_data_json)
        if len(posts) == 1:
            await route.fulfill(status=200, content_type="text/event-stream", body=META_ONLY)
        elif len(posts) == 2:
            await route.fulfill(
                status=409,
                content_type="application/json",
                headers={"Retry-After": "1"},
                body='{"error": {"code": "message_in_progress", "message": "wait",'
                ' "details": null}}',
            )
        else:  # to the server, without the conversation the stand-in "meta" made up
            await route.continue_(post_data=json.dumps(posts[-1] | {"conversation_id": None}))
            return
        await _skip_the_pause(page)  # the pause after a lost stream, then Retry-After's

    await page.clock.install()
    await page.route("**/api/v1/chat", flaky)
    await page.goto(demo_server.base_url + "/")
    await _open(page)
    answer = await _ask(page, "How long do refunds take?")
    assert (await answer.inner_text()).strip()
    assert len(posts) == 3
    assert len({post["client_message_id"] for post in posts}) == 1
    assert await page.get_by_test_id("error").is_hidden()
    bots = page.locator('[data-testid="message"][data-role="bot"]')
    assert await bots.count() == 2  # the greeting and the one answer


async def test_over_its_quota_the_assistant_still_takes_a_visitors_details(
    page: Any, demo_server: DemoServer
) -> None:
    """The workspace is out of answers this month: the visitor is told, and can still leave
    their details for the team (the lead form), instead of a dead end."""

    await page.route("**/api/v1/chat", _over_quota)
    await page.goto(demo_server.base_url + "/")
    await _open(page)
    await page.get_by_test_id("input").fill("Can someone call me about the Family plan?")
    await page.get_by_test_id("input").press("Enter")
    await page.get_by_test_id("error").wait_for(state="visible", timeout=TIMEOUT)
    form = page.get_by_test_id("lead-form")
    await form.wait_for(state="visible", timeout=TIMEOUT)
    assert "can't answer right now" in await form.inner_text()


async def test_never_asking_for_contact_details_shows_no_form(
    page: Any, demo_server: DemoServer
) -> None:
    """Lead capture "Never": no contact form when the visitor asks for a person, when the bot
    does not know, or when the workspace is out of answers, and no answer asks for an email
    (the handoff and the quota showed the form whatever the setting)."""
    patched = demo_server.api(
        "PATCH", demo_server.workspace("/widget"), json={"lead_capture": "off"}
    )
    assert patched.status_code == 200, patched.text
    try:
        await page.goto(demo_server.base_url + "/")
        await _open(page)
        form = page.get_by_test_id("lead-form")
        for question in ("Can I talk to a human please?", "Do you sell submarines?"):
            answer = await _ask(page, question)
            assert "email" not in (await answer.inner_text()).lower(), question
            assert await form.count() == 0, question

        await page.route("**/api/v1/chat", _over_quota)
        await page.get_by_test_id("input").fill("Can someone call me about the Family plan?")
        await page.get_by_test_id("input").press("Enter")
        await page.get_by_test_id("error").wait_for(state="visible", timeout=TIMEOUT)
        assert await form.count() == 0
    finally:
        demo_server.api(
            "PATCH", demo_server.workspace("/widget"), json={"lead_capture": "on_intent"}
        )


async def _send(page: Any, question: str) -> None:
    await page.get_by_test_id("input").fill(question)
    await page.get_by_test_id("input").press("Enter")


async def test_after_a_key_rotation_the_chat_says_it_is_unavailable_without_retry(
    page: Any, demo_server: DemoServer
) -> None:
    """The owner made a new widget key while the page was open: the visitor reads that the chat
    is unavailable, with no Retry that could never work (it read "Unknown widget key" with an
    active Retry); the console tells the owner what to do."""

    async def rotated(route: Any) -> None:
        await route.fulfill(
            status=401,
            content_type="application/json",
            body='{"error": {"code": "invalid_widget_key", "message": "Unknown widget key",'
            ' "details": null}}',
        )

    await page.goto(demo_server.base_url + "/")
    await _open(page)
    await page.route("**/api/v1/chat", rotated)
    async with page.expect_console_message(
        lambda m: "invalid_widget_key" in m.text and "embed snippet" in m.text, timeout=TIMEOUT
    ):
        await _send(page, "Is there a free trial?")
        error = page.get_by_test_id("error")
        await error.wait_for(state="visible", timeout=TIMEOUT)
        assert await error.inner_text() == "This chat is not available right now."
        assert await page.get_by_test_id("retry").is_hidden()


LEAD_ALERT = (
    "document.querySelector('trulybot-widget').shadowRoot"
    '.querySelector(\'[data-testid="lead-form"] [role="alert"]\').textContent'
)


async def _submit_lead(page: Any) -> str:
    """Send the contact form; its message once it changes to a new one (the refusal's text).
    The widget empties the message while the form is sent: an empty one is not the answer (a
    run under load read it and failed)."""
    before = await page.evaluate(f"() => {LEAD_ALERT}")
    await page.get_by_test_id("lead-submit").click()
    await page.wait_for_function(
        f"(before) => {{ const now = {LEAD_ALERT}; return now !== '' && now !== before; }}",
        arg=before,
        timeout=TIMEOUT,
    )
    return str(await page.evaluate(f"() => {LEAD_ALERT}"))


async def test_the_contact_form_explains_its_refusals_in_words(
    page: Any, demo_server: DemoServer
) -> None:
    """The contact form over its hourly limit says when to try again in minutes (it said
    "Please wait 2843 s."); the server's refusal of a phone number reads as a sentence (it showed
    the server's pattern); a phone the server would refuse is caught in the browser, never
    sent."""
    patched = demo_server.api(
        "PATCH", demo_server.workspace("/widget"), json={"lead_fields": ["email", "name", "phone"]}
    )
    assert patched.status_code == 200, patched.text
    sent: list[str] = []
    answers = [
        (429, {"Retry-After": "2843"}, "rate_limited", "Too many requests", None),
        (
            422,
            {},
            "validation_error",
            "Invalid input",
            [{"field": "phone", "message": "String should match pattern '^[0-9+()\\-. ]{3,40}$'"}],
        ),
    ]

    async def refuse(route: Any) -> None:
        sent.append(route.request.post_data or "")
        status, headers, code, message, details = answers[min(len(sent), len(answers)) - 1]
        await route.fulfill(
            status=status,
            content_type="application/json",
            headers=headers,
            body=json.dumps({"error": {"code": code, "message": message, "details": details}}),
        )

    try:
        await page.route("**/api/v1/chat", _over_quota)
        await page.route("**/api/v1/widget/leads", refuse)
        await page.goto(demo_server.base_url + "/")
        await _open(page)
        await _send(page, "Can someone call me about the Family plan?")
        await page.get_by_test_id("lead-form").wait_for(state="visible", timeout=TIMEOUT)
        await page.get_by_test_id("lead-email").fill("visitor@example.com")
        await page.get_by_test_id("lead-phone").fill("+91 98765 43210")

        waited = await _submit_lead(page)
        assert waited == "Too many requests from here. Please try again in about 48 minutes."
        refused = await _submit_lead(page)
        assert refused.startswith("Please enter a valid phone number"), refused
        assert len(sent) == 2

        await page.get_by_test_id("lead-phone").fill("call me maybe")
        await page.evaluate(f"() => {{ {LEAD_ALERT} = ''; }}")  # to see the next message come
        caught = await _submit_lead(page)
        assert caught.startswith("Please enter a valid phone number"), caught
        assert len(sent) == 2  # caught in the browser, not sent
        phone = page.get_by_test_id("lead-phone")
        assert await phone.get_attribute("aria-invalid") == "true"
        assert await phone.get_attribute("maxlength") == "40"
    finally:
        demo_server.api(
            "PATCH", demo_server.workspace("/widget"), json={"lead_fields": ["email", "name"]}
        )


async def test_two_tabs_continue_one_conversation(page: Any, demo_server: DemoServer) -> None:
    """A visitor with the site open in two tabs: each tab shows what the other asked, and
    neither writes its own copy over the other's (a new tab showed one tab's half)."""
    other = await page.context.new_page()
    try:
        for tab in (page, other):
            await tab.goto(demo_server.base_url + "/")
            await _open(tab)
        await _ask(page, "How long do refunds take?")
        await _ask(other, "Is there a free trial?")
        third = await page.context.new_page()
        try:
            await third.goto(demo_server.base_url + "/")
            await _open(third)
            mine = third.locator('[data-testid="message"][data-role="user"]')
            await mine.nth(1).wait_for(timeout=TIMEOUT)
            asked = [await m.inner_text() for m in await mine.all()]
        finally:
            await third.close()
        assert [a.removeprefix("You:").strip() for a in asked] == [
            "How long do refunds take?",
            "Is there a free trial?",
        ]
        # The first tab shows the second one's question too (the storage event reaches it).
        shared = page.locator('[data-testid="message"][data-role="user"]').nth(1)
        await shared.wait_for(timeout=TIMEOUT)
        assert "Is there a free trial?" in await shared.inner_text()
    finally:
        await other.close()


async def test_keyboard_escape_closes_and_returns_focus(page: Any, demo_server: DemoServer) -> None:
    await page.set_viewport_size({"width": 375, "height": 700})
    await page.goto(demo_server.base_url + "/")
    panel = await _open(page)
    box = await panel.bounding_box()
    assert box is not None
    assert box["width"] >= 370  # full-screen on a phone-sized screen
    await page.keyboard.press("Escape")
    await panel.wait_for(state="hidden", timeout=TIMEOUT)
    focused = await page.evaluate(
        "() => document.querySelector('trulybot-widget').shadowRoot.activeElement?.dataset.testid"
    )
    assert focused == "launcher"


FOCUSED = """() => {
    const root = document.querySelector('trulybot-widget').shadowRoot;
    const inWidget = document.activeElement?.localName === 'trulybot-widget';
    return inWidget ? 'widget:' + (root.activeElement?.dataset.testid || '') : 'page';
}"""


async def _tab_through(page: Any, demo_server: DemoServer, width: int, height: int) -> set[str]:
    """Where 30 presses of Tab take the focus, the panel open on a screen of that size."""
    await page.set_viewport_size({"width": width, "height": height})
    await page.goto(demo_server.base_url + "/")
    await _open(page)
    seen = set()
    for _ in range(30):
        await page.keyboard.press("Tab")
        seen.add(await page.evaluate(FOCUSED))
    return seen


async def test_tab_leaves_the_open_panel_on_a_wide_screen_and_stays_in_it_on_a_phone(
    page: Any, demo_server: DemoServer
) -> None:
    """On a desktop the open panel is a window beside the page (aria-modal false): Tab reaches
    the launcher (which closes it) and goes on to the page. Before, Tab cycled inside the panel
    for ever. On a phone the panel covers the page, and Tab stays in it."""
    desktop = await _tab_through(page, demo_server, 1280, 800)
    assert "widget:launcher" in desktop
    assert "page" in desktop
    phone = await _tab_through(page, demo_server, 375, 700)
    assert "page" not in phone
    assert "widget:input" in phone


async def test_a_site_that_swaps_its_body_keeps_the_widget_and_its_conversation(
    page: Any, demo_server: DemoServer
) -> None:
    """Turbo Drive, htmx boost and pjax replace <body> on navigation: the widget came off with
    the old body and never came back for the rest of the visit. It now re-attaches with the
    conversation it had. A second snippet with another key is ignored with a console warning."""
    await page.goto(demo_server.base_url + "/")
    await _open(page)
    await _ask(page, "Is there a free trial?")
    await page.evaluate(
        """() => {
            const body = document.createElement('body');
            body.innerHTML = '<h1>Next page</h1>';
            document.documentElement.replaceChild(body, document.body);
        }"""
    )
    await page.get_by_test_id("panel").wait_for(timeout=TIMEOUT)
    asked = page.locator('[data-testid="message"][data-role="user"]')
    assert "free trial" in (await asked.last.inner_text()).lower()
    async with page.expect_console_message(
        lambda m: "one widget per page" in m.text, timeout=TIMEOUT
    ):
        await page.evaluate(
            """(src) => {
                const s = document.createElement('script');
                s.src = src;
                s.setAttribute('data-key', 'pk_another_widget');
                document.body.appendChild(s);
            }""",
            demo_server.base_url + "/widget.js",
        )
    assert await page.locator("trulybot-widget").count() == 1


VOUCHER_DOC = (
    "# Zorblax voucher\n\nThe Zorblax loyalty voucher is claimed on the partner page "
    "[claim your Zorblax voucher](https://evil.example/win) within a week. "
    "Zorblax vouchers are also listed in [our Zorblax shop](https://shop.acme.test/zorblax)."
)


async def test_answers_link_only_to_the_sites_own_domains(
    page: Any, demo_server: DemoServer
) -> None:
    """A document's link to an outside site is shown as text; one to an allowed domain is a
    link (extractive answers quote the document as it is)."""
    created = demo_server.api(
        "POST", demo_server.workspace("/documents"), json={"title": "Voucher", "text": VOUCHER_DOC}
    )
    assert created.status_code == 202, created.text
    document_id = created.json()["id"]
    origins = [demo_server.base_url, "https://shop.acme.test"]
    patched = demo_server.api(
        "PATCH", demo_server.workspace("/widget"), json={"allowed_origins": origins}
    )
    assert patched.status_code == 200, patched.text
    try:
        await _wait_until_ready(page, demo_server, document_id)
        await page.goto(demo_server.base_url + "/")
        await _open(page)
        answer = await _ask(page, "How do I claim the Zorblax voucher?")
        bubble = answer.locator(".bubble")
        await page.get_by_test_id("citation").first.wait_for(timeout=TIMEOUT)
        hrefs = await bubble.locator("a").evaluate_all("els => els.map(e => e.href)")
        assert "https://shop.acme.test/zorblax" in hrefs
        assert not [h for h in hrefs if "evil.example" in h]
        assert "https://evil.example/win" in await bubble.inner_text()
    finally:
        demo_server.api("PATCH", demo_server.workspace("/widget"), json={"allowed_origins": []})
        demo_server.api("DELETE", demo_server.workspace(f"/documents/{document_id}"))


GERMAN_TEXTS = {
    "handoff": "Gern meldet sich jemand aus dem Team. Bitte hinterlassen Sie Ihre E-Mail-Adresse.",
    "lead_prompt": "Hinterlassen Sie Ihre Daten, wir melden uns.",
    "lead_thanks": "Danke! Wir schreiben an {email}.",
    "placeholder": "Ihre Nachricht…",
    "send_button": "Senden",
    "skip_button": "Nicht jetzt",
    "email_label": "E-Mail-Adresse",
    "name_label": "Ihr Name",
    "close_label": "Chat schließen",
    "new_conversation": "Neues Gespräch",
    "retry_button": "Nochmal",
    "lead_prompt_handoff": "Gern ruft Sie jemand aus dem Team zurück: Ihre Daten, bitte.",
    "lead_form_label": "Kontaktdaten",
    "open_label": "Chat mit {bot_name} öffnen",
    "message_label": "Nachricht an {bot_name}",
    "send_label": "Nachricht senden",
    "you_label": "Sie:",
    "helpful_label": "Hilfreich",
    "not_helpful_label": "Nicht hilfreich",
}


async def test_the_owners_texts_replace_the_widgets_english_ones(
    page: Any, demo_server: DemoServer
) -> None:
    """A German shop's widget reads German: the message box, the hand-off reply, the contact
    form's prompt for a hand-off, labels and buttons, and its thanks, and what a screen reader
    reads: the launcher, the message box, the visitor's messages, the rating buttons (they were
    fixed English; the bot's name filled in where the text names it)."""
    patched = demo_server.api(
        "PATCH", demo_server.workspace("/widget"), json={"texts": GERMAN_TEXTS}
    )
    assert patched.status_code == 200, patched.text
    bot = patched.json()["bot_name"]
    try:
        await page.goto(demo_server.base_url + "/")
        launcher = page.get_by_test_id("launcher")
        assert await launcher.get_attribute("aria-label") == f"Chat mit {bot} öffnen"
        await _open(page)
        box = page.get_by_test_id("input")
        assert await box.get_attribute("placeholder") == "Ihre Nachricht…"
        assert await box.get_attribute("aria-label") == f"Nachricht an {bot}"
        assert await page.get_by_test_id("send").get_attribute("aria-label") == ("Nachricht senden")
        # What a screen reader reads for the header's buttons and the open launcher.
        assert await page.get_by_test_id("close").get_attribute("aria-label") == "Chat schließen"
        assert await page.get_by_test_id("reset").get_attribute("title") == "Neues Gespräch"
        assert await page.get_by_test_id("launcher").get_attribute("aria-label") == (
            "Chat schließen"
        )
        retry = page.get_by_test_id("retry")  # shown with an error
        assert await retry.evaluate("b => b.textContent") == "Nochmal"
        answer = await _ask(page, "Ich möchte mit einem Menschen sprechen")
        assert GERMAN_TEXTS["handoff"] in await answer.inner_text()
        assert await answer.get_by_test_id("feedback-up").get_attribute("aria-label") == (
            "Hilfreich"
        )
        assert await answer.get_by_test_id("feedback-down").get_attribute("aria-label") == (
            "Nicht hilfreich"
        )
        mine = page.locator('[data-testid="message"][data-role="user"]').last
        assert await mine.evaluate("m => m.textContent") == (
            "Sie: Ich möchte mit einem Menschen sprechen"
        )
        form = page.get_by_test_id("lead-form")
        await form.wait_for(state="visible", timeout=TIMEOUT)
        assert await form.get_attribute("aria-label") == "Kontaktdaten"
        shown = await form.inner_text()
        for name in ("lead_prompt_handoff", "email_label", "name_label"):
            assert GERMAN_TEXTS[name] in shown, name
        assert GERMAN_TEXTS["lead_prompt"] not in shown  # the hand-off's own prompt
        assert await page.get_by_test_id("lead-submit").inner_text() == "Senden"
        assert await page.get_by_test_id("lead-skip").inner_text() == "Nicht jetzt"
        for english in ("Leave your details", "Email", "Not now"):
            assert english not in shown, english
        email = f"kunde-{uuid.uuid4().hex[:8]}@example.com"
        assert f"Danke! Wir schreiben an {email}." in await leave_address(page, email)
        await page.get_by_test_id("close").click()
        assert await launcher.get_attribute("aria-label") == f"Chat mit {bot} öffnen"
    finally:
        demo_server.api("PATCH", demo_server.workspace("/widget"), json={"texts": None})
