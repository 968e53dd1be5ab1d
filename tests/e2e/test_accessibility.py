"""Keyboard, screen reader and small-screen use of the widget and the dashboard, in a real
browser against a real server (the a11y review's findings F1-F9; each test failed before its fix).
Server errors the browser sees are made with ``page.route``; DB, Redis and mail are real."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e.conftest import DemoServer, static_site

pytestmark = pytest.mark.e2e
T = 60_000
SR = "document.querySelector('trulybot-widget').shadowRoot"
FOCUSED = """() => {
    const a = document.activeElement;
    if (a && a.localName === 'trulybot-widget') {
        const e = document.querySelector('trulybot-widget').shadowRoot.activeElement;
        return 'widget:' + (e ? (e.dataset.testid || e.tagName) : 'none');
    }
    return 'page:' + (a ? a.tagName : 'null');
}"""
ANSWERS = f"() => {SR}.querySelectorAll('[data-testid=feedback-up]').length"


async def _answers(page: Any, n: int) -> None:
    await page.wait_for_function(f"() => ({ANSWERS})() >= {n}", timeout=T)


# F1: -------------------------------------------------------------------------------------------
async def test_keyboard_focus_survives_suggestion_retry_and_send(
    page: Any, demo_server: DemoServer
) -> None:
    """Picking a suggested question, pressing Retry or the Send button hid or disabled the
    focused control, and focus fell to the host page's <body>: a screen reader lost its place
    and Escape no longer closed the full-screen panel. Focus now stays in the message box."""
    await page.set_viewport_size({"width": 360, "height": 740})
    await page.goto(demo_server.base_url + "/")
    await page.get_by_test_id("launcher").click()
    lost = []
    # a) a suggested question chosen with the keyboard
    await page.get_by_test_id("suggestion").first.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_timeout(200)
    lost.append(("suggestion", await page.evaluate(FOCUSED)))
    await _answers(page, 1)
    # b) Retry after a server error
    calls = {"n": 0}

    async def fail_once(route: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            body = json.dumps({"error": {"code": "internal_error", "message": "x"}})
            await route.fulfill(status=500, content_type="application/json", body=body)
        else:
            await route.continue_()

    await page.route("**/api/v1/chat", fail_once)
    await page.get_by_test_id("input").fill("Does it work on Linux?")
    await page.keyboard.press("Enter")
    await page.get_by_test_id("error").wait_for(state="visible", timeout=T)
    await page.get_by_test_id("retry").focus()
    await page.keyboard.press("Enter")
    await page.wait_for_timeout(200)
    lost.append(("retry", await page.evaluate(FOCUSED)))
    await _answers(page, 2)
    # c) the Send button pressed with the keyboard
    await page.get_by_test_id("input").fill("Is there a free trial?")
    await page.get_by_test_id("send").focus()
    await page.keyboard.press("Enter")
    await page.wait_for_timeout(200)
    lost.append(("send", await page.evaluate(FOCUSED)))
    await _answers(page, 3)
    # and then Escape, the documented way out, does nothing: the keydown never reaches .root
    assert [w for w, f in lost if not f.startswith("widget:")] == [], lost
    await page.keyboard.press("Escape")
    await page.get_by_test_id("panel").wait_for(state="hidden", timeout=5_000)


# F2: -------------------------------------------------------------------------------------------
async def test_documents_list_refresh_keeps_keyboard_focus(
    browser: Any, demo_server: DemoServer
) -> None:
    """While a document is processing the list is fetched again every 2 s and swapped whole:
    a keyboard user on a row's Delete button was thrown to <body> at the next refresh. The
    controls keep their ids now, so focus stays on the same button across refreshes."""

    release = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if "robots" in self.path:
                self.send_response(404)
                self.end_headers()
                return
            release.wait(60)  # processing until the test is done with the list
            body = b"<html><head><title>Slow</title></head><body><p>Kayaks.</p></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the fetch is gone once the document is
                self.wfile.write(body)

        def log_message(self, *a: Any) -> None:
            return

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    context = await browser.new_context()
    page = await context.new_page()
    try:
        creds = demo_server.credentials
        await page.goto(demo_server.base_url + "/app")
        await page.get_by_label("Email").fill(creds["email"])
        await page.get_by_label("Password").fill(creds["password"])
        await page.get_by_role("button", name="Log in").click()
        await page.get_by_role("heading", name="Getting started").wait_for(timeout=T)
        await page.goto(f"{demo_server.base_url}/app/w/{creds['workspace_id']}/knowledge")
        await page.locator("#url").fill(f"http://127.0.0.1:{srv.server_address[1]}/slow.html")
        await page.locator("#url").press("Enter")
        await page.wait_for_load_state()
        assert await page.locator("#documents").get_attribute("hx-trigger") == "every 2s"
        await page.evaluate(
            "() => { window.swaps = 0; document.addEventListener('htmx:afterSettle', "
            "() => { window.swaps += 1; }); }"
        )
        delete = page.locator("#documents button.danger").first
        await delete.focus()
        before = await delete.get_attribute("id")
        await page.wait_for_function("() => window.swaps >= 2", timeout=T)  # two refreshes
        focused = await page.evaluate(
            "() => [document.activeElement.tagName, document.activeElement.id]"
        )
        assert focused == ["BUTTON", before], f"focus went to {focused}"
    finally:
        await context.close()
        release.set()
        srv.shutdown()
        listed = demo_server.api("GET", demo_server.workspace("/documents")).json()
        for doc in listed["items"]:
            if str(doc.get("source", "")).endswith(f":{srv.server_address[1]}/slow.html"):
                demo_server.api("DELETE", demo_server.workspace(f"/documents/{doc['id']}"))


# F3: -------------------------------------------------------------------------------------------
async def test_a_long_source_title_does_not_overflow_the_phone_panel(
    page: Any, demo_server: DemoServer
) -> None:
    """A cited file name with underscores (no place to break) ran past a 360px phone's edge
    and the conversation scrolled sideways; citations wrap now."""
    marker = uuid.uuid4().hex[:8]
    name = "Acme_Kayak_Owners_Manual_and_Warranty_Terms_2026_edition_final.txt"
    text = f"The Acme kayak {marker} is made of polyethylene and weighs 23 kilograms.\n"
    created = demo_server.api(
        "POST",
        demo_server.workspace("/documents"),
        files={"file": (name, text.encode(), "text/plain")},
    )
    assert created.status_code == 202, created.text
    doc = created.json()["id"]
    for _ in range(240):
        if (
            demo_server.api("GET", demo_server.workspace(f"/documents/{doc}")).json()["status"]
            == "ready"
        ):
            break
        time.sleep(0.5)
    await page.set_viewport_size({"width": 360, "height": 740})
    await page.goto(demo_server.base_url + "/")
    await page.get_by_test_id("launcher").click()
    await page.get_by_test_id("input").fill(f"How much does the kayak {marker} weigh?")
    await page.keyboard.press("Enter")
    await _answers(page, 1)
    widths = await page.evaluate(
        f"() => {{ const s = {SR}.querySelector('.scroll'); "
        "return [s.scrollWidth, s.clientWidth]; }"
    )
    demo_server.api("DELETE", demo_server.workspace(f"/documents/{doc}"))
    assert widths[0] <= widths[1], f"panel scrolls sideways: {widths}"


# F4: -------------------------------------------------------------------------------------------
async def test_launcher_stays_in_view_on_a_page_with_a_transformed_body(
    page: Any, demo_server: DemoServer
) -> None:
    """A transformed <body> (page-transition libraries, some themes) held the widget's
    position:fixed to the body: the launcher sat at the end of a long page, out of view."""
    key = demo_server.credentials["public_key"]
    html = (
        "<!doctype html><html><head><style>body{transform:translateZ(0);margin:0}</style></head>"
        '<body><div style="height:3000px">long page</div>'
        f'<script src="{demo_server.base_url}/widget.js" data-key="{key}" async></script>'
        "</body></html>"
    ).encode()
    with static_site(html) as site:
        await page.goto(site)
        launcher = page.get_by_test_id("launcher")
        await launcher.wait_for(state="attached", timeout=T)
        in_view = await launcher.evaluate(
            "e => { const r = e.getBoundingClientRect(); "
            "return r.top >= 0 && r.bottom <= innerHeight; }"
        )
        assert in_view, await launcher.bounding_box()


# F5: -------------------------------------------------------------------------------------------
async def test_full_screen_panel_is_modal_for_assistive_tech(
    page: Any, demo_server: DemoServer
) -> None:
    """On a phone the panel covers the page and traps Tab, but said aria-modal=false, so a
    screen reader's swipe navigation walked into the hidden page behind it."""
    await page.set_viewport_size({"width": 360, "height": 740})
    await page.goto(demo_server.base_url + "/")
    await page.get_by_test_id("launcher").click()
    panel = page.get_by_test_id("panel")
    box = await panel.bounding_box()
    assert box == {"x": 0, "y": 0, "width": 360, "height": 740}  # it covers the page
    assert await panel.get_attribute("aria-modal") == "true"


# F6: -------------------------------------------------------------------------------------------
async def test_signup_errors_are_announced_and_readable(page: Any, demo_server: DemoServer) -> None:
    """A refused sign-up came back with focus on <body>, nothing announced, and pydantic's
    own wording ("String should have at least 10 characters"). Now focus is on the first
    invalid field, the reasons are alerts in plain words."""
    await page.goto(demo_server.base_url + "/app/signup")
    await page.get_by_label("Email").fill("not-an-email")
    await page.get_by_label("Password").fill("short")
    await page.get_by_role("button", name="Create account").click()
    await page.wait_for_load_state()
    state = await page.evaluate(
        """() => ({active: document.activeElement.id,
        alerts: [...document.querySelectorAll('[role=alert]')]
            .filter(e => e.textContent.trim()).length,
        errors: [...document.querySelectorAll('.field-error')].map(e => e.textContent.trim())})"""
    )
    assert state["active"] == "email", state
    assert state["alerts"] >= 3, state
    assert state["errors"] == [
        "Enter an email address like name@example.com.",
        "Use at least 10 characters.",
        "Fill this in.",
    ], state


# F7: -------------------------------------------------------------------------------------------
async def test_rtl_answer_keeps_its_list_markers_inside_the_bubble(
    page: Any, demo_server: DemoServer
) -> None:
    """An Arabic answer's list had room for its bullets on the left only (drawn outside the
    bubble on the right), and Arabic typed in the box was laid out left to right."""
    key = demo_server.credentials["public_key"]
    history = [
        {"role": "bot", "t": "- بند أول في القائمة\n- بند ثاني", "c": [], "id": str(uuid.uuid4())}
    ]
    await page.goto(demo_server.base_url + "/")
    await page.evaluate(
        f"() => localStorage.setItem('trulybot:{key}:history', {json.dumps(json.dumps(history))})"
    )
    await page.reload()
    await page.get_by_test_id("launcher").click()
    geo = await page.evaluate(
        f"""() => {{ const b = {SR}.querySelectorAll('.bubble')[1];
        const s = getComputedStyle(b.querySelector('ul'));
        return [getComputedStyle(b).direction, s.paddingRight, s.paddingLeft,
        getComputedStyle({SR}.querySelector('[data-testid=input]')).direction]; }}"""
    )
    await page.get_by_test_id("input").fill("مرحبا، هل يعمل على لينكس؟")
    typed_dir = await page.get_by_test_id("input").evaluate("e => e.matches(':dir(rtl)')")
    assert geo[0] == "rtl"
    assert geo[1] != "0px", f"RTL list has no room for its markers on the right: {geo}"
    assert typed_dir, "Arabic typed in the message box is laid out left-to-right"


# F8: -------------------------------------------------------------------------------------------
async def test_a_pasted_message_over_the_limit_is_not_cut_silently(
    page: Any, demo_server: DemoServer
) -> None:
    """A 2,500-character paste kept its first 2,000 characters and said nothing; the box now
    counts near the limit and says when it shortened a paste."""
    await page.goto(demo_server.base_url + "/")
    await page.get_by_test_id("launcher").click()
    box = page.get_by_test_id("input")
    count = page.get_by_test_id("count")
    await box.focus()
    await page.keyboard.insert_text("word " * 380)  # 1,900 characters: near the limit
    assert await count.count() == 1, "no counter by the message box"
    assert (await count.inner_text()).strip() == "1900/2000 characters"
    await box.fill("")
    assert await count.is_hidden()
    await box.focus()
    await page.keyboard.insert_text("word " * 500)  # 2,500 characters
    assert len(await box.input_value()) == 2000
    assert "Shortened to 2000 characters" in await count.inner_text()
    # Said to a screen reader too (the visible count is not itself a live region: it changes
    # at every key).
    said = page.get_by_test_id("count-status")
    assert await said.get_attribute("role") == "status"
    assert "Shortened to 2000 characters" in await said.evaluate("e => e.textContent")


# F9: -------------------------------------------------------------------------------------------
async def test_escape_returns_focus_to_what_opened_the_chat(
    page: Any, demo_server: DemoServer
) -> None:
    """Opened from the page's own button (TrulyBot.open()), Escape sent focus to the
    launcher at the end of the page instead of back to that button."""
    await page.goto(demo_server.base_url + "/")
    await page.get_by_test_id("launcher").wait_for(timeout=T)
    await page.get_by_role("button", name="Open the chat").focus()
    await page.keyboard.press("Enter")
    await page.get_by_test_id("panel").wait_for(state="visible", timeout=T)
    await page.keyboard.press("Escape")
    await page.get_by_test_id("panel").wait_for(state="hidden", timeout=5_000)
    name = await page.evaluate("() => document.activeElement.textContent.trim()")
    assert name == "Open the chat", await page.evaluate(FOCUSED)
