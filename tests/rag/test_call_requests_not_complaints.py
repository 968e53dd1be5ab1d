"""A call asked for politely, with nothing wrong said besides ("Pouvez-vous me rappeler au
...?", "Would you be able to call me on ... tomorrow morning?", "¿Me pueden llamar al ... por
favor?"), is a number left as "call me on ..." is (``contact``: thanked, the call promised, no
sales lead): the words around the call ("can you", "would you be able to", "por favor", "tomorrow
morning") are the request's own, not a complaint. Read
as a complaint, such a visitor got "I don't know" under the call's thanks and their request sat
on the Unanswered page. A complaint beside the call stays a question."""

from __future__ import annotations

import pytest

from rag.chat.call_requests import complains_beside_a_call
from rag.chat.courtesy import words
from rag.chat.intents import detect_intent

CALLS = [
    "Pouvez-vous me rappeler au 06 12 34 56 78 ?",
    "Pourriez-vous m'appeler au 06 12 34 56 78 demain matin ?",
    "¿Me pueden llamar al 612 345 678 por favor?",
    "¿Podría llamarme al 612 345 678 mañana por la tarde?",
    "Would you be able to call me on 020 7946 0958 tomorrow morning?",
    "Could someone please call me back on 020 7946 0958 this afternoon?",
    "Can you call me on 020 7946 0958 after 5 pm?",
]

COMPLAINTS = [
    "Ma commande est en retard, pouvez-vous me rappeler au 06 12 34 56 78 ?",
    "Mi pedido llega tarde, ¿me pueden llamar al 612 345 678 por favor?",
    "My parcel never arrived, would you be able to call me on 020 7946 0958 tomorrow?",
]


@pytest.mark.parametrize("message", CALLS)
def test_a_call_asked_politely_is_a_number_left_not_a_complaint(message: str) -> None:
    assert not complains_beside_a_call(message, words(message))
    assert detect_intent(message).intent == "contact"


@pytest.mark.parametrize("message", COMPLAINTS)
def test_a_complaint_beside_a_polite_call_stays_a_question(message: str) -> None:
    assert complains_beside_a_call(message, words(message))
    assert detect_intent(message).intent == "question"
