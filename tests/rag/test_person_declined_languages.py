"""A visitor who turns a person down in German, Spanish, Portuguese, French or Italian ("No
quiero hablar con una persona, ¿cuál es el horario?", "Ich möchte nicht mit einem Menschen
sprechen") is not handed off, as one saying "I don't want to talk to a human" is not. Before,
only English had a list of refusals: the conversation was handed off, the owner alerted, and
the question beside the refusal never answered. "No, quiero hablar con una persona" (a comma
after the "no") still asks for one."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.test_chat import chat

DECLINED = [
    "No quiero hablar con una persona, ¿cuál es el horario?",
    "No necesito hablar con un agente, ¿cuánto cuesta el envío?",
    "Sin hablar con un agente, ¿puedo cancelar?",
    "Ich möchte nicht mit einem Menschen sprechen",
    "Ich will nicht mit einem Mitarbeiter reden, wann habt ihr geöffnet?",
    "Não quero falar com uma pessoa, qual é o horário?",
    "Je ne veux pas parler à un humain, quels sont vos horaires ?",
    "Pas besoin de parler à un conseiller, quels sont vos horaires ?",
    "Non voglio parlare con un operatore, quali sono gli orari?",
    "Non voglio un operatore",
    "Não quero um humano",
]
STILL_ASKS = [
    "No, quiero hablar con una persona",
    "No. Quiero hablar con una persona",
    "No, quiero un humano",
    "Não, quero um humano",
    "Nein, ich möchte mit einem Menschen sprechen",
    "Não, quero falar com uma pessoa",
    "¿Por qué no puedo hablar con una persona?",
    "Warum kann ich nicht mit einem Menschen sprechen?",
    "Pourquoi je ne peux pas parler à un humain ?",
    "Perché non posso parlare con un operatore?",
    "Quiero hablar con una persona",
    "Ich möchte mit einem Menschen sprechen",
]


@pytest.mark.parametrize("text", DECLINED)
def test_a_person_turned_down_in_another_language_is_no_request(text: str) -> None:
    assert detect_intent(text).intent != "human"


@pytest.mark.parametrize("text", STILL_ASKS)
def test_a_request_for_a_person_after_a_no_is_still_one(text: str) -> None:
    assert detect_intent(text).intent == "human"


async def assert_not_handed_off(client: httpx.AsyncClient, owner: Owner, message: str) -> None:
    """``message`` in a new conversation of a new workspace gets no hand-off reply and leaves
    the conversation open."""
    session = f"s-{uuid.uuid4().hex[:12]}"
    body = (await chat(client, owner, message, session_id=session)).json()
    assert body["intent"] != "human", body
    assert body["source"] != "handoff", body
    listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert [c["status"] for c in listing["items"]] == ["open"]


async def test_a_refusal_in_spanish_keeps_the_conversation_open(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    message = "No quiero hablar con una persona, ¿cuál es el horario?"
    await assert_not_handed_off(client, owner, message)
