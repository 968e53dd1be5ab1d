"""Workspace exports through the HTTP API: built by a job, downloadable by owners until they
expire, then deleted by the scheduled job."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import logging
import os
import re
import tracemalloc
import uuid
import zipfile
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from core.jobs import JobArg, JobQueue
from core.models import utcnow
from lifecycle import archive as archive_writer
from lifecycle import deletion, exports
from tests.conftest import Owner, RuntimeFactory, client_for, join, signup
from tests.lifecycle.data import fill, tick_due, widget


async def _export(client: httpx.AsyncClient, owner: Owner, jobs: JobQueue) -> dict[str, Any]:
    started = await client.post(owner.url("/exports"), headers=owner.headers)
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "queued"
    await jobs.drain()
    status = await client.get(owner.url(f"/exports/{started.json()['id']}"), headers=owner.headers)
    assert status.status_code == 200, status.text
    body: dict[str, Any] = status.json()
    return body


async def _queued_export(owner_db: Database, workspace_id: str, *, age: timedelta) -> uuid.UUID:
    """An export row as a request leaves it, requested ``age`` ago, with no job enqueued."""
    export_id = uuid.uuid4()
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO workspace_exports (id, workspace_id, status, created_at)"
                " VALUES (:id, :ws, 'queued', now() - CAST(:age AS interval))"
            ),
            {"id": export_id, "ws": workspace_id, "age": age},
        )
    return export_id


def _csv(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8"))))


async def test_an_owner_exports_every_part_of_the_workspace(
    client: httpx.AsyncClient, owner: Owner, other: Owner, jobs: JobQueue, runtime: Runtime
) -> None:
    mine = await fill(client, owner, jobs)
    theirs = await fill(client, other, jobs)
    export = await _export(client, owner, jobs)
    assert export["status"] == "ready", export
    assert export["download_url"].endswith(f"/exports/{export['id']}/download")
    expires = export["expires_at"]
    assert expires is not None
    assert export["size_bytes"] > 0

    response = await client.get(export["download_url"], headers=owner.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["cache-control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    assert {
        "README.txt",
        "workspace.json",
        "documents.json",
        "faqs.json",
        "faqs.csv",
        "leads.csv",
        "lead_submissions.csv",
        "conversations.json",
        "messages.csv",
    } <= names
    everything = b"".join(archive.read(n) for n in names).decode("utf-8", "replace")
    assert mine.tag in everything
    assert theirs.tag not in everything

    assert json.loads(archive.read("workspace.json"))["id"] == owner.workspace_id
    documents = json.loads(archive.read("documents.json"))
    assert [d["id"] for d in documents] == [mine.document_id]
    assert documents[0]["status"] == "ready"
    # When the version whose chunks answer was ingested (0051), as the API and dashboard say.
    assert documents[0]["ingested_at"] is not None
    assert documents[0]["ingested_at"] == documents[0]["processed_at"]
    # Which content answers (0052): the answering version's hash, here the stored content's.
    assert documents[0]["ingested_hash"] == documents[0]["content_hash"]
    assert re.fullmatch(r"[0-9a-f]{64}", documents[0]["ingested_hash"])
    assert mine.tag in " ".join(c["text"] for c in documents[0]["chunks"])

    faqs = json.loads(archive.read("faqs.json"))
    assert [f["id"] for f in faqs] == [mine.faq_id]
    assert faqs[0]["answer"] == '=HYPERLINK("http://x")'  # JSON keeps the value as it is
    assert _csv(archive, "faqs.csv")[0]["answer"] == '\'=HYPERLINK("http://x")'

    leads = {row["email"]: row for row in _csv(archive, "leads.csv")}
    assert set(leads) == {mine.lead_email, mine.visitor_email}
    assert leads[mine.lead_email]["name"] == "'=1+2"
    submissions = _csv(archive, "lead_submissions.csv")
    assert [(s["email"], s["conversation_id"]) for s in submissions] == [
        (mine.visitor_email, mine.conversation_id)
    ]

    conversations = json.loads(archive.read("conversations.json"))
    assert [c["id"] for c in conversations] == [mine.conversation_id]
    conversation = conversations[0]
    assert conversation["session_id"] == mine.visitor_session
    assert [m["role"] for m in conversation["messages"]] == ["user", "assistant"]
    assert mine.tag in conversation["messages"][0]["text"]
    messages = _csv(archive, "messages.csv")
    assert [m["message_id"] for m in messages] == [m["id"] for m in conversation["messages"]]

    # The file sits under DATA_DIR/exports with a random name, not the workspace's.
    files = list(exports.exports_dir(runtime.settings).glob("*.zip"))
    assert files
    assert all(owner.workspace["slug"] not in f.name for f in files)


async def test_only_owners_of_the_workspace_see_or_download_it(
    client: httpx.AsyncClient, owner: Owner, other: Owner, jobs: JobQueue
) -> None:
    export = await _export(client, owner, jobs)
    url = export["download_url"]
    admin = await signup(client, "Admin")
    await join(client, owner, admin, "admin")
    refused = await client.get(url, headers=admin.headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["action"] == "export.download"
    # Another workspace's owner: not even its existence.
    assert (await client.get(url, headers=other.headers)).status_code == 404
    foreign = other.url(f"/exports/{export['id']}/download")
    assert (await client.get(foreign, headers=other.headers)).status_code == 404
    assert (await client.get(url)).status_code == 401


async def test_an_expired_export_is_refused_and_its_file_deleted_by_the_schedule(
    client: httpx.AsyncClient, owner: Owner, jobs: JobQueue, runtime: Runtime, owner_db: Database
) -> None:
    export = await _export(client, owner, jobs)
    async with owner_db.transaction() as session:
        file_name = (
            await session.execute(
                text("SELECT file_name FROM workspace_exports WHERE id = :id"),
                {"id": export["id"]},
            )
        ).scalar_one()
    path = exports.export_path(runtime.settings, file_name)
    assert path.is_file()

    # Before the expiry the sweep leaves it alone.
    await exports.delete_expired(runtime.db, runtime.settings, now=utcnow())
    assert path.is_file()
    assert (await client.get(export["download_url"], headers=owner.headers)).status_code == 200

    # Past its time before the job ran: listed as expired, without a link (it said ready).
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE workspace_exports SET expires_at = now() - interval '1 minute'"
                " WHERE id = :id"
            ),
            {"id": export["id"]},
        )
    listed = await client.get(owner.url(f"/exports/{export['id']}"), headers=owner.headers)
    assert (listed.json()["status"], listed.json()["download_url"]) == ("expired", None)
    # The scheduled job, run at a time past the expiry, deletes the file and marks the export.
    past_expiry = utcnow() + timedelta(hours=runtime.settings.export_ttl_hours, minutes=1)
    assert "delete_expired_exports" in await tick_due(
        runtime, "delete_expired_exports", past_expiry
    )
    assert not path.exists()
    status = await client.get(owner.url(f"/exports/{export['id']}"), headers=owner.headers)
    assert status.json()["status"] == "expired"
    assert status.json()["download_url"] is None
    gone = await client.get(export["download_url"], headers=owner.headers)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "export_expired"


async def test_a_ready_export_whose_file_is_not_here_is_logged_as_a_warning(
    client: httpx.AsyncClient,
    owner: Owner,
    jobs: JobQueue,
    runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker with a DATA_DIR of its own: the export is ready, its download 410 "file is
    gone", and nothing above info level said why."""
    export = await _export(client, owner, jobs)
    assert export["status"] == "ready"
    for file in exports.exports_dir(runtime.settings).glob("*.zip"):
        file.unlink()  # written on the worker's disk, not this replica's
    with caplog.at_level(logging.WARNING, logger=exports.log.name):
        gone = await client.get(export["download_url"], headers=owner.headers)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "export_expired"
    [warning] = [r for r in caplog.records if "export file missing" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert "is DATA_DIR shared between the API and the workers?" in warning.getMessage()


class HeldQueue:
    """A queue that keeps jobs until told to run them (the worker is busy)."""

    def __init__(self, target: JobQueue) -> None:
        self.target = target
        self.held: list[tuple[str, dict[str, JobArg]]] = []

    async def enqueue(self, name: str, *, _job_id: str | None = None, **kwargs: JobArg) -> str:
        self.held.append((name, kwargs))
        return uuid.uuid4().hex

    async def release(self) -> None:
        for name, kwargs in self.held:
            await self.target.enqueue(name, **kwargs)
        self.held.clear()
        await self.target.drain()

    async def drain(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def test_one_export_at_a_time_and_a_rerun_job_changes_nothing(
    runtime_factory: RuntimeFactory, runtime: Runtime
) -> None:
    held = HeldQueue(runtime.jobs)
    async with runtime_factory(jobs=held) as rt, client_for(rt) as client:
        owner = await signup(client, "Busy")
        first = await client.post(owner.url("/exports"), headers=owner.headers)
        assert first.status_code == 202
        second = await client.post(owner.url("/exports"), headers=owner.headers)
        assert second.status_code == 409
        assert second.json()["error"]["code"] == "export_in_progress"
        pending = await client.get(
            owner.url(f"/exports/{first.json()['id']}/download"), headers=owner.headers
        )
        assert pending.status_code == 409
        assert pending.json()["error"]["code"] == "export_not_ready"
        jobs_held = list(held.held)
        await held.release()
        ready = await client.get(owner.url(f"/exports/{first.json()['id']}"), headers=owner.headers)
        assert ready.json()["status"] == "ready"
        # arq delivers at least once: the same job again leaves the export as it is.
        # (the signup's verification mail was held too)
        [kwargs] = [k for name, k in jobs_held if name == exports.EXPORT_JOB]
        result = await exports.build_export(
            rt.db,
            rt.settings,
            workspace_id=uuid.UUID(str(kwargs["workspace_id"])),
            export_id=uuid.UUID(str(kwargs["export_id"])),
        )
        assert result == "skipped"
        again = await client.get(owner.url(f"/exports/{first.json()['id']}"), headers=owner.headers)
        assert again.json() == ready.json()
        assert (await client.post(owner.url("/exports"), headers=owner.headers)).status_code == 202


async def test_an_export_whose_job_was_lost_does_not_block_the_next_one(
    client: httpx.AsyncClient, owner: Owner, jobs: JobQueue, owner_db: Database
) -> None:
    # A process committed the request and died before enqueueing its job, three hours ago.
    lost = await _queued_export(owner_db, owner.workspace_id, age=timedelta(hours=3))
    export = await _export(client, owner, jobs)
    assert export["status"] == "ready"
    old = await client.get(owner.url(f"/exports/{lost}"), headers=owner.headers)
    assert old.json()["status"] == "failed"
    assert old.json()["error"].startswith("interrupted")


async def test_a_cancelled_export_leaves_no_readable_part_file(
    client: httpx.AsyncClient,
    owner: Owner,
    jobs: JobQueue,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A build cancelled half-way (the worker's job timeout, a shutdown) used to leave a
    readable zip of the leads under DATA_DIR/exports, which nothing ever deleted."""
    await fill(client, owner, jobs)
    real = archive_writer._write_leads

    async def leads_then_cancelled(*args: Any) -> None:
        await real(*args)
        raise asyncio.CancelledError  # what arq's job_timeout or a worker's shutdown does

    monkeypatch.setattr(archive_writer, "_write_leads", leads_then_cancelled)
    directory = exports.exports_dir(runtime.settings)
    directory.mkdir(parents=True, exist_ok=True)
    before = set(directory.iterdir())
    started = await client.post(owner.url("/exports"), headers=owner.headers)
    assert started.status_code == 202
    with pytest.raises(asyncio.CancelledError):
        await exports.build_export(
            runtime.db,
            runtime.settings,
            workspace_id=uuid.UUID(owner.workspace_id),
            export_id=uuid.UUID(started.json()["id"]),
        )
    with contextlib.suppress(asyncio.CancelledError):
        await jobs.drain()  # the queued job, cancelled the same way
    left = set(directory.iterdir()) - before
    assert left == set()
    # Nor does it stay "running" for good (a spinner, and 409 export_in_progress for two
    # hours): failed, with the reason, and another may be requested at once.
    got = await client.get(owner.url(f"/exports/{started.json()['id']}"), headers=owner.headers)
    assert got.json()["status"] == "failed"
    assert got.json()["error"].startswith("interrupted: the export stopped before it finished")
    assert "request a new one" in got.json()["error"]
    monkeypatch.setattr(archive_writer, "_write_leads", real)
    again = await _export(client, owner, jobs)
    assert again["status"] == "ready"


async def test_the_purge_and_the_sweep_delete_part_files_of_killed_builds(
    client: httpx.AsyncClient, owner: Owner, jobs: JobQueue, runtime: Runtime
) -> None:
    """A build killed outright (SIGKILL, the OOM killer) runs no cleanup: its part file is the
    purge's to delete with the workspace, and the sweep's once it is old."""
    started = await client.post(owner.url("/exports"), headers=owner.headers)
    await jobs.drain()
    export_id = uuid.UUID(started.json()["id"])
    directory = exports.exports_dir(runtime.settings)
    killed = exports.part_path(runtime.settings, export_id)
    killed.write_bytes(b"PK half a zip of this workspace")
    # Another workspace's dead build, three hours old, and a build running right now.
    orphan = exports.part_path(runtime.settings, uuid.uuid4())
    orphan.write_bytes(b"PK an old half zip")
    three_hours_ago = (utcnow() - timedelta(hours=3)).timestamp()
    os.utime(orphan, (three_hours_ago, three_hours_ago))
    running = exports.part_path(runtime.settings, uuid.uuid4())
    running.write_bytes(b"PK being written")

    assert "delete_expired_exports" in await tick_due(runtime, "delete_expired_exports", utcnow())
    assert not orphan.exists()
    assert running.exists()
    assert killed.exists()  # not old yet: it might still be running

    deleted = await client.request(
        "DELETE", owner.url(), json={"confirm": owner.workspace["slug"]}, headers=owner.headers
    )
    assert deleted.status_code == 202
    result = await deletion.purge_workspace(
        runtime.db,
        runtime.settings,
        runtime.redis,
        workspace_id=uuid.UUID(owner.workspace_id),
        now=utcnow() + timedelta(days=30),
    )
    assert result == "purged"
    assert not killed.exists()
    assert running.exists()  # not this workspace's
    running.unlink()
    assert not list(directory.glob(f"{export_id}*"))


async def test_the_export_holds_feedback_unanswered_questions_and_sources(
    client: httpx.AsyncClient, owner: Owner, jobs: JobQueue, owner_db: Database
) -> None:
    """The visitors' ratings and comments, the questions the bot could not answer and the web
    sources' setup were missing from the zip that promised everything."""
    filled = await fill(client, owner, jobs)
    chat = await client.post(
        "/api/v1/chat",
        json={"message": f"Warranty of gadget {filled.tag}?", "session_id": filled.visitor_session},
        headers=widget(owner),
    )
    assert chat.status_code == 200, chat.text
    comment = f"=Useless answer {filled.tag}"
    rated = await client.post(
        "/api/v1/widget/feedback",
        json={
            "message_id": chat.json()["message_id"],
            "rating": "down",
            "comment": comment,
            "session_id": filled.visitor_session,
        },
        headers=widget(owner),
    )
    assert rated.status_code < 300, rated.text
    source_url = f"https://docs.example.com/{filled.tag}/sitemap.xml"
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO sources (id, workspace_id, url, kind, schedule, excluded_urls)"
                " VALUES (:id, :ws, :url, 'sitemap', 'weekly', ARRAY[:skip])"
            ),
            {
                "id": uuid.uuid4(),
                "ws": owner.workspace_id,
                "url": source_url,
                "skip": f"https://docs.example.com/{filled.tag}/old",
            },
        )
    await jobs.drain()
    export = await _export(client, owner, jobs)
    response = await client.get(export["download_url"], headers=owner.headers)
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert "unanswered.csv" in archive.read("README.txt").decode()

    conversations = json.loads(archive.read("conversations.json"))
    rated_messages = [
        m for c in conversations for m in c["messages"] if m["id"] == chat.json()["message_id"]
    ]
    assert [m["feedback"]["rating"] for m in rated_messages] == ["down"]
    assert rated_messages[0]["feedback"]["comment"] == comment
    assert rated_messages[0]["feedback"]["rater"] == "visitor"
    flat = {m["message_id"]: m for m in _csv(archive, "messages.csv")}
    assert flat[chat.json()["message_id"]]["feedback_comment"] == "'" + comment
    assert flat[chat.json()["message_id"]]["feedback_rating"] == "down"

    unanswered = _csv(archive, "unanswered.csv")
    questions = {u["question"]: u for u in unanswered}
    asked = questions[f"Warranty of gadget {filled.tag}?"]
    assert (asked["resolved"], asked["conversation_id"]) == (
        "False",
        chat.json()["conversation_id"],
    )
    sources = json.loads(archive.read("sources.json"))
    assert [(s["url"], s["schedule"], s["excluded_urls"]) for s in sources] == [
        (source_url, "weekly", [f"https://docs.example.com/{filled.tag}/old"])
    ]


async def test_one_very_long_conversation_is_exported_in_bounded_memory(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime, owner_db: Database
) -> None:
    """A conversation has no message cap (an API client may keep one open). The export held a
    whole conversation's messages, and then their JSON, in memory at once."""
    count, size = 4000, 4000  # 16 MB of message text in one conversation
    conversation_id = uuid.uuid4()
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO conversations (id, workspace_id, session_id, channel, status,"
                " message_count, created_at, last_message_at)"
                " VALUES (:id, :ws, 'long', 'api', 'open', :n, now(), now())"
            ),
            {"id": conversation_id, "ws": owner.workspace_id, "n": count},
        )
        await session.execute(
            text(
                "INSERT INTO messages (id, workspace_id, conversation_id, role, text, citations,"
                " created_at) SELECT gen_random_uuid(), :ws, :c, 'user',"
                " left(repeat(md5(g::text), :size / 32 + 1), :size), '[]'::jsonb,"
                " now() + g * interval '1 ms' FROM generate_series(1, :n) g"
            ),
            {"ws": owner.workspace_id, "c": conversation_id, "n": count, "size": size},
        )
    # The export's row as a request leaves it, with its job run here, under the tracer.
    export_id = await _queued_export(owner_db, owner.workspace_id, age=timedelta(0))
    tracemalloc.start()
    try:
        result = await exports.build_export(
            runtime.db,
            runtime.settings,
            workspace_id=uuid.UUID(owner.workspace_id),
            export_id=export_id,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == "ready"
    # The conversation's text alone is 16 MB (it took 53 MB); a batch of rows is 2 MB of it.
    assert peak < 12_000_000, f"peak {peak / 1e6:.1f} MB"
    status = await client.get(owner.url(f"/exports/{export_id}"), headers=owner.headers)
    body = await client.get(status.json()["download_url"], headers=owner.headers)
    [conversation] = json.loads(
        zipfile.ZipFile(io.BytesIO(body.content)).read("conversations.json")
    )
    assert len(conversation["messages"]) == count
    assert all(len(m["text"]) == size for m in conversation["messages"])


async def test_head_of_a_download_sends_nothing_and_audits_nothing(
    client: httpx.AsyncClient, owner: Owner, jobs: JobQueue
) -> None:
    """A HEAD of the download (a link checker, a browser's prefetch) wrote export.downloaded
    though no byte of the zip left."""
    export = await _export(client, owner, jobs)

    async def downloads() -> int:
        audit = await client.get(owner.url("/audit"), headers=owner.headers)
        return [e["action"] for e in audit.json()["items"]].count("export.downloaded")

    head = await client.head(export["download_url"], headers=owner.headers)
    assert head.status_code == 200, head.text
    assert head.headers["content-type"] == "application/zip"
    assert head.content == b""
    assert await downloads() == 0
    got = await client.get(export["download_url"], headers=owner.headers)
    assert got.content.startswith(b"PK")
    assert await downloads() == 1
