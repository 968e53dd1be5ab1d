"""An erasure by email finds the address a visitor wrote in the widget form's message, with the
form's email field empty ("write to me at jo@example.com"), and in a lead's own message, in
any case, as the chat's messages are read: ``jo@example.com`` never matches
``ajo@example.com`` or ``jo@example.com.au``.

Before, only an erasure by phone read those messages (``test_erasure_form_message.py``): by
email, such a form's submission and its lead kept the address, and every count was 0."""

from __future__ import annotations

import json
import uuid

import httpx

from core.db import Database
from tests.conftest import Owner
from tests.lifecycle.data import first_column
from tests.lifecycle.test_erasure_by_phone import _erase, _national, _user_messages
from tests.lifecycle.test_erasure_form_message import _form, _leads, erased_after_a_form_from_a_chat


async def _messages_left(owner_db: Database, owner: Owner, tag: str) -> list[str]:
    """The messages of the workspace's leads and submissions that hold ``tag``, each marked
    with the kind of row it is in."""
    return await first_column(
        owner_db,
        "SELECT 'lead: ' || message FROM leads WHERE workspace_id = :ws AND message LIKE :n"
        " UNION ALL SELECT 'submission: ' || message FROM lead_submissions"
        " WHERE workspace_id = :ws AND message LIKE :n ORDER BY 1",
        ws=owner.workspace_id,
        n=f"%{tag}%",
    )


async def test_erasure_by_email_finds_the_address_in_a_forms_message(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    tag = uuid.uuid4().hex[:8]
    address = f"jo-{tag}@example.com"
    await _form(
        client, owner, phone=f"+91 {_national()}", message=f"write to me at {address.upper()}"
    )
    # Addresses that merely hold the visitor's are other people's.
    near = [f"write to a{address} please", f"write to {address}.au please"]
    for message in near:
        await _form(client, owner, phone=f"+91 {_national()}", message=message)

    response = await _erase(client, owner, email=address)
    assert response.status_code == 200, response.text
    erased = response.json()["erased"]
    assert (erased["leads"], erased["lead_submissions"]) == (1, 1), erased

    assert await _messages_left(owner_db, owner, tag) == sorted(
        f"{kind}: {message}" for kind in ("lead", "submission") for message in near
    )
    audit = await client.get(
        owner.url("/audit"), params={"action": "visitor.erased"}, headers=owner.headers
    )
    [entry] = audit.json()["items"]
    assert entry["details"]["erased"]["lead_submissions"] == 1
    assert tag not in json.dumps(entry)


async def test_a_shared_number_keeps_its_lead_without_the_address_its_message_had(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """The visitor wrote their address in a form sent with an office's number, whose lead
    another person's form also reached: the lead stays (as by session), its message (the
    visitor's, the first) replaced by the remaining submission's."""
    office, tag = _national(), uuid.uuid4().hex[:8]
    address = f"jo-{tag}@example.com"
    await _form(client, owner, phone=f"0{office}", message=f"mail {address}, thanks")
    await _form(client, owner, phone=f"0{office}", name="Asha", message=f"asha here {tag}")
    [lead] = await _leads(client, owner)
    assert address in lead["message"]

    response = await _erase(client, owner, email=address.capitalize())
    assert response.status_code == 200, response.text
    erased = response.json()["erased"]
    assert (erased["leads"], erased["lead_submissions"]) == (0, 1), erased
    [lead] = await _leads(client, owner)
    assert (lead["name"], lead["message"]) == ("Asha", f"asha here {tag}")
    assert office in lead["phone"].replace(" ", "")
    assert await _messages_left(owner_db, owner, tag) == [
        f"lead: asha here {tag}",
        f"submission: asha here {tag}",
    ]


async def test_erasure_by_email_finds_the_address_in_a_leads_own_message(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """A lead the owner typed in, the visitor's address in its message and no submission: it
    is reached as a lead a conversation holding the address is, and goes (nothing sent from
    elsewhere remains on it). The leads holding a longer address stay."""
    tag = uuid.uuid4().hex[:8]
    address = f"jo-{tag}@example.com"
    messages = [f"prefers {address.title()} for quotes", f"a{address}", f"{address}.au only"]
    for message in messages:
        typed = await client.post(
            owner.url("/leads"),
            json={"phone": f"+91 {_national()}", "message": message},
            headers=owner.headers,
        )
        assert typed.status_code == 201, typed.text

    response = await _erase(client, owner, email=address)
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["leads"] == 1
    assert await _messages_left(owner_db, owner, tag) == sorted(
        f"lead: {message}" for message in messages[1:]
    )


async def test_the_conversation_a_form_with_the_address_was_sent_from_goes_with_it(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """As a submission sent with the address: the conversation it was sent from is the
    visitor's, and so are the other conversations of that browser session."""
    tag = uuid.uuid4().hex[:8]
    erased = await erased_after_a_form_from_a_chat(
        client,
        owner,
        tag,
        {"phone": f"+91 {_national()}", "message": f"answer to <JO-{tag}@EXAMPLE.COM>"},
        email=f"jo-{tag}@example.com",
    )
    assert (erased["leads"], erased["lead_submissions"], erased["conversations"]) == (1, 1, 1)
    assert await _user_messages(owner_db, owner, tag) == [f"other-{tag}"]
