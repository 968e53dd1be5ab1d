"""A person's word that names no request for a person: a product part or a noun it modifies
("a human resources tool", "a live agent seat", "an operator license", "a representative
sample"), and a visitor asking whether one is needed ("do I need a human to approve refunds?").
Each was handed off: the owner alerted, the visitor asked for an address, the question never
answered. A request for a person ("I need a human", "I need human support", "get me a live
agent") still is one."""

from __future__ import annotations

import pytest

from rag.chat.intents import detect_intent

NOT_A_REQUEST = [
    "I need a human resources tool",
    "we want a human resources integration",
    "I need a representative sample of the data",
    "I need an operator license",
    "I need a live agent dashboard",
    "I prefer an operator console",
    "Can I get a live agent seat on the starter plan?",
    "how do I get a human agent seat",
    "Can I get a human agent role in the dashboard?",
    "do I need a human to approve refunds?",
    "would I need a human to review answers?",
    "does it need a human to review answers?",
    "do I need a real person to verify my ID?",
]
STILL_A_REQUEST = [
    "I need a human",
    "I need a human now",
    "I need human support",
    "I need a human to look at my refund",
    "I want a real person",
    "I need a human agent",
    "I want a human being to read this",
    "get me a live agent",
    "can I get a real person?",
    "I need a representative",
    "I want an operator please",
    "how do I talk to an agent",
    "live agent please",
    "human agent please",
]


@pytest.mark.parametrize("text", NOT_A_REQUEST)
def test_a_person_word_that_asks_for_no_person(text: str) -> None:
    assert detect_intent(text).intent == "question"


@pytest.mark.parametrize("text", STILL_A_REQUEST)
def test_a_request_for_a_person_is_still_one(text: str) -> None:
    assert detect_intent(text).intent == "human"
