"""A visitor who opens a conversation while the owner erases them.

The erasure read the visitor's conversations without a lock (by email or phone: those their
leads name, those whose messages hold the address, and those sessions' others; by session id:
the session's), then locked them (and the conversations linked to the visitor's leads), and
deleted the conversations read first. One linked to the visitor's lead, or opened in the
session, in between was kept: it outlived the erasure, the address in its messages, only
unlinked from the deleted lead. Now what the lock finds is erased (and a message with the
address waits for the erasure: ``test_erasure_chat_lock``; a conversation opened in the
session waits for it too: ``test_erasure_turn_fence``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from typing import Any

import httpx
import pytest

from core.db import Database
from lifecycle import erasure
from rag.chat import shortcuts
from tests.conftest import Owner
from tests.lifecycle.data import CHATS_MENTIONING, count_mentions, first_column
from tests.lifecycle.test_erasure_form_lock import erasure_held
from tests.lifecycle.test_erasure_session_numbers import _chat
from tests.lifecycle.test_erasure_session_race import _Stop


async def erased_after_turn(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    stop: _Stop,
    key: dict[str, str],
    turn: Awaitable[Any],
) -> dict[str, int]:
    """Once ``turn`` is held (``stop``): the erasure by ``key`` started and waiting for it;
    then the turn goes on and ends, then the erasure. What the erasure erased."""
    erasing = await stop.meanwhile(
        owner_db,
        lambda: client.post(owner.url("/erasures"), json=key, headers=owner.headers),
    )
    await turn
    response = await erasing
    assert response.status_code == 200, response.text
    return dict(response.json()["erased"])


async def test_a_conversation_opened_with_the_address_during_the_erasure_waits_for_it(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another browser of theirs types the address in a new conversation (linked to their
    lead) before the erasure locks the conversations: it was kept, then (erased once the
    erasure read what its locks found) erased. Now a message with an address waits for the
    running erasure (``test_erasure_chat_lock``): a new conversation and lead after it."""
    tag = uuid.uuid4().hex[:10]
    email = f"mira-{tag}@example.com"
    await _chat(client, owner, f"my email is {email}", f"first-{tag}")
    stop, erasing = await erasure_held(
        client,
        owner,
        monkeypatch,
        {"email": email},
        erasure.repo,
        "lock_conversations",
        before=True,
    )
    typed = await stop.meanwhile(
        owner_db, lambda: _chat(client, owner, f"it's me again, {email}", f"second-{tag}")
    )
    response = await erasing
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["conversations"] == 1
    second = await typed
    left = await count_mentions(
        owner_db,
        owner.workspace_id,
        tag,
        {
            **CHATS_MENTIONING,
            "leads": "SELECT count(*) FROM leads WHERE workspace_id = :ws AND email LIKE :n",
        },
    )
    assert left == {"conversations": 1, "messages": 1, "leads": 1}
    # Kept: the second conversation, and the lead made of it after the erasure.
    assert await first_column(
        owner_db,
        "SELECT conversation_id::text FROM leads WHERE workspace_id = :ws AND email LIKE :n",
        ws=owner.workspace_id,
        n=f"%{tag}%",
    ) == [second]


async def test_a_conversation_whose_turn_holds_the_lead_while_the_erasure_waits_is_erased(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The new conversation's turn has written the visitor's lead and not committed when the
    erasure locks: its locks found nothing new (the conversation not committed), its DELETE
    of the lead waited for the turn, and once the turn committed the lead went and the
    conversation stayed, unlinked, the address in its message. Now the erasure locks the
    leads too, reads the links once it has them, and goes round again."""
    tag = uuid.uuid4().hex[:10]
    email = f"omar-{tag}@example.com"
    await _chat(client, owner, f"my email is {email}", f"first-{tag}")
    stop = _Stop()
    real = shortcuts.conversation_repo.link_conversation_lead

    async def written_then_held(session: Any, *args: Any, **kwargs: Any) -> Any:
        done = await real(session, *args, **kwargs)
        await stop(session)
        return done

    monkeypatch.setattr(shortcuts.conversation_repo, "link_conversation_lead", written_then_held)
    turn = asyncio.create_task(_chat(client, owner, f"it's me again, {email}", f"second-{tag}"))
    erased = await erased_after_turn(client, owner, owner_db, stop, {"email": email}, turn)
    assert erased["conversations"] == 2
    left = await count_mentions(owner_db, owner.workspace_id, tag, CHATS_MENTIONING)
    assert left == {"conversations": 0, "messages": 0}
