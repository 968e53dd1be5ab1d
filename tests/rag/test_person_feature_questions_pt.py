"""Portuguese "atendimento humano" (human service) asked about as a feature of the shop ("Tem
atendimento humano?", "O atendimento humano funciona no domingo?") is a question, as "do you
offer human support?" is in English; before, any "atendimento humano" handed the conversation
off. Asking for it ("Quero atendimento humano", "Atendimento humano, por favor") still does."""

from __future__ import annotations

import httpx
import pytest

from rag.chat.intents import detect_intent
from rag.chat.reply_language import visitor_language
from tests.conftest import Owner
from tests.rag.test_person_declined_languages import assert_not_handed_off

ASKED_ABOUT = [
    "Tem atendimento humano?",
    "Vocês têm atendimento humano aos sábados?",
    "O atendimento humano funciona no domingo?",
]
ASKED_FOR = [
    "Quero atendimento humano",
    "Preciso de atendimento humano",
    "Gostaria de um atendimento humano",
    "Atendimento humano, por favor",
    "atendimento humano",
]


@pytest.mark.parametrize("text", ASKED_ABOUT)
def test_human_service_asked_about_is_a_question(text: str) -> None:
    assert detect_intent(text).intent != "human"


@pytest.mark.parametrize("text", ASKED_FOR)
def test_human_service_asked_for_is_a_request(text: str) -> None:
    assert detect_intent(text).intent == "human"
    assert visitor_language(text) == "pt"


async def test_asking_about_human_service_keeps_the_conversation_open(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await assert_not_handed_off(client, owner, "Tem atendimento humano?")
