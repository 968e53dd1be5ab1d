"""The retention sweep while an owner erases a visitor (by session id, or by email while a form
links another conversation to the visitor's lead).

The sweep locks its batch of old conversations in one statement, by id. An erasure by session
id locked the session's conversations first, then, in a second statement, the other visitors'
conversations linked to the same lead: when one of those had the lower id and was in the
sweep's batch too, the sweep held it and waited for the session's conversation, the erasure
held that and waited for the other (deadlock_detected: one of them was killed). Now the
erasure reads the session's leads first and locks the session's conversations and those linked
to its leads in one statement, by id; when the leads read again on the locked rows name one
more, the locks are let go and all are taken again. The erasure by email let go of only its
leads' locks when it found a conversation linked meanwhile, and locked that one while it held
the others: the same deadlock with the sweep; it lets go of the conversations too now."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from core.db import Database
from core.models import utcnow
from lifecycle import erasure_repository
from lifecycle.retention import purge_old_conversations
from tests.conftest import Owner
from tests.lifecycle.data import widget
from tests.lifecycle.test_erasure_session_numbers import _chat, _erase_session, _leads
from tests.lifecycle.test_erasure_session_race import _Stop
from tests.lifecycle.test_retention_races import RETENTION, _backdate, _hello, _left
from tests.workspaces.test_signin_races import GUARD_SECONDS, _until_blocked_by
from workspaces import leads as lead_service


async def test_a_session_erased_while_the_sweep_deletes_it_and_its_leads_other_conversation(
    client: httpx.AsyncClient,
    owner: Owner,
    db: Database,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two visitors left one address (one lead, two conversations), both past the retention.
    The session erased is the one whose conversation has the higher id: the sweep locks the
    other first. The erasure is held once it has taken its first conversations' locks; the
    sweep starts and waits for it; then the erasure goes on."""
    tag = uuid.uuid4().hex[:10]
    email = f"shared-{tag}@example.com"
    conversations = {
        who: await _chat(client, owner, f"my email is {email}", f"{who}-{tag}")
        for who in ("home", "office")
    }
    for conversation in conversations.values():
        await _backdate(owner_db, conversation)
    erased, other = sorted(conversations, key=lambda who: uuid.UUID(conversations[who]))[::-1]
    assert uuid.UUID(conversations[other]) < uuid.UUID(conversations[erased])

    stop = _Stop()  # held once the erasure has taken its first conversations' locks
    held = stop.after(erasure_repository.lock_conversations)
    monkeypatch.setattr(erasure_repository, "lock_conversations", held)
    erasure = asyncio.create_task(_erase_session(client, owner, f"{erased}-{tag}"))
    workspace_id = uuid.UUID(owner.workspace_id)
    sweep = await stop.meanwhile(
        owner_db,
        lambda: purge_old_conversations(db, workspace_id=workspace_id, before=utcnow() - RETENTION),
    )
    counts = await erasure
    assert (counts["conversations"], counts["lead_submissions"], counts["leads"]) == (1, 1, 0)
    assert await sweep == 1  # the other visitor's: the erased one was gone
    assert [await _left(owner_db, conversations[who]) for who in (erased, other)] == [
        (0, 0, None)
    ] * 2
    # The lead stays (the other visitor's submission remains), linked to neither.
    assert [item["email"] for item in await _leads(client, owner)].count(email) == 1


async def test_an_address_erased_while_a_form_links_it_and_the_sweep_deletes_both(
    client: httpx.AsyncClient,
    owner: Owner,
    db: Database,
    owner_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The visitor typed their address in one conversation and, from another browser, sends
    the form with it in another (the lower id), both past the retention. The form is held
    once it has written the lead; the erasure by email locks the conversation it found and
    waits for the lead; the sweep waits for the form's conversation. The form commits: the
    sweep takes that conversation and waits for the erasure's; the erasure, finding the form's
    conversation linked, let go of the lead's lock only and waited for it (deadlock_detected).
    Now it lets go of its conversations too and takes them all again, in order."""
    tag = uuid.uuid4().hex[:10]
    email = f"forms-{tag}@example.com"
    first = {who: await _hello(client, owner, f"{who}-{tag}") for who in ("home", "office")}
    typed, form = sorted(first, key=lambda who: uuid.UUID(first[who]))[::-1]
    assert uuid.UUID(first[form]) < uuid.UUID(first[typed])
    await _chat(client, owner, f"my email is {email}", f"{typed}-{tag}", first[typed])
    for conversation in first.values():
        await _backdate(owner_db, conversation)

    stop = _Stop()
    held = stop.after(lead_service.repo.insert_lead_submission)
    monkeypatch.setattr(lead_service.repo, "insert_lead_submission", held)
    body = {"email": email, "conversation_id": first[form], "session_id": f"{form}-{tag}"}
    sent = asyncio.create_task(
        client.post("/api/v1/widget/leads", json=body, headers=widget(owner))
    )
    await asyncio.wait_for(stop.reached.wait(), GUARD_SECONDS)
    erasure = asyncio.create_task(
        client.post(owner.url("/erasures"), json={"email": email}, headers=owner.headers)
    )
    await _until_blocked_by(owner_db, stop.backend, 1)
    workspace_id = uuid.UUID(owner.workspace_id)
    sweep = asyncio.ensure_future(
        purge_old_conversations(db, workspace_id=workspace_id, before=utcnow() - RETENTION)
    )
    await _until_blocked_by(owner_db, stop.backend, 2)
    stop.go.set()
    assert (await sent).status_code == 202
    erased = await erasure
    assert erased.status_code == 200, erased.text
    assert await sweep == 2
    assert [await _left(owner_db, c) for c in first.values()] == [(0, 0, None)] * 2
    assert email not in [item["email"] for item in await _leads(client, owner)]
