"""The sessions page a page at a time: a script that signs in to the API with the password on
every run leaves a live session each time, and the page listed every one of them."""

from __future__ import annotations

import re

from core.db import Database
from tests.dashboard.conftest import WebOwner
from workspaces import repository as ws_repo
from workspaces import sessions
from workspaces.service import ClientInfo


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-session="([^"]+)">', html)


async def test_many_sessions_come_a_page_at_a_time(
    db: Database, owner_db: Database, web: WebOwner
) -> None:
    page = await web.client.get("/app/sessions")
    assert page.status_code == 200
    assert len(_rows(page.text)) == 1  # this browser only
    assert 'data-testid="more-sessions"' not in page.text
    assert "End all other sessions" not in page.text

    async with owner_db.transaction() as session:
        user = await ws_repo.get_user_by_email(session, web.email)
        assert user is not None
        user_id = user.id
    async with db.transaction() as session:  # a script's password sign-ins, one a run
        for n in range(sessions.SESSIONS_PAGE):
            await sessions.start(
                session, user_id, kind="api", client=ClientInfo(user_agent=f"cron-{n}")
            )

    first = await web.client.get("/app/sessions")
    assert first.status_code == 200
    shown = _rows(first.text)
    assert len(shown) == sessions.SESSIONS_PAGE
    assert "End all other sessions" in first.text
    more = re.search(r'href="([^"]*cursor=[^"]*)" data-testid="more-sessions"', first.text)
    assert more
    second = await web.client.get(more.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    rest = _rows(second.text)
    assert len(rest) == 1
    assert set(rest).isdisjoint(shown)
    assert 'data-testid="more-sessions"' not in second.text
    assert "End all other sessions" in second.text

    garbage = await web.client.get("/app/sessions?cursor=garbage")
    assert garbage.status_code == 422
    assert "Invalid cursor" in garbage.text
