"""What the model writes becomes the answer only as an answer may be: a reply that shows nothing
is answered as when the model fails, never as an empty bubble; characters PostgreSQL refuses
(NUL) or no reader sees (the other control characters) are dropped where the reply enters
(rag/chat/llm.py), so the visitor is not told their message was invalid and the turn's answer
is recorded, as JSON and as a stream alike."""

from __future__ import annotations

from typing import Any

import pytest

from core.db import Database
from tests.conftest import RuntimeFactory
from tests.rag.test_chat import parse_sse
from tests.rag.test_concurrent_turns import answering_workspace, transcript_counts, turn


def events_of(body: str) -> tuple[list[str], dict[str, Any]]:
    """The events' names and the ``done`` event's data."""
    events = parse_sse(body)
    return [name for name, _ in events], events[-1][1]


@pytest.mark.parametrize("reply", ["", "  \n\u200b "])
async def test_a_reply_that_shows_nothing_gets_the_fallback_answer(
    runtime_factory: RuntimeFactory, owner_db: Database, reply: str
) -> None:
    """A reply with no content (the provider's content filter, a reasoning model that spent
    ``max_tokens`` thinking) was sent and recorded as an empty answer."""
    async with answering_workspace(runtime_factory, "Blank reply") as (model, client, owner):
        model.chat_reply = reply
        answered = await turn(client, owner, "blank-json")
        streamed = await turn(client, owner, "blank-stream", stream=True)
        # What the owner sees: both questions left unanswered, the model's tokens metered.
        groups = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
        usage = (await client.get(owner.url("/usage"), headers=owner.headers)).json()
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["source"] == "fallback"
    assert "having trouble answering" in body["answer"]
    assert body["lead_capture"] is True  # the answer asks for an email address: the form
    names, done = events_of(streamed.text)
    assert names[0] == "meta"
    assert names[-3:] == ["replace", "citations", "done"]
    assert done["answer"] == body["answer"]
    assert done["source"] == "fallback"
    assert sum(g["count"] for g in groups) == 2
    assert usage["llm_tokens"] > 0
    assert await transcript_counts(owner_db, owner) == (2, 2, 0)


async def test_control_characters_in_a_reply_are_dropped_and_the_answer_recorded(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """A NUL in the reply (which a visitor can coax a model into writing) failed the answer's
    insert: 422 ``invalid_text`` for a message the visitor wrote correctly (the widget took it
    back into the input box), or ``error`` after the stream had shown the text; the message
    was left recorded and metered without an answer."""
    async with answering_workspace(runtime_factory, "Control reply") as (model, client, owner):
        model.chat_reply = "Yearly plans are refunded\u0000 in full within\u001b 30 days\u0007 [1]."
        answered = await turn(client, owner, "nul-json")
        streamed = await turn(client, owner, "nul-stream", stream=True)
    clean = "Yearly plans are refunded in full within 30 days [1]."
    assert answered.status_code == 200, answered.text
    assert answered.json()["answer"] == clean
    assert answered.json()["source"] == "rag"
    names, done = events_of(streamed.text)
    assert names[0] == "meta"
    assert names[-2:] == ["citations", "done"], names
    assert "error" not in names
    shown = "".join(data["text"] for name, data in parse_sse(streamed.text) if name == "delta")
    assert shown == done["answer"] == clean
    assert await transcript_counts(owner_db, owner) == (2, 2, 0)
