# ruff: noqa: RUF001, RUF002 (messages in their own letters)
"""Requests for a person that were answered "Sorry, I don't know", with no hand-off and no
mail to the team, each beside the message it must differ from:

- having to talk to a person about something ("Tengo que hablar con un agente para una queja
  urgente", "Devo parlare con un operatore per un reclamo urgente", "... per piacere") was taken
  for a question about how a thing is done (fix-i18n4 read any "para"/"per" after the person
  so); only what to do ("para cancelar", "per annullarlo") makes one now;
- a German visitor who cannot reach a person ("Ich kann nicht mit einem Mitarbeiter sprechen,
  das ist ärgerlich", "..., dass ich nicht mit einem Menschen sprechen kann") was taken for one
  refusing a person, as "No puedo hablar con una persona" and "Je ne peux pas parler à un
  conseiller" never were;
- a Russian request with the infinitive ("Можете соединить меня с оператором?", "Не могли бы
  вы соединить меня с оператором?") was not recognised."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.test_chat import chat

ASKS = [
    "Tengo que hablar con un agente para una queja urgente",
    "Devo parlare con un operatore per un reclamo urgente",
    "Devo parlare con un operatore per piacere",
    "Tenho que falar com um atendente pra ontem",
    "Ich kann nicht mit einem Mitarbeiter sprechen, das ist ärgerlich",
    "Wir können nicht mit einem Menschen sprechen?",
    "Es ist frustrierend, dass ich nicht mit einem Menschen sprechen kann",
    "Можете соединить меня с оператором?",
    "Не могли бы вы соединить меня с оператором?",
    "Можно переключить меня на оператора?",
]
STILL_NO_REQUEST = [
    "tengo que hablar con un agente para cancelar",
    "¿Tengo que hablar con un agente para cancelarlo?",
    "Devo parlare con un operatore per annullare l'ordine?",
    "Ich möchte nicht mit einem Menschen sprechen, wann habt ihr offen?",
    "Ich möchte nicht mit einem Menschen sprechen, den ich nicht kenne",
    "Я не хочу говорить с оператором, сколько стоит доставка?",
]


@pytest.mark.parametrize("text", ASKS)
def test_a_request_for_a_person_is_one(text: str) -> None:
    assert detect_intent(text).intent == "human"


@pytest.mark.parametrize("text", STILL_NO_REQUEST)
def test_the_question_or_refusal_beside_it_still_is_none(text: str) -> None:
    assert detect_intent(text).intent != "human"


@pytest.mark.parametrize(
    "message",
    [
        "Tengo que hablar con un agente para una queja urgente",
        "Ich kann nicht mit einem Mitarbeiter sprechen, das ist ärgerlich",
    ],
)
async def test_the_visitor_is_handed_off(
    client: httpx.AsyncClient, owner: Owner, message: str
) -> None:
    session = f"s-{uuid.uuid4().hex[:12]}"
    body = (await chat(client, owner, message, session_id=session)).json()
    assert (body["intent"], body["source"]) == ("human", "handoff"), body
    listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert [c["status"] for c in listing["items"]] == ["handoff"]
