"""Erasing a visitor by a number they asked a call on in a conversation linked to another
person's lead erases that visitor, not the lead.

A visitor's conversation is linked to an existing lead when they type that lead's address or
number; a callback they then ask on another number stays a submission (source ``chat``) on that
lead, which keeps its own number (``lead_repository.give_phone``). Before, an erasure by the
visitor's number took every lead with a submission carrying it, and every lead their
conversations were linked to, whole: erasing visitor B by B's number deleted lead A (A's name,
address, number, submissions and conversations) because B once typed A's address."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from core.db import Database
from tests.conftest import Owner
from tests.lifecycle.data import widget
from tests.lifecycle.test_erasure_by_phone import _erase, _user_messages
from tests.rag.test_lead_capture_never import leads_of
from tests.rag.test_phone_callback_requests import _history, _plus91, _Visitor


async def _erased(client: httpx.AsyncClient, owner: Owner, phone: str) -> dict[str, Any]:
    response = await _erase(client, owner, phone=phone)
    assert response.status_code == 200, response.text
    return dict(response.json()["erased"])


async def test_erasing_by_a_number_asked_in_a_conversation_linked_to_anothers_lead(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    tag = uuid.uuid4().hex[:8]
    email, theirs, typed = f"asha.{tag}@example.com", _plus91(), _plus91()
    asha = _Visitor(client, owner)
    first = await asha.says(f"my email is {email}, please call me on {theirs}")
    assert first["lead_saved"] is True, first
    form = await client.post(
        "/api/v1/widget/leads",
        json={"email": email, "name": "Asha Rao", "message": f"asha's form {tag}"},
        headers=widget(owner),
    )
    assert form.status_code == 202, form.text
    [lead] = await leads_of(client, owner)
    asha_history = await _history(client, owner, lead["id"])

    ravi = _Visitor(client, owner)
    linked = await ravi.says(f"my email is {email}")
    assert linked["lead_saved"] is True, linked
    asked = await ravi.says(f"actually call me on {typed} instead")
    assert asked["lead_saved"] is True, asked
    [lead] = await leads_of(client, owner)
    assert (lead["email"], lead["phone"], lead["name"]) == (email, theirs, "Asha Rao"), lead
    assert typed in await _history(client, owner, lead["id"])

    # Ravi's number, written as a visitor without the country code would.
    erased = await _erased(client, owner, "0" + typed.removeprefix("+91 ").replace(" ", ""))
    # Ravi's conversation (his two messages and the two answers) and the two submissions it
    # sent (the address he typed, the callback); Asha's lead stays.
    assert (erased["leads"], erased["lead_submissions"], erased["conversations"]) == (0, 2, 1)
    assert erased["messages"] == 4, erased
    [kept] = await leads_of(client, owner)
    assert kept["id"] == lead["id"]
    assert (kept["email"], kept["phone"], kept["name"]) == (email, theirs, "Asha Rao"), kept
    assert await _history(client, owner, lead["id"]) == asha_history
    assert await _user_messages(owner_db, owner, email) == [asha.session]
    assert await _user_messages(owner_db, owner, typed[-5:]) == []
    audit = await client.get(
        owner.url("/audit"), params={"action": "visitor.erased"}, headers=owner.headers
    )
    [entry] = audit.json()["items"]
    assert (entry["details"]["by"], entry["details"]["erased"]) == ("phone", erased)
    assert typed[-5:] not in json.dumps(entry)

    # Asha's own number still erases Asha, as it did.
    erased = await _erased(client, owner, theirs)
    assert (erased["leads"], erased["conversations"]) == (1, 1), erased
    assert await leads_of(client, owner) == []
    assert await _user_messages(owner_db, owner, email) == []


async def test_erasing_by_a_number_a_form_sent_with_anothers_address(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The widget form behaved so before the chat did: a form with a lead's address and another
    number is a submission on that lead, which keeps its own number. Erasing by that number takes
    the submission, not the lead."""
    tag = uuid.uuid4().hex[:8]
    email, theirs, typed = f"asha.{tag}@example.com", _plus91(), _plus91()
    asha = await _Visitor(client, owner).says(f"my email is {email}, please call me on {theirs}")
    assert asha["lead_saved"] is True, asha
    [lead] = await leads_of(client, owner)
    asha_history = await _history(client, owner, lead["id"])
    form = await client.post(
        "/api/v1/widget/leads",
        json={"email": email, "phone": typed, "name": "Ravi", "message": f"ravi {tag}"},
        headers=widget(owner),
    )
    assert form.status_code == 202, form.text
    [lead] = await leads_of(client, owner)
    assert (lead["phone"], lead["name"]) == (theirs, "Ravi"), lead

    erased = await _erased(client, owner, typed)
    assert (erased["leads"], erased["lead_submissions"], erased["conversations"]) == (0, 1, 0)
    [kept] = await leads_of(client, owner)
    # The name only Ravi's form gave goes with it; Asha's address and number stay.
    assert (kept["id"], kept["email"], kept["phone"], kept["name"]) == (
        lead["id"], email, theirs, None,
    ), kept  # fmt: skip
    assert await _history(client, owner, lead["id"]) == asha_history


async def test_erasing_by_a_number_asked_on_anothers_lead_that_had_no_number(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """Asha left only her address; Ravi typed it, then asked a call on his number. Her lead had
    no number, so it took his (``give_phone`` fills an empty one): it now carries the key the
    erasure names. Erasing Ravi by that number took Asha's lead whole (her address, her
    submission, her conversation and its messages), the very loss the linked erasure avoids
    when her lead has a number of its own. Her lead stays, without his number."""
    tag = uuid.uuid4().hex[:8]
    email, typed = f"asha.{tag}@example.com", _plus91()
    asha = _Visitor(client, owner)
    first = await asha.says(f"my email is {email}")
    assert first["lead_saved"] is True, first
    ravi = _Visitor(client, owner)
    assert (await ravi.says(f"my email is {email}"))["lead_saved"] is True
    assert (await ravi.says(f"actually call me on {typed} instead"))["lead_saved"] is True
    [lead] = await leads_of(client, owner)
    assert (lead["email"], lead["phone"]) == (email, typed), lead

    erased = await _erased(client, owner, typed)
    assert (erased["leads"], erased["lead_submissions"], erased["conversations"]) == (0, 2, 1)
    [kept] = await leads_of(client, owner)
    assert (kept["id"], kept["email"], kept["phone"]) == (lead["id"], email, None), kept
    assert await _history(client, owner, lead["id"]) == [None]
    assert await _user_messages(owner_db, owner, email) == [asha.session]
    assert await _user_messages(owner_db, owner, typed[-5:]) == []


async def test_the_number_written_otherwise_on_anothers_lead_goes_too(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Ravi's form filled Asha's empty number with his; the owner then wrote it as a visitor
    without the country code would. Erased by his number, her lead stays: without it, however
    it is written there (compared as numbers are, not as the submission wrote it)."""
    tag = uuid.uuid4().hex[:8]
    email, typed = f"asha.{tag}@example.com", _plus91()
    assert (await _Visitor(client, owner).says(f"my email is {email}"))["lead_saved"] is True
    form = await client.post(
        "/api/v1/widget/leads",
        json={"email": email, "phone": typed, "message": f"ravi {tag}"},
        headers=widget(owner),
    )
    assert form.status_code == 202, form.text
    [lead] = await leads_of(client, owner)
    assert lead["phone"] == typed, lead
    written = "0" + typed.removeprefix("+91 ").replace(" ", "")
    edited = await client.patch(
        owner.url(f"/leads/{lead['id']}"), json={"phone": written}, headers=owner.headers
    )
    assert edited.status_code == 200, edited.text

    erased = await _erased(client, owner, typed)
    assert (erased["leads"], erased["lead_submissions"]) == (0, 1), erased
    [kept] = await leads_of(client, owner)
    assert (kept["id"], kept["email"], kept["phone"]) == (lead["id"], email, None), kept


async def test_erasing_by_an_address_typed_on_anothers_lead_that_had_none(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """The same by email: Asha left only her number; Ravi typed it, then his address, which
    went on her lead (it had none). Erasing Ravi by his address took her lead whole, with her
    conversation. Her lead stays with her number, without his address."""
    tag = uuid.uuid4().hex[:8]
    theirs, address = _plus91(), f"ravi.{tag}@example.com"
    asha = _Visitor(client, owner)
    assert (await asha.says(f"please call me on {theirs}"))["lead_saved"] is True
    ravi = _Visitor(client, owner)
    assert (await ravi.says(f"call me on {theirs}"))["lead_saved"] is True
    assert (await ravi.says(f"my email is {address}"))["lead_saved"] is True
    [lead] = await leads_of(client, owner)
    assert (lead["email"], lead["phone"]) == (address, theirs), lead

    response = await _erase(client, owner, email=address)
    assert response.status_code == 200, response.text
    erased = response.json()["erased"]
    assert (erased["leads"], erased["conversations"], erased["messages"]) == (0, 1, 4), erased
    [kept] = await leads_of(client, owner)
    assert (kept["id"], kept["email"], kept["phone"]) == (lead["id"], None, theirs), kept
    assert await _user_messages(owner_db, owner, theirs[-5:]) == [asha.session]
    assert await _user_messages(owner_db, owner, address) == []
