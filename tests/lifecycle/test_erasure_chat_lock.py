"""A visitor's address or number typed in a chat while an erasure of that visitor runs.

An erasure by email or phone reads the messages holding the address (number) once, before it
takes its locks; a message typed in a new conversation holds nothing the erasure locks: sent
after that read, its conversation (and the lead the chat makes of the address) committed
before the erasure did (READ COMMITTED) and escaped it, kept after the erasure reported done.
Now a message that may hold an address or a number waits for a running erasure of its
workspace first of all (``leads.wait_for_erasure``, shared, as a widget form does): it is a new
conversation after the erasure. An erasure started while such a turn writes waits for it, then
erases what it wrote; a turn in a conversation the erasure deletes waits before it reads it (no
deadlock) and finds it gone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import httpx
import pytest

from api.runtime import Runtime
from core.db import Database
from lifecycle import erasure
from rag.chat import shortcuts
from rag.chat.clock import TurnGate
from tests.conftest import Owner
from tests.lifecycle.data import first_column, marker, widget
from tests.lifecycle.test_erasure_form_lock import during_erasure, erasure_held
from tests.lifecycle.test_erasure_form_message import _holding
from tests.lifecycle.test_erasure_named_race import erased_after_turn
from tests.lifecycle.test_erasure_session_numbers import _chat
from tests.lifecycle.test_erasure_session_race import _Stop
from tests.rag.test_lead_capture_never import never
from tests.workspaces.test_signin_races import GUARD_SECONDS, _until_blocked_by

Erasing = Callable[
    [dict[str, str], Callable[[], Awaitable[httpx.Response]]],
    Awaitable[tuple[dict[str, int], httpx.Response]],
]


@pytest.fixture
def erasing(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> Erasing:
    """``during_erasure`` of this test's workspace: the erasure of a visitor, and a request
    sent while it runs."""
    return partial(during_erasure, client, owner, owner_db, monkeypatch)


def _visitor() -> tuple[str, str, str]:
    """A tag (``marker``: never read as a number), an address and an Indian mobile number of
    this test alone."""
    tag = marker()
    return tag, f"jo-{tag}@example.com", f"+91 98{uuid.uuid4().int % 10**8:08d}"


def _message(client: httpx.AsyncClient, owner: Owner, text: str, session: str, **more: Any) -> Any:
    """The visitor's chat message (a coroutine of its answer)."""
    body = {"message": text, "session_id": session, **more}
    return client.post("/api/v1/chat", json=body, headers=widget(owner))


async def _conversations_mentioning(owner_db: Database, owner: Owner, needle: str) -> int:
    found = await first_column(
        owner_db,
        "SELECT count(DISTINCT conversation_id) FROM messages WHERE workspace_id = :ws"
        " AND text LIKE :n",
        ws=owner.workspace_id,
        n=f"%{needle}%",
    )
    return int(found[0])


@pytest.mark.parametrize("capture", [True, False], ids=["lead-capture", "capture-never"])
async def test_an_address_typed_in_a_new_conversation_waits_for_the_erasure(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    erasing: Erasing,
    capture: bool,
) -> None:
    """The visitor's form (their number, their address in its message) is erased; the address
    typed meanwhile in a new conversation (a lead of it, or under lead capture "Never" the
    message alone) committed first and escaped it. Now the message waits, then is kept: a new
    conversation after the erasure."""
    tag, email, phone = _visitor()
    form = {"phone": phone, "message": f"write to me at {email}"}
    sent = await client.post("/api/v1/widget/leads", json=form, headers=widget(owner))
    assert sent.status_code == 202, sent.text
    if not capture:
        await never(client, owner)
    erased, answered = await erasing(
        {"email": email},
        lambda: _message(client, owner, f"my email is {email}", f"new-{tag}"),
    )
    assert (erased["leads"], erased["lead_submissions"]) == (1, 1), erased
    assert erased["conversations"] == 0, erased
    assert answered.status_code == 200, answered.text
    assert (answered.json()["intent"], answered.json()["lead_saved"]) == ("contact", capture)
    kept = ["lead " + email, "submission " + email] if capture else []
    assert await _holding(owner_db, owner, email) == kept
    assert await _conversations_mentioning(owner_db, owner, email) == 1


async def test_a_call_asked_in_a_new_conversation_waits_for_the_erasure_by_phone(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    erasing: Erasing,
) -> None:
    """A call asked on the visitor's number beside a question, in a new conversation, while
    their erasure by phone runs: a new lead with that number after it."""
    tag, _, phone = _visitor()
    await _chat(client, owner, f"call me on {phone}", f"first-{tag}")
    question = f"my order {tag} is late, please call me on {phone}"
    erased, answered = await erasing(
        {"phone": phone},
        lambda: _message(client, owner, question, f"new-{tag}"),
    )
    assert (erased["leads"], erased["conversations"]) == (1, 1), erased
    assert answered.status_code == 200, answered.text
    assert await _holding(owner_db, owner, phone) == ["lead ", "submission "]
    assert await _conversations_mentioning(owner_db, owner, tag) == 1


async def test_an_erasure_waits_for_a_turn_writing_the_address(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both at once, the turn first: held before it makes the lead (its message recorded in a
    new conversation), the turn holds up the erasure started meanwhile, which then erases the
    lead and the conversation (before, the erasure did not wait, found neither, and both were
    kept)."""
    tag, email, _ = _visitor()
    stop = _Stop()
    monkeypatch.setattr(
        shortcuts.leads, "submit_from_visitor", stop.before(shortcuts.leads.submit_from_visitor)
    )
    typed = asyncio.create_task(_chat(client, owner, f"my email is {email}", f"new-{tag}"))
    erased = await erased_after_turn(client, owner, owner_db, stop, {"email": email}, typed)
    assert (erased["leads"], erased["lead_submissions"], erased["conversations"]) == (1, 1, 1)
    assert await _holding(owner_db, owner, email) == []
    assert await _conversations_mentioning(owner_db, owner, email) == 0


async def test_a_number_typed_in_a_conversation_being_erased_waits_then_finds_it_gone(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    erasing: Erasing,
) -> None:
    """Both at once, the erasure first: the turn in the conversation the erasure deletes waits
    for it before it reads (or locks) the conversation, never the other order (it held the
    conversation the erasure locks while it waited for the erasure: a deadlock), then answers
    404 (the conversation is gone) and keeps nothing."""
    tag, email, phone = _visitor()
    conversation = await _chat(client, owner, f"my email is {email}", f"chat-{tag}")
    erased, answered = await erasing(
        {"email": email},
        lambda: _message(
            client,
            owner,
            f"you can also call me on {phone}",
            f"chat-{tag}",
            conversation_id=conversation,
        ),
    )
    assert (erased["leads"], erased["conversations"]) == (1, 1), erased
    assert answered.status_code == 404, answered.text
    assert await _holding(owner_db, owner, email) == []
    assert await _holding(owner_db, owner, phone) == []


async def test_a_message_without_an_address_or_number_does_not_wait(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other visitors go on chatting while an erasure runs: only a message that may hold an
    address or a number waits for it."""
    tag, email, _ = _visitor()
    await _chat(client, owner, f"my email is {email}", f"chat-{tag}")
    stop, erasing = await erasure_held(
        client, owner, monkeypatch, {"email": email}, erasure.text_repo, "redact_written"
    )
    try:
        hello = await asyncio.wait_for(
            _message(client, owner, f"hello {tag}", f"other-{tag}"), GUARD_SECONDS
        )
    finally:
        stop.go.set()
    assert hello.status_code == 200, hello.text
    response = await erasing
    assert response.status_code == 200, response.text


async def test_a_message_waiting_for_the_erasure_holds_no_turn_gate_slot(
    client: httpx.AsyncClient,
    owner: Owner,
    owner_db: Database,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A number typed while an erasure runs waits for it without a slot of the process's turn
    gate (CHAT_CONCURRENT_TURNS, the pool's size by default): a message without one is
    answered meanwhile. Before, the waiting turn held its slot: with as many numbers typed as
    slots (any workspace's visitors, during one workspace's erasure), every chat turn of the
    process waited for that erasure."""
    tag, email, phone = _visitor()
    await _chat(client, owner, f"my email is {email}", f"chat-{tag}")
    monkeypatch.setattr(runtime.pipeline, "_gate", TurnGate(1))
    stop, erasing = await erasure_held(
        client, owner, monkeypatch, {"email": email}, erasure.text_repo, "redact_written"
    )
    waiting = asyncio.create_task(_message(client, owner, f"call me on {phone}", f"n-{tag}"))
    try:
        await _until_blocked_by(owner_db, stop.backend)
        assert runtime.pipeline._gate.free == 1
        hello = await asyncio.wait_for(
            _message(client, owner, f"hello {tag}", f"other-{tag}"), GUARD_SECONDS
        )
    finally:
        stop.go.set()
    assert hello.status_code == 200, hello.text
    assert (await erasing).status_code == 200
    assert (await waiting).status_code == 200


async def test_an_address_typed_in_a_streamed_turn_waits_for_the_erasure_too(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database, erasing: Erasing
) -> None:
    """The streamed answer (SSE) settles its turn as the JSON one does: the address typed in a
    new conversation waits for the running erasure, then is a new conversation and lead."""
    tag, email, phone = _visitor()
    form = {"phone": phone, "message": f"write to me at {email}"}
    sent = await client.post("/api/v1/widget/leads", json=form, headers=widget(owner))
    assert sent.status_code == 202, sent.text
    streamed = {**widget(owner), "Accept": "text/event-stream"}
    body = {"message": f"my email is {email}", "session_id": f"new-{tag}"}
    erased, answered = await erasing(
        {"email": email},
        lambda: client.post("/api/v1/chat", json=body, headers=streamed),
    )
    assert (erased["leads"], erased["lead_submissions"]) == (1, 1), erased
    assert answered.status_code == 200, answered.text
    assert "event: done" in answered.text, answered.text
    assert await _holding(owner_db, owner, email) == ["lead " + email, "submission " + email]
