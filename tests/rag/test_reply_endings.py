"""How a model's reply that is not a whole answer is served, recorded and cached, streamed and
as JSON alike: a stream whose body ends early without an error, a reply cut at max_tokens (or
at the cap on a reply's length, for a server that ignores max_tokens), and a model that failed
(whose question the owner finds on the Unanswered list)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import Owner
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_answers import (
    fake_llm,
    llm_client,
    llm_settings,
    refunds_owner,
    streamed_chat,
)
from tests.rag.test_chat import chat
from tests.rag.test_daily_token_reservations import used
from tests.rag.test_turn_endings import transcript_answer

FIXTURES = (fake_llm, llm_settings, llm_client)
"""The fake model, its settings and a runtime over it, shared with tests/rag/test_answers.py."""

ANSWER = " ".join(["Refunds arrive within 5 to 7 business days [1]."] * 8)
QUESTION = "How long do refunds take to arrive?"


async def unanswered_count(client: httpx.AsyncClient, owner: Owner) -> int:
    groups = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    return sum(g["count"] for g in groups)


def session() -> str:
    return f"s-{uuid.uuid4().hex}"


async def test_a_stream_that_ends_early_without_an_error_is_no_whole_answer(
    llm_client: Any, fake_llm: FakeOpenAI
) -> None:
    """The provider's body ends cleanly after 11 words (no finish_reason, no [DONE]: a gateway
    whose backend died): the visitor gets the fallback in place of what the model wrote, the
    answer is recorded as interrupted with its tokens, and nothing is cached. The half answer
    was recorded as whole and served from the cache to the next visitor for a day."""
    client, runtime = llm_client
    owner = await refunds_owner(client, runtime, "Cut stream")
    fake_llm.chat_reply = ANSWER
    fake_llm.stream_cut_after = 11
    events = await streamed_chat(client, owner, QUESTION, session())
    names = [name for name, _ in events]
    assert "replace" in names  # the fallback in place of what the model wrote
    done = events[-1][1]
    assert done["source"] == "fallback"
    answer = await transcript_answer(client, owner, done["conversation_id"])
    assert answer["interrupted"] is True
    spent = answer["prompt_tokens"] + answer["completion_tokens"]
    assert spent > 0
    assert await used(client, owner) == (spent, spent)
    assert await unanswered_count(client, owner) == 1  # the visitor got no answer
    fake_llm.stream_cut_after = None
    later = (await chat(client, owner, QUESTION, session_id=session())).json()
    assert later["source"] == "rag"  # written anew, not the cut answer from the cache


async def test_an_answer_cut_at_max_tokens_says_so_to_the_visitor_and_the_owner(
    llm_client: Any, fake_llm: FakeOpenAI
) -> None:
    """The model stops at max_tokens (``finish_reason: length``): the visitor gets what it
    wrote ending with "…" (JSON and streamed alike), the owner's transcript marks it
    ``truncated``, and no other visitor is served it from the cache."""
    client, runtime = llm_client
    owner = await refunds_owner(client, runtime, "Cut at max tokens")
    fake_llm.chat_reply = "Refunds arrive within 5 to 7 business days [1] on the"
    fake_llm.finish_reason = "length"
    body = (await chat(client, owner, QUESTION, session_id=session())).json()
    assert body["source"] == "rag"
    assert body["answer"] == fake_llm.chat_reply + "…"
    events = await streamed_chat(client, owner, QUESTION, session())
    done = events[-1][1]
    assert (done["source"], done["answer"]) == ("rag", body["answer"])
    for conversation_id in (body["conversation_id"], done["conversation_id"]):
        answer = await transcript_answer(client, owner, conversation_id)
        assert answer["truncated"] is True
        assert answer["text"] == body["answer"]
    fake_llm.finish_reason = "stop"
    whole = (await chat(client, owner, QUESTION, session_id=session())).json()
    assert whole["source"] == "rag"
    assert whole["answer"] == fake_llm.chat_reply  # written anew, not from the cache
    assert (await transcript_answer(client, owner, whole["conversation_id"]))["truncated"] is False


async def test_a_reply_past_the_length_cap_is_cut_as_at_max_tokens(
    llm_settings: Any, fake_llm: FakeOpenAI, db: Any, redis_client: Any
) -> None:
    """A server that ignores max_tokens (10 here) sends a reply far longer: it is cut at 8
    characters a token (80), ending with "…", recorded as truncated, the same streamed and as
    JSON. Nothing bounded what was shown and stored."""
    from tests.conftest import client_for, make_runtime

    settings = llm_settings.model_copy(update={"llm_max_tokens": 10})
    async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as c:
        owner = await refunds_owner(c, runtime, "Length cap")
        fake_llm.chat_reply = ANSWER * 20
        body = (await chat(c, owner, QUESTION, session_id=session())).json()
        assert body["answer"] == ANSWER[:80].rstrip() + "…"
        events = await streamed_chat(c, owner, QUESTION, session())
        shown = "".join(data["text"] for name, data in events if name == "delta")
        assert shown == ANSWER[:80]
        done = events[-1][1]
        assert done["answer"] == body["answer"]
        answer = await transcript_answer(c, owner, done["conversation_id"])
        assert (answer["truncated"], answer["text"]) == (True, body["answer"])


async def test_a_model_outage_leaves_the_question_on_the_unanswered_list(
    llm_client: Any, fake_llm: FakeOpenAI
) -> None:
    """The model fails (a 500 before any word, an error mid-stream): the visitor gets the
    fallback, and the owner finds the question on the Unanswered list, as analytics counts
    it. It was counted unanswered but listed nowhere."""
    client, runtime = llm_client
    owner = await refunds_owner(client, runtime, "Model outage")
    fake_llm.fail_next(500)
    body = (await chat(client, owner, QUESTION, session_id=session())).json()
    assert body["source"] == "fallback"
    fake_llm.stream_error_after = 3
    events = await streamed_chat(client, owner, "Do you ship hardware keys to Nepal?", session())
    assert events[-1][1]["source"] == "fallback"
    assert await unanswered_count(client, owner) == 2
