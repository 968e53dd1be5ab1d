"""A member's row changed by two people at once: an owner changing the role of, or removing,
someone who leaves (or whom another owner removes) at that moment. The second change finds the
member gone: 404 ``member_not_found``, and nothing recorded. Before, a role change answered 500
(the answer's member was not there) and a second removal recorded ``member.removed`` for
someone already gone, beside the first."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from api.runtime import Runtime
from core.config import Settings
from core.db import Database
from tests.conftest import Owner, join, make_settings, signup, someone_waits_for_a_lock
from tests.workspaces.conftest import audit_entries
from workspaces import team
from workspaces.service import Principal, WorkspaceAccess, access_workspace


@pytest.fixture
def settings() -> Settings:
    """Room for every member (the plan's seats decide nothing here)."""
    return make_settings(default_plan="unlimited")


async def _while_held(
    runtime: Runtime,
    owner_db: Database,
    *,
    actor: Owner,
    workspace_id: str,
    held: Callable[[AsyncSession, WorkspaceAccess], Awaitable[None]],
    racing: Awaitable[httpx.Response],
) -> httpx.Response:
    """``held(session, access)`` runs as ``actor`` in a transaction kept open until ``racing``
    waits for one of its locks (or has finished), then commits; ``racing``'s answer."""
    async with runtime.db.transaction() as session:
        access = await access_workspace(
            session, Principal(user_id=uuid.UUID(actor.user_id)), uuid.UUID(workspace_id)
        )
        await held(session, access)
        task = asyncio.ensure_future(racing)
        for _ in range(400):
            if task.done() or await someone_waits_for_a_lock(owner_db):
                break
            await asyncio.sleep(0.025)
    return await task


async def test_a_role_change_of_someone_who_leaves_meanwhile_is_404(
    client: httpx.AsyncClient, runtime: Runtime, owner_db: Database
) -> None:
    owner = await signup(client, "Roles")
    member = await signup(client, "Leaving")
    await join(client, owner, member, "member")

    async def leave(session: AsyncSession, access: WorkspaceAccess) -> None:
        await team.leave(session, access)

    changed = await _while_held(
        runtime,
        owner_db,
        actor=member,
        workspace_id=owner.workspace_id,
        held=leave,
        racing=client.patch(
            owner.url(f"/members/{member.user_id}"), json={"role": "admin"}, headers=owner.headers
        ),
    )
    assert changed.status_code == 404, changed.text
    assert changed.json()["error"]["code"] == "member_not_found"
    assert await audit_entries(client, owner, "member.role_changed") == []
    members = await client.get(owner.url("/members"), headers=owner.headers)
    assert [m["email"] for m in members.json()] == [owner.email]


async def test_two_owners_removing_one_member_at_once_record_one_removal(
    client: httpx.AsyncClient, runtime: Runtime, owner_db: Database
) -> None:
    owner = await signup(client, "Removals")
    second = await signup(client, "Second owner")
    member = await signup(client, "Removed")
    await join(client, owner, second, "owner")
    await join(client, owner, member, "member")

    async def remove(session: AsyncSession, access: WorkspaceAccess) -> None:
        await team.remove_member(session, access, uuid.UUID(member.user_id))

    removed = await _while_held(
        runtime,
        owner_db,
        actor=owner,
        workspace_id=owner.workspace_id,
        held=remove,
        racing=client.delete(owner.url(f"/members/{member.user_id}"), headers=second.headers),
    )
    assert removed.status_code == 404, removed.text
    assert removed.json()["error"]["code"] == "member_not_found"
    [entry] = await audit_entries(client, owner, "member.removed")
    assert entry["actor_user_id"] == owner.user_id
