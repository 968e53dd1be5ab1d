"""A hung model within the request's time: the visitor gets the fallback, JSON or streamed, and
the transcript records it the same way; shutdown waits as long for a streamed one.

Scaled down: REQUEST_TIMEOUT_SECONDS=3 gives a turn 2 s of model time, while the model's own
limits (1 s a try, several retries with back-off) would take longer than the request. Before,
a JSON turn answered 504 ``request_timeout`` with the visitor's message recorded and metered
and no answer, a streamed one sent ``meta`` and then nothing until the fallback came in the
background, and a streamed turn still in its retries at shutdown was dropped.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from api.runtime import describe_defaults
from core.db import Database
from rag.chat.exchange import ChatInput
from rag.chat.prompts import fallback_answer
from rag.chat.repository import conversations as conversation_repo
from tests.conftest import RuntimeFactory, client_for, make_settings, signup
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_answers import REFUNDS, ingest
from tests.rag.test_chat import parse_sse, widget_headers
from workspaces.repository import get_workspace

QUESTION = "Can I get a refund on a yearly plan?"
FALLBACK = fallback_answer("")
SCALED = {
    "request_timeout_seconds": 3.0,
    "llm_timeout_seconds": 1.0,
    "retrieval_min_similarity": 0.05,
    "openai_api_key": "sk-test",
}


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(chat_reply="Yearly plans are refunded within 30 days [1].") as fake:
        yield fake


async def _transcript(db: Database, workspace_id: str, conversation_id: str) -> list[Any]:
    async with db.transaction(workspace_id=workspace_id) as session:
        messages = await conversation_repo.list_messages(
            session,
            workspace_id=uuid.UUID(workspace_id),
            conversation_id=uuid.UUID(conversation_id),
            limit=10,
        )
    return [(m.role, m.source, m.text) for m in messages]


async def test_a_hung_model_gets_the_fallback_json_or_streamed_recorded_alike(
    runtime_factory: RuntimeFactory, model: FakeOpenAI, db: Database
) -> None:
    async with (
        runtime_factory(openai_base_url=model.base_url, llm_max_retries=2, **SCALED) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, "Hung model")
        await ingest(client, owner, runtime, "Refunds", REFUNDS)
        model.hang = True
        said = await client.post(
            "/api/v1/chat",
            json={"message": QUESTION, "session_id": f"json-{uuid.uuid4()}"},
            headers=widget_headers(owner),
        )
        streamed = await client.post(
            "/api/v1/chat",
            json={"message": QUESTION, "session_id": f"sse-{uuid.uuid4()}"},
            headers=widget_headers(owner, Accept="text/event-stream"),
        )
        await runtime.pipeline.drain()
        usage = (await client.get(owner.url("/usage"), headers=owner.headers)).json()
    assert said.status_code == 200, said.text
    body = said.json()
    assert (body["source"], body["answer"]) == ("fallback", FALLBACK)
    events = parse_sse(streamed.text)
    assert [name for name, _ in events] == ["meta", "replace", "citations", "done"]
    assert events[1][1]["text"] == FALLBACK
    assert (events[-1][1]["source"], events[-1][1]["answer"]) == ("fallback", FALLBACK)
    expected = [("user", None, QUESTION), ("assistant", "fallback", FALLBACK)]
    for conversation_id in (body["conversation_id"], events[0][1]["conversation_id"]):
        assert await _transcript(db, owner.workspace_id, conversation_id) == expected
    assert usage["metrics"]["messages"]["used"] == 2


async def test_a_follow_up_to_a_hung_model_gets_the_fallback_too(
    runtime_factory: RuntimeFactory, model: FakeOpenAI, db: Database
) -> None:
    """The rewrite and the answer share the turn's model time: both time out within it."""
    async with (
        runtime_factory(openai_base_url=model.base_url, llm_max_retries=2, **SCALED) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, "Hung follow-up")
        await ingest(client, owner, runtime, "Refunds", REFUNDS)
        session_id = f"fu-{uuid.uuid4()}"
        first = await client.post(
            "/api/v1/chat",
            json={"message": QUESTION, "session_id": session_id},
            headers=widget_headers(owner),
        )
        assert first.json()["source"] == "rag"
        model.hang = True
        conversation_id = first.json()["conversation_id"]
        follow = await client.post(
            "/api/v1/chat",
            json={
                "message": "and for monthly plans?",
                "session_id": session_id,
                "conversation_id": conversation_id,
            },
            headers=widget_headers(owner),
        )
    assert follow.status_code == 200, follow.text
    assert (follow.json()["source"], follow.json()["answer"]) == ("fallback", FALLBACK)
    transcript = await _transcript(db, owner.workspace_id, conversation_id)
    assert transcript[-2:] == [
        ("user", None, "and for monthly plans?"),
        ("assistant", "fallback", FALLBACK),
    ]


async def test_shutdown_waits_for_a_streamed_answer_to_a_hung_model(
    runtime_factory: RuntimeFactory, model: FakeOpenAI, db: Database
) -> None:
    """The visitor left after ``meta``; the server shuts down while the model hangs. The
    drain waits for the turn's model time, so the fallback is recorded (it waited
    LLM_TIMEOUT_SECONDS + 5, less than the model's retries took)."""
    async with (
        runtime_factory(openai_base_url=model.base_url, llm_max_retries=4, **SCALED) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, "Hung at shutdown")
        await ingest(client, owner, runtime, "Refunds", REFUNDS)
        async with runtime.db.transaction(workspace_id=owner.workspace_id) as session:
            workspace = await get_workspace(session, uuid.UUID(owner.workspace_id))
        assert workspace is not None
        model.hang = True
        inp = ChatInput(workspace=workspace, message=QUESTION, session_id=f"s-{uuid.uuid4()}")
        events = runtime.pipeline.stream(inp)
        meta = (await anext(events))[1]
        await events.aclose()  # the visitor is gone; the runtime shuts down now
    transcript = await _transcript(db, owner.workspace_id, meta["conversation_id"])
    assert transcript == [("user", None, QUESTION), ("assistant", "fallback", FALLBACK)]


def test_model_settings_that_cannot_fit_a_turn_are_named() -> None:
    defaults = make_settings(openai_api_key="sk-test")
    assert defaults.chat_model_seconds == 40
    assert defaults.llm_tries_seconds <= defaults.chat_model_seconds
    assert defaults.model_time_problem() is None
    before = make_settings(openai_api_key="sk-test", llm_timeout_seconds=20, llm_max_retries=2)
    problem = before.model_time_problem()
    assert problem is not None
    for name in ("LLM_TIMEOUT_SECONDS=20", "LLM_MAX_RETRIES=2", "REQUEST_TIMEOUT_SECONDS=60"):
        assert name in problem
    # No model, or no request timeout: nothing to fit.
    assert make_settings(llm_timeout_seconds=20, llm_max_retries=2).model_time_problem() is None
    unlimited = make_settings(openai_api_key="sk-test", request_timeout_seconds=0)
    assert unlimited.model_time_problem() is None
    assert unlimited.chat_drain_seconds > 2 * unlimited.llm_timeout_seconds


async def test_the_start_up_warns_of_model_settings_that_cannot_fit(
    runtime_factory: RuntimeFactory, model: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    async with runtime_factory(
        openai_base_url=model.base_url, llm_max_retries=4, **SCALED
    ) as runtime:
        with caplog.at_level(logging.WARNING):
            describe_defaults(runtime)
    assert "LLM_MAX_RETRIES=4" in caplog.text
