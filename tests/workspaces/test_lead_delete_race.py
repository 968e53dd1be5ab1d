"""An owner deletes a lead while its visitor types another contact in the chat.

The chat's first transaction holds its conversation (the message recorded, the count touched),
then writes the contact on the conversation's lead (``leads.add_contact_from_chat``). Deleting
the lead locked it, then unlinked its conversations (``ON DELETE SET NULL``): each waited for
the other (deadlock_detected, one of them answered 500). Now the deletion locks the lead's
conversations first, as a chat turn, a form and an erasure take them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from core.db import Database
from rag.chat import shortcuts
from tests.conftest import Owner
from tests.lifecycle.test_erasure_chat_race import visitor_and_number
from tests.lifecycle.test_erasure_session_numbers import _chat, _leads
from tests.lifecycle.test_erasure_session_race import _Stop
from tests.workspaces.test_signin_races import GUARD_SECONDS, _until_blocked_by


async def test_a_lead_deleted_while_its_visitor_types_an_address_is_deleted(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    visitor, number = visitor_and_number("chen")
    conversation = await _chat(client, owner, f"call me on {number}", visitor)
    [lead] = await _leads(client, owner)

    stop = _Stop()
    real = shortcuts.leads.add_contact_from_chat

    async def held(session: Any, **kwargs: Any) -> None:
        await stop(session)
        await real(session, **kwargs)

    monkeypatch.setattr(shortcuts.leads, "add_contact_from_chat", held)
    typed = asyncio.create_task(
        _chat(client, owner, f"my email is {visitor}@example.com", visitor, conversation)
    )
    await asyncio.wait_for(stop.reached.wait(), GUARD_SECONDS)
    monkeypatch.setattr(shortcuts.leads, "add_contact_from_chat", real)
    deletion = asyncio.create_task(
        client.delete(owner.url(f"/leads/{lead['id']}"), headers=owner.headers)
    )
    await _until_blocked_by(owner_db, stop.backend)
    stop.go.set()
    assert await typed == conversation
    deleted = await deletion
    assert deleted.status_code == 204, deleted.text
    assert await _leads(client, owner) == []
