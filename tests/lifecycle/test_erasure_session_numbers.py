"""Erasing one visitor's session from a lead other visitors sent to as well rewrites the lead's
details from what remains, and then its number (or the address it loses) may make it another
lead's: one lead without email per number (README, lead capture). Before, the number was
rewritten without looking, and the erased visitor's address stayed on the lead:

- "+91 79111 23456" (Delhi) and "07911 123456" (typed without a country code, so the Delhi
  lead's) were one lead, "+44 7911 123456" (London) another; erasing the Delhi visitor left
  the lead "07911 123456" beside the London one, two leads for one number;
- an address given by a visitor's form to their conversation's lead (a number's) stayed on it
  after that visitor's session was erased, while another visitor's submission kept the lead.

Now the address that came only from the erased submissions goes as the other details do, and a
lead left without email whose number another lead without email has goes into that lead (its
remaining submissions and conversations with it)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from core.jobs import JobQueue
from tests.conftest import Owner
from tests.lifecycle.data import widget
from tests.widget.test_widget_phone_lead import submitted_phones


async def _chat(
    client: httpx.AsyncClient, owner: Owner, message: str, session: str, conversation: str = ""
) -> str:
    """The visitor's message (in ``conversation``, else a new one); the conversation's id
    (asserting the contact was saved)."""
    body = {"message": message, "session_id": session}
    if conversation:
        body["conversation_id"] = conversation
    response = await client.post("/api/v1/chat", json=body, headers=widget(owner))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert (body["intent"], body["lead_saved"]) == ("contact", True), body
    return str(body["conversation_id"])


async def _leads(client: httpx.AsyncClient, owner: Owner) -> list[dict[str, Any]]:
    listing = await client.get(owner.url("/leads"), headers=owner.headers)
    assert listing.status_code == 200, listing.text
    return list(listing.json()["items"])


async def _erase_session(client: httpx.AsyncClient, owner: Owner, session: str) -> dict[str, int]:
    response = await client.post(
        owner.url("/erasures"), json={"session_id": session}, headers=owner.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json()["erased"])


async def test_a_number_left_by_the_erasure_goes_on_the_lead_that_has_it(
    client: httpx.AsyncClient, owner: Owner, jobs: JobQueue
) -> None:
    tail = f"{uuid.uuid4().int % 10**6:06d}"
    delhi, home, london = f"+91 7911{tail[0]} {tail[1:]}", f"07911 {tail}", f"+44 7911 {tail}"
    tag = uuid.uuid4().hex[:8]
    await _chat(client, owner, f"call me on {delhi}", f"delhi-{tag}")
    await _chat(client, owner, f"call me on {home}", f"home-{tag}")
    await _chat(client, owner, f"call me on {london}", f"london-{tag}")
    await jobs.drain()
    ids = {lead["phone"]: lead["id"] for lead in await _leads(client, owner)}
    assert set(ids) == {delhi, london}
    # The owner worked both leads: their notes and the status last moved to are kept.
    for phone, work in ((london, {"notes": "left a voicemail"}), (delhi, {"status": "won"})):
        worked = await client.patch(
            owner.url(f"/leads/{ids[phone]}"), json=work, headers=owner.headers
        )
        assert worked.status_code == 200, worked.text

    erased = await _erase_session(client, owner, f"delhi-{tag}")
    assert (erased["conversations"], erased["lead_submissions"]) == (1, 1), erased
    [lead] = await _leads(client, owner)
    assert (lead["id"], lead["phone"]) == (ids[london], london)
    assert (lead["notes"], lead["status"]) == ("left a voicemail", "won")
    assert sorted(await submitted_phones(client, owner, lead["id"])) == sorted([home, london])


async def test_an_address_from_the_erased_session_leaves_the_lead(
    client: httpx.AsyncClient, owner: Owner, jobs: JobQueue
) -> None:
    number = f"+91 9{uuid.uuid4().int % 10**4:04d} {uuid.uuid4().int % 10**5:05d}"
    tag = uuid.uuid4().hex[:8]
    email = f"asha-{tag}@example.com"
    asha = await _chat(client, owner, f"call me on {number}", f"asha-{tag}")
    await _chat(client, owner, f"my number is {number}", f"ravi-{tag}")
    # Asha's form from her conversation gives its lead (the number's) her address.
    form = await client.post(
        "/api/v1/widget/leads",
        json={"email": email, "conversation_id": asha, "session_id": f"asha-{tag}"},
        headers=widget(owner),
    )
    assert form.status_code == 202, form.text
    [lead] = await _leads(client, owner)
    assert (lead["email"], lead["phone"]) == (email, number)
    # Now a lead with an address: a third visitor's number is a lead of its own.
    await _chat(client, owner, f"call me on {number}", f"kiran-{tag}")
    await jobs.drain()
    assert len(await _leads(client, owner)) == 2

    erased = await _erase_session(client, owner, f"asha-{tag}")
    assert erased["lead_submissions"] == 2, erased
    leads = await _leads(client, owner)
    assert [lead["email"] for lead in leads] == [None], leads
    assert [lead["phone"] for lead in leads] == [number]
    assert await submitted_phones(client, owner, leads[0]["id"]) == [number, number]


async def test_a_number_typed_after_the_address_leaves_the_shared_lead_with_its_session(
    client: httpx.AsyncClient, owner: Owner, jobs: JobQueue
) -> None:
    """Alice typed the shared address, then her number, in the chat (the number went on the
    conversation's lead with no submission of its own); Bob sent the same address with the
    form. Erasing Alice's session kept the lead for Bob, with Alice's number on it."""
    tag = uuid.uuid4().hex[:8]
    shared = f"info-{tag}@example.com"
    number = f"+91 9{uuid.uuid4().int % 10**4:04d} {uuid.uuid4().int % 10**5:05d}"
    alice = await _chat(client, owner, f"my email is {shared}", f"alice-{tag}")
    await _chat(client, owner, f"you can also call me on {number}", f"alice-{tag}", alice)
    form = await client.post(
        "/api/v1/widget/leads", json={"email": shared, "name": "Bob"}, headers=widget(owner)
    )
    assert form.status_code == 202, form.text
    await jobs.drain()
    [lead] = await _leads(client, owner)
    assert (lead["email"], lead["phone"]) == (shared, number)

    await _erase_session(client, owner, f"alice-{tag}")
    [lead] = await _leads(client, owner)
    assert (lead["email"], lead["phone"], lead["name"]) == (shared, None, "Bob")


async def test_a_lead_whose_number_the_owner_removed_keeps_the_other_visitors_number(
    client: httpx.AsyncClient, owner: Owner, jobs: JobQueue
) -> None:
    """Bob, then Asha, left one number in the chat (one lead); Asha's form gave it her address,
    and the owner removed the number. Erasing Asha's session takes her address: the lead would
    be left with no contact at all, so it takes Bob's number back from his submission rather
    than going with it (``session_erasure_repository._details_left``)."""
    number = f"+91 9{uuid.uuid4().int % 10**4:04d} {uuid.uuid4().int % 10**5:05d}"
    tag = uuid.uuid4().hex[:8]
    await _chat(client, owner, f"call me on {number}", f"bob-{tag}")
    asha = await _chat(client, owner, f"my number is {number}", f"asha-{tag}")
    form = await client.post(
        "/api/v1/widget/leads",
        json={
            "email": f"asha-{tag}@example.com",
            "conversation_id": asha,
            "session_id": f"asha-{tag}",
        },
        headers=widget(owner),
    )
    assert form.status_code == 202, form.text
    await jobs.drain()
    [lead] = await _leads(client, owner)
    removed = await client.patch(
        owner.url(f"/leads/{lead['id']}"),
        json={"phone": None, "notes": "number removed"},
        headers=owner.headers,
    )
    assert removed.status_code == 200, removed.text
    assert (removed.json()["email"], removed.json()["phone"]) == (f"asha-{tag}@example.com", None)

    erased = await _erase_session(client, owner, f"asha-{tag}")
    assert (erased["lead_submissions"], erased["leads"]) == (2, 0), erased
    [kept] = await _leads(client, owner)
    assert (kept["id"], kept["email"], kept["phone"]) == (lead["id"], None, number), kept
    assert kept["notes"] == "number removed"
    assert await submitted_phones(client, owner, kept["id"]) == [number]
