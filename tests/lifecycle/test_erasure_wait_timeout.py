"""A chat message holding a number (``shortcuts.after_erasure``) and a widget form
(``leads.wait_out_erasure``) wait for a running erasure of their workspace however long the
erasure takes: a wait outlasting the connections' statement timeout (DB_STATEMENT_TIMEOUT_MS,
15 s by default) is waited again. Before, the wait was cancelled at the statement timeout and
the visitor got 500 ``internal_error`` while the erasure of a large workspace ran."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.db import Database
from core.embedded import EmbeddedPostgres
from lifecycle import erasure
from tests.conftest import APP_ROLE, Owner
from tests.lifecycle.data import widget
from tests.lifecycle.test_erasure_chat_lock import _message, _visitor
from tests.lifecycle.test_erasure_form_lock import erasure_held, kept_as_a_new_form
from tests.lifecycle.test_erasure_session_numbers import _chat
from tests.workspaces.test_signin_races import GUARD_SECONDS

STATEMENT_TIMEOUT_MS = 1500
"""Short enough to be outlasted by an erasure held open, long enough that no statement of the
fixtures (an owner signed up, a workspace made, on a loaded host) runs into it: at 300 ms one
run of the lifecycle tests beside the documents tests errored in this module's setup."""


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
    ``turn`` (a chat message, a form) ended (its wait given up)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GUARD_SECONDS
    seen: set[tuple[int, str]] = set()
    while not turn.done() and len(seen) < 2:
        seen |= await _waits(owner_db, pid)
        assert loop.time() < deadline, "no statement waited for the erasure"
        await asyncio.sleep(0.02)


async def _past_the_timeout(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    email: str,
    send: Callable[[], Coroutine[Any, Any, httpx.Response]],
) -> tuple[dict[str, int], httpx.Response]:
    """``send`` sent while the erasure by ``email`` is held, until the request has waited for
    it a second time (its first wait cancelled at the statement timeout): what the erasure
    erased, and the answer."""
    stop, erasing = await erasure_held(
        client, owner, monkeypatch, {"email": email}, erasure.text_repo, "redact_written"
    )
    sent = asyncio.create_task(send())
    try:
        await _waited_again(owner_db, stop.backend, sent)
        assert not sent.done(), sent.result().text
    finally:
        stop.go.set()
    erased = await erasing
    assert erased.status_code == 200, erased.text
    return dict(erased.json()["erased"]), await sent


async def test_a_number_typed_waits_for_an_erasure_longer_than_the_statement_timeout(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tag, email, phone = _visitor()
    await _chat(client, owner, f"my email is {email}", f"chat-{tag}")
    _, answered = await _past_the_timeout(
        client,
        owner,
        owner_db,
        monkeypatch,
        email,
        lambda: _message(client, owner, f"call me on {phone}", f"n-{tag}"),
    )
    assert answered.status_code == 200, answered.text


async def test_a_form_waits_for_an_erasure_longer_than_the_statement_timeout(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The form naming the visitor in its message, sent while their erasure is held past the
    statement timeout, waits; then it is a new form after the erasure, as the formlock tests
    expect of a shorter wait."""
    tag, email, phone = _visitor()
    await _chat(client, owner, f"my email is {email}", f"chat-{tag}")
    form = {"phone": phone, "message": f"write to me at {email}"}
    erased, answered = await _past_the_timeout(
        client,
        owner,
        owner_db,
        monkeypatch,
        email,
        lambda: client.post("/api/v1/widget/leads", json=form, headers=widget(owner)),
    )
    assert (erased["leads"], erased["conversations"]) == (1, 1), erased
    assert answered.status_code == 202, answered.text
    await kept_as_a_new_form(owner_db, owner, email)
