"""An erasure that commits while the visitor's own chat turn is under way: the question was
recorded, the answer is being written."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from core.db import Database
from core.jobs import JobQueue
from rag.chat import recording
from tests.conftest import Owner
from tests.lifecycle.data import CHATS_MENTIONING, count_mentions, widget
from tests.workspaces.test_signin_races import GUARD_SECONDS


async def erased_while_held(
    client: httpx.AsyncClient,
    owner: Owner,
    monkeypatch: pytest.MonkeyPatch,
    where: Any,
    name: str,
    session: str,
    message: str,
) -> tuple[dict[str, int], httpx.Response]:
    """The visitor's ``message`` in ``session``, held before ``where.name`` runs while the owner
    erases the session; then it goes on. What the erasure erased, and the turn's answer."""
    reached, go = asyncio.Event(), asyncio.Event()
    real = getattr(where, name)

    async def held(*args: Any, **kwargs: Any) -> Any:
        reached.set()
        await asyncio.wait_for(go.wait(), GUARD_SECONDS)
        return await real(*args, **kwargs)

    monkeypatch.setattr(where, name, held)
    turn = asyncio.create_task(
        client.post(
            "/api/v1/chat", json={"message": message, "session_id": session}, headers=widget(owner)
        )
    )
    await asyncio.wait_for(reached.wait(), GUARD_SECONDS)
    erased = await client.post(
        owner.url("/erasures"), json={"session_id": session}, headers=owner.headers
    )
    assert erased.status_code == 200, erased.text
    go.set()
    return dict(erased.json()["erased"]), await turn


async def test_the_turn_answers_and_records_nothing_of_the_erased_visitor(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    jobs: JobQueue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The answer's insert broke the erased conversation's foreign key: the visitor got 500
    internal_error (and the error tracker an unhandled error) for a question asked a moment
    before their data went."""
    tag = uuid.uuid4().hex[:10]
    session = f"v-{tag}"
    first = await client.post(
        "/api/v1/chat", json={"message": f"Hi {tag}", "session_id": session}, headers=widget(owner)
    )
    assert first.status_code == 200, first.text
    question = f"What is the warranty on gadget {tag}?"
    erased, response = await erased_while_held(
        client, owner, monkeypatch, recording.conversation_repo, "record_answer", session, question
    )
    assert erased["conversations"] == 2  # each call without an id starts one
    assert response.status_code == 200, response.text
    assert response.json()["answer"]
    await jobs.drain()
    left = await count_mentions(
        owner_db,
        owner.workspace_id,
        tag,
        {
            **CHATS_MENTIONING,
            "unanswered": "SELECT count(*) FROM unanswered_questions"
            " WHERE workspace_id = :ws AND question LIKE :n",
        },
    )
    assert left == {"conversations": 0, "messages": 0, "unanswered": 0}
    # The visitor goes on chatting: a new conversation.
    again = await client.post(
        "/api/v1/chat",
        json={"message": "Hello again", "session_id": session},
        headers=widget(owner),
    )
    assert again.status_code == 200, again.text
    assert again.json()["conversation_id"] != response.json()["conversation_id"]
