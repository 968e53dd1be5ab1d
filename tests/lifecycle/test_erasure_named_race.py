"""A visitor's email typed in a new conversation while the owner erases that email.

The erasure read the visitor's conversations without a lock (those their leads name, those
whose messages hold the address, and those sessions' others), then locked them and the
conversations linked to the visitor's leads, and deleted the leads and the conversations read
first. A conversation linked to the visitor's lead in between was locked but not deleted: it
outlived the erasure, the address in its messages, only unlinked from the deleted lead."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from core.db import Database
from lifecycle import erasure
from tests.conftest import Owner
from tests.lifecycle.data import CHATS_MENTIONING, count_mentions
from tests.lifecycle.test_erasure_session_numbers import _chat
from tests.lifecycle.test_erasure_session_race import _Stop
from tests.workspaces.test_signin_races import GUARD_SECONDS


async def test_a_conversation_linked_to_the_lead_during_the_erasure_is_erased(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tag = uuid.uuid4().hex[:10]
    email = f"mira-{tag}@example.com"
    await _chat(client, owner, f"my email is {email}", f"first-{tag}")

    stop = _Stop()
    held = stop.before(erasure.repo.lock_conversations)
    monkeypatch.setattr(erasure.repo, "lock_conversations", held)
    erased = asyncio.create_task(
        client.post(owner.url("/erasures"), json={"email": email}, headers=owner.headers)
    )
    await asyncio.wait_for(stop.reached.wait(), GUARD_SECONDS)
    # Another browser of theirs: a new conversation, linked to their lead, committed.
    await _chat(client, owner, f"it's me again, {email}", f"second-{tag}")
    stop.go.set()
    response = await erased
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["conversations"] == 2

    left = await count_mentions(
        owner_db,
        owner.workspace_id,
        tag,
        {
            **CHATS_MENTIONING,
            "leads": "SELECT count(*) FROM leads WHERE workspace_id = :ws AND email LIKE :n",
        },
    )
    assert left == {"conversations": 0, "messages": 0, "leads": 0}
