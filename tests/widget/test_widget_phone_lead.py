"""The widget's form takes a phone number instead of an email address (a visitor without one, or
who would rather be called). Before, ``POST /widget/leads`` required ``email``: a number alone
was 422 ``validation_error``, and the form could not be sent."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import Owner
from tests.rag.test_chat import chat, new_session
from tests.widget.test_widget_leads import submit


async def test_a_visitor_leaves_a_number_instead_of_an_address(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    number = _phone()
    response = await submit(client, owner, phone=number, name="Ravi")
    assert response.status_code == 202, response.text
    assert response.json() == {
        "status": "received",
        "thanks": f"Thanks! We'll be in touch at {number}.",
    }
    listing = await client.get(owner.url("/leads"), headers=owner.headers)
    [lead] = listing.json()["items"]
    assert (lead["email"], lead["phone"], lead["name"], lead["source"]) == (
        None,
        number,
        "Ravi",
        "widget",
    )


async def test_a_form_with_neither_or_a_number_no_one_could_call_is_refused_by_its_code(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    for body in ({"name": "Nobody"}, {"phone": "12345"}, {"email": None, "phone": None}):
        response = await submit(client, owner, **body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "contact_required", body
    listing = await client.get(owner.url("/leads"), headers=owner.headers)
    assert listing.json()["total"] == 0


async def _chat_then_form(
    client: httpx.AsyncClient, owner: Owner, message: str, **form: str
) -> tuple[str, list[dict[str, Any]]]:
    """``message`` typed in a new conversation, then the form sent from it with ``form``; the
    conversation's id and the workspace's leads."""
    session = new_session()
    said = await chat(client, owner, message, session_id=session)
    conversation_id: str = said.json()["conversation_id"]
    sent = await submit(client, owner, conversation_id=conversation_id, session_id=session, **form)
    assert sent.status_code == 202, sent.text
    listing = await client.get(owner.url("/leads"), headers=owner.headers)
    return conversation_id, list(listing.json()["items"])


async def submitted_phones(client: httpx.AsyncClient, owner: Owner, lead_id: Any) -> list[str]:
    """The numbers the lead's submissions brought."""
    url = owner.url(f"/leads/{lead_id}/submissions")
    submissions = await client.get(url, headers=owner.headers)
    return [s["phone"] for s in submissions.json()["items"]]


def _phone() -> str:
    return f"+91 9{uuid.uuid4().int % 10**9:09d}"


async def test_a_number_sent_with_the_form_after_an_address_typed_in_the_chat_is_that_leads(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The visitor typed their address in the chat (the conversation's lead), then sent the
    form with only their number: one lead with both, not a second lead without email taking
    the conversation from the first."""
    email, number = f"jo-{uuid.uuid4().hex[:8]}@example.com", _phone()
    conversation_id, listing = await _chat_then_form(
        client, owner, f"my email is {email}", phone=number
    )
    assert [(lead["email"], lead["phone"]) for lead in listing] == [(email, number)]
    [lead] = listing
    assert lead["conversation_id"] == conversation_id
    assert number in await submitted_phones(client, owner, lead["id"])


async def test_an_address_sent_with_the_form_after_a_number_typed_in_the_chat_is_that_leads(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The visitor typed "call me on <number>" (a lead without email, the conversation's),
    then sent the form with their address and the same number: one lead with both. Before, the
    form made a second lead (with the address) and took the conversation from the first."""
    email, number = f"jo-{uuid.uuid4().hex[:8]}@example.com", _phone()
    conversation_id, listing = await _chat_then_form(
        client, owner, f"call me on {number}", email=email, phone=number, name="Jo"
    )
    assert [(lead["email"], lead["phone"], lead["name"]) for lead in listing] == [
        (email, number, "Jo")
    ]
    assert listing[0]["conversation_id"] == conversation_id


async def test_an_address_another_lead_has_keeps_to_that_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The address the form brings is already a lead's: the submission goes to that lead (as
    before), and the chat's lead without email stays as it is."""
    email, number = f"known-{uuid.uuid4().hex[:8]}@example.com", _phone()
    known = await client.post(owner.url("/leads"), json={"email": email}, headers=owner.headers)
    assert known.status_code == 201, known.text
    _, listing = await _chat_then_form(client, owner, f"call me on {number}", email=email)
    assert sorted((lead["email"] or "", lead["phone"] or "") for lead in listing) == [
        ("", number),
        (email, ""),
    ]
