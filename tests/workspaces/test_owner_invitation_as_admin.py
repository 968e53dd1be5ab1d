"""An invitation as owner that the invitee cannot accept as owner (they own
FREE_WORKSPACES_PER_ACCOUNT free workspaces already): the refusal told them to "join as an
admin instead", but the link only made owners, so they could not, and the inviting owner saw
nothing but a pending invitation. Now the same link accepts as an admin (``as_admin``; the
invitation page offers it beside the refusal), the audit log says the person was invited as
owner and joined as admin, and the owner's Team page says so. Before, ``as_admin`` was 422
(an unknown field) and the page had no such button."""

from __future__ import annotations

import httpx

from tests.conftest import Owner, join, mail_token, signup
from tests.dashboard.conftest import csrf_of, web_login


async def _at_the_limit(client: httpx.AsyncClient, name: str) -> Owner:
    """An account owning two free workspaces (its sign-up's and one more): the default limit."""
    person = await signup(client, name)
    more = await client.post(
        "/api/v1/workspaces", json={"name": f"{name} too"}, headers=person.headers
    )
    assert more.status_code == 201, more.text
    return person


async def _invited_as(client: httpx.AsyncClient, helper: Owner, person: Owner, role: str) -> str:
    sent = await client.post(
        helper.url("/members"), json={"email": person.email, "role": role}, headers=helper.headers
    )
    assert sent.status_code == 202, sent.text
    return await mail_token(client, person.email, "invitation")


async def _invited_as_owner_at_the_limit(client: httpx.AsyncClient) -> tuple[Owner, Owner, str]:
    """(a person at the limit, the owner who invited them as owner, the link's token)."""
    person = await _at_the_limit(client, "Mine")
    helper = await signup(client, "Handed over")
    return person, helper, await _invited_as(client, helper, person, "owner")


async def _roles(client: httpx.AsyncClient, person: Owner) -> dict[str, str]:
    me = (await client.get("/api/v1/me", headers=person.headers)).json()
    return {w["name"]: w["role"] for w in me["workspaces"]}


async def _joined(client: httpx.AsyncClient, helper: Owner) -> dict:  # type: ignore[type-arg]
    log = await client.get(helper.url("/audit"), headers=helper.headers)
    assert log.status_code == 200, log.text
    (entry,) = [e for e in log.json()["items"] if e["action"] == "member.joined"]
    return entry  # type: ignore[no-any-return]


async def test_the_same_link_accepts_as_admin_and_the_audit_says_invited_as_owner(
    client: httpx.AsyncClient,
) -> None:
    person, helper, token = await _invited_as_owner_at_the_limit(client)
    accept = "/api/v1/invitations/accept"
    refused = await client.post(accept, json={"token": token}, headers=person.headers)
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded", error
    assert error["details"]["metric"] == "workspaces", error
    assert error["details"]["join_as"] == "admin", error  # what the same link can still do
    assert "as an admin" in error["message"], error

    accepted = await client.post(
        accept, json={"token": token, "as_admin": True}, headers=person.headers
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["role"] == "admin"
    assert await _roles(client, person) == {
        "Mine": "owner",
        "Mine too": "owner",
        "Handed over": "admin",
    }
    entry = await _joined(client, helper)
    assert entry["actor_user_id"] == person.user_id
    assert entry["details"]["role"] == "admin"
    assert entry["details"]["invited_role"] == "owner"
    again = await client.post(
        accept, json={"token": token, "as_admin": True}, headers=person.headers
    )
    assert again.status_code == 400, again.text  # single use, as ever
    assert again.json()["error"]["code"] == "link_used"


async def test_as_admin_never_raises_a_lesser_invitation(client: httpx.AsyncClient) -> None:
    person = await signup(client, "Mine")
    helper = await signup(client, "Handed over")
    token = await _invited_as(client, helper, person, "member")
    raised = await client.post(
        "/api/v1/invitations/accept",
        json={"token": token, "as_admin": True},
        headers=person.headers,
    )
    assert raised.status_code == 422, raised.text
    assert raised.json()["error"]["code"] == "role_not_invited"
    # The link still works as sent.
    accepted = await client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=person.headers
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["role"] == "member"


async def test_with_room_the_owner_invitation_still_makes_an_owner(
    client: httpx.AsyncClient,
) -> None:
    person = await signup(client, "Mine")
    helper = await signup(client, "Handed over")
    await join(client, helper, person, "owner")
    assert (await _roles(client, person))["Handed over"] == "owner"
    assert "invited_role" not in (await _joined(client, helper))["details"]


async def test_the_invitation_page_offers_to_join_as_admin_and_the_team_page_says_so(
    client: httpx.AsyncClient,
) -> None:
    person, helper, token = await _invited_as_owner_at_the_limit(client)
    client.cookies.clear()
    assert (await web_login(client, person.email, person.password)).status_code == 303
    page = await client.get("/app/accept-invitation", params={"token": token})
    form = {"csrf_token": csrf_of(page.text), "token": token}
    refused = await client.post("/app/accept-invitation", data=form)
    assert refused.status_code == 422, refused.text
    assert "You own 2 workspaces" in refused.text
    assert 'name="as_admin"' in refused.text  # the button the message speaks of
    joined = await client.post("/app/accept-invitation", data={**form, "as_admin": "1"})
    assert joined.status_code == 303, joined.text
    assert (await _roles(client, person))["Handed over"] == "admin"

    client.cookies.clear()
    assert (await web_login(client, helper.email, helper.password)).status_code == 303
    team = await client.get(f"/app/w/{helper.workspace_id}/team")
    assert team.status_code == 200, team.text
    assert "joined as admin, invited as owner" in team.text
