"""A visitor who left their email address in this conversation (typed in the chat, or through
the widget's contact form) is not asked for it again: the next "I don't know" says the team
will follow up at the address they left, and offers no contact form. Before, every don't-know
answer kept asking "Would you like to leave your email address...?" and the widget showed the
form again."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Owner
from tests.rag.test_chat import chat


async def test_dont_know_stops_asking_for_the_email_once_given(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    session = f"visitor-{uuid.uuid4()}"
    first = (await chat(client, owner, "Do you repair vintage zithers?", session_id=session)).json()
    assert first["source"] == "fallback", first
    assert "leave your email" in first["answer"], first
    assert first["lead_capture"] is True, first
    conversation = first["conversation_id"]

    given = (
        await chat(
            client,
            owner,
            f"jane.{uuid.uuid4().hex[:8]}@example.com",
            session_id=session,
            conversation_id=conversation,
        )
    ).json()
    assert (given["intent"], given["lead_saved"]) == ("contact", True), given

    again = (
        await chat(
            client,
            owner,
            "Do you tune harpsichords?",
            session_id=session,
            conversation_id=conversation,
        )
    ).json()
    assert again["source"] == "fallback", again
    assert "leave your email" not in again["answer"], again
    assert "contact details you left" in again["answer"], again
    assert again["lead_capture"] is False, again
    # Still a knowledge gap for the owner.
    unanswered = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    assert {"Do you repair vintage zithers?", "Do you tune harpsichords?"} <= {
        group["question"] for group in unanswered
    }, unanswered


async def test_another_conversation_is_still_asked(client: httpx.AsyncClient, owner: Owner) -> None:
    session = f"visitor-{uuid.uuid4()}"
    first = (await chat(client, owner, "Do you repair vintage zithers?", session_id=session)).json()
    await chat(
        client,
        owner,
        "bob@example.com",
        session_id=session,
        conversation_id=first["conversation_id"],
    )
    fresh = (
        await chat(client, owner, "Do you tune harpsichords?", session_id=f"other-{uuid.uuid4()}")
    ).json()
    assert "leave your email" in fresh["answer"], fresh
    assert fresh["lead_capture"] is True, fresh


async def test_a_request_for_a_person_after_the_email_asks_for_it_no_more(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    session = f"visitor-{uuid.uuid4()}"
    first = (await chat(client, owner, "Do you repair vintage zithers?", session_id=session)).json()
    conversation = first["conversation_id"]
    await chat(
        client,
        owner,
        "my email is sam@example.com",
        session_id=session,
        conversation_id=conversation,
    )
    human = (
        await chat(
            client,
            owner,
            "I want to talk to a human",
            session_id=session,
            conversation_id=conversation,
        )
    ).json()
    assert (human["intent"], human["source"]) == ("human", "handoff"), human
    assert "leave your email" not in human["answer"], human
    assert "contact details you left" in human["answer"], human
    assert human["lead_capture"] is False, human
