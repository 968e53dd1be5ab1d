"""Erasing one visitor's data through the HTTP API, by email or by widget session id."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.db import Database
from core.jobs import JobQueue
from tests.conftest import Owner
from tests.lifecycle.data import Filled, fill, widget


async def _rows(owner_db: Database, workspace_id: str, needle: str) -> dict[str, int]:
    """Rows of the workspace that still mention ``needle`` (a value only one visitor has)."""
    queries = {
        "conversations": "SELECT count(*) FROM conversations c WHERE workspace_id = :ws AND"
        " (session_id LIKE :n OR EXISTS (SELECT 1 FROM messages m"
        "  WHERE m.conversation_id = c.id AND m.text LIKE :n))",
        # The visitors' own words (an answer may quote a document that carries the tag too).
        "messages": "SELECT count(*) FROM messages WHERE workspace_id = :ws AND role = 'user'"
        " AND text LIKE :n",
        "leads": "SELECT count(*) FROM leads WHERE workspace_id = :ws"
        " AND (email LIKE :n OR message LIKE :n)",
        "lead_submissions": "SELECT count(*) FROM lead_submissions WHERE workspace_id = :ws"
        " AND (email LIKE :n OR message LIKE :n)",
        "unanswered_questions": "SELECT count(*) FROM unanswered_questions"
        " WHERE workspace_id = :ws AND question LIKE :n",
    }
    async with owner_db.transaction() as session:
        return {
            name: int(
                (
                    await session.execute(text(sql), {"ws": workspace_id, "n": f"%{needle}%"})
                ).scalar_one()
            )
            for name, sql in queries.items()
        }


async def _erase(client: httpx.AsyncClient, owner: Owner, **body: Any) -> httpx.Response:
    return await client.post(owner.url("/erasures"), json=body, headers=owner.headers)


async def _audit(client: httpx.AsyncClient, owner: Owner) -> list[dict[str, Any]]:
    response = await client.get(
        owner.url("/audit"), params={"action": "visitor.erased"}, headers=owner.headers
    )
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.parametrize("key", ["email", "session_id"])
async def test_an_owner_erases_one_visitor_and_nobody_else(
    key: str, client: httpx.AsyncClient, owner: Owner, owner_db: Database, jobs: JobQueue
) -> None:
    visitor = await fill(client, owner, jobs)
    bystander = await fill(client, owner, jobs)
    # The visitor came back later in the same browser, and asked something the bot can't answer.
    again = await client.post(
        "/api/v1/chat",
        json={
            "message": f"Warranty of gadget {visitor.tag}?",
            "session_id": visitor.visitor_session,
        },
        headers=widget(owner),
    )
    assert again.status_code == 200, again.text
    await jobs.drain()
    before = await _rows(owner_db, owner.workspace_id, visitor.tag)
    assert before["conversations"] == 2  # a second conversation from the same browser
    assert before["messages"] == 2  # the visitor's own words
    async with owner_db.transaction() as session:
        all_messages = (
            await session.execute(
                text(
                    "SELECT count(*) FROM messages m JOIN conversations c"
                    " ON c.id = m.conversation_id WHERE c.session_id = :s"
                ),
                {"s": visitor.visitor_session},
            )
        ).scalar_one()
    assert before["lead_submissions"] == 1
    assert before["leads"] == 2  # the owner's lead and the visitor's (same tag in both)
    bystander_before = await _rows(owner_db, owner.workspace_id, bystander.tag)

    name: str = visitor.visitor_email if key == "email" else visitor.visitor_session
    response = await _erase(client, owner, **{key: name.upper() if key == "email" else name})
    assert response.status_code == 200, response.text
    erased = response.json()["erased"]
    assert erased["conversations"] == 2
    assert erased["messages"] == all_messages
    assert erased["leads"] == 1
    assert erased["lead_submissions"] == 1

    after = await _rows(owner_db, owner.workspace_id, visitor.tag)
    # Left: only the lead the owner typed in for another person (it shares the tag, not the
    # visitor's email or conversation).
    assert after == {
        "conversations": 0,
        "messages": 0,
        "leads": 1,
        "lead_submissions": 0,
        "unanswered_questions": 0,
    }
    assert await _rows(owner_db, owner.workspace_id, bystander.tag) == bystander_before
    leads = await client.get(owner.url("/leads"), headers=owner.headers)
    emails = {lead["email"] for lead in leads.json()["items"]}
    assert visitor.visitor_email not in emails
    assert {visitor.lead_email, bystander.lead_email, bystander.visitor_email} <= emails

    entries = await _audit(client, owner)
    assert len(entries) == 1
    entry = entries[0]
    assert entry["details"] == {"by": key, "erased": erased}
    dumped = json.dumps(entry)
    assert visitor.tag not in dumped
    assert visitor.visitor_email not in dumped


async def test_erasure_needs_exactly_one_key_and_an_owner(
    client: httpx.AsyncClient, owner: Owner, other: Owner, jobs: JobQueue
) -> None:
    visitor: Filled = await fill(client, owner, jobs)
    for body in ({}, {"email": visitor.visitor_email, "session_id": visitor.visitor_session}):
        response = await _erase(client, owner, **body)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "erasure_key"
    # Another workspace's owner erases in their own workspace: nothing of ours goes.
    response = await _erase(client, other, email=visitor.visitor_email)
    assert response.status_code == 200
    assert set(response.json()["erased"].values()) == {0}
    leads = await client.get(owner.url("/leads"), headers=owner.headers)
    assert visitor.visitor_email in {lead["email"] for lead in leads.json()["items"]}
    assert await _audit(client, owner) == []
