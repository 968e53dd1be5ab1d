"""A greeting, thanks or goodbye word that only one language says ("Danke!", "Hola") tells the
visitor's language when no message does: it was found anywhere in any earlier message, so an
English visitor who named a city, a brand or a product ("Delivery to Buenos Aires?", "Bonne
Maman jam?", "lip salve price?", "namaste yoga mats in stock?") got the next "thanks" or "😡"
answered in Spanish, French, Italian or Hindi ("¡De nada! ¿Hay algo más...?"). Only a message
of nothing but courtesy tells a language so; the courtesy messages themselves still do."""

from __future__ import annotations

import httpx
import pytest

from rag.chat.reply_language import conversation_language
from tests.conftest import Owner
from tests.rag.test_courtesy_languages import then

NAMED = [
    "Delivery to Buenos Aires?",
    "Bonne Maman jam?",
    "lip salve price?",
    "namaste yoga mats in stock?",
    "Moin Khan order status",
    "a Presto cooker?",
    "Hasta Muerte coffee beans",
    "Gracias Madre vegan menu?",
    "Bom Dia cafe menu",
]


@pytest.mark.parametrize("earlier", NAMED)
@pytest.mark.parametrize("message", ["thanks", "😡", "ok"])
def test_a_courtesy_word_inside_a_question_tells_no_language(earlier: str, message: str) -> None:
    assert conversation_language(message, [("user", earlier)]) is None


@pytest.mark.parametrize(
    ("earlier", "language"),
    [
        ("Danke!", "de"),
        ("Vielen Dank", "de"),
        ("Hola", "es"),
        ("Hola, buenos días", "es"),
        ("Merci beaucoup", "fr"),
        ("Bonjour", "fr"),
        ("shukriya", "hi-Latn"),
        ("bahut dhanyavaad", "hi-Latn"),
        ("Arrivederci", "it"),
        ("Tchau", "pt"),
    ],
)
def test_a_message_of_nothing_but_courtesy_still_tells_it(earlier: str, language: str) -> None:
    assert conversation_language("😡", [("user", earlier)]) == language
    assert conversation_language(earlier, []) == language


async def test_thanks_after_an_english_question_naming_a_city_is_english(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    _, thanks = await then(client, owner, "Delivery to Buenos Aires?", "thanks")
    assert thanks["intent"] == "thanks", thanks
    assert thanks["answer"].startswith("You're welcome!"), thanks
