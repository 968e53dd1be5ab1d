"""A sales request in a phrase other languages write too is answered in the visitor's language:
"enterprise plan" is a German phrase as well ("Enterprise-Plan") and "plan enterprise" a French
and a Spanish one, so English visitors asking about the enterprise plan got the German replies
and a French visitor asking for the "plan enterprise" the Spanish ones. The message's own words
tell which of the languages holding the phrase it is; English when they tell none."""

from __future__ import annotations

import pytest

from rag.chat.reply_language import conversation_language, visitor_language

ENGLISH = [
    "How much is the enterprise plan?",
    "Is there an enterprise version with SSO?",
    "I'm interested in the Enterprise plan",
    "enterprise plan pricing please",
    "Can I get a quote for the enterprise plan for 200 users?",
    "enterprise plan",
    "Enterprise plan?",
]

OWN_LANGUAGE = [
    ("Ich interessiere mich für den Enterprise-Plan", "de"),
    ("Was kostet der Enterprise Plan?", "de"),
    ("Combien coûte le plan enterprise ?", "fr"),
    ("Avez-vous une offre entreprise ?", "fr"),
    ("¿Cuánto cuesta el plan enterprise?", "es"),
    ("Me interesa el plan empresarial", "es"),
    ("Quanto costa il piano enterprise?", "it"),
    ("Vocês têm um plano enterprise?", "pt"),
    ("Preise für unser Team?", "de"),
]


@pytest.mark.parametrize("message", ENGLISH)
def test_an_english_request_for_the_enterprise_plan_is_english(message: str) -> None:
    assert visitor_language(message) is None
    # and an English request is not answered in an earlier message's language either
    assert conversation_language(message, [("user", "Hallo, ich habe eine Frage")]) is None


@pytest.mark.parametrize(("message", "language"), OWN_LANGUAGE)
def test_a_request_in_another_language_keeps_its_language(message: str, language: str) -> None:
    assert visitor_language(message) == language
