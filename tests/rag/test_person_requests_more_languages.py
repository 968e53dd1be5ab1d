# ruff: noqa: RUF001, RUF002 (messages in their own letters and punctuation)
"""Requests for a person the earlier rounds left out, each beside the message it must differ
from:

- a refusal in Russian or Arabic ("Я не хочу говорить с человеком, какие у вас часы работы?")
  was handed off, the owner alerted and the opening hours never answered; "Я хочу поговорить с
  человеком" still asks;
- "¿Tengo que hablar con un agente para cancelar?" (with or without its marks) asks how
  cancelling works and was handed off; "Tengo que hablar con un agente" still asks;
- "Ich möchte nicht, dass Sie mich mit einem Mitarbeiter verbinden" refuses across its comma;
  "Ich möchte, dass Sie mich mit einem Mitarbeiter verbinden" still asks;
- a Ukrainian request ("Я хочу поговорити з людиною") was not recognised at all: no hand-off,
  "I don't know" and a line on the Unanswered page; its refusal is none."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.test_chat import chat
from tests.rag.test_person_declined_languages import assert_not_handed_off

NO_REQUEST = [
    "Я не хочу говорить с человеком, какие у вас часы работы?",
    "Мне не нужно говорить с оператором, сколько стоит доставка?",
    "لا أريد التحدث مع إنسان، ما هي ساعات العمل؟",
    "لا داعي للتحدث مع موظف، كم تكلفة الشحن؟",
    "¿Tengo que hablar con un agente para cancelar?",
    "tengo que hablar con un agente para cancelar",
    "¿Hay que hablar con una persona para devolver un pedido?",
    "¿Tenho que falar com um atendente para cancelar?",
    "Ich möchte nicht, dass Sie mich mit einem Mitarbeiter verbinden",
    "Ich will nicht, dass man mich mit einem Menschen verbindet, wann habt ihr offen?",
    "Я не хочу говорити з людиною, коли ви працюєте?",
]
STILL_ASKS = [
    "Я хочу поговорить с человеком",
    "Нет, я хочу поговорить с человеком",
    "Почему я не могу поговорить с человеком?",
    "أريد التحدث مع شخص",
    "لا، أريد التحدث مع شخص",
    "Tengo que hablar con un agente",
    "Necesito hablar con un agente para cancelar",
    "Quiero hablar con un agente para cancelar",
    "Ich möchte, dass Sie mich mit einem Mitarbeiter verbinden",
    "Nein, ich möchte mit einem Mitarbeiter sprechen",
    "Я хочу поговорити з людиною",
    "З'єднайте мене з оператором",
    "Можна поговорити з менеджером?",
]


@pytest.mark.parametrize("text", NO_REQUEST)
def test_a_refusal_or_a_question_about_the_process_is_no_request(text: str) -> None:
    assert detect_intent(text).intent != "human"


@pytest.mark.parametrize("text", STILL_ASKS)
def test_the_request_beside_it_still_is_one(text: str) -> None:
    assert detect_intent(text).intent == "human"


@pytest.mark.parametrize(
    "message",
    [
        "Я не хочу говорить с человеком, какие у вас часы работы?",
        "لا أريد التحدث مع إنسان، ما هي ساعات العمل؟",
        "tengo que hablar con un agente para cancelar",
        "Ich möchte nicht, dass Sie mich mit einem Mitarbeiter verbinden",
    ],
)
async def test_a_refusal_keeps_the_conversation_open(
    client: httpx.AsyncClient, owner: Owner, message: str
) -> None:
    await assert_not_handed_off(client, owner, message)


@pytest.mark.parametrize("message", ["Я хочу поговорити з людиною", "З'єднайте мене з оператором"])
async def test_a_ukrainian_request_for_a_person_is_handed_off_in_english(
    client: httpx.AsyncClient, owner: Owner, message: str
) -> None:
    session = f"s-{uuid.uuid4().hex[:12]}"
    body = (await chat(client, owner, message, session_id=session)).json()
    assert (body["intent"], body["source"]) == ("human", "handoff"), body
    assert body["answer"].startswith("I'm an automated assistant"), body  # no Russian
    listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert [c["status"] for c in listing["items"]] == ["handoff"]
