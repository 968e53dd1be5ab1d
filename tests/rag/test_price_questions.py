"""Lead capture "When they ask to be contacted": a price question the knowledge answers gets its
answer without the contact form; unanswered it still gets the form, and asking for a quote, a
demo or sales still does (a reviewer's finding: "How much does shipping to Germany cost?" was
answered from the documents, cited, and the form slid in under it)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from api.runtime import Runtime
from rag.chat.intents import price_question
from tests.conftest import Owner
from tests.rag.test_answers import ingest
from tests.rag.test_chat import add_faq, chat

SHIPPING = (
    "# Shipping\n\nShipping to Germany costs 49 euros per kayak and takes ten working days. "
    "Paddles ship free with a kayak."
)


@pytest.mark.parametrize(
    ("text", "price"),
    [
        ("How much does shipping to Germany cost?", True),
        ("pricing", True),
        ("what does it cost?", True),
        ("Can I get a quote for 20 kayaks?", False),
        ("book a demo", False),
        ("What's the price? I want to buy the enterprise plan", False),
        ("talk to sales about pricing", False),
    ],
)
def test_a_price_question_is_told_from_a_request_to_be_contacted(text: str, price: bool) -> None:
    assert price_question(text) is price


async def test_a_price_question_the_documents_answer_gets_no_contact_form(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime
) -> None:
    await ingest(client, owner, runtime, "Shipping", SHIPPING)
    session = f"v-{uuid.uuid4().hex}"
    body = (
        await chat(client, owner, "How much does shipping to Germany cost?", session_id=session)
    ).json()
    assert body["source"] in ("rag", "cache"), body
    assert body["intent"] == "lead"  # counted as a lead's question, as before
    assert body["lead_capture"] is False


async def test_a_price_question_an_faq_answers_gets_no_form_but_a_quote_does(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await add_faq(
        client, owner, "How much is the Pro plan?", "The Pro plan is 4,999 rupees a month."
    )
    body = (
        await chat(client, owner, "How much is the Pro plan?", session_id=f"v-{uuid.uuid4().hex}")
    ).json()
    assert body["source"] == "faq", body
    assert body["lead_capture"] is False
    quote = (
        await chat(
            client, owner, "Can I get a quote for 20 seats?", session_id=f"v-{uuid.uuid4().hex}"
        )
    ).json()
    assert quote["intent"] == "lead"
    assert quote["lead_capture"] is True


async def test_a_price_question_nothing_answers_still_offers_the_form(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    body = (
        await chat(
            client, owner, "How much does a gift card cost?", session_id=f"v-{uuid.uuid4().hex}"
        )
    ).json()
    assert body["source"] == "fallback", body
    assert body["lead_capture"] is True
