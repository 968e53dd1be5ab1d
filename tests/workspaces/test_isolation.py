"""Two workspaces: A's credentials with B's ids answer 404, foreign or revoked keys 401."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from core.db import Database
from tests.conftest import Owner, join, signup


async def _lead(client: httpx.AsyncClient, who: Owner, email: str) -> str:
    response = await client.post(who.url("/leads"), json={"email": email}, headers=who.headers)
    assert response.status_code == 201
    return str(response.json()["id"])


async def test_every_endpoint_answers_404_for_another_workspaces_ids(
    client: httpx.AsyncClient, owner: Owner, other: Owner
) -> None:
    b_lead = await _lead(client, other, "b@example.com")
    b_key = (
        await client.post(other.url("/api-keys"), json={"name": "b"}, headers=other.headers)
    ).json()
    b_invitation = (
        await client.post(
            other.url("/members"), json={"email": "invitee-b@example.com"}, headers=other.headers
        )
    ).json()["id"]
    a = owner.headers
    b = other.url
    calls = [
        ("GET", b(""), None),
        ("PATCH", b(""), {"name": "pwned"}),
        ("POST", b("/members"), {"email": owner.email, "role": "admin"}),
        ("GET", b("/members"), None),
        ("PATCH", b(f"/members/{other.user_id}"), {"role": "member"}),
        ("DELETE", b(f"/members/{other.user_id}"), None),
        ("GET", b("/invitations"), None),
        ("DELETE", b(f"/invitations/{b_invitation}"), None),
        ("POST", b("/api-keys"), {"name": "x"}),
        ("GET", b("/api-keys"), None),
        ("DELETE", b(f"/api-keys/{b_key['id']}"), None),
        ("POST", b("/leads"), {"email": "x@example.com"}),
        ("GET", b("/leads"), None),
        ("GET", b("/leads/export"), None),
        ("GET", b(f"/leads/{b_lead}"), None),
        ("PATCH", b(f"/leads/{b_lead}"), {"status": "lost"}),
        ("DELETE", b(f"/leads/{b_lead}"), None),
        ("GET", b("/usage"), None),
        # A's workspace with B's object ids.
        ("GET", owner.url(f"/leads/{b_lead}"), None),
        ("PATCH", owner.url(f"/leads/{b_lead}"), {"status": "lost"}),
        ("DELETE", owner.url(f"/leads/{b_lead}"), None),
        ("DELETE", owner.url(f"/api-keys/{b_key['id']}"), None),
        ("PATCH", owner.url(f"/members/{other.user_id}"), {"role": "member"}),
        ("DELETE", owner.url(f"/invitations/{b_invitation}"), None),
    ]
    for method, url, body in calls:
        response = await client.request(method, url, json=body, headers=a)
        assert response.status_code == 404, (method, url, response.text)
        assert response.json()["error"]["code"] in {
            "not_found",
            "member_not_found",
            "invitation_not_found",
        }
    # Nothing of B's changed.
    lead = await client.get(other.url(f"/leads/{b_lead}"), headers=other.headers)
    assert lead.json()["status"] == "new"
    assert (await client.get(other.url(""), headers=other.headers)).json()["name"] == "Globex"
    keys = (await client.get(other.url("/api-keys"), headers=other.headers)).json()
    assert keys[0]["revoked_at"] is None
    pending = (await client.get(other.url("/invitations"), headers=other.headers)).json()
    assert [i["id"] for i in pending] == [b_invitation]
    members = (await client.get(other.url("/members"), headers=other.headers)).json()
    assert [(m["user_id"], m["role"]) for m in members] == [(other.user_id, "owner")]


async def test_api_key_works_for_its_workspace_only_and_revocation_is_immediate(
    client: httpx.AsyncClient, owner: Owner, other: Owner
) -> None:
    created = await client.post(owner.url("/api-keys"), json={"name": "ci"}, headers=owner.headers)
    assert created.status_code == 201
    key = created.json()
    assert key["key"].startswith("tb_")
    assert key["prefix"] in key["key"]
    listed = (await client.get(owner.url("/api-keys"), headers=owner.headers)).json()
    assert "key" not in listed[0]
    assert "key_hash" not in listed[0]

    key_headers = {"Authorization": f"Bearer {key['key']}"}
    ok = await client.post(
        owner.url("/leads"), json={"email": "k@example.com"}, headers=key_headers
    )
    assert ok.status_code == 201
    assert (await client.get(other.url("/leads"), headers=key_headers)).status_code == 404

    # B's key is foreign to A: it authenticates for B only.
    b_key = (
        await client.post(other.url("/api-keys"), json={"name": "b"}, headers=other.headers)
    ).json()
    assert (
        await client.get(owner.url("/leads"), headers={"Authorization": f"Bearer {b_key['key']}"})
    ).status_code == 404

    wrong_secret = key["key"][:-4] + "AAAA"
    assert (
        await client.get(owner.url("/leads"), headers={"Authorization": f"Bearer {wrong_secret}"})
    ).status_code == 401

    revoked = await client.delete(owner.url(f"/api-keys/{key['id']}"), headers=owner.headers)
    assert revoked.status_code == 204
    after = await client.get(owner.url("/leads"), headers=key_headers)
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "invalid_api_key"


async def test_member_roles(client: httpx.AsyncClient, owner: Owner, other: Owner) -> None:
    await join(client, owner, other, "member")
    # A plain member can read but cannot invite members or create API keys.
    as_member = await client.post(
        owner.url("/members"), json={"email": owner.email, "role": "admin"}, headers=other.headers
    )
    assert as_member.status_code == 403
    assert as_member.json()["error"]["code"] == "insufficient_role"
    assert (
        await client.post(owner.url("/api-keys"), json={"name": "m"}, headers=other.headers)
    ).status_code == 403
    assert (await client.get(owner.url("/leads"), headers=other.headers)).status_code == 200


async def test_members_are_limited_by_plan(client: httpx.AsyncClient, owner: Owner) -> None:
    # The free plan allows two members: the owner and one more (pending invitations count).
    first = await signup(client, "m1")
    second = await signup(client, "m2")
    ok = await client.post(
        owner.url("/members"), json={"email": first.email}, headers=owner.headers
    )
    assert ok.status_code == 202
    over = await client.post(
        owner.url("/members"), json={"email": second.email}, headers=owner.headers
    )
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "quota_exceeded"
    assert over.json()["error"]["details"]["limit"] == 2
    # Inviting the same person again replaces the invitation: still within the plan.
    again = await client.post(
        owner.url("/members"), json={"email": first.email}, headers=owner.headers
    )
    assert again.status_code == 202
    pending = (await client.get(owner.url("/invitations"), headers=owner.headers)).json()
    assert [i["email"] for i in pending] == [first.email]


async def test_workspace_update(client: httpx.AsyncClient, owner: Owner) -> None:
    response = await client.patch(
        owner.url(""), json={"name": "Acme Inc", "persona": "Be brief."}, headers=owner.headers
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Acme Inc"
    assert response.json()["persona"] == "Be brief."
    # Nothing visible: spaces, a zero-width space; refused alike when updating and creating.
    for invisible in ("   ", "\u200b", " \u200b\u2060 "):
        blank = await client.patch(owner.url(""), json={"name": invisible}, headers=owner.headers)
        assert blank.status_code == 422, invisible
        created = await client.post(
            "/api/v1/workspaces", json={"name": invisible}, headers=owner.headers
        )
        assert created.status_code == 422, invisible
    assert (await client.get(owner.url(""), headers=owner.headers)).json()["name"] == "Acme Inc"
    padded = await client.post(
        "/api/v1/workspaces", json={"name": "\u200b  Second site "}, headers=owner.headers
    )
    assert padded.status_code == 201, padded.text
    assert padded.json()["name"] == "Second site"


async def test_malformed_ids_are_4xx_not_500(client: httpx.AsyncClient, owner: Owner) -> None:
    response = await client.get("/api/v1/workspaces/not-a-uuid/leads", headers=owner.headers)
    assert response.status_code == 422
    # A lead's id is a UUID in the path itself (its sibling is the literal leads/export):
    # anything else there is no lead.
    response = await client.get(owner.url("/leads/123"), headers=owner.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_cross_workspace_reads_are_empty_at_the_database(
    client: httpx.AsyncClient, owner: Owner, other: Owner, db: Database
) -> None:
    await _lead(client, owner, "a-only@example.com")
    await _lead(client, other, "b-only@example.com")
    async with db.transaction(workspace_id=owner.workspace_id) as session:
        emails = (await session.execute(text("SELECT email FROM leads"))).scalars().all()
    assert "a-only@example.com" in emails
    assert "b-only@example.com" not in emails
