"""Conversation retention: a per-workspace setting under the plan's, applied by the daily job.
The job runs at a time the test chooses (the scheduler's clock), never by waiting."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from core.jobs import JobQueue
from core.models import utcnow
from tests.conftest import Owner
from tests.lifecycle.data import fill, tick_due


async def _conversations(owner_db: Database, workspace_id: str) -> tuple[int, int]:
    async with owner_db.transaction() as session:
        row = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM conversations WHERE workspace_id = :ws),"
                    " (SELECT count(*) FROM messages WHERE workspace_id = :ws)"
                ),
                {"ws": workspace_id},
            )
        ).one()
    return int(row[0]), int(row[1])


async def test_the_setting_is_bounded_by_the_plan(client: httpx.AsyncClient, owner: Owner) -> None:
    url = owner.url("/retention")
    start = await client.get(url, headers=owner.headers)
    assert start.json() == {"conversation_retention_days": 30, "plan_default": 30, "setting": None}
    for days in (90, 365, 12, 0, -1):
        refused = await client.put(
            url, json={"conversation_retention_days": days}, headers=owner.headers
        )
        assert refused.status_code == 422, days
        assert refused.json()["error"]["code"] == "invalid_retention"
    assert refused.json()["error"]["details"][0]["allowed"] == [7, 30]
    shorter = await client.put(url, json={"conversation_retention_days": 7}, headers=owner.headers)
    assert shorter.status_code == 200
    assert shorter.json() == {"conversation_retention_days": 7, "plan_default": 30, "setting": 7}
    assert (await client.get(url, headers=owner.headers)).json() == shorter.json()
    back = await client.put(url, json={"conversation_retention_days": None}, headers=owner.headers)
    assert back.json() == start.json()
    audit = await client.get(
        owner.url("/audit"), params={"action": "retention.updated"}, headers=owner.headers
    )
    assert [e["details"] for e in audit.json()["items"]] == [{"days": None}, {"days": 7}]


async def test_the_daily_job_deletes_conversations_past_each_workspace_retention(
    client: httpx.AsyncClient,
    owner: Owner,
    other: Owner,
    owner_db: Database,
    jobs: JobQueue,
    runtime: Runtime,
) -> None:
    await fill(client, owner, jobs)
    await fill(client, other, jobs)
    week = await client.put(
        owner.url("/retention"), json={"conversation_retention_days": 7}, headers=owner.headers
    )
    assert week.status_code == 200
    mine, theirs = (
        await _conversations(owner_db, owner.workspace_id),
        await _conversations(owner_db, other.workspace_id),
    )
    assert mine[0] >= 1
    assert theirs[0] >= 1

    # Six days on: within a week, nothing goes.
    assert "conversation_retention" in await tick_due(
        runtime, "conversation_retention", utcnow() + timedelta(days=6)
    )
    await jobs.drain()
    assert await _conversations(owner_db, owner.workspace_id) == mine

    # Eight days on: past the week of this workspace, within the other's 30 days.
    assert "conversation_retention" in await tick_due(
        runtime, "conversation_retention", utcnow() + timedelta(days=8)
    )
    await jobs.drain()
    assert await _conversations(owner_db, owner.workspace_id) == (0, 0)
    assert await _conversations(owner_db, other.workspace_id) == theirs
    leads = await client.get(owner.url("/leads"), headers=owner.headers)
    assert leads.json()["total"] == 2  # leads are not conversations: they stay
    audit = await client.get(
        owner.url("/audit"), params={"action": "retention.purged"}, headers=owner.headers
    )
    [entry] = audit.json()["items"]
    assert entry["details"]["conversations"] == mine[0]
    assert entry["details"]["messages"] == mine[1]
