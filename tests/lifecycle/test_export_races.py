"""Workspace exports under concurrency: requests at once, a build finishing while its workspace
is purged, zips left with no row, and the zip written off the event loop."""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
import uuid
import zipfile
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from core.jobs import JobQueue
from core.models import utcnow
from lifecycle import deletion, exports
from tests.conftest import Owner, someone_waits_for_a_lock
from tests.lifecycle.data import fill
from tests.lifecycle.held_builds import builds_held
from tests.lifecycle.test_exports import _queued_export


async def test_requests_at_once_start_one_export(
    client: httpx.AsyncClient,
    owner: Owner,
    jobs: JobQueue,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Six requests at once start one export and the others get 409 ``export_in_progress``,
    whatever the schedule: the first to take the workspace's request lock is held after
    recording its export until the others wait for the lock (or ended without waiting: the
    failure this shows), and the build is held until every answer is in. Once that export is
    built, the next request starts another: one at a time, not one ever. (Unheld, a build of
    this empty workspace could finish before the last request looked, which then rightly
    started a second export: the test failed one run in five.)"""
    recorded, commit = asyncio.Event(), asyncio.Event()
    insert_export = exports.repo.insert_export

    async def first_held(session: Any, export: Any) -> Any:
        inserted = await insert_export(session, export)
        if not recorded.is_set():
            recorded.set()
            await commit.wait()
        return inserted

    monkeypatch.setattr(exports.repo, "insert_export", first_held)
    with builds_held(monkeypatch):  # the build starts once every answer is in
        requests = [
            asyncio.create_task(client.post(owner.url("/exports"), headers=owner.headers))
            for _ in range(6)
        ]
        try:
            for _ in range(400):  # a guard against waiting for ever, not a timed assertion
                if sum(r.done() for r in requests) >= len(requests) - 1:
                    break  # the others did not wait for the first: the assertion below fails
                if recorded.is_set() and await someone_waits_for_a_lock(owner_db):
                    break
                await asyncio.sleep(0.025)
        finally:
            commit.set()
            responses = await asyncio.gather(*requests)
        codes = sorted(r.status_code for r in responses)
        assert codes == [202, 409, 409, 409, 409, 409], [r.text for r in responses]
        assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {
            "export_in_progress"
        }
    await jobs.drain()
    assert await _exports(owner_db, owner) == ["ready"]
    after = await client.post(owner.url("/exports"), headers=owner.headers)
    assert after.status_code == 202, after.text
    await jobs.drain()
    assert await _exports(owner_db, owner) == ["ready", "ready"]


async def _exports(owner_db: Database, owner: Owner) -> list[str]:
    """The workspace's exports' statuses, oldest first."""
    async with owner_db.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT status FROM workspace_exports WHERE workspace_id = :ws ORDER BY created_at"
            ),
            {"ws": owner.workspace_id},
        )
    return list(rows.scalars())


async def test_a_build_finishing_during_the_purge_leaves_no_zip(
    owner: Owner, owner_db: Database, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build has moved its zip into place and is about to record it ``ready`` when the
    purge starts; it records it while the purge deletes the tables."""
    workspace_id = uuid.UUID(owner.workspace_id)
    directory = exports.exports_dir(runtime.settings)
    directory.mkdir(parents=True, exist_ok=True)
    before = set(directory.glob("*.zip"))
    export_id = await _queued_export(owner_db, owner.workspace_id, age=timedelta(0))
    at_ready, go = asyncio.Event(), asyncio.Event()
    real_update = exports.repo.update_export

    async def held_at_ready(session: Any, **kwargs: Any) -> bool:
        if kwargs.get("values", {}).get("status") == "ready":
            at_ready.set()
            await go.wait()
        return await real_update(session, **kwargs)

    monkeypatch.setattr(exports.repo, "update_export", held_at_ready)
    build = asyncio.create_task(
        exports.build_export(
            runtime.db, runtime.settings, workspace_id=workspace_id, export_id=export_id
        )
    )
    await at_ready.wait()
    assert len(set(directory.glob("*.zip")) - before) == 1  # in place, not yet recorded
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE workspaces SET deleted_at = now(), purge_after = now() - interval '1 min'"
                " WHERE id = :ws"
            ),
            {"ws": workspace_id},
        )
    real_delete = deletion.repo.delete_tenant_rows

    async def build_finishes_first(session: Any, **kwargs: Any) -> int:
        if not go.is_set():
            go.set()
            await build
        return await real_delete(session, **kwargs)

    monkeypatch.setattr(deletion.repo, "delete_tenant_rows", build_finishes_first)
    purged = await deletion.purge_workspace(
        runtime.db, runtime.settings, runtime.redis, workspace_id=workspace_id
    )
    assert purged == "purged"
    assert build.done()
    assert set(directory.glob("*.zip")) - before == set()


async def test_the_sweep_deletes_old_zips_that_no_export_names(
    client: httpx.AsyncClient, owner: Owner, jobs: JobQueue, runtime: Runtime, owner_db: Database
) -> None:
    started = await client.post(owner.url("/exports"), headers=owner.headers)
    assert started.status_code == 202, started.text
    await jobs.drain()
    async with owner_db.transaction() as session:
        held = (
            await session.execute(
                text("SELECT file_name FROM workspace_exports WHERE id = :id"),
                {"id": started.json()["id"]},
            )
        ).scalar_one()
    directory = exports.exports_dir(runtime.settings)
    kept = directory / held
    orphan = directory / f"{secrets.token_urlsafe(24)}.zip"
    orphan.write_bytes(b"PK a workspace nobody holds any more")
    fresh = directory / f"{secrets.token_urlsafe(24)}.zip"
    fresh.write_bytes(b"PK a build recording itself right now")
    # Older than any export lives (its TTL, and the time a build may take).
    long_ago = (
        utcnow() - timedelta(hours=runtime.settings.export_ttl_hours) - timedelta(hours=3)
    ).timestamp()
    for path in (orphan, kept):
        os.utime(path, (long_ago, long_ago))
    try:
        await exports.delete_expired(runtime.db, runtime.settings, now=utcnow())
        assert not orphan.exists()
        assert kept.exists()  # its row names it (still ready: it expires by its row)
        assert fresh.exists()
    finally:
        orphan.unlink(missing_ok=True)
        fresh.unlink(missing_ok=True)


async def test_the_zip_is_written_off_the_event_loop(
    client: httpx.AsyncClient,
    owner: Owner,
    jobs: JobQueue,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Deflating a document or a batch of rows in the event loop stalled every request of
    the process (in-process jobs) for as long as it took."""
    await fill(client, owner, jobs)
    loop_thread = threading.get_ident()
    writers: set[int] = set()
    real_write = zipfile._ZipWriteFile.write  # type: ignore[attr-defined]
    real_writestr = zipfile.ZipFile.writestr

    def write(self: Any, data: Any) -> int:
        writers.add(threading.get_ident())
        return int(real_write(self, data))

    def writestr(self: zipfile.ZipFile, *args: Any, **kwargs: Any) -> None:
        writers.add(threading.get_ident())
        real_writestr(self, *args, **kwargs)

    monkeypatch.setattr(zipfile._ZipWriteFile, "write", write)  # type: ignore[attr-defined]
    monkeypatch.setattr(zipfile.ZipFile, "writestr", writestr)
    started = await client.post(owner.url("/exports"), headers=owner.headers)
    assert started.status_code == 202, started.text
    await jobs.drain()
    status = await client.get(owner.url(f"/exports/{started.json()['id']}"), headers=owner.headers)
    assert status.json()["status"] == "ready", status.text
    assert writers
    assert loop_thread not in writers
