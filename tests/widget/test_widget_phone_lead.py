"""The widget's form takes a phone number instead of an email address (a visitor without one, or
who would rather be called). Before, ``POST /widget/leads`` required ``email``: a number alone
was 422 ``validation_error``, and the form could not be sent."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Owner
from tests.widget.test_widget_leads import submit


async def test_a_visitor_leaves_a_number_instead_of_an_address(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    number = f"+91 9{uuid.uuid4().int % 10**4:04d} {uuid.uuid4().int % 10**5:05d}"
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


async def test_a_number_sent_with_the_form_after_an_address_typed_in_the_chat_is_that_leads(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The visitor typed their address in the chat (the conversation's lead), then sent the
    form with only their number: one lead with both, not a second lead without email taking
    the conversation from the first."""
    tag = uuid.uuid4().hex[:8]
    session = f"visitor-{tag}"
    said = await client.post(
        "/api/v1/chat",
        json={"message": f"my email is jo-{tag}@example.com", "session_id": session},
        headers={"X-Widget-Key": owner.workspace["public_key"]},
    )
    assert said.json()["lead_saved"] is True, said.text
    number = f"+91 9{uuid.uuid4().int % 10**9:09d}"
    form = await submit(
        client,
        owner,
        phone=number,
        conversation_id=said.json()["conversation_id"],
        session_id=session,
    )
    assert form.status_code == 202, form.text
    listing = (await client.get(owner.url("/leads"), headers=owner.headers)).json()["items"]
    assert [(lead["email"], lead["phone"]) for lead in listing] == [
        (f"jo-{tag}@example.com", number)
    ]
    [lead] = listing
    assert lead["conversation_id"] == said.json()["conversation_id"]
    submissions = await client.get(
        owner.url(f"/leads/{lead['id']}/submissions"), headers=owner.headers
    )
    assert number in [s["phone"] for s in submissions.json()["items"]]


async def test_an_address_sent_with_the_form_after_a_number_typed_in_the_chat_is_that_leads(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The visitor typed "call me on <number>" (a lead without email, the conversation's),
    then sent the form with their address and the same number: one lead with both. Before, the
    form made a second lead (with the address) and took the conversation from the first."""
    tag = uuid.uuid4().hex[:8]
    session = f"visitor-{tag}"
    number = f"+91 9{uuid.uuid4().int % 10**9:09d}"
    said = await client.post(
        "/api/v1/chat",
        json={"message": f"call me on {number}", "session_id": session},
        headers={"X-Widget-Key": owner.workspace["public_key"]},
    )
    assert said.json()["lead_saved"] is True, said.text
    form = await submit(
        client,
        owner,
        email=f"jo-{tag}@example.com",
        phone=number,
        name="Jo",
        conversation_id=said.json()["conversation_id"],
        session_id=session,
    )
    assert form.status_code == 202, form.text
    listing = (await client.get(owner.url("/leads"), headers=owner.headers)).json()["items"]
    assert [(lead["email"], lead["phone"], lead["name"]) for lead in listing] == [
        (f"jo-{tag}@example.com", number, "Jo")
    ]
    assert listing[0]["conversation_id"] == said.json()["conversation_id"]


async def test_an_address_another_lead_has_keeps_to_that_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The address the form brings is already a lead's: the submission goes to that lead (as
    before), and the chat's lead without email stays as it is."""
    tag = uuid.uuid4().hex[:8]
    email = f"known-{tag}@example.com"
    known = await client.post(owner.url("/leads"), json={"email": email}, headers=owner.headers)
    assert known.status_code == 201, known.text
    session = f"visitor-{tag}"
    number = f"+91 9{uuid.uuid4().int % 10**9:09d}"
    said = await client.post(
        "/api/v1/chat",
        json={"message": f"call me on {number}", "session_id": session},
        headers={"X-Widget-Key": owner.workspace["public_key"]},
    )
    form = await submit(
        client,
        owner,
        email=email,
        conversation_id=said.json()["conversation_id"],
        session_id=session,
    )
    assert form.status_code == 202, form.text
    listing = (await client.get(owner.url("/leads"), headers=owner.headers)).json()["items"]
    assert sorted((lead["email"] or "", lead["phone"] or "") for lead in listing) == [
        ("", number),
        (email, ""),
    ]
