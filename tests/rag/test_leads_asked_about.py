"""Asking whether one must ask for a quote or a demo is no sales lead, in English and German as
in Spanish, French, Portuguese and Italian ("¿Es necesario pedir una demo?", "Faut-il avoir un
devis ?"): "Muss ich ein Angebot anfordern?" and "Do I have to request a quote?" were leads (the
contact form, and "I'd be happy to connect you with our team about plans, pricing or a demo" to
a visitor who asked how ordering works), and so was one turned down in English ("I don't want a
demo, just the price list"), as "No quiero una demo" no longer is. The same words asked for
("Ich muss ein Angebot anfordern", "I want a demo", "no, I want a demo") are still leads."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.intents import detect_intent, price_question
from tests.conftest import Owner
from tests.rag.test_chat import chat

NO_LEAD = [
    "Muss ich ein Angebot anfordern?",
    "Muss ich eine Demo buchen, bevor ich bestelle?",
    "Müssen wir ein Angebot einholen, um zu bestellen?",
    "Muss man vorher ein Angebot anfordern?",
    "Eine Frage: muss ich ein Angebot anfordern?",
    "Do I have to request a quote?",
    "Do I need to book a demo before I order?",
    "do we need to get a quote first?",
    "Must I request a quote?",
    "I don't want a demo",
    "I don't need a quote, what are your opening hours?",
    "no need for a demo, where do you ship?",
]
STILL_LEADS = [
    "Ich muss ein Angebot anfordern",
    "Ich möchte eine Demo buchen",
    "Kann ich ein Angebot bekommen? Muss ich etwas ausfüllen?",
    "I want a demo",
    "no, I want a demo",
    "Can I get a quote?",
    "I don't know the price list, can I get a quote?",
    "I don't want a demo, I want a quote",
    "book a demo",
]


@pytest.mark.parametrize("text", NO_LEAD)
def test_a_quote_or_demo_asked_about_or_refused_is_no_lead(text: str) -> None:
    assert detect_intent(text).intent == "question"


@pytest.mark.parametrize("text", STILL_LEADS)
def test_a_quote_or_demo_asked_for_is_a_lead(text: str) -> None:
    assert detect_intent(text).intent == "lead"


def test_a_price_asked_beside_a_demo_refused_is_a_price_question() -> None:
    """The demo turned down asks for nothing: what is left is a price asked, answered from
    the knowledge without the contact form."""
    text = "I don't want a demo, how much is the pro plan?"
    assert detect_intent(text).intent == "lead"
    assert price_question(text)
    assert not price_question("how much is the pro plan? I want a demo")


async def test_the_german_question_gets_no_sales_reply(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    body = (await chat(client, owner, NO_LEAD[0], session_id=f"s-{uuid.uuid4().hex}")).json()
    assert body["intent"] == "question", body
    assert not body["answer"].startswith("Gerne verbinde ich Sie mit unserem Team"), body
    assert body["answer"].startswith("Entschuldigung"), body  # "I don't know" in German
