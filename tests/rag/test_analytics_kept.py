"""A day's figures stay as they were when its conversations or leads are deleted (retention,
erasure, deleting a lead), whatever happens on that day afterwards; and the scheduled rollup
leaves idle workspaces alone (one read each, no job).

The review's repro: a day with two conversations said 1 once a visitor of that day came back
after the other conversation had been purged (the day was recounted from what remained)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from api.runtime import Runtime
from core.embedded import EmbeddedPostgres
from core.jobs import JobQueue
from core.models import utcnow
from lifecycle.retention import purge_old_conversations
from rag.chat import analytics
from rag.chat.jobs import ANALYTICS_JOB
from tests.conftest import (
    IdleArq,
    Owner,
    RuntimeFactory,
    idle_arq,
    make_runtime,
    make_settings,
    signup,
)
from tests.own_database import own_database as database_of_its_own
from tests.rag.test_analytics import HOURS, Visitor, add_faq, app, figures, move_back

__all__ = ["app"]  # the fixture

MONTH_AGO = timedelta(days=31)


def around_a_month_ago() -> dict[str, str]:
    day = (utcnow() - MONTH_AGO).date()
    return {
        "from": (day - timedelta(days=1)).isoformat(),
        "to": (day + timedelta(days=1)).isoformat(),
    }


async def refresh(runtime: Runtime, owner: Owner) -> None:
    await analytics.refresh(runtime.db, workspace_id=uuid.UUID(owner.workspace_id), now=utcnow())


async def month_ago(client: httpx.AsyncClient, owner: Owner) -> dict[str, Any]:
    """The figures around the day a month ago: totals, stages, feedback, resolution."""
    body = await figures(client, owner, **around_a_month_ago())
    return {
        **body["totals"],
        "stages": {k: v["count"] for k, v in body["stages"].items()},
        "team": body["feedback"]["team"],
        "resolution": body["resolution"],
    }


def but_resolution(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in figures.items() if k != "resolution"}


async def test_a_purged_days_figures_stay_when_a_visitor_of_that_day_returns(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = app
    owner = await signup(client, "Kept retention")
    await add_faq(client, owner)
    stays, goes = Visitor(client, owner), Visitor(client, owner)
    await stays.say(HOURS)
    await goes.say(HOURS)
    await goes.rate("up")
    await move_back(runtime, owner, MONTH_AGO)
    await refresh(runtime, owner)
    before = await month_ago(client, owner)
    assert (before["conversations"], before["feedback_up"]) == (2, 1)
    assert before["resolution"] == {"counted": 2, "resolved": 2, "rate": 1.0}

    await stays.say("thanks!")  # a returning visitor: their conversation survives retention
    workspace_id = uuid.UUID(owner.workspace_id)
    purged = await purge_old_conversations(
        runtime.db, workspace_id=workspace_id, before=utcnow() - timedelta(days=30)
    )
    assert purged == 1
    await refresh(runtime, owner)
    after = await month_ago(client, owner)
    # The conversation that went still counts on its day (it said 1 conversation, no rating).
    assert but_resolution(after) == but_resolution(before)
    # Resolution as it stood when it went; the returning visitor reopened their own.
    assert after["resolution"] == {"counted": 1, "resolved": 1, "rate": 1.0}

    # A rebuild from scratch (a watermark dropped) agrees with the refreshes.
    async with runtime.db.transaction(workspace_id=workspace_id) as session:
        await session.execute(
            text("DELETE FROM analytics_refresh WHERE workspace_id = :ws"), {"ws": workspace_id}
        )
    await refresh(runtime, owner)
    assert await month_ago(client, owner) == after


async def test_erased_conversations_and_deleted_leads_keep_their_days_counts(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = app
    owner = await signup(client, "Kept erasure")
    await add_faq(client, owner)
    stays, erased = Visitor(client, owner), Visitor(client, owner)
    await stays.say(HOURS)
    await erased.say(HOURS)
    await erased.say("Can I talk to a human please?")
    lead = await client.post(
        owner.url("/leads"),
        json={"email": f"kept-{uuid.uuid4().hex[:8]}@example.com"},
        headers=owner.headers,
    )
    assert lead.status_code == 201, lead.text
    await move_back(runtime, owner, MONTH_AGO)
    await refresh(runtime, owner)
    before = await month_ago(client, owner)
    assert (before["conversations"], before["leads"], before["handoffs"]) == (2, 1, 1)

    erasure = await client.post(
        owner.url("/erasures"), json={"session_id": erased.session_id}, headers=owner.headers
    )
    assert erasure.status_code == 200, erasure.text
    assert erasure.json()["erased"]["conversations"] == 1
    gone = await client.delete(owner.url(f"/leads/{lead.json()['id']}"), headers=owner.headers)
    assert gone.status_code == 204, gone.text
    await stays.say("thanks!")  # the day is recounted
    await refresh(runtime, owner)
    after = await month_ago(client, owner)
    assert but_resolution(after) == but_resolution(before)
    # The erased conversation asked for a human: counted, never resolved, as it stood.
    assert (after["resolution"]["counted"], after["resolution"]["resolved"]) == (1, 0)


async def test_a_conversation_deleted_before_any_refresh_counted_it_still_counts(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    """The figures do not depend on whether a refresh ran between a conversation and its
    deletion."""
    client, runtime = app
    owner = await signup(client, "Kept unseen")
    await add_faq(client, owner)
    await refresh(runtime, owner)  # refreshed before anything happened
    visitor = Visitor(client, owner)
    await visitor.say(HOURS)
    await move_back(runtime, owner, MONTH_AGO)
    await purge_old_conversations(
        runtime.db,
        workspace_id=uuid.UUID(owner.workspace_id),
        before=utcnow() - timedelta(days=30),
    )
    await refresh(runtime, owner)
    after = await month_ago(client, owner)
    assert (after["conversations"], after["visitor_messages"], after["answered"]) == (1, 1, 1)


# --- idle workspaces ----------------------------------------------------------------------


@pytest.fixture
async def own_database(pg: EmbeddedPostgres, redis_client: Redis) -> AsyncIterator[RuntimeFactory]:
    """Runtimes over a database of this test's own (tests/own_database.py): the rollup reads
    every live workspace, and in the suite's database the thousands other tests left there
    cost a read and a queued job each per run (28 s of a full run for the four runs)."""
    async with database_of_its_own(pg, "trulybot_rollup_idle") as (db, _):

        def runtimes(*, jobs: JobQueue) -> AbstractAsyncContextManager[Runtime]:
            return make_runtime(make_settings(), db, redis_client, jobs=jobs)

        yield runtimes


async def test_the_rollup_enqueues_no_refresh_for_idle_workspaces(
    own_database: RuntimeFactory,
) -> None:
    """Every live workspace got a refresh job every five minutes, idle for months or not."""
    async with idle_arq(own_database) as arq:
        owners = [await signup(arq.client, f"Idle {uuid.uuid4().hex[:8]}") for _ in range(4)]
        await add_faq(arq.client, owners[0])
        await Visitor(arq.client, owners[0]).say(HOURS)  # a day and a half ago
        await move_back(arq.runtime, owners[0], timedelta(hours=36))
        job = next(j for j in arq.runtime.scheduler.jobs if j.name == "analytics_rollup")

        async def queued() -> set[str]:
            mine = {o.workspace_id for o in owners}
            waiting = await _waiting_refreshes(arq)
            return {ws for ws in waiting if ws in mine}

        # Never refreshed: each is rebuilt once.
        await job.run(utcnow())
        assert await queued() == {o.workspace_id for o in owners}
        await _run_and_empty(arq, owners)

        # Nothing happened since: no job at all.
        await job.run(utcnow())
        assert await queued() == set()

        # A visitor writes to one of them: that one only.
        await Visitor(arq.client, owners[2]).say("hello there")
        await job.run(utcnow())
        assert await queued() == {owners[2].workspace_id}
        await _run_and_empty(arq, owners)
        # Its conversation's 24-hour window is still open: refreshed until it closed.
        await job.run(utcnow())
        assert await queued() == {owners[2].workspace_id}


async def _waiting_refreshes(arq: IdleArq) -> list[str]:
    return [j.kwargs["workspace_id"] for j in await arq.waiting() if j.function == ANALYTICS_JOB]


async def _run_and_empty(arq: IdleArq, owners: list[Owner]) -> None:
    """Run the waiting refreshes here (as a worker would), then empty the queue."""
    for workspace_id in await _waiting_refreshes(arq):
        await analytics.refresh(arq.runtime.db, workspace_id=uuid.UUID(workspace_id), now=utcnow())
    ids = await arq.queue.pool.zrange(arq.queue_name, 0, -1)
    if ids:
        await arq.queue.pool.delete(arq.queue_name, *[b"arq:job:" + i for i in ids])
