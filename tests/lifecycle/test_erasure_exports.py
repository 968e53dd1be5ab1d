"""A visitor's erasure and the workspace's exports: a zip built before the erasure, one being
built while it runs, and one waiting to be built, must not hand the erased visitor's data to
anyone afterwards; the owner sees why the export is gone."""

from __future__ import annotations

import asyncio
import io
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from core.jobs import JobQueue
from lifecycle import archive as archive_writer
from lifecycle import erasure, exports
from tests.conftest import Owner
from tests.lifecycle.data import fill
from tests.lifecycle.test_exports import _export, _queued_export


async def _status(client: httpx.AsyncClient, owner: Owner, export_id: object) -> dict[str, Any]:
    got = await client.get(owner.url(f"/exports/{export_id}"), headers=owner.headers)
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


async def _file_name(owner_db: Database, export_id: object) -> str | None:
    async with owner_db.transaction() as session:
        name: str | None = (
            await session.execute(
                text("SELECT file_name FROM workspace_exports WHERE id = :id"), {"id": export_id}
            )
        ).scalar_one()
    return name


async def _erase(client: httpx.AsyncClient, owner: Owner, **body: Any) -> httpx.Response:
    response = await client.post(owner.url("/erasures"), json=body, headers=owner.headers)
    assert response.status_code == 200, response.text
    return response


def _zips(runtime: Runtime) -> set[str]:
    directory = exports.exports_dir(runtime.settings)
    return {p.name for p in directory.glob("*.zip")} if directory.is_dir() else set()


def _start_build(runtime: Runtime, owner: Owner, export_id: uuid.UUID) -> asyncio.Task[str]:
    return asyncio.create_task(
        exports.build_export(
            runtime.db,
            runtime.settings,
            workspace_id=uuid.UUID(owner.workspace_id),
            export_id=export_id,
        )
    )


async def _erased_mid_build(
    client: httpx.AsyncClient,
    owner: Owner,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    export_id: uuid.UUID,
    email: str,
    *,
    then: Callable[..., Awaitable[None]],
) -> tuple[httpx.Response, str]:
    """Build ``export_id``; once it has written the leads, erase the visitor ``email``, then
    let the build go on to ``then`` in place of writing the conversations. (The erasure's
    response, what the build returned.)"""
    at_conversations, go = asyncio.Event(), asyncio.Event()

    async def held(*args: Any) -> None:
        at_conversations.set()
        await go.wait()
        await then(*args)

    monkeypatch.setattr(archive_writer, "_write_conversations", held)
    build = _start_build(runtime, owner, export_id)
    await at_conversations.wait()
    erased = await _erase(client, owner, email=email)
    go.set()
    return erased, await build


@pytest.mark.parametrize("key", ["email", "session_id"])
async def test_an_export_made_before_the_erasure_is_withdrawn(
    key: str,
    client: httpx.AsyncClient,
    owner: Owner,
    jobs: JobQueue,
    runtime: Runtime,
    owner_db: Database,
) -> None:
    """The zip held the erased visitor's leads and messages and stayed downloadable for
    EXPORT_TTL_HOURS after the erasure."""
    visitor = await fill(client, owner, jobs)
    export = await _export(client, owner, jobs)
    assert export["status"] == "ready", export
    file_name = await _file_name(owner_db, export["id"])
    assert file_name is not None
    path = exports.export_path(runtime.settings, file_name)
    assert visitor.visitor_email.encode() in b"".join(
        zipfile.ZipFile(path).read(n) for n in zipfile.ZipFile(path).namelist()
    )

    name = visitor.visitor_email if key == "email" else visitor.visitor_session
    erased = await _erase(client, owner, **{key: name})

    gone = await client.get(export["download_url"], headers=owner.headers)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "export_expired"
    assert "erased" in gone.json()["error"]["message"]
    assert not path.exists()
    assert await _file_name(owner_db, export["id"]) is None
    status = await _status(client, owner, export["id"])
    assert (status["status"], status["download_url"]) == ("expired", None)
    assert status["error"].startswith("withdrawn: a visitor's data was erased")
    assert erased.json()["withdrawn_exports"] == [export["id"]]
    log = await client.get(
        owner.url("/audit"), params={"action": "visitor.erased"}, headers=owner.headers
    )
    [entry] = log.json()["items"]
    assert entry["details"]["withdrawn_exports"] == [export["id"]]

    # The next export is made without the visitor.
    again = await _export(client, owner, jobs)
    assert again["status"] == "ready", again
    fresh = await client.get(again["download_url"], headers=owner.headers)
    archive = zipfile.ZipFile(io.BytesIO(fresh.content))
    everything = b"".join(archive.read(n) for n in archive.namelist())
    assert visitor.visitor_email.encode() not in everything
    assert visitor.visitor_session.encode() not in everything


async def _broken(*args: Any) -> None:
    raise RuntimeError("the disk filled up")


@pytest.mark.parametrize("fails", [False, True], ids=["build-finishes", "build-fails"])
async def test_an_erasure_during_a_build_withdraws_what_it_read(
    fails: bool,
    client: httpx.AsyncClient,
    owner: Owner,
    jobs: JobQueue,
    runtime: Runtime,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The build has written the leads (the visitor's among them) when the erasure commits;
    it read table by table, so its zip held the leads the erasure had just deleted.

    A build that then failed overwrote the erasure's reason with its own exception: the owner
    no longer saw that the export was withdrawn, nor why (build-fails)."""
    visitor = await fill(client, owner, jobs)
    export_id = await _queued_export(owner_db, owner.workspace_id, age=timedelta(0))
    before = _zips(runtime)
    then = _broken if fails else archive_writer._write_conversations
    erased, result = await _erased_mid_build(
        client, owner, runtime, monkeypatch, export_id, visitor.visitor_email, then=then
    )
    assert _zips(runtime) == before
    assert result == ("failed" if fails else "skipped")
    assert erased.json()["withdrawn_exports"] == [str(export_id)]
    status = await _status(client, owner, export_id)
    assert status["status"] == "failed"
    assert status["error"].startswith("withdrawn: a visitor's data was erased")
    assert status["download_url"] is None


async def _claim_waits(owner_db: Database) -> bool:
    async with owner_db.transaction() as session:
        waiting = (
            await session.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE 'UPDATE workspace_exports%'"
                )
            )
        ).scalar_one()
    return bool(waiting)


async def test_a_build_starting_during_the_erasure_reads_after_it(
    client: httpx.AsyncClient,
    owner: Owner,
    jobs: JobQueue,
    runtime: Runtime,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A queued export whose job starts while the erasure is under way: it read the rows the
    erasure had not committed the deletion of yet. Now the build waits for the erasure, then
    builds without the visitor."""
    visitor = await fill(client, owner, jobs)
    export_id = await _queued_export(owner_db, owner.workspace_id, age=timedelta(0))
    mid_erasure, go = asyncio.Event(), asyncio.Event()
    real = erasure.mail_repo.forget_about

    async def held(*args: Any, **kwargs: Any) -> Any:
        mid_erasure.set()
        await go.wait()
        return await real(*args, **kwargs)

    monkeypatch.setattr(erasure.mail_repo, "forget_about", held)
    erasing = asyncio.create_task(_erase(client, owner, email=visitor.visitor_email))
    await mid_erasure.wait()
    build = _start_build(runtime, owner, export_id)
    while not build.done() and not await _claim_waits(owner_db):
        await asyncio.sleep(0.01)
    go.set()
    response = await erasing
    assert await build == "ready"
    file_name = await _file_name(owner_db, export_id)
    assert file_name is not None
    archive = zipfile.ZipFile(exports.export_path(runtime.settings, file_name))
    everything = b"".join(archive.read(n) for n in archive.namelist())
    assert visitor.tag.encode() in everything  # the owner's own lead and the document stay
    assert visitor.visitor_email.encode() not in everything
    assert visitor.visitor_session.encode() not in everything
    assert response.json()["withdrawn_exports"] == []
