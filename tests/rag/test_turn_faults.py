"""A chat turn while its models fail: a hung follow-up rewrite holds no slot of the turn gate,
a hung embeddings provider fails the turn within its model time (and its request is withdrawn),
and what the models spent is metered when the turn fails or is cancelled before its answer is
recorded (a reviewer's findings on the answer path under faults)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from core.config import Settings
from rag.chat.exchange import ChatInput
from rag.knowledge.batching import Batching, ModelScheduler
from rag.knowledge.openai_embedder import OpenAIEmbedder
from tests.conftest import client_for, make_runtime, make_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_answers import fake_llm, llm_settings, refunds_owner
from tests.rag.test_chat import chat
from tests.rag.test_daily_token_reservations import used
from workspaces.repository import get_workspace

FIXTURES = (fake_llm, llm_settings)
"""The fake model and its settings, shared with tests/rag/test_answers.py."""


@pytest.fixture
def fake_embeddings() -> Iterator[FakeOpenAI]:
    """An embeddings provider of its own, so it can fail or hang while the model answers."""
    with FakeOpenAI() as fake:
        yield fake


def provider_embedder(fake: FakeOpenAI, settings: Settings) -> OpenAIEmbedder:
    """Embeddings from ``fake`` through the micro-batcher, no retries."""
    return OpenAIEmbedder(
        api_key="sk-test",
        base_url=fake.base_url,
        dimensions=settings.embedding_dimensions,
        max_retries=0,
        batching=Batching(),
    )


async def until(condition: Any, task: asyncio.Task[Any]) -> None:
    """Wait for ``condition()`` (a thing the fake or the gate says), or ``task`` to end."""
    while not condition() and not task.done():
        await asyncio.sleep(0.01)
    assert condition(), task


async def test_a_hung_follow_up_rewrite_holds_no_gate_slot(
    llm_settings: Settings, fake_llm: FakeOpenAI, db: Any, redis_client: Any
) -> None:
    """A follow-up's rewrite waits for a hung model: the turn gate's only slot stays free, and a
    greeting (no model) is answered at once. The rewrite held the slot for half the turn's model
    time, and every turn of the process waited behind it."""
    settings = llm_settings.model_copy(
        update={"chat_concurrent_turns": 1, "llm_timeout_seconds": 60.0}
    )
    async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as c:
        owner = await refunds_owner(c, runtime, "Hung rewrite")
        first = (await chat(c, owner, "hi", session_id="v-a")).json()
        fake_llm.hang = True
        follow = asyncio.create_task(
            chat(
                c,
                owner,
                "and what about it?",
                session_id="v-a",
                conversation_id=first["conversation_id"],
            )
        )
        try:
            await until(fake_llm.hanging.is_set, follow)  # the rewrite waits for the model
            assert runtime.pipeline._gate.free == 1
            greeting = await chat(c, owner, "hello", session_id="v-b")
            assert greeting.status_code == 200, greeting.text
            assert not follow.done()  # still waiting for its model
        finally:
            fake_llm.hang = False  # the rewrite is answered now, then the answer
        assert (await follow).status_code == 200


async def test_a_hung_embeddings_provider_fails_the_turn_within_its_model_time(
    fake_embeddings: FakeOpenAI, db: Any, redis_client: Any
) -> None:
    """The provider never answers the question's embedding: the turn ends with 502
    ``embedding_failed`` at its model time (two thirds of REQUEST_TIMEOUT_SECONDS), not the
    request's 504 once the widget has given up; the message's claim is released, so the
    client's retry with the same id answers it once the provider is back."""
    settings = make_settings(request_timeout_seconds=3.0, retrieval_min_similarity=0.05)
    embedder = provider_embedder(fake_embeddings, settings)
    async with (
        make_runtime(settings, db, redis_client, embedder=embedder) as runtime,
        client_for(runtime) as c,
    ):
        owner = await refunds_owner(c, runtime, "Hung embeddings")
        message_id = uuid.uuid4().hex
        question = f"How long do refunds take to arrive {uuid.uuid4().hex[:6]}?"
        fake_embeddings.hang = True
        try:
            failed = await chat(c, owner, question, client_message_id=message_id)
        finally:
            fake_embeddings.hang = False
        assert failed.status_code == 502, failed.text
        assert failed.json()["error"]["code"] == "embedding_failed"
        retried = await chat(c, owner, question, client_message_id=message_id)
        assert retried.status_code == 200, retried.text
        assert retried.json()["conversation_id"]


async def test_a_query_whose_callers_all_left_is_withdrawn_from_the_model() -> None:
    """The caller of a query is cancelled (a turn past its model time) while the model encodes
    it: the model's request is cancelled too, and the worker takes the next query. It went on
    (a hung provider's request for up to its timeout, with retries) and held the worker."""
    release, started = asyncio.Event(), asyncio.Event()
    withdrawn: list[list[str]] = []

    async def encode(texts: list[str]) -> np.ndarray:
        if "hung" in texts:
            started.set()
            try:
                await release.wait()
            except asyncio.CancelledError:
                withdrawn.append(texts)
                raise
        return np.ones((len(texts), 4), dtype=np.float32)

    scheduler = ModelScheduler(encode, batching=Batching(wait_ms=0), workers=1)
    hung = asyncio.create_task(scheduler.query("hung"))
    await started.wait()  # the model is encoding it
    hung.cancel()
    try:
        # A bound only against a hang; the worker answers at once once the query is withdrawn.
        vector = await asyncio.wait_for(scheduler.query("next"), 30)
        assert vector.shape == (4,)
        assert withdrawn == [["hung"]]
    finally:
        release.set()
        await scheduler.aclose()


async def test_the_rewrites_tokens_are_metered_when_the_embedding_then_fails(
    llm_settings: Settings,
    fake_llm: FakeOpenAI,
    fake_embeddings: FakeOpenAI,
    db: Any,
    redis_client: Any,
) -> None:
    """A follow-up is rewritten by the model (110 tokens), then its embedding fails: the turn
    answers 502 ``embedding_failed`` and the rewrite's tokens are counted. They were dropped."""
    embedder = provider_embedder(fake_embeddings, llm_settings)
    async with (
        make_runtime(llm_settings, db, redis_client, embedder=embedder) as runtime,
        client_for(runtime) as c,
    ):
        owner = await refunds_owner(c, runtime, "Rewrite metered")
        first = (await chat(c, owner, "hi", session_id="v-r")).json()
        fake_llm.usage = (100, 10)
        fake_embeddings.fail_next(400)
        failed = await chat(
            c,
            owner,
            "and what about it?",
            session_id="v-r",
            conversation_id=first["conversation_id"],
        )
        assert failed.status_code == 502, failed.text
        assert failed.json()["error"]["code"] == "embedding_failed"
        assert len(fake_llm.chat_requests) == 1  # the rewrite
        assert await used(c, owner) == (110, 110)


async def test_a_json_turn_cancelled_after_its_model_answered_meters_its_tokens(
    llm_settings: Settings, fake_llm: FakeOpenAI, db: Any, redis_client: Any
) -> None:
    """The model answered (740 tokens), then the turn waits for a slot to record it and the
    request times out (cancelled): those tokens are counted, as a streamed turn's are. A JSON
    turn gave its whole reservation back and counted nothing."""
    settings = llm_settings.model_copy(update={"chat_concurrent_turns": 1})
    async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as c:
        owner = await refunds_owner(c, runtime, "Cancelled JSON")
        async with runtime.db.transaction(workspace_id=owner.workspace_id) as session:
            workspace = await get_workspace(session, uuid.UUID(owner.workspace_id))
        assert workspace is not None
        fake_llm.usage = (700, 40)
        fake_llm.hang = True  # the model answers when the test has taken the gate's slot
        pipeline = runtime.pipeline
        turn = asyncio.create_task(
            pipeline.answer(
                ChatInput(
                    workspace=workspace,
                    message="How long do refunds take to arrive?",
                    session_id=f"s-{uuid.uuid4().hex}",
                )
            )
        )
        await until(fake_llm.hanging.is_set, turn)
        async with pipeline._gate.slot():  # other turns hold the database part
            fake_llm.hang = False
            await until(lambda: pipeline._gate.finishing == 1, turn)
            turn.cancel()  # the request's timeout
            with pytest.raises(asyncio.CancelledError):
                await turn
        assert await used(c, owner) == (740, 740)
