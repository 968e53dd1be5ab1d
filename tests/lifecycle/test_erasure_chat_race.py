"""A visitor's number typed in the chat while the owner erases that visitor's session.

The chat's first transaction holds its conversation (the message recorded, the conversation's
count touched), then takes the number's lock and the lead (``shortcuts.contact``). The erasure
by session took the numbers' locks and the leads first and the conversations last, when it
deleted them: each waited for the other (deadlock_detected, one of them answered 500). Now an
erasure locks the conversations it deletes before the numbers and the leads, as a chat turn
and a visitor's form take them: it waits for the turn, then erases what the turn left."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from core.db import Database
from rag.chat import shortcuts
from tests.conftest import Owner
from tests.lifecycle.data import widget
from tests.lifecycle.test_erasure_session_numbers import _chat, _leads
from tests.lifecycle.test_erasure_session_race import _Stop
from workspaces import leads as lead_service


def visitor_and_number(name: str) -> tuple[str, str]:
    """A session id and a London mobile number of this test alone."""
    number = f"+44 7{uuid.uuid4().int % 10**3:03d} {uuid.uuid4().int % 10**6:06d}"
    return f"{name}-{uuid.uuid4().hex[:8]}", number


async def _second_conversation(client: httpx.AsyncClient, owner: Owner) -> tuple[str, str, str]:
    """A visitor who left their number in a first conversation (its lead) and said hello in a
    second: their session, the number, the second conversation's id."""
    visitor, number = visitor_and_number("asha")
    await _chat(client, owner, f"call me on {number}", visitor)
    hello = await client.post(
        "/api/v1/chat", json={"message": "hello", "session_id": visitor}, headers=widget(owner)
    )
    assert hello.status_code == 200, hello.text
    return visitor, number, str(hello.json()["conversation_id"])


async def _erasure_once_held(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database, stop: _Stop, visitor: str
) -> asyncio.Task[httpx.Response]:
    """Once the visitor's request is held: the erasure of their session, started and waiting
    for it; then the request goes on."""
    return await stop.meanwhile(
        owner_db,
        lambda: client.post(
            owner.url("/erasures"), json={"session_id": visitor}, headers=owner.headers
        ),
    )


async def test_a_number_typed_while_the_session_is_erased_is_erased_with_it(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    visitor, number, second = await _second_conversation(client, owner)

    stop = _Stop()
    monkeypatch.setattr(
        shortcuts.leads, "submit_from_visitor", stop.before(shortcuts.leads.submit_from_visitor)
    )
    typed = asyncio.create_task(_chat(client, owner, f"call me on {number}", visitor, second))
    erasure = await _erasure_once_held(client, owner, owner_db, stop, visitor)
    assert await typed == second
    erased = await erasure
    assert erased.status_code == 200, erased.text
    counts = erased.json()["erased"]
    assert (counts["conversations"], counts["lead_submissions"], counts["leads"]) == (2, 2, 1)
    assert await _leads(client, owner) == []


async def test_a_form_sent_from_a_conversation_being_erased_waits_for_nothing_it_holds(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The form takes the number's lock and the lead, then names its conversation (its
    submission, its link); the erasure locks the conversations before the numbers: the form
    locks its conversation first as well (held here once it has the lead)."""
    visitor, number, second = await _second_conversation(client, owner)

    stop = _Stop()
    real = lead_service.repo.add_visitor_lead

    async def held(session: Any, **kwargs: Any) -> Any:
        found = await real(session, **kwargs)
        await stop(session)
        return found

    monkeypatch.setattr(lead_service.repo, "add_visitor_lead", held)
    form = asyncio.create_task(
        client.post(
            "/api/v1/widget/leads",
            json={"phone": number, "conversation_id": second, "session_id": visitor},
            headers=widget(owner),
        )
    )
    erasure = await _erasure_once_held(client, owner, owner_db, stop, visitor)
    sent = await form
    assert sent.status_code == 202, sent.text
    erased = await erasure
    assert erased.status_code == 200, erased.text
    counts = erased.json()["erased"]
    assert (counts["conversations"], counts["lead_submissions"], counts["leads"]) == (2, 2, 1)
    assert await _leads(client, owner) == []
