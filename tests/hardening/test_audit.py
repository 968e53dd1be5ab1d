"""The audit log as an owner reads it, and append-only as the database enforces it."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.db import Database
from core.pagination import cursor_scope, scope_tag
from tests.conftest import Owner, join, mail_token, signup


async def _audit(client: httpx.AsyncClient, owner: Owner, query: str = "") -> dict:  # type: ignore[type-arg]
    response = await client.get(owner.url(f"/audit{query}"), headers=owner.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_owner_actions_are_recorded_with_actor_ip_and_request_id(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    colleague = await signup(client, "Colleague")
    rid = {"X-Request-ID": "audit-req-1"}
    h = owner.headers
    assert (
        await client.post(
            owner.url("/members"),
            json={"email": colleague.email, "role": "member"},
            headers=h | rid,
        )
    ).status_code == 202
    token = await mail_token(client, colleague.email, "invitation")
    joined = await client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=colleague.headers
    )
    assert joined.status_code == 200
    await client.patch(
        owner.url(f"/members/{colleague.user_id}"), json={"role": "admin"}, headers=h
    )
    key = (await client.post(owner.url("/api-keys"), json={"name": "ci"}, headers=h)).json()
    assert (await client.delete(owner.url(f"/api-keys/{key['id']}"), headers=h)).status_code == 204
    await client.patch(owner.url(), json={"name": "Acme Renamed"}, headers=h)
    assert (await client.get(owner.url("/leads/export?status=new"), headers=h)).status_code == 200

    items = (await _audit(client, owner))["items"]
    actions = [item["action"] for item in items]
    assert actions == [
        "leads.exported",
        "workspace.updated",
        "api_key.revoked",
        "api_key.created",
        "member.role_changed",
        "member.joined",
        "member.invited",
    ]
    by_action = {item["action"]: item for item in items}
    invited = by_action["member.invited"]
    assert invited["actor_user_id"] == owner.user_id
    assert invited["target_type"] == "invitation"
    assert invited["request_id"] == "audit-req-1"
    assert invited["ip"]
    assert colleague.email not in str(items)  # no personal data in the log
    assert by_action["member.joined"]["actor_user_id"] == colleague.user_id
    assert by_action["member.joined"]["target_id"] == colleague.user_id
    assert by_action["member.role_changed"]["details"] == {"from": "member", "to": "admin"}
    assert by_action["api_key.created"]["target_id"] == key["id"]
    assert key["key"] not in str(items)  # the secret is never logged
    assert by_action["workspace.updated"]["details"] == {"fields": ["name"]}
    assert by_action["leads.exported"]["details"] == {"status": "new"}


async def test_audit_is_for_owners_and_admins_of_that_workspace_only(
    client: httpx.AsyncClient, owner: Owner, other: Owner
) -> None:
    await client.post(owner.url("/api-keys"), json={"name": "k"}, headers=owner.headers)
    cross = await client.get(other.url("/audit"), headers=owner.headers)
    assert cross.status_code == 404
    member = await signup(client, "Member")
    await join(client, owner, member, "member")
    as_member = await client.get(owner.url("/audit"), headers=member.headers)
    assert as_member.status_code == 403
    assert [i["action"] for i in (await _audit(client, other))["items"]] == []


async def test_audit_pages_are_bounded(client: httpx.AsyncClient, owner: Owner, settings) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        await client.post(owner.url("/api-keys"), json={"name": f"k{i}"}, headers=owner.headers)
    first = await _audit(client, owner, "?limit=2")
    assert len(first["items"]) == 2
    second = await _audit(client, owner, f"?limit=2&cursor={first['next_cursor']}")
    third = await _audit(client, owner, f"?limit=2&cursor={second['next_cursor']}")
    ids = [i["id"] for page in (first, second, third) for i in page["items"]]
    assert len(ids) == len(set(ids)) == 5
    assert third["next_cursor"] is None
    too_many = await client.get(
        owner.url(f"/audit?limit={settings.max_page_size + 1}"), headers=owner.headers
    )
    assert too_many.status_code == 422
    bad = await client.get(owner.url("/audit?cursor=garbage!"), headers=owner.headers)
    assert bad.status_code == 422


def _cursor(created: str, scope: str) -> str:
    raw = f"{created}|00000000-0000-0000-0000-000000000000|{scope_tag(scope)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("created", "status"),
    [
        ("0001-01-01T00:00:00+14:00", 422),  # before year 1 in UTC
        ("9999-12-31T23:59:59-14:00", 422),  # after year 9999 in UTC
        ("2026-01-01T00:00:00", 200),  # no offset: read as UTC, an (empty) page
    ],
)
async def test_a_cursor_past_the_calendars_ends_is_a_422(
    client: httpx.AsyncClient, owner: Owner, created: str, status: int
) -> None:
    """A forged cursor whose date leaves the calendar in UTC was a 500 from the driver."""
    for path in ("/audit", "/leads"):
        scope = cursor_scope(path.strip("/"), owner.workspace_id)
        response = await client.get(
            owner.url(f"{path}?cursor={_cursor(created, scope)}"), headers=owner.headers
        )
        assert response.status_code == status, (path, response.text)
        if status == 422:
            assert response.json()["error"]["code"] == "invalid_cursor"


async def test_the_app_role_cannot_change_or_delete_audit_rows(
    client: httpx.AsyncClient, owner: Owner, db: Database, owner_db: Database
) -> None:
    await client.post(owner.url("/api-keys"), json={"name": "k"}, headers=owner.headers)
    ws = owner.workspace_id
    for statement in (
        "UPDATE audit_log SET action = 'nothing.happened' WHERE workspace_id = :ws",
        "DELETE FROM audit_log WHERE workspace_id = :ws",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.transaction(workspace_id=ws) as session:
                await session.execute(text(statement), {"ws": ws})
    with pytest.raises(DBAPIError, match="permission denied"):
        async with db.transaction(workspace_id=ws) as session:
            await session.execute(text("TRUNCATE audit_log"))
    # Not even the owner role edits history.
    with pytest.raises(DBAPIError, match="append-only"):
        async with owner_db.transaction() as session:
            await session.execute(
                text("UPDATE audit_log SET ip = NULL WHERE workspace_id = :ws"), {"ws": ws}
            )
    assert [i["action"] for i in (await _audit(client, owner))["items"]] == ["api_key.created"]


async def test_deleting_a_workspace_removes_its_log(
    client: httpx.AsyncClient, owner_db: Database
) -> None:
    doomed = await signup(client, "Doomed")
    await client.post(doomed.url("/api-keys"), json={"name": "k"}, headers=doomed.headers)
    ws = uuid.UUID(doomed.workspace_id)
    async with owner_db.transaction() as session:
        await session.execute(text("DELETE FROM workspaces WHERE id = :ws"), {"ws": ws})
    async with owner_db.transaction() as session:
        left = await session.execute(
            text("SELECT count(*) FROM audit_log WHERE workspace_id = :ws"), {"ws": ws}
        )
        assert left.scalar_one() == 0
