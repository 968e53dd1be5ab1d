"""A widget form sent while an erasure by email runs, after the erasure's last read.

The erasure reads the forms whose message holds the visitor's address again once it holds its
locks, but a form that is no lead or conversation of theirs takes none of those locks: sent
after that last read, it committed before the erasure did (READ COMMITTED) and escaped it, the
address in its message. Now a form waits for a running erasure of its workspace (a shared
advisory lock, the erasure's exclusive): it is a new form, after the erasure, answered 202."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from core.db import Database
from lifecycle import erasure
from tests.conftest import Owner
from tests.lifecycle.data import first_column, widget
from tests.lifecycle.test_erasure_form_message import _holding
from tests.lifecycle.test_erasure_session_numbers import _chat
from tests.lifecycle.test_erasure_session_race import _Stop
from tests.workspaces.test_signin_races import GUARD_SECONDS
from workspaces import notifications


async def erasure_held(
    client: httpx.AsyncClient,
    owner: Owner,
    monkeypatch: pytest.MonkeyPatch,
    visitor: dict[str, str],
    where: Any,
    name: str,
    *,
    before: bool = False,
) -> tuple[_Stop, asyncio.Task[httpx.Response]]:
    """The erasure of ``visitor`` started and held in its transaction once ``where.name`` has
    run (``before``: before it runs): the stop that holds it, and its request."""
    # The owners' mails about what came before are written first: their dispatch waits for a
    # running erasure too, and would be taken for the request the caller sends meanwhile.
    await notifications.settle_kicks()
    await client.app.state.runtime.jobs.drain()  # type: ignore[attr-defined]
    stop = _Stop()
    real = getattr(where, name)
    monkeypatch.setattr(where, name, stop.before(real) if before else stop.after(real))
    erased = asyncio.create_task(
        client.post(owner.url("/erasures"), json=visitor, headers=owner.headers)
    )
    await asyncio.wait_for(stop.reached.wait(), GUARD_SECONDS)
    return stop, erased


async def during_erasure(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    visitor: dict[str, str],
    send: Callable[[], Awaitable[httpx.Response]],
    *,
    at: tuple[Any, str] = (erasure.text_repo, "redact_written"),
) -> tuple[dict[str, int], httpx.Response]:
    """The erasure of ``visitor`` (``{"email": ...}``, ``{"phone": ...}``; with ``at``, also
    ``{"session_id": ...}``), held after its last read (``at``: by default its redaction of
    what stays) and before its commit, while ``send`` sends the visitor's request: the request
    must wait for it. What the erasure erased, and the answer."""
    stop, erased = await erasure_held(client, owner, monkeypatch, visitor, *at)
    sent = asyncio.create_task(send())
    committed_first = await stop.ended_before_waiting(owner_db, sent)
    stop.go.set()
    response = await erased
    assert response.status_code == 200, response.text
    answered = await sent
    assert not committed_first, f"committed while the erasure ran: {answered.text}"
    return dict(response.json()["erased"]), answered


async def _form_during_erasure(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    email: str,
    form: dict[str, Any],
) -> dict[str, int]:
    """``form`` sent while the erasure by ``email`` runs (``during_erasure``): accepted once
    it has waited."""
    erased, answered = await during_erasure(
        client,
        owner,
        owner_db,
        monkeypatch,
        {"email": email},
        lambda: client.post("/api/v1/widget/leads", json=form, headers=widget(owner)),
    )
    assert answered.status_code == 202, answered.text
    return erased


@pytest.mark.parametrize("from_the_chat", [False, True], ids=["no-conversation", "erased-one"])
async def test_a_form_naming_the_visitor_waits_for_the_erasure(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    from_the_chat: bool,
) -> None:
    """With the address in its message only (no lock of the visitor's taken), or from the
    conversation the erasure deletes: then it waits for the erasure before it locks the
    conversation (never the other order: a deadlock), and finds it gone."""
    tag = uuid.uuid4().hex[:10]
    email, phone = f"jo-{tag}@example.com", f"+91 98{uuid.uuid4().int % 10**8:08d}"
    conversation = await _chat(client, owner, f"my email is {email}", f"chat-{tag}")
    form = {"phone": phone, "message": f"write to me at {email}"}
    if from_the_chat:
        form |= {"conversation_id": conversation, "session_id": f"chat-{tag}"}
    erased = await _form_during_erasure(client, owner, owner_db, monkeypatch, email, form)
    assert (erased["leads"], erased["conversations"]) == (1, 1), erased
    await kept_as_a_new_form(owner_db, owner, email)


async def kept_as_a_new_form(owner_db: Database, owner: Owner, email: str) -> None:
    """The form naming ``email`` sent while its erasure ran is, after the erasure committed, a
    new form: kept as sent (a lead, a submission), linked to no conversation."""
    assert await _holding(owner_db, owner, email) == ["lead ", "submission "]
    assert await first_column(
        owner_db,
        "SELECT coalesce(conversation_id::text, '-') FROM leads WHERE workspace_id = :ws"
        " AND message LIKE :n",
        ws=owner.workspace_id,
        n=f"%{email}%",
    ) == ["-"]
