"""Turns at once in one conversation (an API client sending concurrently, two widget tabs sharing
the stored conversation), with the model's tokens metered: recording a message and recording an
answer lock the workspace's usage rows and the conversation's row in the same order, so no
turn is aborted by PostgreSQL's deadlock detection (a 500, or a message left without its
answer).

Without that order the first test fails on most runs (a few turns in a hundred deadlock); the
second holds the interleaving still and fails on every run."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.db import Database
from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_answers import REFUNDS, ingest
from tests.rag.test_chat import widget_headers

ANSWER = "Yearly plans are refunded in full within 30 days [1]."
ROUNDS = 10
IN_THE_CONVERSATION = 10
ELSEWHERE = 5


@asynccontextmanager
async def answering_workspace(
    runtime_factory: RuntimeFactory, name: str, **settings: Any
) -> AsyncIterator[tuple[FakeOpenAI, httpx.AsyncClient, Owner]]:
    """A workspace holding the refunds page, answered by a model (the fake OpenAI server, its
    reply ``ANSWER`` until changed) whose tokens are metered; the model and a client. The page
    is relevant to every question (a cosine of -1 reaches the bound): whether a question finds
    it does not hang on the random word ``question()`` puts in it."""
    with FakeOpenAI(chat_reply=ANSWER) as model:
        async with (
            runtime_factory(
                openai_api_key="sk-test",
                openai_base_url=model.base_url,
                llm_max_retries=0,
                retrieval_min_similarity=-1.0,
                **settings,
            ) as runtime,
            client_for(runtime) as client,
        ):
            owner = await signup(client, name)
            await ingest(client, owner, runtime, "Refunds", REFUNDS)
            yield model, client, owner


async def turn(
    client: httpx.AsyncClient, owner: Owner, session_id: str, *, stream: bool = False, **body: str
) -> httpx.Response:
    """One widget turn as the widget sends it (with a client_message_id), asking a new question;
    ``stream``: as server-sent events."""
    payload = {
        "message": question(),
        "session_id": session_id,
        "client_message_id": uuid.uuid4().hex,
        **body,
    }
    headers = widget_headers(owner, **({"Accept": "text/event-stream"} if stream else {}))
    return await client.post("/api/v1/chat", json=payload, headers=headers)


def question() -> str:
    """A question no other turn asks (no turn is answered from the response cache: every one
    runs the model and meters its tokens)."""
    order = "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:16])  # a word
    return f"How long does a refund of a yearly plan take for order {order}?"


async def test_a_question_of_any_order_word_is_answered_from_the_page(
    runtime_factory: RuntimeFactory,
) -> None:
    """``question()``'s order word is random. In the tests' hashing embedder about one word in
    a hundred lands in the buckets of the words the question shares with the refunds page,
    with the opposite sign: the cosine fell under the relevance bound, retrieval found
    nothing and the turn got "don't know" without the model (test_model_output's streamed
    turn failed now and then in full runs). This order word did."""
    unlucky = "How long does a refund of a yearly plan take for order gdofjgncgfkhelab?"
    async with answering_workspace(runtime_factory, "Unlucky order") as (model, client, owner):
        answered = await turn(client, owner, "unlucky", message=unlucky)
    assert answered.status_code == 200, answered.text
    assert (answered.json()["source"], answered.json()["answer"]) == ("rag", ANSWER)
    assert len(model.requests) == 1


async def transcript_counts(owner_db: Database, owner: Owner) -> tuple[int, int, int]:
    """The workspace's visitor messages, answers, and visitor messages whose answer (the
    ``reply_id`` a message sent with a client_message_id names) was never recorded."""
    async with owner_db.transaction() as session:
        row = (
            await session.execute(
                text(
                    "SELECT count(*) FILTER (WHERE role = 'user'),"
                    " count(*) FILTER (WHERE role = 'assistant'),"
                    " count(*) FILTER (WHERE role = 'user' AND NOT EXISTS ("
                    "  SELECT 1 FROM messages a WHERE a.workspace_id = m.workspace_id"
                    "  AND a.id = m.reply_id AND a.role = 'assistant'))"
                    " FROM messages m WHERE workspace_id = :w"
                ),
                {"w": uuid.UUID(owner.workspace_id)},
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


async def test_concurrent_metered_turns_in_one_conversation_all_get_their_answer(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    async with answering_workspace(
        runtime_factory,
        "Concurrent turns",
        default_plan="pro",  # room for every turn's tokens under the daily cap
        semantic_cache_similarity=1.0,
    ) as (_, client, owner):
        first = await turn(client, owner, "two-tabs")
        assert first.status_code == 200, first.text
        conversation = first.json()["conversation_id"]
        statuses: Counter[int] = Counter()
        failures: list[str] = []
        for n in range(ROUNDS):
            same = [
                turn(client, owner, "two-tabs", conversation_id=conversation)
                for _ in range(IN_THE_CONVERSATION)
            ]
            others = [turn(client, owner, f"elsewhere-{n}-{i}") for i in range(ELSEWHERE)]
            responses = await asyncio.gather(*same, *others)
            statuses.update(r.status_code for r in responses)
            failures += [r.text for r in responses if r.status_code != 200]
    turns = 1 + ROUNDS * (IN_THE_CONVERSATION + ELSEWHERE)
    assert statuses == {200: turns - 1}, failures[:3]
    assert await transcript_counts(owner_db, owner) == (turns, turns, 0)


async def answers_waiting_for_a_lock(owner_db: Database) -> int:
    async with owner_db.transaction() as session:
        return int(
            (
                await session.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND query LIKE 'WITH new_message AS%'"
                    )
                )
            ).scalar_one()
        )


async def test_an_answer_waiting_for_the_workspace_s_counters_lets_its_conversation_go_on(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """The interleaving behind the deadlock, held still: a turn records its answer while
    another transaction holds this month's counters (any other turn of the workspace). Waiting
    there, it must hold nothing another turn of its conversation needs before those counters
    (recording a message takes the counters, then the conversation)."""
    in_model = threading.Event()
    go_on = threading.Event()

    def held_reply(body: object) -> str:
        in_model.set()
        go_on.wait(30)
        return ANSWER

    async with answering_workspace(runtime_factory, "Held answer") as (model, client, owner):
        first = await turn(client, owner, "held")
        assert first.status_code == 200, first.text
        conversation = first.json()["conversation_id"]
        model.chat_reply = held_reply
        answering = asyncio.create_task(turn(client, owner, "held", conversation_id=conversation))
        try:
            assert await asyncio.to_thread(in_model.wait, 30)
            async with owner_db.transaction() as other_turn:
                await other_turn.execute(
                    text("SELECT 1 FROM usage_counters WHERE workspace_id = :w FOR UPDATE"),
                    {"w": uuid.UUID(owner.workspace_id)},
                )
                go_on.set()
                for _ in range(3000):  # until the answer's statement waits for the row
                    if await answers_waiting_for_a_lock(owner_db):
                        break
                    await asyncio.sleep(0.01)
                else:
                    pytest.fail("the answer never waited for this month's counters")
                try:
                    async with owner_db.transaction() as same_conversation:
                        await same_conversation.execute(
                            text(
                                "SELECT 1 FROM conversations WHERE id = :c FOR NO KEY UPDATE NOWAIT"
                            ),
                            {"c": uuid.UUID(conversation)},
                        )
                except DBAPIError as exc:
                    pytest.fail(f"the waiting answer holds its conversation: {exc.orig}")
        finally:
            go_on.set()
            answered = await answering
    assert answered.status_code == 200, answered.text
    assert answered.json()["answer"] == ANSWER
    assert await transcript_counts(owner_db, owner) == (2, 2, 0)
