"""What an erasure or a purge must not leave outside the tables: the visitor's question in the
response cache (Redis, or the process's memory), and the file outbox's copies of the mails they
delete (the embedded default writes every mail to DATA_DIR/outbox)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from api.runtime import Runtime
from core.jobs import JobQueue
from core.mail import KEEP_SETTLED
from core.models import utcnow
from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.lifecycle.data import fill, widget
from workspaces import notifications


async def returns_document(client: httpx.AsyncClient, owner: Owner, jobs: JobQueue) -> None:
    """The workspace's returns policy, ingested: what a visitor's question about returns is
    answered from (and cached)."""
    document = await client.post(
        owner.url("/documents"),
        json={
            "title": "Returns",
            "text": "Returns are accepted within 30 days of delivery with a receipt.",
        },
        headers=owner.headers,
    )
    assert document.status_code in (200, 202), document.text  # 200: the same text again
    await jobs.drain()


async def _cached_personal_question(
    client: httpx.AsyncClient, owner: Owner, jobs: JobQueue
) -> tuple[str, str]:
    """A visitor's question carrying their name, answered from a document (so cached); the
    name and the session id."""
    name = f"Zylberstein{uuid.uuid4().hex[:8]}"
    await returns_document(client, owner, jobs)
    session_id = f"priya-{uuid.uuid4().hex[:8]}"
    chat = await client.post(
        "/api/v1/chat",
        json={
            "message": f"I am Priya {name} of 12 Elm Road, are returns accepted within 30 days?",
            "session_id": session_id,
        },
        headers=widget(owner),
    )
    assert chat.status_code == 200, chat.text
    assert chat.json()["source"] == "rag"
    return name.lower(), session_id


async def _in_redis(redis: Redis, workspace_id: str, needle: str) -> list[bytes]:
    return [
        key
        async for key in redis.scan_iter(match=f"tb:rc:{workspace_id}:*")
        if needle.encode() in (await redis.get(key) or b"").lower()
    ]


def _in_memory(runtime: Runtime, workspace_id: str, needle: str) -> list[str]:
    return [
        key
        for key, entry in list(runtime.cache.memory.entries.items())
        if key.startswith(workspace_id) and needle in str(entry).lower()
    ]


async def test_an_erasure_clears_the_workspace_response_cache_in_redis(
    client: httpx.AsyncClient,
    owner: Owner,
    other: Owner,
    jobs: JobQueue,
    runtime: Runtime,
    redis_client: Redis,
) -> None:
    name, session_id = await _cached_personal_question(client, owner, jobs)
    kept_name, _ = await _cached_personal_question(client, other, jobs)
    assert await _in_redis(redis_client, owner.workspace_id, name)
    vectors = [k async for k in redis_client.scan_iter(f"tb:rcl:{owner.workspace_id}:*")]
    assert vectors

    erased = await client.post(
        owner.url("/erasures"), json={"session_id": session_id}, headers=owner.headers
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["conversations"] == 1

    assert await _in_redis(redis_client, owner.workspace_id, name) == []
    assert [k async for k in redis_client.scan_iter(f"tb:rcl:{owner.workspace_id}:*")] == []
    # Another workspace's cache stays.
    assert await _in_redis(redis_client, other.workspace_id, kept_name)


async def test_an_erasure_and_a_purge_clear_the_in_process_cache_without_redis(
    runtime_factory: RuntimeFactory,
) -> None:
    async with (
        runtime_factory(redis=None, workspace_deletion_grace_hours=0) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, "NoRedis")
        name, session_id = await _cached_personal_question(client, owner, runtime.jobs)
        assert _in_memory(runtime, owner.workspace_id, name)
        erased = await client.post(
            owner.url("/erasures"), json={"session_id": session_id}, headers=owner.headers
        )
        assert erased.status_code == 200, erased.text
        assert _in_memory(runtime, owner.workspace_id, name) == []
        assert not [s for s in runtime.cache.memory.vectors if s.startswith(owner.workspace_id)]

        # Asked again, cached again: the purge clears the memory too.
        name, _ = await _cached_personal_question(client, owner, runtime.jobs)
        assert _in_memory(runtime, owner.workspace_id, name)
        deleted = await client.request(
            "DELETE", owner.url(), json={"confirm": owner.workspace["slug"]}, headers=owner.headers
        )
        assert deleted.status_code == 202, deleted.text
        await runtime.jobs.drain()
        assert not [k for k in runtime.cache.memory.entries if k.startswith(owner.workspace_id)]


def _outbox(runtime: Runtime) -> Path:
    return Path(runtime.settings.data_dir) / "outbox"


def _quoting(runtime: Runtime, needle: str) -> Callable[[], list[Path]]:
    def found() -> list[Path]:
        return [p for p in _outbox(runtime).glob("*.eml") if needle.encode() in p.read_bytes()]

    return found


@pytest.mark.parametrize("key", ["email", "session_id"])
async def test_an_erasure_deletes_the_outbox_files_of_the_mails_it_deletes(
    key: str, client: httpx.AsyncClient, owner: Owner, jobs: JobQueue, runtime: Runtime
) -> None:
    filled = await fill(client, owner, jobs)
    bystander = await fill(client, owner, jobs)
    await notifications.settle_kicks()
    await jobs.drain()
    quoting = _quoting(runtime, filled.visitor_email)
    assert quoting()  # the "New lead" mail was written to the file outbox
    kept = _quoting(runtime, bystander.visitor_email)()
    assert kept

    value = filled.visitor_email if key == "email" else filled.visitor_session
    erased = await client.post(owner.url("/erasures"), json={key: value}, headers=owner.headers)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["notification_mails"] >= 1
    assert quoting() == []
    assert all(path.exists() for path in kept)


async def test_a_purge_deletes_the_outbox_files_of_the_workspace_mails(
    runtime_factory: RuntimeFactory,
) -> None:
    async with (
        runtime_factory(workspace_deletion_grace_hours=0) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, "Purged")
        filled = await fill(client, owner, runtime.jobs)
        await notifications.settle_kicks()
        await runtime.jobs.drain()
        quoting = _quoting(runtime, filled.visitor_email)
        assert quoting()
        deleted = await client.request(
            "DELETE", owner.url(), json={"confirm": owner.workspace["slug"]}, headers=owner.headers
        )
        assert deleted.status_code == 202, deleted.text
        await runtime.jobs.drain()
        assert quoting() == []


async def test_the_outbox_files_age_out_with_the_settled_mail(runtime: Runtime) -> None:
    outbox = _outbox(runtime)
    outbox.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4()
    old = outbox / f"20000101T000000000000Z-{tag}.eml"
    old.write_bytes(b"Subject: an old new-lead mail\r\n\r\nvisitor@example.com\r\n")
    ago = (utcnow() - KEEP_SETTLED - timedelta(hours=1)).timestamp()
    os.utime(old, (ago, ago))
    recent = outbox / f"20990101T000000000000Z-{uuid.uuid4()}.eml"
    recent.write_bytes(b"Subject: a recent mail\r\n\r\n")
    try:
        await runtime.mailer.forget_settled(utcnow())
        assert not old.exists()
        assert recent.exists()
    finally:
        old.unlink(missing_ok=True)
        recent.unlink(missing_ok=True)


async def test_deleting_a_lead_takes_out_the_mails_quoting_it(
    client: httpx.AsyncClient, owner: Owner, jobs: JobQueue, runtime: Runtime
) -> None:
    """The "New lead" mail quoted the lead's email and message, in the outbox (and its file)
    for a week after sending; once the owner had deleted the lead, an erasure by that email
    found no lead to tie the mail to, and left it."""
    filled = await fill(client, owner, jobs)
    bystander = await fill(client, owner, jobs)
    await notifications.settle_kicks()
    await jobs.drain()
    quoting = _quoting(runtime, filled.visitor_email)
    assert quoting()
    kept = _quoting(runtime, bystander.visitor_email)()
    leads = (await client.get(owner.url("/leads"), headers=owner.headers)).json()["items"]
    [lead] = [lead for lead in leads if lead["email"] == filled.visitor_email]

    deleted = await client.delete(owner.url(f"/leads/{lead['id']}"), headers=owner.headers)
    assert deleted.status_code == 204, deleted.text
    assert quoting() == []
    assert kept
    assert all(path.exists() for path in kept)
    erased = await client.post(
        owner.url("/erasures"), json={"email": filled.visitor_email}, headers=owner.headers
    )
    assert erased.json()["erased"]["notification_mails"] == 0  # nothing was left to find
