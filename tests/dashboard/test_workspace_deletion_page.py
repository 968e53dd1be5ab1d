"""Deleting a workspace and restoring it from the dashboard, as the JSON API lets an owner (before,
the dashboard had neither: an owner needed curl, and the workspace's id, to get it back)."""

from __future__ import annotations

import html
import re
import uuid

from api.runtime import Runtime
from tests.conftest import client_for
from tests.dashboard.conftest import WebOwner, web_signup
from tests.dashboard.test_notices import notice_of
from workspaces import repository as ws_repo


async def _slug(runtime: Runtime, workspace_id: str) -> str:
    async with runtime.db.transaction(workspace_id=uuid.UUID(workspace_id)) as session:
        workspace = await ws_repo.get_workspace(session, uuid.UUID(workspace_id))
        assert workspace is not None
        return workspace.slug


async def _new_workspace(web: WebOwner, name: str) -> str:
    made = await web.post("/app/workspaces", {"name": name})
    assert made.status_code == 303, made.text
    return made.headers["location"].split("?")[0].rstrip("/").split("/")[-1]


def _restorable_ids(page: str) -> list[str]:
    return re.findall(r'<tr data-workspace-id="([^"]+)"', page)


async def test_an_owner_deletes_a_workspace_and_restores_it_from_the_account_page(
    web: WebOwner, runtime: Runtime
) -> None:
    slug = await _slug(runtime, web.workspace_id)
    settings = await web.client.get(web.url("settings"))
    assert 'data-testid="delete-workspace"' in settings.text
    assert f"<code>{slug}</code>" in settings.text

    wrong = await web.post(web.url("settings/delete"), {"confirm": slug + "-not"})
    assert wrong.status_code == 422
    assert "Type the workspace's slug to confirm" in html.unescape(wrong.text)
    assert 'id="delete-confirm-error"' in wrong.text
    assert (await web.client.get(web.url())).status_code == 200  # nothing happened

    done = await web.post(web.url("settings/delete"), {"confirm": slug})
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith("/app/account?notice=")
    account = await web.client.get(done.headers["location"])
    notice = notice_of(account.text)
    assert notice is not None
    assert "You can restore it here until" in notice
    assert _restorable_ids(account.text) == [web.workspace_id]
    assert (await web.client.get(web.url())).status_code == 404  # access ended at once

    home = await web.client.get("/app/")  # no workspace left: the way back is named
    assert "You are not a member of any workspace" in home.text
    assert 'data-testid="restore-hint"' in home.text

    restored = await web.post(f"/app/workspaces/{web.workspace_id}/restore")
    assert restored.status_code == 303, restored.text
    assert restored.headers["location"].startswith(web.url())
    landed = await web.client.get(restored.headers["location"])
    assert landed.status_code == 200
    assert notice_of(landed.text) == "Workspace restored"
    account = await web.client.get("/app/account")
    assert _restorable_ids(account.text) == []
    assert 'data-testid="deleted-workspaces"' not in account.text


async def test_a_restore_past_the_free_workspaces_limit_is_refused_beside_the_list(
    web: WebOwner, runtime: Runtime
) -> None:
    """Delete a free workspace, make others up to FREE_WORKSPACES_PER_ACCOUNT, restore the first:
    refused with the reason, and the workspace stays deleted and listed."""
    limit = runtime.settings.free_workspaces_per_account
    assert limit >= 1
    slug = await _slug(runtime, web.workspace_id)
    assert (await web.post(web.url("settings/delete"), {"confirm": slug})).status_code == 303
    for n in range(limit):
        await _new_workspace(web, f"Another {n} {uuid.uuid4().hex[:6]}")

    refused = await web.post(f"/app/workspaces/{web.workspace_id}/restore")
    assert refused.status_code == 429
    assert 'data-testid="deleted-workspaces"' in refused.text
    assert 'role="alert"' in refused.text
    assert _restorable_ids(refused.text) == [web.workspace_id]
    assert (await web.client.get(web.url())).status_code == 404  # still deleted


async def test_nobody_restores_a_workspace_they_do_not_own(web: WebOwner, runtime: Runtime) -> None:
    """Another signed-in owner posting the restore of someone else's deleted workspace gets
    a 404, and it stays deleted."""
    slug = await _slug(runtime, web.workspace_id)
    assert (await web.post(web.url("settings/delete"), {"confirm": slug})).status_code == 303
    async with client_for(runtime) as other_client:
        stranger = await web_signup(other_client, "Stranger")
        attempt = await stranger.post(f"/app/workspaces/{web.workspace_id}/restore")
        assert attempt.status_code == 404
        account = await stranger.client.get("/app/account")
        assert _restorable_ids(account.text) == []
    assert (await web.client.get(web.url())).status_code == 404
    assert _restorable_ids((await web.client.get("/app/account")).text) == [web.workspace_id]
