"""A new owner's first ten minutes, in Debian's Chromium against a real `trulybot serve`: sign
up, upload a PDF made here, watch it become ready, get a cited answer in the playground, change
the widget's colour and see the preview follow, put the snippet on a page of another site and
chat there (leaving a lead), find that conversation and lead in the dashboard, turn an
unanswered question into an FAQ the bot then uses, export the leads. No CSP violation on the
way; a screenshot of each step in test-output/dashboard/first-ten-minutes/."""

from __future__ import annotations

import asyncio
import email
import email.policy
import html
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fpdf import FPDF

from tests.e2e.conftest import OUTPUT, DemoServer, static_site
from tests.e2e.test_dashboard_browser import Console

pytestmark = pytest.mark.e2e
TIMEOUT = 30_000
SHOTS = OUTPUT / "dashboard" / "first-ten-minutes"


def _pdf(path: Path, marker: str) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    for line in (
        f"Zephyr {marker} touring kayak",
        f"The Zephyr {marker} kayak is 4.2 metres long and weighs 23 kilograms.",
        "It carries one paddler and 100 kilograms of luggage in two sealed hatches.",
        "Every kayak comes with a five-year warranty on the hull.",
    ):
        pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


@contextmanager
def site_with(snippet: str) -> Iterator[str]:
    """A customer's page on another origin (its own port) with the embed snippet."""
    body = (
        "<!doctype html><html><head><title>Kayak shop</title></head><body>"
        f"<h1>Kayak shop</h1>{snippet}</body></html>"
    ).encode()

    with static_site(body) as url:
        yield url


async def _mailed_link(server: DemoServer, to: str, path: str) -> str:
    """The link to ``path`` in the newest mail to ``to`` (the outbox is flushed in the
    background: wait for it)."""
    assert server.data_dir is not None
    outbox = server.data_dir / "outbox"
    pattern = re.compile(r"(https?://\S+" + re.escape(path) + r"\?token=[\w.\-=%]+)")
    for _ in range(120):
        for mail in sorted(outbox.glob("*.eml"), reverse=True) if outbox.exists() else []:
            text = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
            if to in str(text["To"]):
                body = text.get_body(preferencelist=("plain",))
                found = pattern.search(body.get_content() if body else "")
                if found:
                    return found.group(1)
        await asyncio.sleep(0.25)
    raise AssertionError(f"no mail with a {path} link reached {to}")


async def _shot(page: Any, name: str) -> None:
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def _ask_widget(page: Any, question: str) -> None:
    before = await page.locator('[data-testid="message"][data-role="bot"]').count()
    await page.get_by_test_id("input").fill(question)
    await page.get_by_test_id("input").press("Enter")
    await page.wait_for_function(
        """(before) => {
            const root = document.querySelector('trulybot-widget').shadowRoot;
            const bots = root.querySelectorAll('[data-testid="message"][data-role="bot"]');
            const last = bots[bots.length - 1];
            return bots.length > before && !!last.querySelector('[data-testid="feedback-up"]');
        }""",
        arg=before,
        timeout=TIMEOUT,
    )


async def _playground(page: Any, base: str, question: str) -> Any:
    await page.goto(f"{base}/playground")
    await page.get_by_label("Your question").fill(question)
    await page.get_by_role("button", name="Ask").click()
    answer = page.get_by_test_id("playground-answer").last
    await answer.wait_for(timeout=TIMEOUT)
    return answer


async def test_a_new_owners_first_ten_minutes(
    page: Any, demo_server: DemoServer, tmp_path: Path
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    console = Console(page)
    marker = uuid.uuid4().hex[:6]
    server = demo_server.base_url

    # Sign up.
    email, password = f"kayaks-{marker}@example.com", "paddle hard every day"
    await page.goto(f"{server}/app/signup")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_label("Business or website name").fill(f"Zephyr Kayaks {marker}")
    await _shot(page, "01-signup")
    await page.get_by_role("button", name="Create account").click()
    await page.get_by_role("heading", name="Check your email").wait_for(timeout=TIMEOUT)
    # The verification mail's link (the server writes its mail to DATA_DIR/outbox).
    await page.goto(await _mailed_link(demo_server, email, "/app/verify-email"))
    # Not signed in yet: the account's password confirms the address.
    await page.get_by_label("The password you signed up with").fill(password)
    await page.get_by_role("button", name="Confirm my address").click()
    await page.get_by_role("heading", name="Email confirmed").wait_for(timeout=TIMEOUT)
    await page.goto(f"{server}/app/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("heading", name="Getting started").wait_for(timeout=TIMEOUT)
    base = page.url.rstrip("/")
    assert "/app/w/" in base
    await _shot(page, "02-getting-started")

    # Upload a real PDF and watch it become ready (the list polls itself).
    pdf = tmp_path / f"zephyr-{marker}.pdf"
    _pdf(pdf, marker)
    await page.goto(f"{base}/knowledge")
    await page.get_by_label("Files (PDF").set_input_files(str(pdf))
    await page.get_by_role("button", name="Upload").click()
    await (
        page.locator(f'tr[data-status="ready"]:has-text("{pdf.name}")')
        .or_(page.locator('tr[data-status="ready"]:has-text("Zephyr")'))
        .first.wait_for(timeout=60_000)
    )
    await _shot(page, "03-knowledge-ready")

    # A cited answer in the playground.
    answer = await _playground(page, base, f"How long is the Zephyr {marker} kayak?")
    assert await answer.get_attribute("data-source") == "rag"
    assert "4.2" in await answer.inner_text()
    assert await answer.get_by_test_id("citation").count() >= 1
    await _shot(page, "04-playground")

    # The widget's colour; the preview follows before saving.
    await page.goto(f"{base}/widget")
    await page.get_by_label("Colour").fill("#0f766e")
    await page.wait_for_function(
        """() => document.querySelector('iframe[data-widget-preview-frame]').src
                   .includes('color=%230f766e')""",
        timeout=TIMEOUT,
    )
    await page.get_by_role("button", name="Save").click()
    await page.get_by_text("Saved", exact=True).wait_for(timeout=TIMEOUT)
    snippet = html.unescape(await page.get_by_test_id("snippet").inner_text())
    await _shot(page, "05-widget")

    # Another site embeds the snippet; a visitor chats there and leaves a lead.
    visitor_email = f"paddler-{marker}@example.com"
    visitor = await page.context.new_page()
    visitor_console = Console(visitor)
    with site_with(snippet) as site:
        await visitor.goto(site)
        await visitor.get_by_test_id("launcher").click(timeout=TIMEOUT)
        await _ask_widget(visitor, f"How much luggage does the Zephyr {marker} carry?")
        await _ask_widget(visitor, "Do you sell gift cards for birthdays?")  # not in the PDF
        await _ask_widget(visitor, "What is the price of two kayaks?")
        form = visitor.get_by_test_id("lead-form")
        await form.wait_for(state="visible", timeout=TIMEOUT)
        await visitor.get_by_test_id("lead-email").fill(visitor_email)
        if await visitor.get_by_test_id("lead-name").count():
            await visitor.get_by_test_id("lead-name").fill("Pat Paddler")
        await visitor.get_by_test_id("lead-submit").click()
        await form.wait_for(state="hidden", timeout=TIMEOUT)
        await visitor.screenshot(path=str(SHOTS / "06-customer-site.png"))
    await visitor.close()
    assert [m for m in visitor_console.errors() if "favicon" not in m] == []

    # The checklist saw the snippet on that site; the conversation and the lead are there.
    await page.goto(base)
    installed = page.locator('li[data-step="installed"]')
    assert "Done" in await installed.inner_text()
    await _shot(page, "07-checklist")
    await page.goto(f"{base}/conversations?channel=widget")
    await page.locator("tr[data-conversation] a").first.click()
    await page.get_by_text(f"How much luggage does the Zephyr {marker} carry?").wait_for(
        timeout=TIMEOUT
    )
    await _shot(page, "08-transcript")
    await page.get_by_role("link", name="the lead they left").click()
    await page.get_by_role("heading", name=visitor_email).wait_for(timeout=TIMEOUT)
    await _shot(page, "09-lead")

    # The visitor's unanswered question becomes an FAQ, and the bot uses it.
    question = "Do you sell gift cards for birthdays?"
    await page.goto(f"{base}/unanswered")
    group = page.get_by_test_id("unanswered-group").filter(has_text=question)
    await group.get_by_label("Answer").fill("Yes: gift cards from 50 euros, valid for two years.")
    await _shot(page, "10-unanswered")
    await group.get_by_role("button", name="Add as FAQ and resolve").click()
    await page.get_by_text("FAQ added and 1 question resolved").wait_for(timeout=TIMEOUT)
    answered = await _playground(page, base, question)
    assert await answered.get_attribute("data-source") == "faq"
    assert "valid for two years" in await answered.inner_text()
    await _shot(page, "11-faq-answer")

    # Export the leads.
    await page.goto(f"{base}/leads")
    async with page.expect_download() as download_info:
        await page.get_by_test_id("export").click()
    download = await download_info.value
    exported = Path(await download.path()).read_text()
    assert visitor_email in exported
    await _shot(page, "12-leads")

    assert console.csp_violations() == []
