"""Who may change a workspace's membership: its owners, signed in as themselves. Audited.

The attack: someone holding a workspace's API key (a CI secret, a leaked integration) adds their
own account as an admin and keeps that access after the key is revoked.
"""

from __future__ import annotations

import httpx
import pytest

from core.config import Settings
from tests.conftest import Owner, join, make_settings, signup


@pytest.fixture
def settings() -> Settings:
    """Room for several members, so only permissions (not the plan's quota) decide."""
    return make_settings(default_plan="unlimited")


async def _api_key(client: httpx.AsyncClient, owner: Owner) -> dict[str, str]:
    created = await client.post(owner.url("/api-keys"), json={"name": "ci"}, headers=owner.headers)
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


async def _member_emails(client: httpx.AsyncClient, owner: Owner) -> dict[str, str]:
    members = await client.get(owner.url("/members"), headers=owner.headers)
    assert members.status_code == 200
    return {m["email"]: m["role"] for m in members.json()}


async def _audit_actions(client: httpx.AsyncClient, owner: Owner) -> list[dict]:  # type: ignore[type-arg]
    audit = await client.get(owner.url("/audit"), headers=owner.headers)
    assert audit.status_code == 200
    return audit.json()["items"]  # type: ignore[no-any-return]


async def test_an_api_key_cannot_add_an_account_as_admin(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    intruder = await signup(client, "Intruder")
    key = await _api_key(client, owner)
    for role in ("admin", "member", "owner"):
        response = await client.post(
            owner.url("/members"), json={"email": intruder.email, "role": role}, headers=key
        )
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "insufficient_role"
    assert intruder.email not in await _member_emails(client, owner)
    me = (await client.get("/api/v1/me", headers=intruder.headers)).json()
    assert owner.workspace_id not in {w["id"] for w in me["workspaces"]}
    assert not [i for i in await _audit_actions(client, owner) if i["action"].startswith("member")]


async def test_an_api_key_cannot_change_a_members_role_or_remove_them(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    colleague = await signup(client, "Colleague")
    await join(client, owner, colleague, "member")
    key = await _api_key(client, owner)
    promoted = await client.patch(
        owner.url(f"/members/{colleague.user_id}"), json={"role": "admin"}, headers=key
    )
    assert promoted.status_code == 403
    removed = await client.delete(owner.url(f"/members/{colleague.user_id}"), headers=key)
    assert removed.status_code == 403
    assert (await _member_emails(client, owner))[colleague.email] == "member"


async def test_admins_cannot_change_membership_only_owners_can(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    admin = await signup(client, "Admin")
    newcomer = await signup(client, "Newcomer")
    await join(client, owner, admin, "admin")
    for role in ("member", "admin"):
        by_admin = await client.post(
            owner.url("/members"),
            json={"email": newcomer.email, "role": role},
            headers=admin.headers,
        )
        assert by_admin.status_code == 403, by_admin.text
        assert by_admin.json()["error"]["code"] == "insufficient_role"
    for method, path in (("PATCH", f"/members/{owner.user_id}"), ("GET", "/invitations")):
        refused = await client.request(
            method, owner.url(path), json={"role": "member"}, headers=admin.headers
        )
        assert refused.status_code == 403, (method, path)
    assert newcomer.email not in await _member_emails(client, owner)
    # The admin keeps what admins do: reading members, documents, the audit log.
    assert (await client.get(owner.url("/members"), headers=admin.headers)).status_code == 200
    assert (await client.get(owner.url("/audit"), headers=admin.headers)).status_code == 200


async def test_owners_invite_change_roles_and_remove_with_audit_entries(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    colleague = await signup(client, "Colleague")
    await join(client, owner, colleague, "member")
    promoted = await client.patch(
        owner.url(f"/members/{colleague.user_id}"), json={"role": "admin"}, headers=owner.headers
    )
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "admin"
    assert (await _member_emails(client, owner))[colleague.email] == "admin"
    # The admin makes a key, and the owner one of their own.
    made = await client.post(
        owner.url("/api-keys"), json={"name": "colleague's"}, headers=colleague.headers
    )
    assert made.status_code == 201, made.text
    assert made.json()["created_by"] == colleague.user_id
    owners_key = await _api_key(client, owner)
    removed = await client.delete(owner.url(f"/members/{colleague.user_id}"), headers=owner.headers)
    assert removed.status_code == 204
    assert colleague.email not in await _member_emails(client, owner)
    gone = await client.get(owner.url("/leads"), headers=colleague.headers)
    assert gone.status_code == 404  # access ends at once
    # So does the access of the key the removed admin made; the owner's key keeps working.
    with_key = await client.get(
        owner.url("/leads"), headers={"Authorization": f"Bearer {made.json()['key']}"}
    )
    assert with_key.status_code == 401
    assert (await client.get(owner.url("/leads"), headers=owners_key)).status_code == 200
    # The key list shows the live keys; the revoked one is listed with ?revoked=true.
    keys = (await client.get(owner.url("/api-keys"), headers=owner.headers)).json()
    assert {k["name"]: k["revoked_at"] is not None for k in keys} == {"ci": False}
    revoked = await client.get(owner.url("/api-keys?revoked=true"), headers=owner.headers)
    assert {k["name"]: k["revoked_at"] is not None for k in revoked.json()} == {"colleague's": True}
    entries = {i["action"]: i for i in await _audit_actions(client, owner)}
    invited = entries["member.invited"]
    assert invited["actor_user_id"] == owner.user_id
    assert invited["actor_api_key_id"] is None
    assert invited["target_type"] == "invitation"
    assert invited["details"] == {"role": "member"}
    joined = entries["member.joined"]
    assert joined["actor_user_id"] == colleague.user_id
    assert joined["target_id"] == colleague.user_id
    assert joined["details"]["role"] == "member"
    assert entries["member.role_changed"]["details"] == {"from": "member", "to": "admin"}
    assert entries["member.removed"]["target_id"] == colleague.user_id
    assert entries["member.removed"]["details"] == {"role": "admin", "api_keys_revoked": 1}
    assert entries["member.removed"]["actor_user_id"] == owner.user_id


async def test_an_admin_made_a_member_loses_the_keys_they_made(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A member may not make API keys; a key acts with an admin's reach. The keys an admin made
    stop working when they become a member (the audit entry counts them)."""
    colleague = await signup(client, "Demoted")
    await join(client, owner, colleague, "admin")
    made = await client.post(
        owner.url("/api-keys"), json={"name": "theirs"}, headers=colleague.headers
    )
    assert made.status_code == 201, made.text
    key = {"Authorization": f"Bearer {made.json()['key']}"}
    assert (await client.get(owner.url("/leads"), headers=key)).status_code == 200
    demoted = await client.patch(
        owner.url(f"/members/{colleague.user_id}"), json={"role": "member"}, headers=owner.headers
    )
    assert demoted.status_code == 200
    assert (await client.get(owner.url("/leads"), headers=key)).status_code == 401
    entries = [
        e for e in await _audit_actions(client, owner) if e["action"] == "member.role_changed"
    ]
    assert entries[0]["details"] == {"from": "admin", "to": "member", "api_keys_revoked": 1}


async def test_revoking_a_revoked_key_again_records_nothing(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A second revocation of the same key answers as the first and adds no audit entry (it
    recorded the key revoked once per call)."""
    made = await client.post(owner.url("/api-keys"), json={"name": "twice"}, headers=owner.headers)
    assert made.status_code == 201, made.text
    key = owner.url(f"/api-keys/{made.json()['id']}")
    for _ in range(2):
        assert (await client.delete(key, headers=owner.headers)).status_code == 204
    revoked = [i for i in await _audit_actions(client, owner) if i["action"] == "api_key.revoked"]
    assert len(revoked) == 1


@pytest.mark.parametrize("how", ["leave", "remove-oneself"])
async def test_members_and_admins_leave_a_workspace_themselves(
    client: httpx.AsyncClient, owner: Owner, how: str
) -> None:
    """Leaving needs no owner: a member or an admin goes on their own, their keys with them;
    the entry ``member.left`` names them as its actor."""
    for role in ("member", "admin"):
        person = await signup(client, f"Leaving {role}")
        await join(client, owner, person, role)
        key = None
        if role == "admin":
            made = await client.post(
                owner.url("/api-keys"), json={"name": "theirs"}, headers=person.headers
            )
            assert made.status_code == 201, made.text
            key = {"Authorization": f"Bearer {made.json()['key']}"}
        if how == "leave":
            left = await client.post(owner.url("/leave"), headers=person.headers)
        else:
            left = await client.delete(
                owner.url(f"/members/{person.user_id}"), headers=person.headers
            )
        assert left.status_code == 204, left.text
        assert person.email not in await _member_emails(client, owner)
        assert (await client.get(owner.url("/leads"), headers=person.headers)).status_code == 404
        if key is not None:
            assert (await client.get(owner.url("/leads"), headers=key)).status_code == 401
        [entry] = [
            e
            for e in await _audit_actions(client, owner)
            if e["action"] == "member.left" and e["target_id"] == person.user_id
        ]
        assert entry["actor_user_id"] == person.user_id
        assert entry["details"] == {"role": role, "api_keys_revoked": 1 if key else 0}


async def test_the_last_owner_cannot_leave_and_a_key_cannot_either(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    refused = await client.post(owner.url("/leave"), headers=owner.headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "last_owner"
    key = await _api_key(client, owner)
    by_key = await client.post(owner.url("/leave"), headers=key)
    assert by_key.status_code == 403
    assert by_key.json()["error"]["code"] == "insufficient_role"
    # With a second owner, either may leave.
    co_owner = await signup(client, "Co-owner")
    await join(client, owner, co_owner, "owner")
    assert (await client.post(owner.url("/leave"), headers=owner.headers)).status_code == 204
    assert owner.email not in await _member_emails(client, co_owner)
    last = await client.post(owner.url("/leave"), headers=co_owner.headers)
    assert last.status_code == 409
