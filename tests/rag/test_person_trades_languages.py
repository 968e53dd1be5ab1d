"""A trade named after a person word in Spanish, French, Italian or Portuguese ("Je veux un
agent immobilier", "Je voudrais un conseiller financier", "¿Necesito un asesor fiscal?",
"Vorrei un consulente finanziario"): the adjective after the word makes it somebody else's
job, as "un agente de viajes" already was. Before, each was handed off to the shop's team."""

from __future__ import annotations

import pytest

from rag.chat.intents import detect_intent

TRADES = [
    "Je veux un agent immobilier",
    "Je voudrais un conseiller financier",
    "Je cherche, je veux un conseiller fiscal",
    "¿Necesito un asesor fiscal?",
    "Quiero un asesor financiero para mi empresa",
    "Vorrei un consulente finanziario",
    "Preciso de um consultor imobiliário",
    "Quero um agente imobiliário",
]
STILL_ASKS = [
    "Je veux un conseiller",
    "Je veux un agent, svp",
    "Quiero un agente por favor",
    "Vorrei un operatore",
    "Quero um atendente",
]


@pytest.mark.parametrize("text", TRADES)
def test_a_trade_named_after_a_person_word_is_no_request(text: str) -> None:
    assert detect_intent(text).intent != "human"


@pytest.mark.parametrize("text", STILL_ASKS)
def test_the_person_word_alone_is_still_a_request(text: str) -> None:
    assert detect_intent(text).intent == "human"
