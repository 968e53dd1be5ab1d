"""The daily LLM token cap holds for turns that start together: each turn reserves the most
tokens it may spend with its message (``rag.chat.token_reservations.TokenEstimate``), in the
statement that records it, while the day is below the cap; its answer settles the reservation to
what it spent, and a turn that fails gives it back (plan-limits review F4: 8 widget questions at
49,000 of 50,000 all ran the model and ended the day at 73,800)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from api.runtime import Runtime
from tests.conftest import Owner, RuntimeFactory, client_for
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_answers import fake_llm, llm_client, llm_settings, refunds_owner
from tests.rag.test_chat import chat
from tests.rag.test_client_message_ids import FlakyEmbedder, post
from workspaces import usage

FIXTURES = (fake_llm, llm_client, llm_settings)
"""The LLM runtime's fixtures, shared with tests/rag/test_answers.py."""
SPENT = (3000, 100)
"""What the fake model reports for every call: 3,100 tokens a turn."""


async def spend(runtime: Runtime, owner: Owner, tokens: int) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)
    async with runtime.db.transaction(workspace_id=workspace_id) as session:
        await usage.record_llm_tokens(session, workspace_id, tokens)


async def used(client: httpx.AsyncClient, owner: Owner) -> tuple[int, int]:
    """Today's LLM tokens and this month's."""
    body = (await client.get(owner.url("/usage"), headers=owner.headers)).json()
    return body["metrics"]["daily_llm_tokens"]["used"], body["llm_tokens"]


async def test_turns_starting_together_stop_at_the_cap(
    llm_client: Any, fake_llm: FakeOpenAI
) -> None:
    """At 49,000 of 50,000, eight visitors ask at once: the first turn's reservation takes the
    day to the cap, so it alone calls the model; the others answer extractively. The day ends
    one turn past the cap, as a lone turn with one token left does (whatever the order)."""
    client, runtime = llm_client
    owner = await refunds_owner(client, runtime, "Together")
    await spend(runtime, owner, 49_000)
    fake_llm.reset()
    fake_llm.usage = SPENT
    fake_llm.latency = 0.2  # the model is slow: every turn starts before any is answered
    try:
        answers = await asyncio.gather(
            *(
                chat(
                    client,
                    owner,
                    f"How long do refunds take to arrive, case {n}?",
                    session_id=f"v-{n}",
                )
                for n in range(8)
            )
        )
    finally:
        fake_llm.usage = None
        fake_llm.latency = 0.0
    assert [a.status_code for a in answers] == [200] * 8
    assert sorted(a.json()["extractive"] for a in answers) == [False] + [True] * 7
    assert len(fake_llm.chat_requests) == 1
    assert await used(client, owner) == (49_000 + 3_100, 49_000 + 3_100)


async def test_a_turn_counts_what_it_spent_not_what_it_reserved(
    llm_client: Any, fake_llm: FakeOpenAI
) -> None:
    client, runtime = llm_client
    owner = await refunds_owner(client, runtime, "Settled")
    fake_llm.usage = SPENT
    try:
        body = (await chat(client, owner, "How long do refunds take to arrive?")).json()
    finally:
        fake_llm.usage = None
    assert body["extractive"] is False
    assert await used(client, owner) == (3_100, 3_100)
    # An answer that needed no model (an FAQ asked word for word) gives its reservation back.
    faq = {"question": "Do you ship abroad?", "answer": "Yes, to 40 countries."}
    assert (await client.post(owner.url("/faqs"), json=faq, headers=owner.headers)).is_success
    calls = len(fake_llm.chat_requests)
    body = (await chat(client, owner, "Do you ship abroad?")).json()
    assert body["source"] == "faq"
    assert len(fake_llm.chat_requests) == calls
    assert await used(client, owner) == (3_100, 3_100)


async def test_a_turn_that_fails_gives_its_reservation_back(
    runtime_factory: RuntimeFactory, llm_settings: Any, fake_llm: FakeOpenAI
) -> None:
    """The embeddings provider fails after the message was recorded (and its tokens reserved):
    the reservation is given back, so the widget's retry of the message still gets the model's
    answer at 49,000 of 50,000, and the day counts that answer once."""
    settings = {
        name: getattr(llm_settings, name)
        for name in ("openai_api_key", "openai_base_url", "llm_max_tokens", "llm_max_retries")
    }
    async with (
        runtime_factory(embedder=FlakyEmbedder(), retrieval_min_similarity=-1.0, **settings) as rt,
        client_for(rt) as client,
    ):
        owner = await refunds_owner(client, rt, "Failed turn")
        await spend(rt, owner, 49_000)
        fake_llm.reset()
        fake_llm.usage = SPENT
        try:
            message_id = str(uuid.uuid4())
            failed = await post(client, owner, "How long do refunds take?", message_id)
            assert failed.status_code == 503, failed.text
            assert await used(client, owner) == (49_000, 49_000)  # nothing held
            retried = await post(client, owner, "How long do refunds take?", message_id)
        finally:
            fake_llm.usage = None
        assert retried.status_code == 200, retried.text
        assert retried.json()["extractive"] is False
        assert len(fake_llm.chat_requests) == 1
        assert await used(client, owner) == (49_000 + 3_100, 49_000 + 3_100)
