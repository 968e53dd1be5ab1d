"""What a visitor meets on a real customer's site: the site's own keyboard shortcuts. A real
server and Debian's Chromium; each test failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import DemoServer, static_site
from tests.e2e.test_widget_browser import _open

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
