"""The question's embedding starts while its message is recorded (rag.chat.question
``embed_early``) only when the embedder costs nothing per call, and never twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import httpx
import numpy as np
import pytest
from redis.asyncio import Redis

from core.config import Settings
from core.db import Database
from rag.knowledge.embeddings import HashEmbedder
from tests.conftest import client_for, make_runtime, signup
from workspaces import usage


class CountingEmbedder:
    """A hash embedder that counts the questions it embeds; ``unmetered`` as told."""

    def __init__(self, *, unmetered: bool) -> None:
        self.inner = HashEmbedder(dimensions=384)
        self.name, self.dimensions = self.inner.name, self.inner.dimensions
        self.queries: list[str] = []
        if unmetered:
            self.unmetered = True

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return await self.inner.embed_documents(texts)

    async def embed_query(self, text: str) -> np.ndarray:
        self.queries.append(text)
        return await self.inner.embed_query(text)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture(params=[True, False], ids=["unmetered", "metered"])
async def counted(
    request: pytest.FixtureRequest, settings: Settings, db: Database, redis_client: Redis
) -> AsyncIterator[tuple[CountingEmbedder, httpx.AsyncClient]]:
    embedder = CountingEmbedder(unmetered=request.param)
    runtime_cm = make_runtime(settings, db, redis_client, embedder=embedder)  # type: ignore[arg-type]
    async with runtime_cm as runtime, client_for(runtime) as client:
        yield embedder, client


async def _ask(client: httpx.AsyncClient, key: str, message: str) -> httpx.Response:
    return await client.post(
        "/api/v1/chat",
        json={"message": message, "session_id": f"v-{uuid.uuid4().hex[:10]}"},
        headers={"X-Widget-Key": key},
    )


async def test_each_question_is_embedded_once_and_a_greeting_never(
    counted: tuple[CountingEmbedder, httpx.AsyncClient],
) -> None:
    embedder, client = counted
    owner = await signup(client, "Early")
    key = owner.workspace["public_key"]
    assert (await _ask(client, key, "Hello there!")).status_code == 200
    assert embedder.queries == []
    question = f"How do I restore the archive number {uuid.uuid4().hex[:6]} from backup?"
    answered = await _ask(client, key, question)
    assert answered.status_code == 200, answered.text
    assert embedder.queries == [question]


async def test_a_question_after_are_you_a_bot_is_embedded_once_without_it(
    counted: tuple[CountingEmbedder, httpx.AsyncClient],
) -> None:
    """The early embedding took the whole message while the answer looked up the question
    after "are you a bot?": a second embedding, the first thrown away."""
    embedder, client = counted
    owner = await signup(client, "Early identity")
    question = f"How do I restore the archive number {uuid.uuid4().hex[:6]} from backup?"
    answered = await _ask(client, owner.workspace["public_key"], f"are you a bot? {question}")
    assert answered.status_code == 200, answered.text
    assert answered.json()["answer"].startswith("I'm an automated assistant"), answered.text
    assert embedder.queries == [question]


async def test_over_quota_a_metered_embedder_is_never_called(
    counted: tuple[CountingEmbedder, httpx.AsyncClient], db: Database
) -> None:
    embedder, client = counted
    owner = await signup(client, "Quota")
    workspace_id = uuid.UUID(owner.workspace_id)
    async with db.transaction(workspace_id=workspace_id) as session:
        await usage.increment(session, workspace_id, messages=1000)
    refused = await _ask(client, owner.workspace["public_key"], "What does the yearly plan cost?")
    assert refused.status_code == 429
    # The local model may start before the quota check; a metered (remote) one must not.
    expected = ["What does the yearly plan cost?"] if hasattr(embedder, "unmetered") else []
    assert embedder.queries == expected


class InFlight(CountingEmbedder):
    """Takes a while per question, so the turns overlap."""

    def __init__(self) -> None:
        super().__init__(unmetered=True)

    async def embed_query(self, text: str) -> np.ndarray:
        await asyncio.sleep(0.05)  # the other turns run meanwhile
        return await super().embed_query(text)


async def test_turns_beyond_the_limit_wait_in_front_and_are_all_answered(
    settings: Settings, db: Database, redis_client: Redis
) -> None:
    embedder = InFlight()
    limited = settings.model_copy(update={"chat_concurrent_turns": 1})
    runtime_cm = make_runtime(limited, db, redis_client, embedder=embedder)  # type: ignore[arg-type]
    async with runtime_cm as runtime, client_for(runtime) as client:
        owner = await signup(client, "Gate")
        key = owner.workspace["public_key"]
        questions = [
            f"Where is invoice {uuid.uuid4().hex[:6]} kept on the server?" for _ in range(6)
        ]
        answers = await asyncio.gather(*(_ask(client, key, q) for q in questions))
    assert [a.status_code for a in answers] == [200] * 6
    assert sorted(embedder.queries) == sorted(questions)
    # The embedding is outside the gate (a model holds no slot: a hung provider held up every
    # turn, tests/rag/test_turn_faults.py); the embedder's own scheduler bounds the model's work.
    assert all("admit" in a.json()["timings_ms"] for a in answers)
