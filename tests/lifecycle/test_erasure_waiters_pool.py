"""Chat turns waiting for a running erasure hold one pooled connection per erased workspace.

A turn whose message may hold an address (or that opens a conversation in a session being
erased) waits for the erasure out of its turn-gate slot (``shortcuts.after_erasure``), but each
such turn held a pooled connection of its own for as long as the erasure ran: a few visitors
typing their address during one workspace's erasure took every connection of the process, and
every other workspace's chat (and the waiting visitors themselves) got 503 ``database_busy``.
Measured with a pool of 4: an erasure held and 3 turns waiting for it, another workspace's
question was 503 after the pool timeout. Now the turns of one workspace wait together
(``erasure_waits.ErasureWaits``: one of them in the database, the others for it)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core.db import Database
from core.embedded import EmbeddedPostgres
from lifecycle import erasure
from rag.chat import pipeline, shortcuts
from tests.conftest import APP_ROLE, Owner, signup
from tests.lifecycle.test_erasure_chat_lock import _message
from tests.lifecycle.test_erasure_form_lock import erasure_held
from tests.lifecycle.test_erasure_session_numbers import _chat
from tests.workspaces.test_signin_races import GUARD_SECONDS

WAITERS = 4


@pytest.fixture
async def db(pg: EmbeddedPostgres) -> AsyncIterator[Database]:
    """The app's database with 3 pooled connections and no overflow (this module only): the
    erasure held takes one, the turns waiting for it may take one, another turn the third."""
    database = Database.from_url(pg.app_url(APP_ROLE), pool_size=3, max_overflow=0, pool_timeout=3)
    yield database
    await database.dispose()


async def test_turns_waiting_for_an_erasure_leave_the_pool_to_other_workspaces(
    client: httpx.AsyncClient, owner: Owner, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = await signup(client, "Elsewhere")
    tag = uuid.uuid4().hex[:10]
    email = f"ann-{tag}@example.com"
    await _chat(client, owner, f"my email is {email}", f"ann-{tag}")
    turned_back = 0
    all_turned_back = asyncio.Event()
    real = pipeline.wait_for_erasure

    async def counting(*args: Any, **kwargs: Any) -> None:
        nonlocal turned_back
        try:
            await real(*args, **kwargs)
        except shortcuts.ErasureRunning:
            turned_back += 1
            if turned_back == WAITERS:
                all_turned_back.set()
            raise

    monkeypatch.setattr(pipeline, "wait_for_erasure", counting)
    stop, erased = await erasure_held(
        client, owner, monkeypatch, {"email": email}, erasure.text_repo, "redact_written"
    )
    waiting = [
        asyncio.create_task(
            _message(client, owner, f"reach me at w{i}-{tag}@example.com", f"w{i}-{tag}")
        )
        for i in range(WAITERS)
    ]
    await asyncio.wait_for(all_turned_back.wait(), GUARD_SECONDS)
    elsewhere = await _message(client, other, "Do you sell submarines?", f"bo-{tag}")
    stop.go.set()
    assert (await erased).status_code == 200
    answers = [await turn for turn in waiting]
    assert elsewhere.status_code == 200, elsewhere.text
    assert [a.status_code for a in answers] == [200] * WAITERS, [a.text for a in answers]
