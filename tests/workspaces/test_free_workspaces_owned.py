"""FREE_WORKSPACES_PER_ACCOUNT counts the workspaces an account owns, however it came to own
them: creating one (``more_workspaces``), restoring one (``lifecycle.deletion``), accepting an
invitation as owner, or being made owner. Before, the last two were not counted: a second
account made someone owner of a free workspace and left it, again and again, and that person
owned as many free workspaces as they liked (5 where the limit is 2, in the test below)."""

from __future__ import annotations

import httpx

from tests.conftest import Owner, join, mail_token, signup
from tests.dashboard.conftest import csrf_of, web_login


async def _at_the_limit(client: httpx.AsyncClient) -> Owner:
    """An account owning two free workspaces (its sign-up's and one more): the default limit."""
    person = await signup(client, "Mine")
    more = await client.post(
        "/api/v1/workspaces", json={"name": "Mine too"}, headers=person.headers
    )
    assert more.status_code == 201, more.text
    refused = await client.post(
        "/api/v1/workspaces", json={"name": "One more"}, headers=person.headers
    )
    assert refused.status_code == 429, refused.text
    return person


def _refused_for_room(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    error = answer.json()["error"]
    assert error["code"] == "quota_exceeded", error
    assert error["details"]["metric"] == "workspaces", error


async def _owned(client: httpx.AsyncClient, person: Owner) -> list[str]:
    me = (await client.get("/api/v1/me", headers=person.headers)).json()
    return sorted(w["name"] for w in me["workspaces"] if w["role"] == "owner")


async def test_an_invitation_as_owner_counts_against_the_limit(client: httpx.AsyncClient) -> None:
    person = await _at_the_limit(client)
    helper = await signup(client, "Handed over")
    sent = await client.post(
        helper.url("/members"),
        json={"email": person.email, "role": "owner"},
        headers=helper.headers,
    )
    assert sent.status_code == 202, sent.text
    token = await mail_token(client, person.email, "invitation")
    accepted = await client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=person.headers
    )
    _refused_for_room(accepted)
    assert "own" in accepted.json()["error"]["message"]
    assert await _owned(client, person) == ["Mine", "Mine too"]
    # As an admin they join (owning nothing more).
    await join(client, helper, person, "admin")


async def test_being_made_owner_counts_against_the_limit(client: httpx.AsyncClient) -> None:
    person = await _at_the_limit(client)
    helper = await signup(client, "Handed over")
    await join(client, helper, person, "member")
    made = await client.patch(
        helper.url(f"/members/{person.user_id}"), json={"role": "owner"}, headers=helper.headers
    )
    _refused_for_room(made)
    assert "This person" in made.json()["error"]["message"]
    assert await _owned(client, person) == ["Mine", "Mine too"]
    left = await client.post(helper.url("/leave"), headers=helper.headers)
    assert left.status_code == 409, left.text  # the helper is still its only owner


async def test_the_team_page_says_why_beside_the_member(client: httpx.AsyncClient) -> None:
    person = await _at_the_limit(client)
    helper = await signup(client, "Handed over")
    await join(client, helper, person, "member")
    signed_in = await web_login(client, helper.email, helper.password)
    assert signed_in.status_code == 303, signed_in.text
    page = await client.get(f"/app/w/{helper.workspace_id}/team")
    made = await client.post(
        f"/app/w/{helper.workspace_id}/team/members/{person.user_id}/role",
        data={"csrf_token": csrf_of(page.text), "role": "owner"},
    )
    assert made.status_code == 429, made.text
    assert "This person owns 2 workspaces" in made.text
    assert await _owned(client, person) == ["Mine", "Mine too"]


async def _delete(client: httpx.AsyncClient, owner: Owner) -> None:
    """The owner's workspace deleted (its grace period begins)."""
    deleted = await client.request(
        "DELETE", owner.url(), json={"confirm": owner.workspace["slug"]}, headers=owner.headers
    )
    assert deleted.status_code == 202, deleted.text


async def test_a_co_owner_at_the_limit_comes_back_as_admin_when_a_workspace_is_restored(
    client: httpx.AsyncClient,
) -> None:
    """Restoring counted the restorer alone: the co-owners of a deleted free workspace had
    room again (it no longer counted), filled it, and owned one more when another owner
    restored it (3 where the limit is 2). Now such a co-owner comes back as an admin, said in
    the audit log; the restore itself is not refused (a co-owner cannot keep it deleted).
    The restore answered 200 with the person owning 3 before."""
    helper = await signup(client, "Shared")
    person = await signup(client, "Mine")
    await join(client, helper, person, "owner")
    assert await _owned(client, person) == ["Mine", "Shared"]
    await _delete(client, helper)
    more = await client.post(
        "/api/v1/workspaces", json={"name": "Mine too"}, headers=person.headers
    )
    assert more.status_code == 201, more.text  # the deleted one does not count

    restored = await client.post(helper.url("/restore"), headers=helper.headers)
    assert restored.status_code == 200, restored.text
    assert await _owned(client, person) == ["Mine", "Mine too"]
    assert await _owned(client, helper) == ["Shared"]
    members = await client.get(helper.url("/members"), headers=helper.headers)
    roles = {m["user_id"]: m["role"] for m in members.json()}
    assert roles[person.user_id] == "admin", roles
    audit = await client.get(
        helper.url("/audit?action=member.role_changed"), headers=helper.headers
    )
    [entry] = audit.json()["items"]
    assert entry["target_id"] == person.user_id
    changed = {key: entry["details"][key] for key in ("from", "to", "reason")}
    assert changed == {"from": "owner", "to": "admin", "reason": "free_workspaces"}, entry


async def test_a_co_owner_with_room_stays_owner_when_a_workspace_is_restored(
    client: httpx.AsyncClient,
) -> None:
    helper = await signup(client, "Shared")
    person = await signup(client, "Mine")
    await join(client, helper, person, "owner")
    await _delete(client, helper)
    restored = await client.post(helper.url("/restore"), headers=helper.headers)
    assert restored.status_code == 200, restored.text
    assert await _owned(client, person) == ["Mine", "Shared"]
