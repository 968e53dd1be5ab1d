"""The widget on pages whose <html> holds fixed elements (a transform, contain: paint...), where
it goes to the browser's top layer, and on ordinary pages, where it stays in the page. A real
server and Debian's Chromium; each test failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import DemoServer, static_site

pytestmark = pytest.mark.e2e
T = 60_000
LIFTED = "() => document.querySelector('trulybot-widget').matches(':popover-open')"
TWO_FRAMES = "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"

PAGE = """<!doctype html><html{attrs}><head><title>Shop</title><style>{css}</style></head>
<body style="margin:0">{body}<div style="height:3000px">Products</div>
<script src="{base}/widget.js" data-key="{key}" async></script></body></html>"""


def _page(demo_server: DemoServer, *, attrs: str = "", css: str = "", body: str = "") -> bytes:
    return PAGE.format(
        attrs=attrs,
        css=css,
        body=body,
        base=demo_server.base_url,
        key=demo_server.credentials["public_key"],
    ).encode()


async def _launcher_box(page: Any) -> dict[str, float]:
    launcher = page.get_by_test_id("launcher")
    await launcher.wait_for(timeout=T)
    box = await launcher.bounding_box()
    assert box is not None
    return dict(box)


def _in_view(box: dict[str, float]) -> bool:
    return box["y"] >= 0 and box["y"] + box["height"] <= 800


async def test_a_held_page_as_tall_as_the_screen_keeps_the_launcher_in_view_when_scrolled(
    page: Any, demo_server: DemoServer
) -> None:
    """html, body { height: 100% } with a transform on <html>: at the top of the page the <html>
    box is the screen, so the widget stayed in the page, held to that box; scrolling down the
    long page took the launcher off the top of the screen, and the chat could not be opened."""
    html = _page(
        demo_server,
        attrs=' style="transform:translateZ(0);height:100%"',
        css="body{height:100%}",
    )
    with static_site(html) as site:
        await page.goto(site)
        assert _in_view(await _launcher_box(page))
        await page.evaluate("() => window.scrollTo(0, 1500)")
        await page.evaluate(TWO_FRAMES)
        assert await page.evaluate("() => window.scrollY") == 1500
        box = await _launcher_box(page)
        assert _in_view(box), box
        await page.get_by_test_id("launcher").click()
        await page.get_by_test_id("panel").wait_for(state="visible", timeout=T)


HIDDEN_UNTIL_READY = """<script>
document.documentElement.className = "hide";
new MutationObserver((changes, watch) => {
  if (!document.querySelector("trulybot-widget")) return;
  watch.disconnect();
  document.documentElement.className = "";
}).observe(document.documentElement, { childList: true });
</script>
<div style="position:fixed;right:0;bottom:0;left:0;z-index:2147483647;padding:8px;background:#eee;
text-align:right"><button id="accept"
style="width:120px;height:80px">Accept cookies</button></div>"""


async def test_an_ordinary_page_hidden_while_it_loads_keeps_its_cookie_banner_on_top(
    page: Any, demo_server: DemoServer
) -> None:
    """A page that hides its <html> (display: none) until it is ready, as anti-flicker snippets
    do: the widget, arriving meanwhile, measured nothing, took the page for one that holds fixed
    elements and went to the top layer, over the cookie banner the site put at the highest
    z-index, its launcher on the banner's Accept button. It stays in the page, below the banner."""
    html = _page(demo_server, css="html.hide{display:none}", body=HIDDEN_UNTIL_READY)
    with static_site(html) as site:
        await page.goto(site)
        await page.wait_for_function("() => !!document.querySelector('trulybot-widget')", timeout=T)
        await page.evaluate(TWO_FRAMES)
        box = await _launcher_box(page)
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        on_top = await page.evaluate(f"() => document.elementFromPoint({x}, {y}).id")
        assert on_top == "accept"
        await page.locator("#accept").click(timeout=T)


REMOVED_GATE = """<div id="app"><dialog id="gate"><p>Are you over 18?</p>
<button onclick="document.getElementById('app').replaceChildren()">Yes</button></dialog></div>
<script>document.getElementById("gate").showModal()</script>"""


async def test_the_held_widget_goes_up_when_the_pages_modal_dialog_is_taken_away(
    page: Any, demo_server: DemoServer
) -> None:
    """The widget waits below a modal dialog open on the page (an age check) and went up when
    that dialog sent "close". A page that takes its dialog out of the document instead (a
    framework unmounting it) sends none: the launcher stayed held at the end of the page, out
    of sight. It goes up as soon as the dialog is gone."""
    html = _page(demo_server, attrs=' style="transform:translateZ(0)"', body=REMOVED_GATE)
    with static_site(html) as site:
        await page.goto(site)
        await page.wait_for_function("() => !!document.querySelector('trulybot-widget')", timeout=T)
        assert await page.evaluate(LIFTED) is False
        await page.get_by_role("button", name="Yes").click()
        await page.evaluate(TWO_FRAMES)
        box = await _launcher_box(page)
        assert _in_view(box), box
        await page.get_by_test_id("launcher").click()
        await page.get_by_test_id("panel").wait_for(state="visible", timeout=T)
