"""A transcript longer than a page (nothing caps a conversation's length): read in keyset pages
that together hold every message, in order. It used to answer the first 500 messages and
nothing else, so a long conversation lost its newest ones, the exchange an owner opens it for."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text

from core.db import Database
from rag.chat.conversations import TRANSCRIPT_PAGE
from tests.conftest import Owner

EXTRA = TRANSCRIPT_PAGE + 20


async def long_conversation(
    client: httpx.AsyncClient, owner_db: Database, public_key: str, extra: int = EXTRA
) -> tuple[str, list[uuid.UUID], list[str]]:
    """A visitor's turn through the widget, then ``extra`` more messages (two at each moment:
    ties are told apart by id). The conversation's id, and its message ids and texts in the
    order they were sent: (created_at, id)."""
    asked = await client.post(
        "/api/v1/chat",
        json={"message": "Where is my parcel?", "session_id": f"long-{uuid.uuid4().hex}"},
        headers={"X-Widget-Key": public_key},
    )
    assert asked.status_code == 200, asked.text
    conversation_id = asked.json()["conversation_id"]
    async with owner_db.transaction() as session:
        turn = (
            await session.execute(
                text(
                    "SELECT id, workspace_id, text, created_at FROM messages"
                    " WHERE conversation_id = :c"
                ),
                {"c": conversation_id},
            )
        ).all()
        start = max(r.created_at for r in turn)
        rows: list[dict[str, Any]] = [
            {
                "id": uuid.uuid4(),
                "ws": turn[0].workspace_id,
                "c": conversation_id,
                "role": "user" if k % 2 == 0 else "assistant",
                "text": f"message {k:04d}",
                "at": start + timedelta(seconds=1 + k // 2),
            }
            for k in range(extra)
        ]
        if rows:
            await session.execute(
                text(
                    "INSERT INTO messages (id, workspace_id, conversation_id, role, text,"
                    " citations, prompt_tokens, completion_tokens, created_at)"
                    " VALUES (:id, :ws, :c, :role, :text, '[]', 0, 0, :at)"
                ),
                rows,
            )
            await session.execute(
                text(
                    "UPDATE conversations SET message_count = message_count + :n,"
                    " last_message_at = :at WHERE id = :c"
                ),
                {"n": extra, "at": rows[-1]["at"], "c": conversation_id},
            )
    every = [(r.created_at, r.id, r.text) for r in turn]
    every += [(r["at"], r["id"], r["text"]) for r in rows]
    every.sort(key=lambda m: (m[0], m[1].int))  # as PostgreSQL orders uuids: their bytes
    return conversation_id, [m[1] for m in every], [m[2] for m in every]


async def _pages(
    client: httpx.AsyncClient, owner: Owner, conversation_id: str, **params: Any
) -> list[dict[str, Any]]:
    """Every page, following next_cursor."""
    pages: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = await client.get(
            owner.url(f"/conversations/{conversation_id}"),
            params=params | ({"cursor": cursor} if cursor else {}),
            headers=owner.headers,
        )
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = pages[-1]["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "the cursor does not move on"


def _ids(page: dict[str, Any]) -> list[uuid.UUID]:
    return [uuid.UUID(m["id"]) for m in page["messages"]]


async def test_the_pages_of_a_long_transcript_hold_every_message_in_order(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    conversation_id, ids, texts = await long_conversation(
        client, owner_db, owner.workspace["public_key"]
    )
    assert len(ids) == EXTRA + 2

    pages = await _pages(client, owner, conversation_id)  # the default: oldest first
    assert [len(p["messages"]) for p in pages] == [TRANSCRIPT_PAGE, len(ids) - TRANSCRIPT_PAGE]
    assert [i for p in pages for i in _ids(p)] == ids
    assert pages[-1]["messages"][-1]["text"] == texts[-1]  # the newest message is there
    assert pages[0]["conversation"]["message_count"] == len(ids)

    newest = await _pages(client, owner, conversation_id, order="newest", limit=100)
    assert len(newest) == 6
    assert _ids(newest[0])[-1] == ids[-1]  # the first page ends with the latest message
    assert [i for p in reversed(newest) for i in _ids(p)] == ids  # each page in sent order


async def test_a_short_transcript_is_one_page(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    conversation_id, ids, _ = await long_conversation(
        client, owner_db, owner.workspace["public_key"], extra=0
    )
    [page] = await _pages(client, owner, conversation_id)
    assert _ids(page) == ids
    assert page["next_cursor"] is None


async def test_a_transcripts_page_size_and_cursor_are_checked(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    conversation_id, _, _ = await long_conversation(
        client, owner_db, owner.workspace["public_key"], extra=0
    )
    path = owner.url(f"/conversations/{conversation_id}")
    for params, code in [
        ({"limit": TRANSCRIPT_PAGE + 1}, "validation_error"),
        ({"limit": 0}, "validation_error"),
        ({"order": "sideways"}, "validation_error"),
        ({"cursor": "not a cursor"}, "invalid_cursor"),
    ]:
        response = await client.get(path, params=params, headers=owner.headers)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"]["code"] == code, params


async def test_the_schema_documents_the_transcripts_pages(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}"]
    params = {p["name"]: p for p in operation["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] == TRANSCRIPT_PAGE
    assert params["limit"]["schema"]["default"] == TRANSCRIPT_PAGE
    assert params["order"]["schema"]["enum"] == ["oldest", "newest"]
    assert "cursor" in params
    assert "next_cursor" in spec["components"]["schemas"]["TranscriptOut"]["properties"]
