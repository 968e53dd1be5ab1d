"""How a streamed turn that does not end with its model's whole answer is told, metered and
recorded: a turn cancelled mid-answer (shutdown) gives back its daily-token reservation, less
what its model wrote; a model stream that breaks off after the visitor saw its start is metered
and recorded as interrupted; ``meta`` names no source before the answer is written, and
``done`` names the one that answered (a reviewer's three findings on the chat turn)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.runtime import Runtime
from core import metrics
from core.config import Settings
from rag.chat.exchange import ChatInput
from tests.conftest import Owner, client_for, make_runtime
from tests.dashboard.conftest import web_login
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_answers import fake_llm, llm_settings, refunds_owner, streamed_chat
from tests.rag.test_chat import add_faq
from tests.rag.test_daily_token_reservations import used
from workspaces.repository import get_workspace

LONG_ANSWER = " ".join(["Refunds arrive within 5 to 7 business days [1]."] * 8)
"""Long enough that the output guard lets the visitor see its start before word 30."""


FIXTURES = (fake_llm, llm_settings)
"""The fake model and its settings, shared with tests/rag/test_answers.py."""


@pytest.fixture
async def turns(
    fake_llm: FakeOpenAI, llm_settings: Settings, db: Any, redis_client: Any
) -> AsyncIterator[Any]:
    """A runtime whose model is the fake, writing ``LONG_ANSWER``; no timeout cuts a hanging
    stream short in a test."""
    fake_llm.chat_reply = LONG_ANSWER
    fake_llm.usage = None
    settings = llm_settings.model_copy(update={"llm_timeout_seconds": 60.0})
    try:
        async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as c:
            yield c, runtime
    finally:
        fake_llm.hang = False
        fake_llm.stream_hang_after = None


async def visitor_input(runtime: Runtime, owner: Owner, message: str) -> ChatInput:
    async with runtime.db.transaction(workspace_id=owner.workspace_id) as session:
        workspace = await get_workspace(session, uuid.UUID(owner.workspace_id))
    assert workspace is not None
    return ChatInput(workspace=workspace, message=message, session_id=f"s-{uuid.uuid4().hex}")


async def test_a_turn_cancelled_mid_answer_gives_back_its_reservation_less_what_was_written(
    turns: Any, fake_llm: FakeOpenAI
) -> None:
    """Shutdown's drain runs out of time while a model is still writing: the turn is cancelled
    and its reservation (thousands of tokens: the most the turn could spend) settled to what
    the model wrote, counted today and this month alike. It stayed held all day."""
    client, runtime = turns
    owner = await refunds_owner(client, runtime, "Cancelled turn")
    inp = await visitor_input(runtime, owner, "How long do refunds take to arrive?")
    fake_llm.stream_hang_after = 30  # words: the visitor has seen the start, the model stalls
    events = runtime.pipeline.stream(inp)
    kinds = [(await anext(events))[0]]
    while kinds[-1] != "delta":  # the model's first words reached the visitor
        kinds.append((await anext(events))[0])
    assert kinds[0] == "meta"
    await events.aclose()  # the visitor is gone; the turn goes on writing
    await runtime.pipeline.drain(within_seconds=0)  # shutdown, out of time
    day, month = await used(client, owner)
    assert day == month  # nothing held beyond what was counted
    assert 0 < month < 1_000  # the words written so far and the prompt, not the reservation


async def test_a_turn_cancelled_before_its_model_wrote_gives_back_its_whole_reservation(
    turns: Any, fake_llm: FakeOpenAI
) -> None:
    client, runtime = turns
    owner = await refunds_owner(client, runtime, "Cancelled early")
    inp = await visitor_input(runtime, owner, "How long do refunds take to arrive?")
    fake_llm.hang = True  # the model never answers
    events = runtime.pipeline.stream(inp)
    assert (await anext(events))[0] == "meta"
    await events.aclose()
    await runtime.pipeline.drain(within_seconds=0)
    assert await used(client, owner) == (0, 0)


async def transcript_answer(client: httpx.AsyncClient, owner: Owner, conversation_id: str) -> Any:
    url = owner.url(f"/conversations/{conversation_id}")
    messages = (await client.get(url, headers=owner.headers)).json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    return messages[-1]


def completion_tokens_counted() -> float:
    """The completion tokens /metrics has counted in this process, every model's."""
    return sum(
        sample.value
        for family in metrics.REGISTRY.collect()
        if family.name == "trulybot_llm_tokens"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels.get("kind") == "completion"
    )


async def test_a_stream_broken_off_after_its_first_words_is_metered_and_recorded_as_such(
    turns: Any, fake_llm: FakeOpenAI
) -> None:
    """The provider's stream fails after 30 words, some of them shown: the visitor gets the
    fallback in their place, the owner's transcript holds that fallback marked interrupted
    with the tokens the model spent (estimated: no usage came), and usage counts them. It
    metered nothing."""
    client, runtime = turns
    owner = await refunds_owner(client, runtime, "Broken stream")
    fake_llm.stream_error_after = 30
    counted = completion_tokens_counted()
    events = await streamed_chat(client, owner, "How long do refunds take to arrive?", "s-b")
    names = [name for name, _ in events]
    assert names[1] == "delta"
    assert "replace" in names
    done = events[-1][1]
    assert done["source"] == "fallback"
    answer = await transcript_answer(client, owner, done["conversation_id"])
    assert answer["prompt_tokens"] > 0
    assert answer["completion_tokens"] > 0
    spent = answer["prompt_tokens"] + answer["completion_tokens"]
    assert await used(client, owner) == (spent, spent)
    # /metrics counts them too (its token counter left them out).
    assert completion_tokens_counted() - counted == answer["completion_tokens"]
    assert answer["text"] == done["answer"]  # the fallback, not a whole answer
    assert answer["interrupted"] is True
    # The dashboard's transcript says so.
    assert (await web_login(client, owner.email, owner.password)).status_code == 303
    url = f"/app/w/{owner.workspace_id}/conversations/{done['conversation_id']}"
    assert "answer broke off partway" in (await client.get(url)).text
    # A model that fails before writing anything spent nothing, and nothing broke off.
    fake_llm.stream_error_after = 0
    events = await streamed_chat(client, owner, "How long do refunds take to arrive?", "s-c")
    answer = await transcript_answer(client, owner, events[-1][1]["conversation_id"])
    assert (answer["interrupted"], answer["prompt_tokens"], answer["completion_tokens"]) == (
        False,
        0,
        0,
    )
    assert await used(client, owner) == (spent, spent)


async def test_meta_names_no_source_before_the_answer_is_written_and_done_names_it(
    turns: Any, fake_llm: FakeOpenAI
) -> None:
    """``meta`` said ``rag`` for every answer to be written from passages, though a model
    that failed or knew nothing answered with the fallback: the widget was told one thing and
    ``done`` another. Now ``meta`` names the source only when a stage settled the answer."""
    client, runtime = turns
    owner = await refunds_owner(client, runtime, "Meta source")
    question = "How long do refunds take to arrive?"

    async def sources(session_id: str) -> tuple[Any, Any]:
        events = await streamed_chat(client, owner, question, session_id)
        assert events[0][0] == "meta"
        assert events[-1][0] == "done"
        return events[0][1]["source"], events[-1][1]["source"]

    fake_llm.stream_error_after = 30  # the model breaks off: the fallback answers
    assert await sources("s-1") == (None, "fallback")
    fake_llm.stream_error_after = None
    fake_llm.chat_reply = "I could not find that in the documents."  # cites nothing
    assert await sources("s-2") == (None, "fallback")
    fake_llm.chat_reply = "Refunds arrive within 5 to 7 business days [1]."
    assert await sources("s-3") == (None, "rag")
    await add_faq(client, owner, question, "Within a week.")
    assert await sources("s-4") == ("faq", "faq")  # settled before the stream: said at once
