"""The owners' dashboard in Debian's Chromium against a real `trulybot serve` (demo seeded):
log in, upload a document and watch it become ready, ask the playground, change the widget's
colour and see the preview follow, walk the navigation by keyboard, fit a phone's width; the
browser reports no CSP violation anywhere. Screenshots go to test-output/dashboard/."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.conftest import OUTPUT, DemoServer

pytestmark = pytest.mark.e2e
TIMEOUT = 30_000
SHOTS = OUTPUT / "dashboard"
SHOTS.mkdir(parents=True, exist_ok=True)
PAGES = [
    ("", "getting-started"),
    ("knowledge", "knowledge"),
    ("playground", "playground"),
    ("widget", "widget"),
    ("conversations", "conversations"),
    ("unanswered", "unanswered"),
    ("leads", "leads"),
    ("analytics", "analytics"),
    ("plan", "plan"),
    ("team", "team"),
    ("settings", "settings"),
    ("/app/account", "account"),  # not a workspace's: the signed-in user's own
    ("/app/sessions", "sessions"),
]


def page_url(base: str, path: str) -> str:
    """``path`` under the workspace's pages at ``base``, or from the site's root ("/...")."""
    if path.startswith("/"):
        return base.split("/app/", 1)[0] + path
    return f"{base}/{path}" if path else base


class Console:
    """Every console message and page error, to assert that none is a CSP violation."""

    def __init__(self, page: Any) -> None:
        self.messages: list[str] = []
        page.on("console", lambda msg: self.messages.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda err: self.messages.append(f"pageerror: {err}"))

    def csp_violations(self) -> list[str]:
        return [m for m in self.messages if "Content Security Policy" in m]

    def errors(self) -> list[str]:
        return [m for m in self.messages if m.startswith(("error", "pageerror"))]


async def _login(page: Any, server: DemoServer) -> str:
    await page.goto(server.base_url + "/app")
    await page.get_by_label("Email").fill(server.credentials["email"])
    await page.get_by_label("Password").fill(server.credentials["password"])
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("heading", name="Getting started").wait_for(timeout=TIMEOUT)
    return f"{server.base_url}/app/w/{server.credentials['workspace_id']}"


@pytest.fixture(scope="module")
async def demo_state(browser: Any, demo_server: DemoServer) -> dict[str, Any]:
    """The demo owner signed in once (the cookies), for the tests' fresh browser contexts: the
    login form is rate limited per address like the API's."""
    context = await browser.new_context()
    page = await context.new_page()
    await _login(page, demo_server)
    state: dict[str, Any] = await context.storage_state()
    await context.close()
    return state


@pytest.fixture
async def owner_page(
    browser: Any, demo_server: DemoServer, demo_state: dict[str, Any]
) -> AsyncIterator[tuple[Any, str, Console]]:
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, storage_state=demo_state
    )
    page = await context.new_page()
    console = Console(page)
    base = f"{demo_server.base_url}/app/w/{demo_server.credentials['workspace_id']}"
    try:
        yield page, base, console
        assert console.csp_violations() == []
    finally:
        await context.close()


async def test_every_page_renders_without_csp_violations(
    owner_page: tuple[Any, str, Console],
) -> None:
    page, base, console = owner_page
    for path, name in PAGES:
        response = await page.goto(page_url(base, path))
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert console.errors() == []


async def test_upload_becomes_ready_and_the_playground_cites_it(
    owner_page: tuple[Any, str, Console], tmp_path: Any
) -> None:
    page, base, _ = owner_page
    marker = uuid.uuid4().hex[:8]
    name = f"boat-{marker}.txt"
    path = tmp_path / name
    path.write_text(
        f"The Acme sailing boat {marker} has a fibreglass hull and sleeps four people. "
        "Its outboard motor runs for six hours on one tank.\n"
    )
    await page.goto(f"{base}/knowledge")
    await page.get_by_label("Files (PDF").set_input_files(str(path))
    await page.get_by_role("button", name="Upload").click()
    row = page.locator("tr", has_text=name)
    await row.wait_for(timeout=TIMEOUT)
    # The list polls itself: no reload while the document is processed.
    await page.locator(f'tr[data-status="ready"]:has-text("{name}")').wait_for(timeout=60_000)

    await page.goto(f"{base}/playground")
    question = page.get_by_label("Your question")
    # Spaces alone are not sent: no empty "You:" line and refusal in the transcript (each try
    # added a pair), the status says what to do.
    await question.fill("   ")
    await question.press("Enter")
    await page.get_by_text("Write a question first.").wait_for(timeout=TIMEOUT)
    assert await page.locator("li.user").count() == 0
    # Enter sends, as in the widget (it only began a new line: the owner waited for an answer
    # that was never asked); Shift+Enter begins a new line.
    await question.fill(f"How long does the motor of boat {marker} run?")
    await question.press("Shift+Enter")
    assert (await question.input_value()).endswith("\n")
    await question.press("Enter")
    answer = page.get_by_test_id("playground-answer").last
    await answer.wait_for(timeout=TIMEOUT)
    assert await answer.get_attribute("data-source") == "rag"
    assert name in await answer.inner_text()
    assert await page.get_by_label("Your question").input_value() == ""
    await page.screenshot(path=str(SHOTS / "playground-answer.png"), full_page=True)


async def test_a_refused_upload_says_why(
    owner_page: tuple[Any, str, Console], tmp_path: Any
) -> None:
    """The server's reason reaches the owner, not only its status ("Something went wrong
    (415). Try again.", which no retry could help)."""
    page, base, _ = owner_page
    path = tmp_path / f"setup-{uuid.uuid4().hex[:6]}.exe"
    path.write_bytes(b"MZ\x90\x00" + bytes(range(256)) * 8)
    await page.goto(f"{base}/knowledge")
    await page.get_by_label("Files (PDF").set_input_files(str(path))
    await page.get_by_role("button", name="Upload").click()
    flash = page.locator("#flash")
    await flash.wait_for(state="visible", timeout=TIMEOUT)
    said = await flash.inner_text()
    assert "Something went wrong" not in said
    assert "Unsupported file type" in said, said
    assert "expected text, Markdown, HTML, PDF or DOCX" in said


async def test_widget_preview_follows_the_colour(owner_page: tuple[Any, str, Console]) -> None:
    page, base, _ = owner_page
    await page.goto(f"{base}/widget")
    frame = page.locator("iframe[data-widget-preview-frame]")
    await (
        page.frame_locator("iframe[data-widget-preview-frame]")
        .get_by_test_id("panel")
        .wait_for(timeout=TIMEOUT)
    )
    await page.get_by_label("Colour").fill("#ff5500")
    await page.wait_for_function(
        """() => (document.querySelector('iframe[data-widget-preview-frame]').src || '')
                   .includes('color=%23ff5500')""",
        timeout=TIMEOUT,
    )
    host = page.frame_locator("iframe[data-widget-preview-frame]").locator("trulybot-widget")
    await host.wait_for(state="attached", timeout=TIMEOUT)
    assert "color=%23ff5500" in (await frame.get_attribute("src") or "")
    await page.screenshot(path=str(SHOTS / "widget-preview.png"), full_page=True)


async def test_keyboard_only_navigation(owner_page: tuple[Any, str, Console]) -> None:
    page, base, _ = owner_page
    await page.goto(base)
    await page.keyboard.press("Tab")
    focused = await page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to content"
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"
    # From the top again: Tab reaches the main navigation's "Knowledge" link, Enter follows it.
    await page.goto(base)
    for _ in range(25):
        await page.keyboard.press("Tab")
        text = await page.evaluate("document.activeElement.textContent.trim()")
        visible = await page.evaluate(
            "getComputedStyle(document.activeElement).outlineStyle !== 'none'"
        )
        if text == "Knowledge":
            assert visible, "the focused link shows a focus ring"
            break
    else:
        pytest.fail("Tab never reached the Knowledge link")
    await page.keyboard.press("Enter")
    await page.get_by_role("heading", name="Knowledge", exact=True).wait_for(timeout=TIMEOUT)
    current = page.locator('nav[aria-label="Main"] a[aria-current="page"]')
    assert await current.inner_text() == "Knowledge"


async def test_phone_width_has_no_horizontal_scroll(
    browser: Any, demo_server: DemoServer, demo_state: dict[str, Any]
) -> None:
    context = await browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, storage_state=demo_state
    )
    page = await context.new_page()
    console = Console(page)
    base = f"{demo_server.base_url}/app/w/{demo_server.credentials['workspace_id']}"
    try:
        for path, name in PAGES:
            await page.goto(page_url(base, path))
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path or 'getting started'} scrolls sideways by {overflow}px"
            # What owners and visitors typed can be one unbroken word (a pasted code or link):
            # in a heading, a paragraph, a label or a table cell it wraps, not the page.
            await page.evaluate(
                """(word) => document.querySelector('main').insertAdjacentHTML('beforeend',
                    `<section class="card"><h2>${word}</h2><p>${word}</p><label>${word}</label>
                     <table><tr><td>${word}</td></tr></table></section>`)""",
                "Order" + "x7" * 30 + "?",
            )
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            where = path or "getting started"
            assert overflow <= 0, f"{where}: a long word scrolls sideways by {overflow}px"
            await page.screenshot(path=str(SHOTS / f"phone-{name}.png"), full_page=True)
        assert console.csp_violations() == []
    finally:
        await context.close()


# Words (letters only, between spaces) the browser split across two lines ("contacte" / "d");
# an address or a link may break where it must.
SPLIT_WORDS = """() => {
  const split = [];
  for (const cell of document.querySelectorAll('main td, main th')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node; (node = walker.nextNode()); ) {
      for (const m of node.data.matchAll(/(?<!\\S)\\p{L}+(?!\\S)/gu)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set(Array.from(range.getClientRects(), (r) => Math.round(r.top)));
        if (lines.size > 1) split.push(m[0]);
      }
    }
  }
  return split;
}"""


async def test_table_cells_do_not_split_short_words(
    owner_page: tuple[Any, str, Console], demo_server: DemoServer
) -> None:
    """At a laptop's width a table's short words stay whole: the cells' overflow-wrap let the
    table shrink a column to one letter, so the plans read "Fre|e", "Sta|rter" at 1280 px and a
    lead's status "contacte|d" at 1024 px."""
    page, base, _ = owner_page
    marker = uuid.uuid4().hex[:8]
    lead = demo_server.api(
        "POST",
        demo_server.workspace("/leads"),
        json={"email": f"a.rather.long.address.{marker}@example.com", "name": "Jane Q. Public"},
    )
    assert lead.status_code == 201, lead.text
    changed = demo_server.api(
        "PATCH", demo_server.workspace(f"/leads/{lead.json()['id']}"), json={"status": "contacted"}
    )
    assert changed.status_code == 200, changed.text
    for width in (1280, 1024):
        await page.set_viewport_size({"width": width, "height": 800})
        for path in ("plan", "leads"):
            await page.goto(page_url(base, path))
            assert await page.evaluate(SPLIT_WORDS) == [], f"{path} at {width} px"


async def test_the_workspace_switcher_waits_for_the_keyboard(
    owner_page: tuple[Any, str, Console], demo_server: DemoServer
) -> None:
    """An arrow key on the switcher only moves the choice (it switched at once: passing a
    workspace on the way to another went there); Enter switches, to the same section."""
    page, base, _ = owner_page
    name = f"Second shop {uuid.uuid4().hex[:6]}"
    created = demo_server.api("POST", "/workspaces", json={"name": name})
    assert created.status_code == 201, created.text
    second = created.json()
    try:
        await page.goto(f"{base}/leads")
        switcher = page.get_by_label("Workspace", exact=True)
        names = await switcher.locator("option").all_inner_texts()
        mine = await switcher.locator("option:checked").inner_text()
        towards = names.index(f"{name} (owner)") - names.index(mine)
        button = page.get_by_role("button", name="Switch")
        assert not await button.is_visible()  # a pointer's pick switches at once
        # Every form submitted while the arrow keys are pressed is counted and held back.
        await page.evaluate(
            """() => { window.submits = 0;
                window.holdBack = (e) => { window.submits++; e.preventDefault(); };
                document.addEventListener('submit', window.holdBack, true); }"""
        )
        await switcher.focus()
        for _ in range(abs(towards)):
            await page.keyboard.press("ArrowDown" if towards > 0 else "ArrowUp")
        await button.wait_for(timeout=TIMEOUT)  # shown at the first key
        assert await page.evaluate("window.submits") == 0
        await page.evaluate("document.removeEventListener('submit', window.holdBack, true)")
        async with page.expect_navigation(timeout=TIMEOUT):
            await page.keyboard.press("Enter")
        assert page.url == f"{demo_server.base_url}/app/w/{second['id']}/leads"
    finally:
        deleted = demo_server.api(
            "DELETE", f"/workspaces/{second['id']}", json={"confirm": second["slug"]}
        )
        assert deleted.status_code == 202, deleted.text


async def test_logout_ends_the_session(page: Any, demo_server: DemoServer) -> None:
    """Its own sign-in (the shared one must outlive this test)."""
    base = await _login(page, demo_server)
    await page.get_by_role("button", name="Log out").click()
    await page.get_by_role("heading", name="Log in").wait_for(timeout=TIMEOUT)
    await page.goto(f"{base}/knowledge")
    await page.get_by_role("heading", name="Log in").wait_for(timeout=TIMEOUT)


async def test_the_playground_says_it_was_signed_out(page: Any, demo_server: DemoServer) -> None:
    """Signed out in another tab while the playground is open: the question is answered with
    "signed out: reload", not left on "Answering…" with an empty answer."""
    base = await _login(page, demo_server)
    await page.goto(f"{base}/playground")
    other = await page.context.new_page()
    await other.goto(base)
    await other.get_by_role("button", name="Log out").click()
    await other.get_by_role("heading", name="Log in").wait_for(timeout=TIMEOUT)
    await other.close()

    await page.get_by_label("Your question").fill("Do you ship to Pune?")
    await page.get_by_role("button", name="Ask").click()
    reply = page.get_by_test_id("playground-streaming")
    await reply.get_by_text("You were signed out").wait_for(timeout=TIMEOUT)
    status = page.locator("[data-stream-status]")
    assert await status.inner_text() == "Signed out: reload the page."
    assert await page.get_by_role("button", name="Ask").is_enabled()
