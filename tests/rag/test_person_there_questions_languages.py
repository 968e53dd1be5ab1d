"""Asking whether someone is at the shop at a time, on site or with a skill ("¿Hay alguien
disponible el sábado?", "Gibt es einen Mitarbeiter vor Ort?", "Y a-t-il un conseiller sur
place ?", "¿Existe un agente que hable inglés?") is a question about the shop, answered from
its documents. Before, each was handed off to the team. Asking whether someone is there now
("¿Hay alguien disponible?", "Ist hier ein Mensch?") still is a request."""

from __future__ import annotations

import pytest

from rag.chat.intents import detect_intent

ABOUT_THE_SHOP = [
    "¿Hay alguien disponible el sábado?",
    "¿Hay alguien disponible en la tienda por la tarde?",
    "¿Existe un agente que hable inglés?",
    "¿Hay una persona real que hable francés?",
    "Gibt es einen Mitarbeiter vor Ort?",
    "Ist hier ein Mensch zuständig für Rückgaben?",
    "Y a-t-il un conseiller sur place ?",
]
STILL_ASKS = [
    "¿Hay alguien disponible?",
    "¿Hay alguien disponible? Necesito ayuda",
    "¿Hay una persona real que me atienda?",
    "Ist hier ein Mensch?",
    "Gibt es hier einen echten Menschen?",
    "Y a-t-il quelqu'un ?",
]


@pytest.mark.parametrize("text", ABOUT_THE_SHOP)
def test_asking_who_is_at_the_shop_is_no_request(text: str) -> None:
    assert detect_intent(text).intent != "human"


@pytest.mark.parametrize("text", STILL_ASKS)
def test_asking_whether_someone_is_there_now_is_a_request(text: str) -> None:
    assert detect_intent(text).intent == "human"
