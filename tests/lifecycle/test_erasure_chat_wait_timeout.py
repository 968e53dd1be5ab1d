"""A chat message holding a number waits for a running erasure of its workspace
(``shortcuts.after_erasure``) however long the erasure takes: its wait outlasting the
connections' statement timeout (DB_STATEMENT_TIMEOUT_MS, 15 s by default) is waited again.
Before, the wait was cancelled at the statement timeout and the visitor got 500
``internal_error`` while the erasure of a large workspace ran."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from core.db import Database
from core.embedded import EmbeddedPostgres
from lifecycle import erasure
from tests.conftest import APP_ROLE, Owner
from tests.lifecycle.test_erasure_chat_lock import _message, _visitor
from tests.lifecycle.test_erasure_form_lock import erasure_held
from tests.lifecycle.test_erasure_session_numbers import _chat
from tests.workspaces.test_signin_races import GUARD_SECONDS

STATEMENT_TIMEOUT_MS = 300


@pytest.fixture
async def db(pg: EmbeddedPostgres) -> AsyncIterator[Database]:
    """The app's database with a short statement timeout (this module's tests only)."""
    database = Database.from_url(
        pg.app_url(APP_ROLE),
        pool_size=5,
        max_overflow=20,
        statement_timeout_ms=STATEMENT_TIMEOUT_MS,
    )
    yield database
    await database.dispose()


async def _waits(owner_db: Database, pid: int) -> set[tuple[int, str]]:
    """The statements (backend, start) now waiting for a lock backend ``pid`` holds."""
    async with owner_db.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT pid, query_start::text FROM pg_stat_activity"
                " WHERE :pid = ANY(pg_blocking_pids(pid))"
            ),
            {"pid": pid},
        )
        return {(int(row[0]), str(row[1])) for row in rows}


async def _waited_again(owner_db: Database, pid: int, turn: asyncio.Task[httpx.Response]) -> None:
    """Until a second statement has waited for backend ``pid`` (the first timed out), or
    ``turn`` ended (its wait given up)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GUARD_SECONDS
    seen: set[tuple[int, str]] = set()
    while not turn.done() and len(seen) < 2:
        seen |= await _waits(owner_db, pid)
        assert loop.time() < deadline, "no statement waited for the erasure"
        await asyncio.sleep(0.02)


async def test_a_number_typed_waits_for_an_erasure_longer_than_the_statement_timeout(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tag, email, phone = _visitor()
    await _chat(client, owner, f"my email is {email}", f"chat-{tag}")
    stop, erasing = await erasure_held(
        client, owner, monkeypatch, {"email": email}, erasure.text_repo, "redact_written"
    )
    turn = asyncio.create_task(_message(client, owner, f"call me on {phone}", f"n-{tag}"))
    try:
        await _waited_again(owner_db, stop.backend, turn)
        assert not turn.done(), turn.result().text
    finally:
        stop.go.set()
    assert (await erasing).status_code == 200
    answered = await turn
    assert answered.status_code == 200, answered.text
