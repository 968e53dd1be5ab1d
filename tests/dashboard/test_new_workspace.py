"""Someone signed in with no workspace (removed from their only one) creates one from the
dashboard, with the API's service and name rules; anyone signed in can create another, within
FREE_WORKSPACES_PER_ACCOUNT and with a confirmed email (the form says why not)."""

from __future__ import annotations

import html
import re
import uuid

import httpx

from tests.conftest import login, mail_token, signup
from tests.dashboard.conftest import PASSWORD, WebOwner, csrf_of, web_login


async def removed_teammate(web: WebOwner) -> str:
    """A new account made by accepting ``web``'s invitation, then removed from that, its only
    workspace: its address."""
    email = f"mate-{uuid.uuid4().hex[:10]}@example.com"
    invited = await web.post(web.url("team/members"), {"email": email, "role": "member"})
    assert invited.status_code == 303, invited.text
    token = await mail_token(web.client, email, "invitation")
    accepted = await web.client.post(
        "/api/v1/invitations/accept", json={"token": token, "password": PASSWORD}
    )
    assert accepted.status_code == 200, accepted.text
    team = await web.client.get(web.url("team"))
    found = re.search(
        r'data-member="([^"]+)">\s*<td data-label="Email">' + re.escape(email), team.text
    )
    assert found is not None
    removed = await web.post(web.url(f"team/members/{found.group(1)}/remove"))
    assert removed.status_code == 303, removed.text
    return email


async def test_someone_with_no_workspace_creates_one(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    email = await removed_teammate(web)
    web.client.cookies.clear()
    assert (await web_login(client, email, PASSWORD)).status_code == 303
    home = await client.get("/app/")
    assert home.status_code == 200
    assert "You are not a member of any workspace" in home.text
    assert "create an account" not in home.text  # the old advice led to a sign-up mail only
    assert 'action="/app/workspaces"' in home.text

    blank = await client.post(
        "/app/workspaces", data={"csrf_token": csrf_of(home.text), "name": "   "}
    )
    assert blank.status_code == 422
    assert 'id="new-ws-err"' in blank.text
    too_long = await client.post(
        "/app/workspaces", data={"csrf_token": csrf_of(home.text), "name": "x" * 201}
    )
    assert too_long.status_code == 422

    name = f"Mate's Bakery {uuid.uuid4().hex[:6]}"
    made = await client.post(
        "/app/workspaces", data={"csrf_token": csrf_of(home.text), "name": name}
    )
    assert made.status_code == 303, made.text
    landed = await client.get(made.headers["location"])
    assert landed.status_code == 200
    assert name in html.unescape(landed.text)
    assert "Workspace created" in landed.text
    team = await client.get(made.headers["location"].split("?")[0] + "/team")
    assert re.search(re.escape(email) + r".*?owner", team.text, re.S)
    assert (await client.get("/app/")).status_code == 303  # home now leads to it


async def test_an_owner_creates_a_second_workspace_and_switches(web: WebOwner) -> None:
    page = await web.client.get("/app/workspaces/new")
    assert page.status_code == 200
    assert 'href="/app/workspaces/new"' in page.text  # the header's link, on every page
    made = await web.post("/app/workspaces", {"name": "Second shop"})
    assert made.status_code == 303
    second = made.headers["location"].split("?")[0]
    assert second != web.url()
    landed = await web.client.get(second)
    assert 'id="workspace-switch"' in landed.text  # two workspaces: the switcher
    assert "Second shop (owner)" in landed.text


async def test_a_third_free_workspace_is_refused_on_the_form(web: WebOwner) -> None:
    assert (await web.post("/app/workspaces", {"name": "Second shop"})).status_code == 303
    refused = await web.post("/app/workspaces", {"name": "Third shop"})
    assert refused.status_code == 429
    assert 'data-testid="new-workspace"' in refused.text  # the form, with what was typed
    assert 'value="Third shop"' in refused.text
    assert "upgrade one of your workspaces" in refused.text
    plan = await web.client.get(web.url("plan"))  # where the plans are described
    assert "An account may own 2 workspaces on the free plan" in plan.text


async def test_the_dashboard_asks_an_unconfirmed_account_to_confirm(
    client: httpx.AsyncClient,
) -> None:
    owner = await signup(client, "Unconfirmed web", verify=False)
    assert (await web_login(client, owner.email, owner.password)).status_code == 303
    page = await client.get("/app/workspaces/new")
    refused = await client.post(
        "/app/workspaces", data={"csrf_token": csrf_of(page.text), "name": "Another"}
    )
    assert refused.status_code == 403
    assert "Confirm your email address before creating another workspace" in refused.text
    tokens = await login(client, owner.email, owner.password)
    me = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert len(me.json()["workspaces"]) == 1
