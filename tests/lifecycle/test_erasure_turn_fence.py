"""A visitor's chat turn under way while the owner erases that visitor.

The response cache: a turn stores its answer (the visitor's question, normalised, with it)
after its last transaction. An erasure that committed, and cleared the workspace's cache, while
the turn was between its answer's record and that store did not see the entry: written after
the clearing, it kept the erased visitor's question for CACHE_TTL_SECONDS, and answered it to
the next asker. Now a turn stores nothing once an erasure of its workspace cleared the cache
after the turn began (``ResponseCache.fence``).

A new conversation: an erasure by session id (or by email, of the sessions the visitor's
conversations were in) read and locked the session's conversations; one the visitor opened
after that, before the erasure committed, took no lock of the erasure's and committed first:
it outlived the erasure that reported the session erased. Now a turn takes its session's lock
(shared) first, and an erasure holds the lock of each session it erases from before it reads
them: the new conversation is opened after the erasure."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from api.runtime import Runtime
from core.db import Database
from core.jobs import JobQueue
from lifecycle import erasure
from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.lifecycle.data import CHATS_MENTIONING, count_mentions, widget
from tests.lifecycle.test_erasure_during_turn import erased_while_held
from tests.lifecycle.test_erasure_form_lock import during_erasure
from tests.lifecycle.test_erasure_leftovers import (
    _cached_personal_question,
    _in_memory,
    _in_redis,
    returns_document,
)
from tests.lifecycle.test_erasure_session_numbers import _chat
from tests.lifecycle.test_retention_races import _hello


async def _cached_while_erased(
    client: httpx.AsyncClient,
    owner: Owner,
    jobs: JobQueue,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """A visitor's question (their name in it) answered from a document, its answer held
    before the cache stores it while the owner erases the visitor's session; then the store
    goes on. The name, lowered as the cache keeps it."""
    name = f"Quennell{uuid.uuid4().hex[:8]}"
    await returns_document(client, owner, jobs)
    visitor = f"ida-{uuid.uuid4().hex[:8]}"
    question = f"I am Ida {name}, are returns accepted within 30 days?"
    erased, answered = await erased_while_held(
        client, owner, monkeypatch, runtime.cache, "put", visitor, question
    )
    assert erased["conversations"] == 1
    assert answered.status_code == 200, answered.text
    assert answered.json()["source"] == "rag"
    return name.lower()


async def test_an_answer_stored_after_the_erasure_cleared_the_cache_is_not_kept(
    client: httpx.AsyncClient,
    owner: Owner,
    jobs: JobQueue,
    runtime: Runtime,
    redis_client: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: the entry (the erased visitor's question and name) and its vector were in Redis
    after the erasure returned."""
    name = await _cached_while_erased(client, owner, jobs, runtime, monkeypatch)
    assert await _in_redis(redis_client, owner.workspace_id, name) == []
    assert [k async for k in redis_client.scan_iter(f"tb:rcl:{owner.workspace_id}:*")] == []
    # The fence stops only the turns begun before the erasure: the next one is cached.
    monkeypatch.undo()
    later = await client.post(
        "/api/v1/chat",
        json={"message": "Are returns accepted within 30 days?", "session_id": f"kai-{name}"},
        headers=widget(owner),
    )
    assert later.status_code == 200, later.text
    assert later.json()["source"] == "rag"
    assert await _in_redis(redis_client, owner.workspace_id, "returns accepted")


async def test_an_answer_stored_after_the_erasure_is_not_kept_in_memory_either(
    runtime_factory: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without Redis, the process's own cache alike."""
    async with runtime_factory(redis=None) as runtime, client_for(runtime) as client:
        owner = await signup(client, "NoRedisFence")
        name = await _cached_while_erased(client, owner, runtime.jobs, runtime, monkeypatch)
        assert _in_memory(runtime, owner.workspace_id, name) == []
        assert not [s for s in runtime.cache.memory.vectors if s.startswith(owner.workspace_id)]


async def _asked_during_erasure(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    key: dict[str, str],
    session: str,
    at: tuple[Any, str] = (erasure.text_repo, "redact_written"),
) -> dict[str, int]:
    """The visitor's question (no address nor number in it) in a new conversation of
    ``session``, sent while the erasure by ``key`` is held (``at``): it must wait for the
    erasure (``during_erasure``), then be answered. What the erasure erased."""
    erased, answered = await during_erasure(
        client,
        owner,
        owner_db,
        monkeypatch,
        key,
        lambda: client.post(
            "/api/v1/chat",
            json={"message": f"What are your opening hours, {session}?", "session_id": session},
            headers=widget(owner),
        ),
        at=at,
    )
    assert answered.status_code == 200, answered.text
    return erased


@pytest.mark.parametrize("held_after", ["lock_conversations", "erase_conversations"])
async def test_a_conversation_opened_while_its_session_is_erased_waits_for_the_erasure(
    held_after: str,
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: held once it had locked (or deleted) the session's conversations, the erasure
    was not waited for: the question's conversation committed first and outlived it. (Opened
    between the erasure's read and its lock, it was erased since an earlier fix.)"""
    visitor = f"nia-{uuid.uuid4().hex[:10]}"
    await _hello(client, owner, visitor)
    key = {"session_id": visitor}
    at = (erasure.repo, held_after)
    erased = await _asked_during_erasure(client, owner, owner_db, monkeypatch, key, visitor, at)
    assert erased["conversations"] == 1
    left = await count_mentions(owner_db, owner.workspace_id, visitor, CHATS_MENTIONING)
    assert left == {"conversations": 1, "messages": 1}  # the question's, opened after


async def test_a_conversation_opened_in_the_visitors_session_waits_for_the_erasure_by_email(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An erasure by email takes the other conversations of the visitor's sessions: one
    opened in such a session while it ran (no address in it) committed first and stayed."""
    tag = uuid.uuid4().hex[:10]
    visitor, email = f"omar-{tag}", f"omar-{tag}@example.com"
    await _chat(client, owner, f"my email is {email}", visitor)
    key = {"email": email}
    erased = await _asked_during_erasure(client, owner, owner_db, monkeypatch, key, visitor)
    assert erased["conversations"] == 1


async def test_the_cache_is_cleared_before_the_erasure_answers(
    client: httpx.AsyncClient,
    owner: Owner,
    jobs: JobQueue,
    redis_client: Redis,
) -> None:
    """Before: the cache was cleared by a background task, after the answer was sent (and
    never, when the process stopped in between): the owner was told the visitor was erased
    while the cache still answered their question."""
    name, session_id = await _cached_personal_question(client, owner, jobs)
    at_answer: list[list[bytes]] = []
    app = client.app  # type: ignore[attr-defined]

    async def noting(scope: Any, receive: Any, send: Any) -> None:
        async def sent(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                at_answer.append(await _in_redis(redis_client, owner.workspace_id, name))
            await send(message)

        await app(scope, receive, sent)

    transport = httpx.ASGITransport(app=noting, client=client._transport.client)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as erasing:
        erased = await erasing.post(
            owner.url("/erasures"), json={"session_id": session_id}, headers=owner.headers
        )
    assert erased.status_code == 200, erased.text
    assert at_answer == [[]]


async def _epoch_reads(
    client: httpx.AsyncClient, owner: Owner, redis_client: Redis, message: str
) -> list[str]:
    """The commands that read the workspace's erasure epoch while the widget's ``message``
    was answered, as Redis itself saw them (MONITOR, up to a marker sent after the answer)."""
    epoch = f"tb:rce:{owner.workspace_id}"
    marker = f"marker-{uuid.uuid4().hex}"
    async with redis_client.monitor() as monitor:
        answered = await client.post(
            "/api/v1/chat",
            json={"message": message, "session_id": f"eve-{uuid.uuid4().hex[:10]}"},
            headers=widget(owner),
        )
        assert answered.status_code == 200, answered.text
        await redis_client.echo(marker)
        reads = []
        while marker not in (command := (await monitor.next_command())["command"]):
            if command.upper().startswith("GET") and epoch in command:
                reads.append(command)
    return reads


async def test_only_a_turn_whose_answer_may_be_cached_reads_the_erasure_epoch(
    client: httpx.AsyncClient, owner: Owner, redis_client: Redis
) -> None:
    """Every turn read the epoch before its first transaction, one Redis round trip more,
    though a greeting's answer (an FAQ's, a follow-up's, a handoff's) is never cached. Now a
    turn reads it in its first transaction (before its message commits, which is all the
    fence needs) once it knows its answer may be cached."""
    assert await _epoch_reads(client, owner, redis_client, "Hello there!") == []
    asked = await _epoch_reads(client, owner, redis_client, "What is your refund policy?")
    assert len(asked) == 1, asked
