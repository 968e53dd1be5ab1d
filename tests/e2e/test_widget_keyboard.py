"""The widget beside a host page and under a screen reader: Escape, the character counter and
a phone's on-screen keyboard. A real server and Debian's Chromium; each test failed before its
fix."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import DemoServer
from tests.e2e.test_widget_browser import TIMEOUT, _open

pytestmark = pytest.mark.e2e
SR = "document.querySelector('trulybot-widget').shadowRoot"


async def test_escape_on_the_host_page_leaves_the_chat_beside_it_open(
    page: Any, demo_server: DemoServer
) -> None:
    """On a desktop the open chat is a window beside the page. With focus on the page's <body>
    (the visitor clicked the page, or the page's own dialog closed on Escape), Escape closed
    the chat too. Escape closes it from inside it, or where it covers the whole screen."""
    await page.goto(demo_server.base_url + "/")
    panel = await _open(page)
    await page.evaluate("() => document.activeElement.blur()")
    assert await page.evaluate("() => document.activeElement === document.body")
    await page.keyboard.press("Escape")
    assert await panel.is_visible()
    # From inside the chat, Escape still closes it.
    await page.get_by_test_id("input").focus()
    await page.keyboard.press("Escape")
    await panel.wait_for(state="hidden", timeout=TIMEOUT)

    # On a phone the chat covers the page: Escape closes it wherever focus was left.
    await page.set_viewport_size({"width": 375, "height": 700})
    await _open(page)
    await page.evaluate("() => document.activeElement.blur()")
    await page.keyboard.press("Escape")
    await panel.wait_for(state="hidden", timeout=TIMEOUT)


# Every text a live region (status, alert, log, aria-live) gets, in order: what a screen reader
# would announce. The conversation log itself is left out.
LISTEN = f"""() => {{
    window.__spoken = [];
    const live = (n) => {{
        for (let e = n.nodeType === 1 ? n : n.parentElement; e; e = e.parentElement) {{
            const role = e.getAttribute('role');
            const al = e.getAttribute('aria-live');
            if (role === 'log') return null;
            if ((al && al !== 'off') || role === 'status' || role === 'alert') return e;
        }}
        return null;
    }};
    new MutationObserver((ms) => {{
        for (const m of ms) {{
            const region = live(m.target);
            if (region && !region.hidden) window.__spoken.push(region.textContent);
        }}
    }}).observe({SR}, {{ childList: true, characterData: true, subtree: true }});
}}"""


async def test_the_character_counter_speaks_at_thresholds_not_at_every_key(
    page: Any, demo_server: DemoServer
) -> None:
    """From 90% of the length limit the counter was a status region rewritten at every key:
    a screen reader announced "1801/2000 characters", "1802/2000 characters"... over the echo
    of what the visitor typed. It is announced when 90% is reached and at the limit; the
    visible count still follows every key."""
    await page.goto(demo_server.base_url + "/")
    await _open(page)
    box = page.get_by_test_id("input")
    limit = int(await box.get_attribute("maxlength"))
    start = limit * 9 // 10 - 2
    await box.fill("a" * start)
    await page.evaluate(LISTEN)
    await box.press("End")
    await page.keyboard.type("b" * 10)
    count = page.get_by_test_id("count")
    assert await count.is_visible()
    assert (await count.inner_text()).startswith(f"{start + 10}/{limit}")
    spoken = await page.evaluate("() => window.__spoken")
    assert len(spoken) == 1, spoken
    assert f"/{limit}" in spoken[0]

    # Up to the limit: said once more, that the limit is reached.
    await box.fill("a" * (limit - 3))
    await box.press("End")
    await page.evaluate("() => { window.__spoken = []; }")
    await page.keyboard.type("ccc")
    spoken = await page.evaluate("() => window.__spoken")
    assert len(spoken) == 1, spoken
    assert f"{limit}/{limit}" in spoken[0]


async def test_on_a_phone_the_chat_follows_the_visible_part_of_the_screen(
    page: Any, demo_server: DemoServer
) -> None:
    """A phone's on-screen keyboard shortens the visible part of the page (the visual
    viewport), not the page: the full-screen chat, sized to the page, went on under the
    keyboard, and the browser scrolled its header off screen. It follows the visual viewport
    now. Headless Chromium shows no keyboard: a zoom by the DevTools protocol shortens the
    visual viewport the same way."""
    await page.set_viewport_size({"width": 375, "height": 700})
    await page.goto(demo_server.base_url + "/")
    await _open(page)
    cdp = await page.context.new_cdp_session(page)
    try:
        await cdp.send("Emulation.setPageScaleFactor", {"pageScaleFactor": 2})
        await page.wait_for_function("() => visualViewport.height < 400", timeout=TIMEOUT)
        fits = f"""() => {{
            const v = visualViewport, r = (id) => {SR}
                .querySelector('[data-testid="' + id + '"]').getBoundingClientRect();
            const top = v.offsetTop, bottom = v.offsetTop + v.height;
            return r('close').top >= top - 1 && r('input').bottom <= bottom + 1;
        }}"""
        await page.wait_for_function(fits, timeout=TIMEOUT)
        # The keyboard goes away: the chat takes the whole screen again.
        await cdp.send("Emulation.setPageScaleFactor", {"pageScaleFactor": 1})
        await page.wait_for_function("() => visualViewport.height === 700", timeout=TIMEOUT)
        await page.wait_for_function(
            f"() => {SR}.querySelector('[data-testid=\"panel\"]')"
            ".getBoundingClientRect().height === 700",
            timeout=TIMEOUT,
        )
    finally:
        await cdp.detach()


async def test_on_a_zoomed_in_phone_the_chat_keeps_its_buttons_in_view(
    page: Any, demo_server: DemoServer
) -> None:
    """A visitor who had zoomed into the page (pinch zoom) opened the chat: it followed the
    visible part of the screen in height only, kept the page's whole width, and its close
    and send buttons were past the right edge of what the visitor saw (opened by the page's
    own link: the launcher sits in the page's corner, out of the zoomed view). It follows the
    visible part's width and left edge too."""
    await page.set_viewport_size({"width": 375, "height": 700})
    await page.goto(demo_server.base_url + "/")
    cdp = await page.context.new_cdp_session(page)
    try:
        await cdp.send("Emulation.setPageScaleFactor", {"pageScaleFactor": 2})
        await page.wait_for_function("() => visualViewport.width < 200", timeout=TIMEOUT)
        # The launcher is at the page's corner, out of the zoomed view: the page's own link.
        await page.evaluate("() => window.TrulyBot.open()")
        await page.get_by_test_id("panel").wait_for(state="visible", timeout=TIMEOUT)
        inside = f"""() => {{
            const v = visualViewport, r = (id) => {SR}
                .querySelector('[data-testid="' + id + '"]').getBoundingClientRect();
            const left = v.offsetLeft, right = v.offsetLeft + v.width;
            return ['close', 'reset', 'input', 'send'].filter((id) =>
                r(id).left < left - 1 || r(id).right > right + 1);
        }}"""
        await page.wait_for_function(f"() => ({inside})().length === 0", timeout=TIMEOUT)
    finally:
        await cdp.detach()


async def test_escape_that_cancels_a_composition_leaves_the_chat_open(
    page: Any, demo_server: DemoServer
) -> None:
    """A visitor typing Japanese or Chinese with an input method presses Escape to cancel the
    word being composed: the chat closed under them (Enter there was already left to the
    input method). Escape during a composition is the input method's now."""
    await page.goto(demo_server.base_url + "/")
    panel = await _open(page)
    await page.get_by_test_id("input").focus()
    cdp = await page.context.new_cdp_session(page)
    try:
        await cdp.send(
            "Input.imeSetComposition", {"text": "に", "selectionStart": 1, "selectionEnd": 1}
        )
        await page.keyboard.press("Escape")
        assert await panel.is_visible()
        # The input method ends the composition (the protocol's stand-in has to be told);
        # then Escape closes the chat as before.
        await cdp.send(
            "Input.imeSetComposition", {"text": "", "selectionStart": 0, "selectionEnd": 0}
        )
        await page.keyboard.press("Escape")
        await panel.wait_for(state="hidden", timeout=TIMEOUT)
    finally:
        await cdp.detach()
