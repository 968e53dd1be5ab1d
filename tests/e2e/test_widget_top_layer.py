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
