"""What the model writes becomes the answer only as an answer may be: characters PostgreSQL refuses
(NUL) or no reader sees (the other control characters) are dropped where the reply enters
(rag/chat/llm.py), so the visitor is not told their message was invalid and the turn's answer
is recorded, as JSON and as a stream alike."""

from __future__ import annotations

from typing import Any

from core.db import Database
from tests.conftest import RuntimeFactory
from tests.rag.test_chat import parse_sse
from tests.rag.test_concurrent_turns import answering_workspace, transcript_counts, turn


def events_of(body: str) -> tuple[list[str], dict[str, Any]]:
    """The events' names and the ``done`` event's data."""
    events = parse_sse(body)
    return [name for name, _ in events], events[-1][1]


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
