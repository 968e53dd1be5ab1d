"""The dashboard on a phone, in Debian's Chromium against a real `trulybot serve`: what the
owner reads when the dashboard's script cannot do what was asked (the server's reason for a
refused playground question: it said "The question was refused (422)", or "Too many questions
at once" at the plan's monthly limit; a request that never reached the server, where htmx's
button did nothing), and a workspace named with one long word, which pushed every page
sideways."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest

from tests.e2e.conftest import DemoServer
from tests.e2e.test_dashboard_browser import _login

pytestmark = pytest.mark.e2e
TIMEOUT = 30_000


@pytest.fixture(scope="module")
async def signed_in(browser: Any, demo_server: DemoServer) -> dict[str, Any]:
    """The demo owner signed in once (the login form is rate limited per address)."""
    context = await browser.new_context()
    try:
        await _login(await context.new_page(), demo_server)
        state: dict[str, Any] = await context.storage_state()
    finally:
        await context.close()
    return state


@pytest.fixture
async def owner(
    browser: Any, demo_server: DemoServer, signed_in: dict[str, Any]
) -> AsyncIterator[tuple[Any, str]]:
    context = await browser.new_context(
        viewport={"width": 375, "height": 740}, storage_state=signed_in
    )
    try:
        page = await context.new_page()
        yield page, f"{demo_server.base_url}/app/w/{demo_server.credentials['workspace_id']}"
    finally:
        await context.close()


async def test_a_refused_playground_question_says_why(owner: tuple[Any, str]) -> None:
    page, base = owner
    await page.goto(f"{base}/playground")
    box = page.get_by_label("Your question")
    await box.fill("   ")  # passes the box's `required`: the page sends nothing and says why
    await page.get_by_role("button", name="Ask").click()
    await (
        page.get_by_role("status").get_by_text("Write a question first.").wait_for(timeout=TIMEOUT)
    )
    assert await page.get_by_test_id("playground-streaming").count() == 0
    assert await page.get_by_role("button", name="Ask").is_enabled()


async def test_a_request_that_never_reached_the_server_says_so(
    owner: tuple[Any, str], demo_server: DemoServer
) -> None:
    """Said in the flash box; and once the owner tries again and it works, the box goes (it
    kept saying the last failure, next to a change that had been made)."""
    page, base = owner
    question = f"Do you sell spray decks {uuid.uuid4().hex[:8]}?"
    created = demo_server.api(
        "POST", demo_server.workspace("/faqs"), json={"question": question, "answer": "Yes."}
    )
    assert created.status_code == 201, created.text
    await page.goto(f"{base}/knowledge")
    await page.route("**/knowledge/faqs/*/delete", lambda route: route.abort())
    page.on("dialog", lambda dialog: dialog.accept())
    row = page.locator("tr[data-faq]", has_text=question)
    await row.get_by_role("button", name="Delete").click()
    flash = page.locator("#flash")
    await flash.wait_for(state="visible", timeout=TIMEOUT)
    assert "Could not reach the server" in await flash.inner_text()
    assert await row.is_visible()  # nothing was deleted, and the row says so by staying

    await page.unroute("**/knowledge/faqs/*/delete")
    await row.get_by_role("button", name="Delete").click()
    await row.wait_for(state="detached", timeout=TIMEOUT)
    assert await flash.is_hidden()


async def test_a_long_workspace_name_does_not_push_the_pages_sideways(
    owner: tuple[Any, str], demo_server: DemoServer
) -> None:
    """The name shows in the top bar of every page; one unbroken word (a pasted domain, say)
    made each page scroll sideways at a phone's width."""
    page, base = owner
    workspace = demo_server.workspace()
    before = demo_server.api("GET", workspace)
    assert before.status_code == 200, before.text
    renamed = demo_server.api("PATCH", workspace, json={"name": "Shop" + "x7" * 60 + ".com"})
    assert renamed.status_code == 200, renamed.text
    try:
        for path in ("", "/knowledge", "/playground"):
            await page.goto(base + path)
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path or 'getting started'} scrolls sideways by {overflow}px"
    finally:
        restored = demo_server.api("PATCH", workspace, json={"name": before.json()["name"]})
        assert restored.status_code == 200, restored.text


async def test_a_double_click_on_upload_sends_the_files_once(
    owner: tuple[Any, str], tmp_path: Any
) -> None:
    """htmx queues a second submit of a form whose request is in flight: a double-click on
    Upload sent every file twice (a large upload on a slow link, twice), counted twice against
    the ingestion rate limit."""
    page, base = owner
    sent: list[str] = []
    page.on(
        "request",
        lambda request: (
            sent.append(request.url)
            if request.method == "POST" and request.url.endswith("/knowledge/upload")
            else None
        ),
    )
    path = tmp_path / f"kayaks-{uuid.uuid4().hex[:8]}.txt"
    path.write_text("Our kayaks are blue and seat two paddlers.\n" + "Paddle gently. " * 20_000)
    await page.goto(f"{base}/knowledge")
    await page.get_by_label("Files (PDF").set_input_files(str(path))
    await page.get_by_role("button", name="Upload").dblclick()
    await page.get_by_text("1 file added").wait_for(timeout=TIMEOUT)
    await page.wait_for_load_state("networkidle")
    assert len(sent) == 1, sent


async def test_a_plain_form_clicked_again_while_it_is_sent_is_sent_once(
    owner: tuple[Any, str],
) -> None:
    """A plain form (no htmx) clicked again while its answer was on the way was posted again:
    "Create key" made two working API keys, the second's secret never shown to anyone (a
    tester's finding). Here the page's own navigation is held back by a listener after the
    page's (so the clicks race the same way on any host): the submits that would have been
    sent are counted."""
    page, base = owner
    await page.goto(f"{base}/team")
    await page.get_by_label("New key's name").fill(f"dbl-{uuid.uuid4().hex[:8]}")
    await page.evaluate(
        """() => {
            window.sentForms = 0;
            window.addEventListener("submit", (event) => {
                if (!event.defaultPrevented) { window.sentForms += 1; }
                event.preventDefault();  // no navigation: the page stays, as while it waits
            });
        }"""
    )
    click = "document.querySelector('form[action$=\"/team/api-keys\"] button[type=submit]').click()"
    await page.evaluate(f"() => {{ {click}; {click}; }}")
    assert await page.evaluate("window.sentForms") == 1
    # Back to the page from the cache: the form is sent again.
    await page.evaluate("window.dispatchEvent(new PageTransitionEvent('pageshow'))")
    await page.evaluate(f"() => {{ {click}; }}")
    assert await page.evaluate("window.sentForms") == 2


async def test_deleting_an_faq_by_keyboard_keeps_the_focus_and_the_count(
    owner: tuple[Any, str], demo_server: DemoServer
) -> None:
    """The row went, and the keyboard's focus with it (to the page's top, the owner tabbing
    back through the navigation to the next FAQ); the heading still counted the deleted FAQ."""
    page, base = owner
    question = f"Do you rent paddles {uuid.uuid4().hex[:8]}?"
    created = demo_server.api(
        "POST", demo_server.workspace("/faqs"), json={"question": question, "answer": "Yes."}
    )
    assert created.status_code == 201, created.text
    await page.goto(f"{base}/knowledge")
    heading = page.locator("#faqs-h")
    counted = await heading.inner_text()
    page.on("dialog", lambda dialog: dialog.accept())
    row = page.locator("tr[data-faq]", has_text=question)
    await row.get_by_role("button", name="Delete").focus()
    await page.keyboard.press("Enter")
    await row.wait_for(state="detached", timeout=TIMEOUT)
    focused = await page.evaluate(
        "document.activeElement && document.activeElement.closest('#faqs') !== null"
    )
    assert focused, "the focus stays in the FAQs"
    total = int(counted.split("(")[1].rstrip(")"))
    assert await heading.inner_text() == f"FAQs ({total - 1})"


def test_the_demo_servers_api_signs_in_again_when_its_token_expired(
    demo_server: DemoServer,
) -> None:
    """The session's server outlives an access token (15 minutes): a late test's set-up call got
    401 token_expired in a long run. The fixture's client signs in again, once."""
    assert demo_server.data_dir is not None
    secret = (demo_server.data_dir / "jwt-secret").read_text().strip()
    claims = jwt.decode(demo_server.token, secret, algorithms=["HS256"])
    claims |= {"iat": int(time.time()) - 3600, "exp": int(time.time()) - 60}
    expired = jwt.encode(claims, secret, algorithm="HS256")
    client = dataclasses.replace(demo_server, token=expired)
    listed = client.api("GET", client.workspace("/faqs"))
    assert listed.status_code == 200, listed.text
    assert client.token != expired
