"""Account deletion and the workspaces it leaves: never without an owner (two co-owners deleting
their accounts at once), and no key of the deleted person left in a workspace a co-owner
restores later."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from api.deps import account_deps
from api.runtime import Runtime
from core.db import Database
from lifecycle import deletion
from tests.conftest import (
    Owner,
    RuntimeFactory,
    client_for,
    join,
    mail_token,
    signup,
    someone_waits_for_a_lock,
)
from workspaces import invitations
from workspaces.service import Principal


@pytest.fixture
async def rt(runtime_factory: RuntimeFactory) -> AsyncIterator[Runtime]:
    async with runtime_factory(default_plan="unlimited") as runtime:
        yield runtime


@pytest.fixture
async def http(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(rt) as client:
        yield client


async def _delete_me(http: httpx.AsyncClient, person: Owner) -> httpx.Response:
    return await http.request(
        "DELETE", "/api/v1/me", json={"password": person.password}, headers=person.headers
    )


async def test_two_co_owners_deleting_their_accounts_at_once_leave_one_owner(
    http: httpx.AsyncClient, rt: Runtime, owner_db: Database
) -> None:
    """Each deletion counted two owners, saw the other stay and went through: the workspace
    was left to its member with no owner (nobody could invite, restore or bill). Now the second
    deletion waits for the first and is refused 409 ``last_owner``."""
    first = await signup(http, "Both owned")
    second = await signup(http, "Second home")
    member = await signup(http, "Member home")
    await join(http, first, second, "owner")
    await join(http, first, member, "member")

    async with rt.db.transaction() as session:  # the first deletion, not yet committed
        user_id = uuid.UUID(first.user_id)
        verified = await deletion.account_to_delete(session, user_id)
        await deletion.check_password(verified, first.password)
        done = await deletion.delete_account(session, user_id=user_id, verified_hash=verified)
        assert done.left == [uuid.UUID(first.workspace_id)]
        racing = asyncio.create_task(_delete_me(http, second))
        for _ in range(400):  # until the second one waits for the first (or has finished)
            if racing.done() or await someone_waits_for_a_lock(owner_db):
                break
            await asyncio.sleep(0.025)
    refused = await racing

    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "last_owner"
    assert [d["workspace_id"] for d in error["details"]] == [first.workspace_id]
    members = await http.get(first.url("/members"), headers=member.headers)
    assert sorted(m["role"] for m in members.json()) == ["member", "owner"]
    # The owner who stays still has an account.
    assert (await http.get("/api/v1/me", headers=second.headers)).status_code == 200


async def test_the_keys_of_a_deleted_account_stay_revoked_in_a_workspace_restored_later(
    http: httpx.AsyncClient,
) -> None:
    """Account deletion skipped workspaces in their deletion grace period: the API key the
    person made there worked again once a co-owner restored it (listed with no maker, so no
    later removal could find it)."""
    owner = await signup(http, "Kept")
    admin = await signup(http, "Admin home")
    await join(http, owner, admin, "admin")
    made = await http.post(owner.url("/api-keys"), json={"name": "sync"}, headers=admin.headers)
    assert made.status_code == 201, made.text
    key = {"Authorization": f"Bearer {made.json()['key']}"}
    slug = owner.workspace["slug"]
    deleted = await http.request(
        "DELETE", owner.url(), json={"confirm": slug}, headers=owner.headers
    )
    assert deleted.status_code == 202, deleted.text

    gone = await _delete_me(http, admin)
    assert gone.status_code == 200, gone.text
    restored = await http.post(owner.url("/restore"), headers=owner.headers)
    assert restored.status_code == 200, restored.text

    refused = await http.get(owner.url(), headers=key)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert gone.json()["left_workspaces"] == [owner.workspace_id]
    members = await http.get(owner.url("/members"), headers=owner.headers)
    assert [m["email"] for m in members.json()] == [owner.email]
    audit = await http.get(owner.url("/audit"), headers=owner.headers)
    left = [e for e in audit.json()["items"] if e["action"] == "member.account_deleted"]
    assert [e["details"] for e in left] == [{"api_keys_revoked": 1}]


async def test_the_entry_an_account_deletion_leaves_says_where_it_was_asked_from(
    http: httpx.AsyncClient,
) -> None:
    """Every entry names where its actor acted from (docs/permissions.md): the address, the
    user agent and the request's id. The entry an account deletion left in the workspaces the
    person belonged to had none of them (the deletion is sensitive: someone holding a stolen
    session and the password deletes the account to cover their tracks)."""
    owner = await signup(http, "Stays")
    admin = await signup(http, "Goes")
    await join(http, owner, admin, "admin")
    gone = await http.request(
        "DELETE",
        "/api/v1/me",
        json={"password": admin.password},
        headers={**admin.headers, "User-Agent": "deleting-agent/1.0"},
    )
    assert gone.status_code == 200, gone.text
    audit = await http.get(owner.url("/audit?action=member.account_deleted"), headers=owner.headers)
    [entry] = audit.json()["items"]
    assert entry["actor_user_id"] == admin.user_id
    assert entry["user_agent"] == "deleting-agent/1.0", entry
    assert entry["ip"], entry
    assert entry["request_id"], entry


async def _invite(http: httpx.AsyncClient, owner: Owner, person: Owner) -> str:
    invited = await http.post(
        owner.url("/members"), json={"email": person.email, "role": "member"}, headers=owner.headers
    )
    assert invited.status_code == 202, invited.text
    return await mail_token(http, person.email, "invitation")


async def _until_waiting(racing: asyncio.Task[httpx.Response], owner_db: Database) -> None:
    for _ in range(400):  # until the racing request waits for a lock (or has finished)
        if racing.done() or await someone_waits_for_a_lock(owner_db):
            return
        await asyncio.sleep(0.025)


async def test_an_invitation_accepted_while_the_account_is_being_deleted_is_refused_cleanly(
    http: httpx.AsyncClient, rt: Runtime, owner_db: Database
) -> None:
    """The person deletes their account (committed while the accept runs) and, signed in
    elsewhere, accepts an invitation: the accept's membership then pointed at a deleted
    account, and the database's refusal was a 500. Now the accept waits for the deletion and
    finds the account gone: 401 ``session_revoked``, nothing stored."""
    inviter = await signup(http, "Inviting")
    person = await signup(http, "Leaving")
    token = await _invite(http, inviter, person)

    async with rt.db.transaction() as session:  # the deletion, not yet committed
        user_id = uuid.UUID(person.user_id)
        verified = await deletion.account_to_delete(session, user_id)
        await deletion.check_password(verified, person.password)
        await deletion.delete_account(session, user_id=user_id, verified_hash=verified)
        racing = asyncio.create_task(
            http.post("/api/v1/invitations/accept", json={"token": token}, headers=person.headers)
        )
        await _until_waiting(racing, owner_db)
    accepted = await racing

    assert accepted.status_code == 401, accepted.text
    assert accepted.json()["error"]["code"] == "session_revoked"
    members = await http.get(inviter.url("/members"), headers=inviter.headers)
    assert [m["email"] for m in members.json()] == [inviter.email]


async def test_an_account_deleted_while_it_accepts_an_invitation_leaves_that_workspace_too(
    http: httpx.AsyncClient, rt: Runtime, owner_db: Database
) -> None:
    """The accept commits first, the deletion waits for it: the deletion had listed the
    person's workspaces before, so the new one was left unsaid (no audit entry in its
    audit log, not in ``left_workspaces``); the invitations and keys the person made there
    would stay. Now the deletion waits for the accept before it lists them, and leaves the new
    workspace as the others (``member.account_deleted`` in its audit log)."""
    inviter = await signup(http, "Inviting")
    person = await signup(http, "Leaving")
    token = await _invite(http, inviter, person)

    async with rt.db.transaction() as session:  # the accept, not yet committed
        await invitations.accept(
            session,
            account_deps(rt),
            token=token,
            principal=Principal(user_id=uuid.UUID(person.user_id)),
        )
        racing = asyncio.create_task(_delete_me(http, person))
        await _until_waiting(racing, owner_db)
    deleted = await racing

    assert deleted.status_code == 200, deleted.text
    assert inviter.workspace_id in deleted.json()["left_workspaces"]
    audit = await http.get(inviter.url("/audit"), headers=inviter.headers)
    actions = [entry["action"] for entry in audit.json()["items"]]
    assert deletion.MEMBER_LEFT in actions, actions
