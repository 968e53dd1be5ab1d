"""A sales lead the knowledge says nothing about ("I want to book a demo", "can I get a quote for
50 seats?") got "Sorry, I don't know the answer to that based on the information available":
the canned reply for a lead (``persona_reply("lead")``) was written but never used. Now it
answers that the team can be reached about it (the contact form offered), says the team will
follow up at the address the visitor already left, or, under lead capture "Never", points to
the owner's contact details. A question only about a price the knowledge cannot answer still
gets "I don't know" (it is a question), and the owner's own dont_know text still wins."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Owner
from tests.rag.test_chat import chat, new_session

OFFER = "I'd be happy to connect you with our team about plans, pricing or a demo."


async def test_a_demo_request_gets_the_lead_reply_and_the_form(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    for message in ("I want to book a demo", "Can I get a quote for 50 seats?"):
        body = (await chat(client, owner, message, session_id=new_session())).json()
        assert (body["intent"], body["source"]) == ("lead", "fallback"), body
        assert body["answer"].startswith(OFFER), body
        assert "don't know" not in body["answer"], body
        assert body["lead_capture"] is True, body
    price = (await chat(client, owner, "How much does it cost?", session_id=new_session())).json()
    assert price["intent"] == "lead", price
    assert price["answer"].startswith("Sorry, I don't know"), price


async def test_after_an_address_was_left_the_lead_reply_asks_for_none(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    session = new_session()
    email = f"v-{uuid.uuid4().hex[:12]}@example.com"
    given = (await chat(client, owner, f"my email is {email}", session_id=session)).json()
    assert given["lead_saved"] is True, given
    body = (
        await chat(
            client,
            owner,
            "I want to book a demo",
            session_id=session,
            conversation_id=given["conversation_id"],
        )
    ).json()
    assert body["answer"].startswith(OFFER), body
    assert "the contact details you left" in body["answer"], body
    assert "Please leave" not in body["answer"], body
    assert body["lead_capture"] is False, body


async def test_under_lead_capture_never_it_points_to_the_owners_contact_details(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    hint = f"Call us on 030 {uuid.uuid4().int % 10_000_000:07d}."
    saved = await client.patch(
        owner.url("/widget"),
        json={"lead_capture": "off", "texts": {"no_contact_hint": hint}},
        headers=owner.headers,
    )
    assert saved.status_code == 200, saved.text
    body = (await chat(client, owner, "I want to book a demo", session_id=new_session())).json()
    assert body["answer"].endswith(hint), body
    assert "don't know" not in body["answer"], body
    assert "email" not in body["answer"], body
    assert body["lead_capture"] is False, body


async def test_the_owners_dont_know_text_wins(client: httpx.AsyncClient, owner: Owner) -> None:
    own = "We could not find that; write to us any time."
    saved = await client.patch(
        owner.url("/widget"), json={"texts": {"dont_know": own}}, headers=owner.headers
    )
    assert saved.status_code == 200, saved.text
    body = (await chat(client, owner, "I want to book a demo", session_id=new_session())).json()
    assert body["answer"] == own, body
