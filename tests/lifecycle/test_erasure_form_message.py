"""An erasure by phone finds the number a visitor wrote in the widget form's message, with the
form's phone field empty ("please call me on +91 98765 43210"), and in a lead's own message.

Before, only chat messages were read for the number: such a form's submission and its lead
kept it, and the erasure answered with every count 0."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from core.db import Database
from tests.conftest import Owner
from tests.lifecycle.data import first_column, widget
from tests.lifecycle.test_erasure_by_phone import _chat, _erase, _national, _user_messages


async def _form(client: httpx.AsyncClient, owner: Owner, **body: str) -> None:
    response = await client.post("/api/v1/widget/leads", json=body, headers=widget(owner))
    assert response.status_code == 202, response.text


async def _holding(owner_db: Database, owner: Owner, needle: str) -> list[str]:
    """Which of the workspace's leads and submissions still hold ``needle`` anywhere."""
    return await first_column(
        owner_db,
        "SELECT 'lead ' || coalesce(email, '') FROM leads WHERE workspace_id = :ws"
        " AND concat_ws(' ', email, phone, name, message, notes) LIKE :n"
        " UNION ALL SELECT 'submission ' || coalesce(email, '') FROM lead_submissions"
        " WHERE workspace_id = :ws"
        " AND concat_ws(' ', email, phone, name, message) LIKE :n ORDER BY 1",
        ws=owner.workspace_id,
        n=f"%{needle}%",
    )


async def _leads(client: httpx.AsyncClient, owner: Owner) -> list[dict[str, Any]]:
    response = await client.get(owner.url("/leads"), headers=owner.headers)
    assert response.status_code == 200, response.text
    return sorted(response.json()["items"], key=lambda lead: lead["email"] or "")


async def test_erasure_by_phone_finds_the_number_in_a_forms_message(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    n, other, tag = _national(), _national(), uuid.uuid4().hex[:8]
    jo, bystander = f"jo-{tag}@example.com", f"kim-{tag}@example.com"
    await _form(client, owner, email=jo, message=f"please call me on +91 {n[:5]} {n[5:]}")
    await _form(client, owner, email=bystander, message=f"please call me on +91 {other}")
    # A number that only holds the visitor's digits is another one.
    await _form(client, owner, email=f"longer-{tag}@example.com", message=f"ring 4{n}")

    response = await _erase(client, owner, phone=f"0{n}")
    assert response.status_code == 200, response.text
    erased = response.json()["erased"]
    assert (erased["leads"], erased["lead_submissions"]) == (1, 1), erased

    assert [lead["email"] for lead in await _leads(client, owner)] == [
        bystander,
        f"longer-{tag}@example.com",
    ]
    assert await _holding(owner_db, owner, n[5:]) == [
        f"lead longer-{tag}@example.com",
        f"submission longer-{tag}@example.com",
    ]
    audit = await client.get(
        owner.url("/audit"), params={"action": "visitor.erased"}, headers=owner.headers
    )
    [entry] = audit.json()["items"]
    assert entry["details"]["erased"]["lead_submissions"] == 1
    assert n[5:] not in json.dumps(entry)


async def test_a_shared_address_keeps_its_lead_without_the_number_its_message_had(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """The visitor wrote their number in a form sent with a shared mailbox, whose lead another
    person's form also reached: the lead stays (as by session), its message (the visitor's,
    the first) replaced by the remaining submission's."""
    n, tag = _national(), uuid.uuid4().hex[:8]
    shared = f"office-{tag}@example.com"
    await _form(client, owner, email=shared, message=f"call me: {n[:3]}-{n[3:6]}-{n[6:]}")
    await _form(client, owner, email=shared, name="Asha", message=f"asha here {tag}")
    [lead] = await _leads(client, owner)
    assert n[6:] in lead["message"]

    response = await _erase(client, owner, phone=f"+91 {n}")
    assert response.status_code == 200, response.text
    erased = response.json()["erased"]
    assert (erased["leads"], erased["lead_submissions"]) == (0, 1), erased
    [lead] = await _leads(client, owner)
    assert (lead["email"], lead["name"], lead["message"]) == (shared, "Asha", f"asha here {tag}")
    assert await _holding(owner_db, owner, n[6:]) == []


async def test_erasure_by_phone_finds_the_number_in_a_leads_own_message(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """A lead the owner typed in, the visitor's number in its message and no submission: it is
    reached as a lead a conversation holding the number is, and goes (nothing sent from
    elsewhere remains on it)."""
    n, tag = _national(), uuid.uuid4().hex[:8]
    typed = await client.post(
        owner.url("/leads"),
        json={"email": f"ravi-{tag}@example.com", "message": f"wants a call on 0{n}"},
        headers=owner.headers,
    )
    assert typed.status_code == 201, typed.text
    response = await _erase(client, owner, phone=f"+91 {n}")
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["leads"] == 1
    assert await _holding(owner_db, owner, n[5:]) == []


async def test_the_conversation_a_form_with_the_number_was_sent_from_goes_with_it(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """As a submission sent with the number: the conversation it was sent from is the
    visitor's, and so are the other conversations of that browser session."""
    n, tag = _national(), uuid.uuid4().hex[:8]
    erased = await erased_after_a_form_from_a_chat(
        client,
        owner,
        tag,
        {"email": f"jo-{tag}@example.com", "message": f"ring me on (+91) {n}"},
        phone=n,
    )
    assert (erased["leads"], erased["lead_submissions"], erased["conversations"]) == (1, 1, 1)
    assert await _user_messages(owner_db, owner, tag) == [f"other-{tag}"]


async def erased_after_a_form_from_a_chat(
    client: httpx.AsyncClient, owner: Owner, tag: str, form: dict[str, str], **key: str
) -> dict[str, int]:
    """The counts of erasing the visitor named by ``key`` once they chatted in session
    ``jo-<tag>`` and sent ``form`` from that conversation (another visitor chatted in session
    ``other-<tag>``)."""
    session = f"jo-{tag}"
    said = await _chat(client, owner, f"Do you deliver to Pune? {tag}", session)
    await _chat(client, owner, f"new-conversation {tag}", f"other-{tag}")
    await _form(client, owner, **form, conversation_id=said["conversation_id"], session_id=session)
    response = await _erase(client, owner, **key)
    assert response.status_code == 200, response.text
    erased: dict[str, int] = response.json()["erased"]
    return erased
