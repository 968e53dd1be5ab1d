"""The conversation export's JSON lines are lines wherever they are split: a visitor's words
holding a Unicode line or paragraph separator (U+2028, U+2029) or a next-line control (U+0085),
as text pasted from a word processor or a web page does, stay inside their line.

JSON allows those characters unescaped in a string, but many readers split lines as Python's
``str.splitlines`` does, at them too: httpx's ``Response.iter_lines``, and ``splitlines``
itself (as this suite read the export). Such a reader got half a record, and ``json.loads``
failed on it."""

from __future__ import annotations

import json

import httpx

from api.runtime import Runtime
from tests.conftest import signup
from tests.rag.test_analytics import Visitor, app

__all__ = ["app"]  # the fixture

PASTED = "Do you ship\u2028to Pune?\u2029Or\x85Goa?"


async def test_json_lines_split_anywhere_are_whole_records(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, _ = app
    owner = await signup(client, "Lines")
    visitor = Visitor(client, owner)
    await visitor.say(PASTED)
    response = await client.get(
        owner.url("/conversations/export"), params={"format": "jsonl"}, headers=owner.headers
    )
    assert response.status_code == 200, response.text
    lines = response.text.splitlines()
    assert lines == response.text.split("\n")[:-1]  # "\n" alone ends a line
    records = [json.loads(line) for line in lines]
    said = [r["text"] for r in records if r["type"] == "message" and r["role"] == "user"]
    assert said == [PASTED]  # the words as the visitor sent them
    assert [json.loads(line) for line in response.iter_lines()] == records
