"""The team page's lists stay readable as a workspace grows: the working API keys apart from
the revoked ones (which come a page at a time), members a page at a time, and the audit log
still naming the key or person who acted whatever page they are on."""

from __future__ import annotations

import re
import uuid

import httpx

from core.db import Database
from tests.dashboard.conftest import WebOwner, new_api_key
from workspaces import repository as ws_repo
from workspaces import team


def _table(html: str, testid: str) -> str:
    found = re.search(rf'<table class="stack" data-testid="{testid}">(.*?)</table>', html, re.S)
    return found.group(1) if found else ""


async def _new_key(web: WebOwner, name: str) -> tuple[str, str]:
    """(id, secret) of a key made on the team page."""
    secret = await new_api_key(web, name)
    page = await web.client.get(web.url("team"))
    row = re.search(
        rf'<td data-label="Name">{name}</td>.*?team/api-keys/([0-9a-f-]{{36}})/revoke',
        page.text,
        re.S,
    )
    assert row, page.text
    return row.group(1), secret


async def test_revoked_keys_are_listed_apart_from_the_working_ones(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    old_id, old_secret = await _new_key(web, "old script")  # the oldest key
    for n in range(21):  # more revoked keys than one page shows
        key_id, _ = await _new_key(web, f"spent {n}")
        assert (await web.post(web.url(f"team/api-keys/{key_id}/revoke"))).status_code == 303
    # The old key revokes itself through the API: the audit entry's actor is a revoked key.
    gone = await client.delete(
        f"/api/v1/workspaces/{web.workspace_id}/api-keys/{old_id}",
        headers={"Authorization": f"Bearer {old_secret}"},
    )
    assert gone.status_code == 204, gone.text
    await _new_key(web, "new script")

    page = await web.client.get(web.url("team"))
    live = _table(page.text, "live-keys")
    assert "new script" in live
    assert "old script" not in live
    assert "spent" not in live
    revoked = _table(page.text, "revoked-keys")
    assert revoked.count('<td data-label="Name">') == 20
    assert "spent 20" in revoked
    assert "old script" not in revoked
    # The audit log names the key that acted, though it is revoked and on no page shown.
    who = re.findall(r'<td data-label="Who">([^<]*)</td><td data-label="What">([^<]*)<', page.text)
    assert any(
        w.startswith("API key old script (") and what.startswith("api_key.revoked")
        for w, what in who
    ), who

    older = re.search(r'href="([^"]*revoked_cursor=[^"#]*)', page.text)
    assert older
    second = await web.client.get(older.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    rest = _table(second.text, "revoked-keys")
    assert "old script" in rest
    assert "spent 0" in rest
    assert "Older revoked keys" not in second.text
    assert "new script" in _table(second.text, "live-keys")

    garbage = await web.client.get(web.url("team") + "?revoked_cursor=garbage")
    assert garbage.status_code == 422
    assert "Invalid cursor" in garbage.text


async def test_members_come_a_page_at_a_time_and_are_named_on_every_page(
    owner_db: Database, web: WebOwner
) -> None:
    """A workspace without a members limit (an operator's): more members than a page holds."""
    await _new_key(web, "made by the founder")  # audited: the founder acted
    workspace_id = uuid.UUID(web.workspace_id)
    emails = [f"m{n:02d}-{uuid.uuid4().hex[:8]}@example.com" for n in range(team.MEMBERS_PAGE)]
    async with owner_db.transaction() as session:
        for email in emails:
            user = await ws_repo.insert_user(session, email=email, password_hash="x", name=None)
            assert user is not None
            await ws_repo.insert_membership(
                session, workspace_id=workspace_id, user_id=user.id, role="member"
            )

    first = await web.client.get(web.url("team"))
    assert first.status_code == 200
    rows = re.findall(r'<tr data-member="([^"]+)">', first.text)
    assert len(rows) == team.MEMBERS_PAGE
    assert web.email in _members_table(first.text)  # the founder first
    more = re.search(r'href="([^"]*members_cursor=[^"]*)" data-testid="more-members"', first.text)
    assert more
    second = await web.client.get(more.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert re.findall(r'<tr data-member="([^"]+)">', second.text) != []
    assert emails[-1] in _members_table(second.text)
    assert 'data-testid="more-members"' not in second.text
    # The audit log and the key's maker name the founder on the members' second page too.
    who = re.findall(r'<td data-label="Who">([^<]*)</td>', second.text)
    assert web.email in who, who
    assert f'<td data-label="Made by">{web.email}</td>' in second.text


def _members_table(html: str) -> str:
    return _table(html, "members")


def _link(html: str, text: str) -> str:
    found = re.search(rf'<a href="([^"]+)"[^>]*>{text}</a>', html)
    assert found, text
    return found.group(1).replace("&amp;", "&")


async def test_paging_one_list_keeps_the_other_lists_where_they_were(web: WebOwner) -> None:
    """The team page holds three paged lists (members, revoked keys, the audit log); each
    "more" link carried its own cursor only, so reading older audit entries sent the revoked
    keys back to their first page, and the other way round."""
    for n in range(21):  # a second page of revoked keys, and of the audit log (42 entries)
        key_id, _ = await _new_key(web, f"spent {n}")
        assert (await web.post(web.url(f"team/api-keys/{key_id}/revoke"))).status_code == 303
    first = await web.client.get(web.url("team"))
    keys_page = await web.client.get(_link(first.text, "Older revoked keys"))
    assert "spent 0" in _table(keys_page.text, "revoked-keys")
    both = await web.client.get(_link(keys_page.text, "Older entries"))
    assert both.status_code == 200
    assert "spent 0" in _table(both.text, "revoked-keys")  # still the keys' second page
    assert "Older entries" not in both.text  # the audit log's last page
    audit_page = await web.client.get(_link(first.text, "Older entries"))
    back = await web.client.get(_link(audit_page.text, "Older revoked keys"))
    assert "Older entries" not in back.text  # the audit log stayed on its second page
    assert "spent 0" in _table(back.text, "revoked-keys")
