"""The widget chat streams when ``Accept`` prefers ``text/event-stream`` to JSON, weighing the
quality values: ``text/event-stream;q=0, application/json`` (a client that refuses the stream)
was streamed to, since the type's name anywhere in the header was enough (an exploratory pass
over the API found it)."""

from __future__ import annotations

import httpx
import pytest

from api.sse import wants_stream
from tests.conftest import Owner
from tests.rag.test_chat import widget_headers


@pytest.mark.parametrize(
    ("accept", "streams"),
    [
        ("text/event-stream", True),
        ("Text/Event-Stream", True),
        ("application/json, text/event-stream", True),  # equal: the stream, as before
        ("text/event-stream, application/json;q=0.9", True),
        ("text/event-stream;q=0, application/json", False),
        ("text/event-stream; q=0.5, application/json", False),
        ("text/event-stream;q=nonsense", False),
        ("application/json", False),
        ("*/*", False),
        (None, False),
    ],
)
def test_the_stream_is_chosen_by_its_weight_against_json(accept: str | None, streams: bool) -> None:
    assert wants_stream(accept) is streams


async def _asked(client: httpx.AsyncClient, owner: Owner, accept: str) -> httpx.Response:
    payload = {"message": f"Hello ({accept})", "session_id": "visitor-accept"}
    headers = widget_headers(owner, Accept=accept)
    return await client.post("/api/v1/chat", json=payload, headers=headers)


async def test_a_client_refusing_the_stream_gets_json(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    answered = await _asked(client, owner, "text/event-stream;q=0, application/json")
    assert answered.status_code == 200, answered.text
    assert answered.headers["content-type"].startswith("application/json")
    assert answered.json()["answer"]
    streamed = await _asked(client, owner, "text/event-stream")
    assert streamed.headers["content-type"].startswith("text/event-stream")
