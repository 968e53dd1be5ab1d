"""A visitor asking for a person in German, Spanish, French, Portuguese, Italian, Hindi (and a
few more of the languages the courtesy lexicon greets in) is handed off as one asking in
English is (a reviewer's finding: "Ich möchte mit einem Menschen sprechen" was a question,
answered "Sorry, I don't know", no hand-off, no mail, and listed as unanswered)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.test_chat import chat

ASKING = [
    "Ich möchte mit einem Menschen sprechen",
    "Kann ich bitte mit einem Mitarbeiter reden?",
    "Verbinden Sie mich bitte mit dem Kundendienst",
    "Quiero hablar con una persona",
    "¿Puedo hablar con un agente?",
    "Je veux parler à un humain",
    "Je voudrais parler à quelqu'un",
    "Quero falar com um atendente",
    "Posso falar com uma pessoa?",
    "Vorrei parlare con un operatore",
    "Posso parlare con qualcuno?",
    "मुझे किसी इंसान से बात करनी है",
    "mujhe agent se baat karni hai",
    # khochu pogovorit s operatorom
    "\u0425\u043e\u0447\u0443 \u043f\u043e\u0433\u043e\u0432\u043e\u0440\u0438\u0442\u044c "
    "\u0441 \u043e\u043f\u0435\u0440\u0430\u0442\u043e\u0440\u043e\u043c",
    "أريد التحدث مع موظف",
    "我要转人工",
    "担当者と話したいです",
    "humano",
]

NOT_ASKING = [
    "¿Tienen soporte humano?",  # a feature asked about
    "Kann ich die Datei mit anderen Personen teilen?",
    "Verkaufen Sie Geschenkkarten?",
    "¿Puedo compartir la cuenta con otra persona?",
    "Il prodotto è adatto a una persona?",
    "Le prix est-il par personne ?",
]


@pytest.mark.parametrize("text", ASKING)
def test_a_request_for_a_person_in_another_language_is_a_handoff(text: str) -> None:
    assert detect_intent(text).intent == "human"


@pytest.mark.parametrize("text", NOT_ASKING)
def test_a_question_naming_a_person_is_still_a_question(text: str) -> None:
    assert detect_intent(text).intent != "human"


@pytest.mark.parametrize(
    "text", ["Ich möchte mit einem Menschen sprechen", "Quiero hablar con una persona"]
)
async def test_the_conversation_is_handed_off(
    client: httpx.AsyncClient, owner: Owner, text: str
) -> None:
    body = (await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")).json()
    assert body["intent"] == "human"
    assert body["source"] == "handoff"
    listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    found = [c for c in listing["items"] if c["id"] == body["conversation_id"]]
    assert found
    assert found[0]["status"] == "handoff"


@pytest.mark.parametrize(
    "text",
    [
        "Humano por favor",
        "Agente, por favor",
        "Mitarbeiter bitte",
        "Operatore per favore",
        "humain s'il vous plaît",
        "\u043e\u043f\u0435\u0440\u0430\u0442\u043e\u0440 "
        "\u043f\u043e\u0436\u0430\u043b\u0443\u0439\u0441\u0442\u0430",  # operator, please
    ],
)
async def test_a_person_asked_for_in_one_word_and_please_is_handed_off(
    client: httpx.AsyncClient, owner: Owner, text: str
) -> None:
    """An English "agent please" was handed off, and "humano" alone, but "Humano por favor" was a
    question to look up: "not available", no hand-off, and on the owner's Unanswered page."""
    body = (await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")).json()
    assert (body["intent"], body["source"]) == ("human", "handoff"), body
    unanswered = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert unanswered.json() == [], unanswered.text


@pytest.mark.parametrize("text", ["bitte", "por favor", "Preise bitte", "Persona plan por favor?"])
def test_please_alone_or_with_other_words_asks_for_no_person(text: str) -> None:
    assert detect_intent(text).intent != "human"
