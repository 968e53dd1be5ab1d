"""Account deletion and the workspaces it leaves: never without an owner (two co-owners deleting
their accounts at once), and no key of the deleted person left in a workspace a co-owner
restores later."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from lifecycle import deletion
from tests.conftest import Owner, RuntimeFactory, client_for, join, signup


@pytest.fixture
async def rt(runtime_factory: RuntimeFactory) -> AsyncIterator[Runtime]:
    async with runtime_factory(default_plan="unlimited") as runtime:
        yield runtime


@pytest.fixture
async def http(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(rt) as client:
        yield client


async def _someone_waits_for_a_lock(owner_db: Database) -> bool:
    async with owner_db.transaction() as session:
        waiting = await session.scalar(
            text(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE NOT l.granted AND a.datname = current_database()"
            )
        )
    return bool(waiting)


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
        done = await deletion.delete_account(
            session, user_id=uuid.UUID(first.user_id), password=first.password
        )
        assert done.left == [uuid.UUID(first.workspace_id)]
        racing = asyncio.create_task(_delete_me(http, second))
        for _ in range(400):  # until the second one waits for the first (or has finished)
            if racing.done() or await _someone_waits_for_a_lock(owner_db):
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
