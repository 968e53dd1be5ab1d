"""Greetings and thanks in other scripts, and emoji-only thanks (chat review F3): the courtesy
reply, and nothing in the owner's Unanswered list (they got "I don't know", the contact form,
and were listed as knowledge gaps)."""

from __future__ import annotations

import httpx
import pytest

from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.test_chat import chat

GREETINGS = ["مرحبا", "你好", "Привет", "नमस्कार", "السلام عليكم", "こんにちは", "👋"]
THANKS = ["谢谢", "شكرا", "شكراً", "Спасибо", "ありがとうございます", "👍", "🙏", "🙏🏽", "❤️"]
GOODBYES = ["再见", "до свидания", "مع السلامة"]


@pytest.mark.parametrize("hello", GREETINGS)
async def test_a_greeting_in_another_script_is_greeted(
    client: httpx.AsyncClient, owner: Owner, hello: str
) -> None:
    body = (await chat(client, owner, hello)).json()
    assert body["intent"] == "greeting", body
    assert body["lead_capture"] is False, body


@pytest.mark.parametrize("thanks", THANKS)
async def test_thanks_in_another_script_or_an_emoji_is_not_unanswered(
    client: httpx.AsyncClient, owner: Owner, thanks: str
) -> None:
    body = (await chat(client, owner, thanks)).json()
    assert body["intent"] == "thanks", body
    unanswered = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    assert unanswered == [], unanswered


@pytest.mark.parametrize("bye", GOODBYES)
def test_a_goodbye_in_another_script(bye: str) -> None:
    assert detect_intent(bye).intent == "goodbye"


# A greeting and one content word, or "how do you..." (session-diff review F1): they got "Hi!".
GREETING_AND_A_QUESTION = [
    "Как вы работаете",
    "как вы доставляете",
    "Привет доставка",
    "你好 退款",
    "مرحبا الأسعار",
]


@pytest.mark.parametrize(
    "text", ["🍕?", "Привет, сколько стоит доставка?", *GREETING_AND_A_QUESTION]
)
def test_other_wordless_messages_and_questions_stay_questions(text: str) -> None:
    assert detect_intent(text).intent == "question"


@pytest.mark.parametrize("text", ["Как вы?", "Привет, как ты?", "Как дела?", "как вы поживаете"])
def test_how_are_you_alone_in_russian_is_a_greeting(text: str) -> None:
    assert detect_intent(text).intent == "greeting"


@pytest.mark.parametrize("text", GREETING_AND_A_QUESTION)
async def test_a_greeting_and_a_question_word_is_answered_and_listed_unanswered(
    client: httpx.AsyncClient, owner: Owner, text: str
) -> None:
    body = (await chat(client, owner, text)).json()
    assert body["intent"] == "question", body
    assert body["source"] == "fallback", body
    [group] = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    assert group["question"] == text, group
