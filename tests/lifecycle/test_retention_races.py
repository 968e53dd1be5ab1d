"""The retention sweep while a visitor writes in a conversation it is about to delete.

The sweep read the old conversations without a lock, unlinked their leads (locking them), then
deleted the conversations. A chat turn holds its conversation once its message is recorded,
then writes to the conversation's lead (``shortcuts.contact``): the sweep waited for the
conversation, the turn for the lead (deadlock_detected: one of them was killed). And a
conversation whose visitor wrote again while the sweep waited for it was deleted all the same,
the fresh message with it: the DELETE re-checked only the ids it had read, not the age. Now
the sweep locks the conversations first (by id, their age read again on the locked row), as
every other path does, and deletes only those."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from core.db import Database
from core.models import utcnow
from lifecycle import repository as repo
from lifecycle.retention import purge_old_conversations
from rag.chat import pipeline, shortcuts
from tests.conftest import Owner
from tests.lifecycle.data import widget
from tests.lifecycle.test_erasure_chat_race import visitor_and_number
from tests.lifecycle.test_erasure_session_numbers import _chat
from tests.lifecycle.test_erasure_session_race import _Stop

RETENTION = timedelta(days=30)


async def _backdate(owner_db: Database, conversation: str, days: int = 40) -> None:
    """The conversation last written in ``days`` ago: past a 30 days' retention."""
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE conversations SET last_message_at = now() - make_interval(days => :days)"
                " WHERE id = :id"
            ),
            {"id": conversation, "days": days},
        )


async def _hello(client: httpx.AsyncClient, owner: Owner, session: str) -> str:
    """A new conversation of the visitor's ``session``: its id."""
    first = await client.post(
        "/api/v1/chat",
        json={"message": f"Hi {session}", "session_id": session},
        headers=widget(owner),
    )
    assert first.status_code == 200, first.text
    return str(first.json()["conversation_id"])


async def _left(owner_db: Database, conversation: str) -> tuple[int, int, str | None]:
    """(conversations with this id, their messages, the id of the lead naming it)."""
    async with owner_db.transaction() as session:
        row = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM conversations WHERE id = :id),"
                    " (SELECT count(*) FROM messages WHERE conversation_id = :id),"
                    " (SELECT id::text FROM leads WHERE conversation_id = :id)"
                ),
                {"id": conversation},
            )
        ).one()
    return int(row[0]), int(row[1]), row[2]


async def _sweep_while_held(
    db: Database, owner_db: Database, owner: Owner, stop: _Stop
) -> asyncio.Task[int]:
    """Once the visitor's turn is held in its first transaction: the workspace's retention
    sweep, started and waiting for it; then the turn goes on."""
    workspace_id = uuid.UUID(owner.workspace_id)
    return await stop.meanwhile(
        owner_db,
        lambda: purge_old_conversations(db, workspace_id=workspace_id, before=utcnow() - RETENTION),
    )


async def test_a_turn_writing_the_lead_of_a_conversation_being_swept_does_not_deadlock(
    client: httpx.AsyncClient,
    owner: Owner,
    db: Database,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The turn holds its conversation and then fills its lead's address; the sweep locked
    that lead (unlinking it) before it reached the conversation: each waited for the other."""
    visitor, number = visitor_and_number("asha")
    conversation = await _chat(client, owner, f"call me on {number}", visitor)
    lead = (await _left(owner_db, conversation))[2]
    assert lead is not None
    await _backdate(owner_db, conversation)

    stop = _Stop()
    held = stop.before(shortcuts.leads.add_contact_from_chat)
    monkeypatch.setattr(shortcuts.leads, "add_contact_from_chat", held)
    email = f"{visitor}@example.com"
    typed = asyncio.create_task(_chat(client, owner, f"my email is {email}", visitor, conversation))
    sweep = await _sweep_while_held(db, owner_db, owner, stop)
    assert await typed == conversation
    assert await sweep == 0  # written in just now: within the retention
    assert await _left(owner_db, conversation) == (1, 4, lead)
    leads = await client.get(owner.url(f"/leads/{lead}"), headers=owner.headers)
    assert (leads.json()["email"], leads.json()["phone"]) == (email, number)


async def test_a_conversation_written_in_while_the_sweep_waits_for_it_is_kept(
    client: httpx.AsyncClient,
    owner: Owner,
    db: Database,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The visitor's turn is recorded (the conversation's last message now) while the sweep
    waits for the conversation; it commits: the sweep deleted the conversation all the same,
    with the message just written. The batch it was in (two here, the oldest first) is one
    conversation short: the sweep still goes on to the next one."""
    tag = uuid.uuid4().hex[:10]
    session = f"v-{tag}"
    conversation = await _hello(client, owner, session)
    await _backdate(owner_db, conversation, days=50)
    others = [await _hello(client, owner, f"w-{tag}-{n}") for n in range(2)]
    for other in others:
        await _backdate(owner_db, other)
    monkeypatch.setattr(repo, "RETENTION_BATCH", 2)

    stop = _Stop()
    monkeypatch.setattr(pipeline, "contact", stop.before(pipeline.contact))
    turn = asyncio.create_task(
        client.post(
            "/api/v1/chat",
            json={
                "message": f"What is the warranty on gadget {tag}?",
                "session_id": session,
                "conversation_id": conversation,
            },
            headers=widget(owner),
        )
    )
    sweep = await _sweep_while_held(db, owner_db, owner, stop)
    response = await turn
    assert response.status_code == 200, response.text
    assert await sweep == 2
    assert await _left(owner_db, conversation) == (1, 4, None)
    assert [await _left(owner_db, other) for other in others] == [(0, 0, None)] * 2


async def test_a_message_sent_while_the_sweep_deletes_its_conversation_is_told_so(
    client: httpx.AsyncClient,
    owner: Owner,
    db: Database,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other way round: the sweep holds the conversation (locked, old), the visitor's
    message waits for it, and the conversation is gone once it commits. The message's insert
    broke its foreign key: 500 internal_error, where a message to a conversation deleted a
    moment before answers 404 not_found."""
    tag = uuid.uuid4().hex[:10]
    session = f"v-{tag}"
    conversation = await _hello(client, owner, session)
    await _backdate(owner_db, conversation)
    stop = _Stop()
    kept = repo.analytics_repo.keep_deleted  # the sweep's first step once it has its batch
    monkeypatch.setattr(repo.analytics_repo, "keep_deleted", stop.before(kept))
    sweep = asyncio.create_task(
        purge_old_conversations(
            db, workspace_id=uuid.UUID(owner.workspace_id), before=utcnow() - RETENTION
        )
    )
    body = {"message": f"Still there {tag}?", "session_id": session}
    turn = await stop.meanwhile(
        owner_db,
        lambda: client.post(
            "/api/v1/chat", json=body | {"conversation_id": conversation}, headers=widget(owner)
        ),
    )
    assert await sweep == 1
    response = await turn
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
    after = await client.post(
        "/api/v1/chat", json=body | {"conversation_id": conversation}, headers=widget(owner)
    )
    assert (after.status_code, after.json()) == (404, response.json())


async def test_a_streamed_message_sent_while_the_sweep_deletes_its_conversation_is_told_so(
    client: httpx.AsyncClient,
    owner: Owner,
    db: Database,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As above, the message asking for server-sent events: the same 404 before any event
    (the stream's first event is pulled before the response starts), no stream with an error
    event in it."""
    tag = uuid.uuid4().hex[:10]
    session = f"v-{tag}"
    conversation = await _hello(client, owner, session)
    await _backdate(owner_db, conversation)
    stop = _Stop()
    kept = repo.analytics_repo.keep_deleted
    monkeypatch.setattr(repo.analytics_repo, "keep_deleted", stop.before(kept))
    sweep = asyncio.create_task(
        purge_old_conversations(
            db, workspace_id=uuid.UUID(owner.workspace_id), before=utcnow() - RETENTION
        )
    )
    body = {
        "message": f"Still there {tag}?",
        "session_id": session,
        "conversation_id": conversation,
    }
    headers = widget(owner) | {"Accept": "text/event-stream"}
    turn = await stop.meanwhile(
        owner_db, lambda: client.post("/api/v1/chat", json=body, headers=headers)
    )
    assert await sweep == 1
    response = await turn
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
