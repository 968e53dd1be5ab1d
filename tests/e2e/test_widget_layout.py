"""The widget as a visitor reads it: right-to-left answers and typing, and a phone whose screen
has a notch and a home indicator. A real server and Debian's Chromium; each test failed before
its fix."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.e2e.conftest import DemoServer, QuietHandler, chat_answered_by, static_site

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


SAFE_AREA_PAGE = """<!doctype html><html><head>
<meta name="viewport" content="width=device-width,initial-scale=1,viewport-fit=cover">
<title>Phone site</title></head><body><h1>Phone site</h1>
<script src="{base}/widget.js" data-key="{key}" async></script></body></html>"""


async def test_on_a_phone_with_a_notch_the_chat_keeps_clear_of_it(
    browser: Any, demo_server: DemoServer
) -> None:
    """A site made for phones (viewport-fit=cover) on a phone with a notch and a home
    indicator: the launcher sat on the home indicator, and the full-screen panel put its title
    and close button under the status bar and its message box and send button on the home
    indicator. The widget now keeps the safe-area insets clear."""
    html = SAFE_AREA_PAGE.format(
        base=demo_server.base_url, key=demo_server.credentials["public_key"]
    ).encode()
    context = await browser.new_context(
        viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True
    )
    try:
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        insets = {"top": 47, "bottom": 34, "left": 0, "right": 0}
        await cdp.send("Emulation.setSafeAreaInsetsOverride", {"insets": insets})
        with static_site(html) as site:
            await page.goto(site)
            launcher = page.get_by_test_id("launcher")
            await launcher.wait_for(timeout=T)
            box = await launcher.bounding_box()
            assert box["y"] + box["height"] <= 812 - 34, box
            await launcher.click()
            await page.get_by_test_id("panel").wait_for(state="visible", timeout=T)
            for testid in ("close", "reset"):
                box = await page.get_by_test_id(testid).bounding_box()
                assert box["y"] >= 47, (testid, box)
            title = await page.evaluate(
                f"() => {SR}.querySelector('.title').getBoundingClientRect().top"
            )
            assert title >= 47, title
            for testid in ("input", "send"):
                box = await page.get_by_test_id(testid).bounding_box()
                assert box["y"] + box["height"] <= 812 - 34, (testid, box)
    finally:
        await context.close()


@asynccontextmanager
async def _opened(browser: Any, demo_server: DemoServer, **options: Any) -> AsyncIterator[Any]:
    """The demo page's chat opened in a new browser context made with ``options``: its panel."""
    context = await browser.new_context(**options)
    try:
        page = await context.new_page()
        await page.goto(demo_server.base_url + "/")
        await page.get_by_test_id("launcher").click()
        panel = page.get_by_test_id("panel")
        await panel.wait_for(state="visible", timeout=T)
        yield panel
    finally:
        await context.close()


async def test_a_phone_turned_sideways_gets_the_full_screen_chat(
    browser: Any, demo_server: DemoServer
) -> None:
    """A phone in landscape (740x360) is wider than 480px, so it got the desktop window: 250px
    tall, room for about two messages above the box. The chat covers a short screen too."""
    phone = {"viewport": {"width": 740, "height": 360}, "is_mobile": True, "has_touch": True}
    async with _opened(browser, demo_server, **phone) as panel:
        assert await panel.bounding_box() == {"x": 0, "y": 0, "width": 740, "height": 360}
        assert await panel.get_attribute("aria-modal") == "true"


LONG_URL = "https://example.com/support/articles/how-to-reset-your-router-password-step-by-step"


async def test_the_owners_long_unbroken_texts_wrap_on_a_small_phone(
    page: Any, demo_server: DemoServer
) -> None:
    """On a 320px phone, a suggested question or a contact form prompt holding a long address
    ran past its chip's or its form's edge (the bubbles wrapped, these did not)."""
    extra: dict[str, Any] = {}

    async def config(route: Any) -> None:
        response = await route.fetch()
        body = await response.json()
        body.update(extra)
        await route.fulfill(response=response, body=json.dumps(body))

    await page.set_viewport_size({"width": 320, "height": 640})
    await page.route("**/api/v1/widget/config", config)
    # Elements whose text runs past their content box (into the padding or beyond).
    overflow = f"""sel => [...{SR}.querySelectorAll(sel)].filter(e => {{
        const r = document.createRange(); r.selectNodeContents(e);
        const t = r.getBoundingClientRect(), b = e.getBoundingClientRect(), s = getComputedStyle(e);
        const edge = b.right - parseFloat(s.paddingRight) - parseFloat(s.borderRightWidth);
        return t.right > edge + 0.5;
    }}).map(e => e.textContent)"""

    extra.update(suggested_questions=[f"What is on {LONG_URL}?"], lead_capture="off")
    await page.goto(demo_server.base_url + "/")
    await page.get_by_test_id("launcher").click()
    await page.get_by_test_id("suggestion").wait_for(timeout=T)
    assert await page.evaluate(overflow, ".chip") == []

    texts = {"lead_prompt_before": f"Before we start, read {LONG_URL}"}
    extra.update(lead_capture="before_chat", texts=texts)
    await page.reload()
    await page.get_by_test_id("launcher").click()
    await page.get_by_test_id("lead-form").wait_for(timeout=T)
    assert await page.evaluate(overflow, ".lead p") == []


async def test_a_screen_reader_hears_that_the_assistant_is_answering(
    page: Any, demo_server: DemoServer
) -> None:
    """The "is typing" indicator is a status region, but its words were only its aria-label:
    a live region announces the text that appears in it, and it had none, so a screen reader
    user heard nothing between sending and the answer. The words are its text now."""
    release = asyncio.Event()

    async def held(route: Any) -> None:
        await release.wait()
        await route.continue_()

    await page.route("**/api/v1/chat", held)
    await page.goto(demo_server.base_url + "/")
    await page.get_by_test_id("launcher").click()
    await page.get_by_test_id("input").fill("Is there a free trial?")
    await page.keyboard.press("Enter")
    typing = page.get_by_test_id("typing")
    await typing.wait_for(state="visible", timeout=T)
    try:
        assert await typing.get_attribute("role") == "status"
        spoken = (await typing.evaluate("e => e.textContent")).strip()
        bot = (await page.evaluate(f"() => {SR}.querySelector('.title').textContent")).strip()
        assert spoken == f"{bot} is typing", spoken
    finally:
        release.set()
    await typing.wait_for(state="hidden", timeout=T)


ZOOMED_PAGE = """<!doctype html><html style="zoom:1.5"><head><title>Big text site</title></head>
<body><h1>Big text site</h1>
<script src="{base}/widget.js" data-key="{key}" async></script></body></html>"""


async def test_a_site_that_zooms_its_whole_page_gets_a_chat_within_the_screen(
    page: Any, demo_server: DemoServer
) -> None:
    """A site that enlarges itself with `html { zoom: 1.5 }` enlarged the chat too: on an
    800px tall screen the open panel was 900px tall, its header with the close button above
    the top of the screen. The chat keeps its own size on such a page."""
    html = ZOOMED_PAGE.format(
        base=demo_server.base_url, key=demo_server.credentials["public_key"]
    ).encode()
    with static_site(html) as site:
        await page.goto(site)
        await page.get_by_test_id("launcher").click(timeout=T)
        panel = page.get_by_test_id("panel")
        await panel.wait_for(state="visible", timeout=T)
        box = await panel.bounding_box()
        assert box["y"] >= 0, box
        assert box["y"] + box["height"] <= 800, box
        assert box["width"] == 370, box
        close = await page.get_by_test_id("close").bounding_box()
        assert close["y"] >= 0, close


ARABIC_QUESTION = "كم مدة الضمان على الجهاز؟"
ARABIC_REST = "يقدم ضمانًا لمدة ثلاث سنوات على الجهاز."


async def test_a_streaming_answer_keeps_its_direction_as_its_first_letters_arrive(
    page: Any, demo_server: DemoServer
) -> None:
    """An Arabic answer to an Arabic question that starts with the product's Latin name was
    laid out left to right while only that name had arrived, then jumped to the right edge
    when the Arabic words came: the text under the visitor's eyes moved. A streaming answer
    now reads in the question's direction until it has enough letters of its own."""
    first_part = threading.Event()
    go_on = threading.Event()

    class Stream(QuietHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()

            def event(name: str, data: dict[str, Any]) -> None:
                self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

            event("meta", {"intent": "question", "message_id": str(uuid.uuid4())})
            event("delta", {"text": "TrulyBot "})
            first_part.set()
            go_on.wait(timeout=120)
            event("delta", {"text": ARABIC_REST})
            event("done", {"answer": "TrulyBot " + ARABIC_REST, "citations": []})

    async with chat_answered_by(page, Stream):
        await page.goto(demo_server.base_url + "/")
        await page.get_by_test_id("launcher").click()
        await page.get_by_test_id("input").fill(ARABIC_QUESTION)
        await page.keyboard.press("Enter")
        answer = page.locator('[data-testid="message"][data-role="bot"]').nth(1)
        try:
            await answer.get_by_text("TrulyBot").wait_for(timeout=T)
            streaming = await answer.evaluate(
                "m => getComputedStyle(m.querySelector('.bubble')).direction"
            )
        finally:
            go_on.set()
        await answer.get_by_test_id("feedback-up").wait_for(timeout=T)
        final = await answer.evaluate("m => getComputedStyle(m.querySelector('.bubble')).direction")
        assert (streaming, final) == ("rtl", "rtl")


async def test_a_short_desktop_window_gets_the_chat_beside_the_page(
    browser: Any, demo_server: DemoServer
) -> None:
    """A desktop browser window under 480px tall (a screen split top and bottom, the developer
    tools docked below) got the phone's chat: covering the whole wide page, modal, the page
    unreachable with Tab. A window with a mouse gets the chat beside the page down to 320px;
    a phone sideways still gets the full screen (test above)."""
    async with _opened(browser, demo_server, viewport={"width": 1280, "height": 440}) as panel:
        box = await panel.bounding_box()
        assert box["width"] == 370, box
        assert box["y"] >= 0, box
        assert await panel.get_attribute("aria-modal") == "false"
        assert await panel.page.get_by_test_id("launcher").is_visible()


HELD_PAGE = """<!doctype html><html style="{style}"><head><title>Long page</title></head>
<body style="margin:0"><h1>Long page</h1><div style="height:3000px"></div>
<script src="{base}/widget.js" data-key="{key}" async></script></body></html>"""


@pytest.mark.parametrize(
    "style",
    ["transform:translateZ(0)", "will-change:transform", "contain:paint", "perspective:800px", ""],
)
async def test_a_page_whose_html_holds_fixed_elements_still_shows_the_launcher(
    page: Any, demo_server: DemoServer, style: str
) -> None:
    """A page whose <html> has a transform, will-change: transform, contain: paint or a
    perspective holds fixed elements to itself: the launcher sat at the end of the 3000px page,
    out of sight, and the chat could not be opened. The widget then shows itself in the
    browser's top layer, on the screen; on other pages (the last case) it stays in the page,
    below what the site put at the highest z-index (a cookie-consent banner)."""
    html = HELD_PAGE.format(
        style=style, base=demo_server.base_url, key=demo_server.credentials["public_key"]
    ).encode()
    with static_site(html) as site:
        await page.goto(site)
        launcher = page.get_by_test_id("launcher")
        await launcher.wait_for(timeout=T)
        box = await launcher.bounding_box()
        assert box["y"] >= 0, box
        assert box["y"] + box["height"] <= 800, box
        await launcher.click()
        panel = await page.get_by_test_id("panel").bounding_box()
        assert panel is not None, style
        assert panel["y"] >= 0, panel
        assert panel["y"] + panel["height"] <= 800, panel
        lifted = await page.evaluate(
            "() => document.querySelector('trulybot-widget').matches(':popover-open')"
        )
        assert lifted is bool(style)


DIALOG_PAGE = """<!doctype html><html style="transform:translateZ(0)"><head><title>Age check</title>
</head><body><div style="height:3000px"></div><dialog id="gate"><p>Are you over 18?</p>
<button onclick="this.closest('dialog').close()">Yes</button></dialog>
<script>document.getElementById('gate').showModal()</script>
<script src="{base}/widget.js" data-key="{key}" async></script></body></html>"""


async def test_the_lifted_widget_waits_below_the_pages_open_modal_dialog(
    page: Any, demo_server: DemoServer
) -> None:
    """The widget goes to the top layer on a page whose <html> holds fixed elements; shown there
    while the page's modal dialog (an age check) was open, it would sit above that dialog,
    over its buttons, and not answer clicks. It waits until the dialog closes."""
    html = DIALOG_PAGE.format(
        base=demo_server.base_url, key=demo_server.credentials["public_key"]
    ).encode()
    lifted = "() => document.querySelector('trulybot-widget').matches(':popover-open')"
    with static_site(html) as site:
        await page.goto(site)
        await page.wait_for_function("() => !!document.querySelector('trulybot-widget')", timeout=T)
        assert await page.evaluate(lifted) is False
        await page.get_by_role("button", name="Yes").click()
        await page.wait_for_function(lifted, timeout=T)
        await page.get_by_test_id("launcher").click()
        await page.get_by_test_id("panel").wait_for(state="visible", timeout=T)
