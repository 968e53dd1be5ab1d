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
    answering, go = asyncio.Event(), asyncio.Event()
    real = recording.conversation_repo.record_answer

    async def held(*args: Any, **kwargs: Any) -> Any:
        answering.set()
        await go.wait()
        return await real(*args, **kwargs)

    monkeypatch.setattr(recording.conversation_repo, "record_answer", held)
    question = f"What is the warranty on gadget {tag}?"
    turn = asyncio.create_task(
        client.post(
            "/api/v1/chat",
            json={"message": question, "session_id": session},
            headers=widget(owner),
        )
    )
    await answering.wait()
    erased = await client.post(
        owner.url("/erasures"), json={"session_id": session}, headers=owner.headers
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["conversations"] == 2  # each call without an id starts one
    go.set()
    response = await turn
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
