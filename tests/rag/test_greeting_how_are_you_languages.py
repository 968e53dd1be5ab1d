""" "How are you" after a greeting, in the languages of the call phrases, beside a call or alone.

"hi, how are you, call me on ..." is a number left (thanked, the call promised, nothing
answered). The same in French, German, Portuguese, Spanish, Arabic or Russian ("bonjour,
comment ça va, appelez-moi au ...", "привет, как ты, перезвоните мне ...") was read as a
question once a question's word was looked for after the greeting and at each clause's start:
"comment", "wie", "como", "كيف", "как" open it. The visitor who asked for a call got "I don't
know" to "bonjour, comment ça va", counted unanswered and listed on the owner's Unanswered page.
Alone ("hallo, wie geht's") it is a greeting, as "hi, how are you" and "привет, как ты" are,
never "I don't know"."""

from __future__ import annotations

import pytest

from rag.chat.intents import detect_intent
from tests.rag.test_phone_callback_requests import NUMBERS

HOW_ARE_YOU = [
    ("en", "hi, how are things", "call me on {n}"),
    ("fr", "bonjour, comment ça va", "appelez-moi au {n}"),
    ("fr", "bonjour, comment allez-vous", "appelez-moi au {n}"),
    ("de", "hallo, wie geht's", "rufen Sie mich unter {n} an"),
    ("de", "Guten Tag, wie geht es Ihnen", "rufen Sie mich unter {n} an"),
    ("pt", "olá, como vai", "me ligue no {n}"),
    ("pt", "olá, tudo bem", "me ligue no {n}"),
    ("it", "ciao, come stai", "chiamami al {n}"),
    ("es", "hola, cómo estás", "llámame al {n}"),
    ("es", "hola, qué tal", "llámame al {n}"),
    ("ar", "مرحبا، كيف حالك", "اتصلوا بي على {n}"),
    ("hi", "namaste, aap kaise hain", "mujhe {n} par call karo"),
    ("ru", "привет, как ты", "перезвоните мне {n}"),
]
SEPARATOR = {"ar": "، "}


@pytest.mark.parametrize(("language", "greeting", "call"), HOW_ARE_YOU)
def test_how_are_you_beside_a_call_is_a_number_left(
    language: str, greeting: str, call: str
) -> None:
    text = f"{greeting}{SEPARATOR.get(language, ', ')}{call.format(n=NUMBERS[language]())}"
    assert detect_intent(text).intent == "contact", text


@pytest.mark.parametrize(("language", "greeting", "call"), HOW_ARE_YOU)
def test_how_are_you_alone_is_a_greeting(language: str, greeting: str, call: str) -> None:
    assert detect_intent(greeting).intent == "greeting", greeting
    assert detect_intent(f"{greeting}?").intent == "greeting", greeting


# A question that opens with the same words stays one.
STILL_ASKED = [
    "comment ça va marcher pour la livraison ?",
    "wie geht es weiter mit meiner Bestellung?",
    "como vai funcionar a entrega?",
    "qué tal es el plan empresarial?",
    "kaise ho sakta hai refund?",
    "how are things shipped abroad?",
]


@pytest.mark.parametrize("text", STILL_ASKED)
def test_a_question_opening_with_those_words_is_a_question(text: str) -> None:
    assert detect_intent(text).intent in ("question", "lead"), text
