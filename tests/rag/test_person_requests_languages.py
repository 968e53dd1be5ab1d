"""Requests for a person in other languages that were not recognised: "Menschen bitte",
"persona por favor", "Quero um humano", "Ist hier ein Mensch?", "Hola, ¿hay una persona
real?" were questions (answered "I don't know", no hand-off, the owner never told, the message
on the Unanswered page). Each is now a hand-off answered in the visitor's language; a person's
word in a question about something else ("Preise bitte", a product called Persona, "¿Hay una
persona de contacto para facturas?") still is none."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.intents import detect_intent
from rag.chat.reply_language import visitor_language
from tests.conftest import Owner
from tests.rag.test_chat import chat

ASKING = [
    ("Menschen bitte", "de"),
    ("Einen Menschen bitte", "de"),
    ("Ist hier ein Mensch?", "de"),
    ("Ist da jemand?", "de"),
    ("Gibt es hier einen echten Menschen?", "de"),
    ("Ich will einen Menschen", "de"),
    ("persona por favor", "es"),
    ("Una persona, por favor", "es"),
    ("Hola, ¿hay una persona real?", "es"),
    ("¿Hay alguien ahí?", "es"),
    ("Quiero un humano", "es"),
    ("Necesito un agente por favor", "es"),
    ("Quero um humano", "pt"),
    ("Eu quero um atendente", "pt"),
    ("Tem alguém aí?", "pt"),
    ("Je veux un humain", "fr"),
    ("Y a-t-il quelqu'un ?", "fr"),
    ("Voglio un operatore", "it"),
    ("C'è qualcuno?", "it"),
]

NOT_ASKING = [
    "Preise bitte",
    "Mehr Infos bitte",
    "Persona",
    "Persona pricing please",
    "Does Persona work with Slack?",
    "Is the Persona plan available?",
    "¿Hay una persona de contacto para facturas?",
    "¿Hay alguien que use esto con Shopify?",
    "Quiero un agente de viajes",
    "No quiero un humano",
    "Gibt es einen Menschen für die Einrichtung vor Ort?",
    "Quero uma pessoa para limpar minha casa",
    "La persona de contacto es Juan",
]


@pytest.mark.parametrize(("text", "language"), ASKING)
def test_a_request_for_a_person_is_recognised_in_its_language(text: str, language: str) -> None:
    assert detect_intent(text).intent == "human"
    assert visitor_language(text) == language


@pytest.mark.parametrize("text", NOT_ASKING)
def test_a_person_word_in_another_question_is_no_request(text: str) -> None:
    assert detect_intent(text).intent != "human"


async def test_the_conversation_is_handed_off_in_the_visitors_language(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    session = f"s-{uuid.uuid4().hex[:12]}"
    body = (await chat(client, owner, "Hola, ¿hay una persona real?", session_id=session)).json()
    assert (body["intent"], body["source"]) == ("human", "handoff"), body
    assert body["answer"].startswith("Soy un asistente automático"), body
    listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert listing["items"][0]["status"] == "handoff"
    unanswered = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    assert unanswered == []
