"""An export whose build stops before it finishes: killed (no handler runs), or dropped unrun by
a stopping queue (a cancelled build: tests/lifecycle/test_exports.py). Either way the owner sees
it ``failed`` with a reason and may request another, not a spinner and 409 for hours."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.job_registry import job_registry
from api.runtime import Runtime
from core.db import Database
from core.jobs import InProcessQueue, JobQueue
from lifecycle import exports
from rag.knowledge import requeue
from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.lifecycle.held_builds import builds_held
from tests.lifecycle.test_exports import _queued_export
from tests.rag.test_sync_now_queue_down import UnreachableQueue


async def _claimed(owner_db: Database, export_id: uuid.UUID, *, ago: timedelta) -> None:
    """The export as a build leaves it, claimed ``ago`` (and its process gone since)."""
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE workspace_exports SET status = 'running',"
                " started_at = now() - CAST(:ago AS interval) WHERE id = :id"
            ),
            {"id": export_id, "ago": ago},
        )


async def _status(client: httpx.AsyncClient, owner: Owner, export_id: object) -> dict[str, Any]:
    got = await client.get(owner.url(f"/exports/{export_id}"), headers=owner.headers)
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


async def test_a_build_killed_mid_way_is_failed_once_past_the_job_timeout(
    client: httpx.AsyncClient, owner: Owner, jobs: JobQueue, owner_db: Database
) -> None:
    """A killed process runs no handler: its export read ``running`` until two hours after the
    request, refusing every new one meanwhile. A build heard from 5 minutes ago (its heartbeat
    comes every minute) is left alone, one silent for 11 minutes is lost."""
    live = await _queued_export(owner_db, owner.workspace_id, age=timedelta(minutes=40))
    await _claimed(owner_db, live, ago=timedelta(minutes=5))
    busy = await client.post(owner.url("/exports"), headers=owner.headers)
    assert busy.status_code == 409, busy.text
    assert busy.json()["error"]["code"] == "export_in_progress"
    assert (await _status(client, owner, live))["status"] == "running"
    await _claimed(owner_db, live, ago=timedelta(minutes=11))

    listed = await client.get(owner.url("/exports"), headers=owner.headers)
    assert listed.status_code == 200, listed.text
    [row] = [item for item in listed.json()["items"] if item["id"] == str(live)]
    assert row["status"] == "failed"
    assert row["error"].startswith("interrupted: the export's job stopped before it finished")
    assert "request a new one" in row["error"]

    fresh = await client.post(owner.url("/exports"), headers=owner.headers)
    assert fresh.status_code == 202, fresh.text
    await jobs.drain()
    assert (await _status(client, owner, fresh.json()["id"]))["status"] == "ready"


async def test_an_export_waiting_in_a_stopping_in_process_queue_ends_failed(
    runtime: Runtime, client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """The in-process queue dropped it unrun at shutdown: ``queued`` with nothing to build it."""
    registry = job_registry()
    release = asyncio.Event()

    async def busy(ctx: dict[str, Any], workspace_id: str) -> None:
        await release.wait()

    registry.register("busy", busy)
    queue = InProcessQueue(registry, runtime.jobs.ctx, concurrency=1)  # type: ignore[attr-defined]
    started = await client.post(owner.url("/exports"), headers=owner.headers)
    assert started.status_code == 202, started.text
    await runtime.jobs.drain()  # the request's own job: ready
    export_id = await _queued_export(owner_db, owner.workspace_id, age=timedelta(0))
    await queue.enqueue("busy", workspace_id=owner.workspace_id)
    await queue.enqueue(
        exports.EXPORT_JOB, workspace_id=owner.workspace_id, export_id=str(export_id)
    )
    await queue.close()  # the server stops: "busy" cancelled, the export never started
    dropped = await _status(client, owner, export_id)
    assert dropped["status"] == "failed"
    assert dropped["error"].startswith("interrupted: the export stopped before it finished")


async def test_an_export_asked_for_while_the_queue_is_down_fails_and_frees_the_next(
    runtime_factory: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Redis unreachable the request answered 202 and its job was never enqueued: the
    export stayed ``queued``, and every new request was 409 ``export_in_progress`` for two
    hours (scale-out review F2, its export part). Now it ends ``failed``, saying why, and the
    next request, with the queue back, builds one."""
    monkeypatch.setattr(requeue, "ENQUEUE_DELAYS", (0.0, 0.0))
    down = UnreachableQueue.closed()
    try:
        async with runtime_factory(jobs=down) as runtime, client_for(runtime) as client:
            owner = await signup(client)
            asked = await client.post(owner.url("/exports"), headers=owner.headers)
            assert asked.status_code == 202, asked.text
            [export] = (await client.get(owner.url("/exports"), headers=owner.headers)).json()[
                "items"
            ]
            assert export["status"] == "failed"
            assert export["error"].startswith("queue_unavailable")
    finally:
        await down.close()
    async with runtime_factory() as runtime, client_for(runtime) as client:
        again = await client.post(owner.url("/exports"), headers=owner.headers)
        assert again.status_code == 202, again.text  # not 409 export_in_progress
        await runtime.jobs.drain()
        items = (await client.get(owner.url("/exports"), headers=owner.headers)).json()["items"]
        assert [e["status"] for e in items] == ["ready", "failed"]


async def test_a_build_running_long_keeps_saying_it_is_alive(
    client: httpx.AsyncClient,
    owner: Owner,
    jobs: JobQueue,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A live build running past an hour (the in-process queue has no job timeout; a worker's
    --job-timeout may be longer) was failed as killed whenever the owner looked, and its zip
    thrown away when it finished (session review F1). Its heartbeat now moves ``started_at``."""
    monkeypatch.setattr(exports, "HEARTBEAT", timedelta(milliseconds=20), raising=False)

    async def started_at() -> Any:
        async with owner_db.transaction() as session:
            return await session.scalar(
                text("SELECT started_at FROM workspace_exports WHERE id = :id"),
                {"id": asked.json()["id"]},
            )

    with builds_held(monkeypatch) as release:
        asked = await client.post(owner.url("/exports"), headers=owner.headers)
        assert asked.status_code == 202, asked.text
        build = asyncio.create_task(jobs.drain())
        try:
            async with asyncio.timeout(60):  # a guard against hanging, not a timing assertion
                while (first := await started_at()) is None:
                    await asyncio.sleep(0.01)
                while await started_at() == first:  # the build, waiting, says it is alive
                    await asyncio.sleep(0.01)
        finally:
            release.set()
            await build
    assert (await _status(client, owner, asked.json()["id"]))["status"] == "ready"
