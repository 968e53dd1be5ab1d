"""The "Your notifications" form on the Team page: the signed-in member's own settings, saved
through the same service as the API (CSRF like every form)."""

from __future__ import annotations

import re

import httpx

from tests.dashboard.conftest import WebOwner


def _selected(html: str, kind: str) -> str:
    select = re.search(rf'<select id="notify-\d+" name="{re.escape(kind)}">(.*?)</select>', html)
    assert select, kind
    chosen = re.search(r'<option value="([a-z_]+)" selected>', select.group(1))
    assert chosen, select.group(1)
    return chosen.group(1)


async def test_the_team_page_shows_and_saves_my_notification_settings(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    page = await web.client.get(web.url("team"))
    assert page.status_code == 200, page.text
    assert "Your notifications" in page.text
    assert _selected(page.text, "lead.created") == "immediate"
    assert _selected(page.text, "payment.failed") == "immediate"  # an owner: every kind

    saved = await web.post(
        web.url("team/notifications"),
        {"lead.created": "daily_digest", "quota.80": "off"},
    )
    assert saved.status_code == 303, saved.text
    page = await web.client.get(web.url("team"))
    assert _selected(page.text, "lead.created") == "daily_digest"
    assert _selected(page.text, "quota.80") == "off"
    assert _selected(page.text, "handoff.requested") == "immediate"

    bad = await web.post(web.url("team/notifications"), {"lead.created": "hourly"})
    assert bad.status_code == 422
    assert "Unknown delivery mode" in bad.text
    no_csrf = await web.client.post(web.url("team/notifications"), data={"quota.80": "off"})
    assert no_csrf.status_code == 403
