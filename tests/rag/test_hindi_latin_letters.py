"""Hindi written in Latin letters ("kya aap madad kar sakte ho", "shukriya", "mujhe insaan se
baat karni hai") was answered in English: the replies were written in Devanagari only, so a
visitor who typed Hindi in Latin letters got "You're welcome!", "I'm an automated assistant..."
(and after such a message, "😡" got the reply in the language of an older message). Now those
replies are in Hindi in Latin letters too; Devanagari is still answered in Devanagari, and the
owner's texts still win."""

from __future__ import annotations

import httpx
import pytest

from rag.chat.reply_language import conversation_language, visitor_language
from tests.conftest import Owner
from tests.rag.test_chat import chat, new_session
from tests.rag.test_courtesy_languages import answered_in


@pytest.mark.parametrize(
    "text",
    [
        "kya aap madad kar sakte ho",
        "mujhe insaan se baat karni hai",
        "kya aap bot ho",
        "mera order kahan hai?",
        "mujhe refund chahiye, kya ho sakta hai?",
    ],
)
def test_hindi_in_latin_letters_is_told(text: str) -> None:
    assert visitor_language(text) == "hi-Latn"


@pytest.mark.parametrize(
    "text",
    ["Main Street store hours?", "I want a refund", "ok", "namaste yoga mats in stock?"],
)
def test_english_is_no_hindi(text: str) -> None:
    assert visitor_language(text) is None


def test_a_wordless_message_after_hindi_in_latin_letters_follows_it() -> None:
    history = [("user", "Hallo, ich habe eine Frage"), ("user", "kya aap madad kar sakte ho")]
    assert conversation_language("😡", history) == "hi-Latn"


@pytest.mark.parametrize(
    ("message", "intent", "starts"),
    [
        ("shukriya", "thanks", "Aapka swagat hai!"),
        ("bahut dhanyavaad", "thanks", "Aapka swagat hai!"),
        ("namaste", "greeting", "Namaste! Main Acme assistant hoon."),
        ("alvida", "goodbye", "Acme assistant se baat karne ke liye dhanyavaad."),
        ("kya aap bot ho", "bot_identity", "Main Acme assistant hoon, ek automated assistant."),
        ("mujhe insaan se baat karni hai", "human", "Main ek automated assistant hoon, lekin"),
        ("धन्यवाद", "thanks", "आपका स्वागत है!"),
    ],
)
async def test_hindi_in_latin_letters_is_answered_in_it(
    client: httpx.AsyncClient, owner: Owner, message: str, intent: str, starts: str
) -> None:
    await answered_in(client, owner, message, intent, starts)


async def test_the_owners_text_still_wins(client: httpx.AsyncClient, owner: Owner) -> None:
    saved = await client.patch(
        owner.url("/widget"),
        json={"texts": {"thanks_reply": "Koi baat nahi!"}},
        headers=owner.headers,
    )
    assert saved.status_code == 200, saved.text
    body = (await chat(client, owner, "shukriya", session_id=new_session())).json()
    assert body["answer"] == "Koi baat nahi!", body
