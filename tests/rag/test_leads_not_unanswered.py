"""A sales lead the bot routes to the contact form ("Can I get a quote for my team?") is no
knowledge gap: nothing in the knowledge was to answer it, the team is. It showed on the owner's
Unanswered page beside the questions the knowledge really missed (an owner's walk). Those stay
recorded: a price question nothing answers, any other question, and a lead on a workspace that
never asks for contact details (the owner has no lead then, only the question)."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Owner
from tests.rag.test_chat import chat
from tests.rag.test_lead_capture_never import never


def visitor() -> str:
    return f"v-{uuid.uuid4().hex}"


async def unanswered(client: httpx.AsyncClient, owner: Owner) -> list[str]:
    listing = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert listing.status_code == 200, listing.text
    return [group["question"] for group in listing.json()]


async def test_a_quote_routed_to_the_contact_form_is_not_left_unanswered(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    quote = await chat(client, owner, "Can I get a quote for my team?", session_id=visitor())
    body = quote.json()
    assert body["intent"] == "lead", body
    assert body["lead_capture"] is True  # the contact form, as before
    demo = (await chat(client, owner, "I'd like to book a demo", session_id=visitor())).json()
    assert demo["intent"] == "lead", demo
    assert demo["lead_capture"] is True
    # Real gaps, asked alongside, are still there for the owner.
    price = await chat(client, owner, "How much does a gift card cost?", session_id=visitor())
    assert price.json()["source"] == "fallback"
    await chat(client, owner, "Do you ship to Norway?", session_id=visitor())
    questions = await unanswered(client, owner)
    assert sorted(questions) == ["Do you ship to Norway?", "How much does a gift card cost?"]


async def test_a_lead_is_still_recorded_where_the_bot_asks_for_no_contact(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await never(client, owner)
    body = await chat(client, owner, "Can I get a quote for my team?", session_id=visitor())
    assert body.json()["lead_capture"] is False
    assert await unanswered(client, owner) == ["Can I get a quote for my team?"]
