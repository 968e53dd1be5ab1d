"""In Debian's Chromium: the notice a form's answer shows ("1 file added") is gone when the owner
reloads the page, and when they come back to it through the history; before, each reload said
again that the file was added (the notice rode in the page's address)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import DemoServer
from tests.e2e.test_dashboard_refusals import TIMEOUT, owner, signed_in

pytestmark = pytest.mark.e2e
__all__ = ["owner", "signed_in"]  # the fixtures, shared


async def test_a_notice_is_not_shown_again_on_reload_or_back(
    owner: tuple[Any, str], demo_server: DemoServer, tmp_path: Path
) -> None:
    page, base = owner
    path = tmp_path / f"notice-{uuid.uuid4().hex[:8]}.txt"
    path.write_text(f"Paddles {uuid.uuid4().hex} come in three lengths.")
    await page.goto(f"{base}/knowledge")
    await page.get_by_label("Files (PDF").set_input_files(str(path))
    await page.get_by_role("button", name="Upload").click()
    notice = page.locator("p.flash[role=status]")
    await notice.filter(has_text="1 file added").wait_for(timeout=TIMEOUT)
    assert "notice=" in page.url  # the same address...
    await page.reload()
    await page.get_by_role("heading", name="Knowledge", exact=True).wait_for(timeout=TIMEOUT)
    assert await notice.count() == 0  # ...says nothing again
    await page.goto(f"{base}/leads")
    await page.go_back()
    await page.get_by_role("heading", name="Knowledge", exact=True).wait_for(timeout=TIMEOUT)
    assert await notice.count() == 0
