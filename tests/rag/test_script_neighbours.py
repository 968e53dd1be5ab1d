"""Languages written in the script of one the bot answers in, but not that language: Ukrainian
(Cyrillic) got the Russian replies, Urdu and Persian (Arabic script) the Arabic ones. A reply
in the wrong language is worse than English (a Ukrainian visitor answered in Russian): they are
answered in English, unless the owner wrote their own texts. Russian and Arabic still get theirs."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.reply_language import conversation_language, visitor_language
from tests.conftest import Owner
from tests.rag.test_chat import chat

NEIGHBOURS = [
    "Чи продаєте ви подарункові картки?",  # Ukrainian
    "Дякую, це все. Гарного дня!",  # Ukrainian
    "Ці прадаеце вы падарункавыя карты? Дзякуй",  # Belarusian
    "آیا کارت هدیه می‌فروشید؟",  # Persian
    "کیا آپ گفٹ کارڈ بیچتے ہیں؟",  # Urdu
]


@pytest.mark.parametrize("text", NEIGHBOURS)
def test_a_neighbouring_language_is_answered_in_english(text: str) -> None:
    assert visitor_language(text) is None
    # Not the language of what the visitor wrote before either.
    assert conversation_language(text, [("user", "Вы продаёте подарочные карты?")]) is None
    assert conversation_language(text, [("user", "هل تبيعون بطاقات الهدايا؟")]) is None


@pytest.mark.parametrize(
    ("text", "language"),
    [("Вы продаёте подарочные карты?", "ru"), ("هل تبيعون بطاقات الهدايا؟", "ar")],
)
def test_russian_and_arabic_keep_their_replies(text: str, language: str) -> None:
    assert visitor_language(text) == language


async def test_a_ukrainian_question_gets_no_russian_answer(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    session = f"s-{uuid.uuid4().hex[:12]}"
    body = (await chat(client, owner, NEIGHBOURS[0], session_id=session)).json()
    assert body["answer"].startswith("Sorry, I don't know"), body
    persian = (await chat(client, owner, NEIGHBOURS[3], session_id=session + "p")).json()
    assert persian["answer"].startswith("Sorry, I don't know"), persian
