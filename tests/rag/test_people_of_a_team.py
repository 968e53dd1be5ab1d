"""People of the visitor's own team, company or school, counted in a price ask, are seats:
the sales route, the contact form under the FAQ's answer. The lexicon that made "price for 2
people" an ordinary price question (a hotel's, a restaurant's guests) took the team only right
after "our" and one of five words before it: "pricing for 20 people on our support team",
"price for 30 students at our school", "Preis für 20 Personen aus unserem Support-Team" lost
the form they had before. Through the chat API with a widget key."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import Owner
from tests.rag.test_chat import add_faq, chat

BUYERS = [
    "What's the pricing for 20 people on our support team?",
    "pricing for 15 people in our customer support team",
    "costs for 20 people on our support team",
    "price for 20 people for our team",
    "pricing for 20 people across our company",
    "pricing for 30 students at our school",
    "price for 30 students at my school",
    "Preis für 20 Personen aus unserem Support-Team",
]


@pytest.mark.parametrize("message", BUYERS)
async def test_people_of_the_visitors_team_get_the_form_under_the_faqs_answer(
    client: httpx.AsyncClient, owner: Owner, message: str
) -> None:
    answer = f"Our price list answers: {uuid.uuid4().hex[:8]}."
    await add_faq(client, owner, message, answer)
    body = (await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex}")).json()
    assert (body["source"], body["answer"]) == ("faq", answer), body
    assert (body["intent"], body["lead_capture"]) == ("lead", True), body


# Guests of a hotel or a restaurant stay ordinary price questions.
GUESTS = [
    "price for 2 people in our room",
    "price for 4 people at our table",
    "What's the price for 2 people per night?",
]


@pytest.mark.parametrize("message", GUESTS)
async def test_guests_stay_an_ordinary_price_question(
    client: httpx.AsyncClient, owner: Owner, message: str
) -> None:
    answer = f"Our price list answers: {uuid.uuid4().hex[:8]}."
    await add_faq(client, owner, message, answer)
    body = (await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex}")).json()
    assert (body["source"], body["answer"]) == ("faq", answer), body
    assert body["lead_capture"] is False, body
