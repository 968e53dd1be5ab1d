"""Short words several languages (or English names and abbreviations) share made the canned
replies flip language. "Does the SOS robot come in blue?" was Spanish (the Argentine "sos",
"you are", of "sos un robot?" was found anywhere in a message), "open Mon-Fri 9-5 EST?" French,
"Shipping to Las Vegas or Los Angeles?" Spanish, "Mac OS or DOS?" Portuguese, "la la land dvd"
French (a word twice counted twice), and the visitor's next "thanks" or "😡" got the reply in
that language. The Argentine "sos muy amable" was no Spanish at all. A one-word "ok", "no",
"si" or "merci" after German messages keeps the German."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.reply_language import conversation_language, visitor_language
from tests.conftest import Owner
from tests.rag.test_chat import chat

GERMAN = [("user", "Hallo, ich habe eine Frage zu meiner Bestellung")]


@pytest.mark.parametrize(
    "text",
    [
        "Does the SOS robot come in blue?",
        "Is the SOS real-time alert included?",
        "SOS real quick",
        "open Mon-Fri 9-5 EST?",
        "Shipping to Las Vegas or Los Angeles?",
        "Mac OS or DOS?",
        "DOS games for Mac OS",
        "la la land dvd",
        "EU shipping da?",
    ],
)
def test_english_names_and_abbreviations_make_no_foreign_message(text: str) -> None:
    assert visitor_language(text) is None
    # And they do not take over a German conversation either.
    assert conversation_language(text, GERMAN) != "es"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("sos un bot?", "es"),
        ("Sos una persona real?", "es"),
        ("sos muy amable", "es"),
        ("vos sos un genio, gracias", "es"),
        ("Los precios de las camisetas, por favor", "es"),
        ("Können Sie Ihre Preise nennen?", "de"),
        ("Haben Sie eine Filiale in Berlin?", "de"),
        ("Est-ce que vous livrez le lundi ?", "fr"),
        ("HOLA, QUIERO HABLAR CON UNA PERSONA", "es"),
        ("WO IST MEINE BESTELLUNG", "de"),
        ("Wo Ist Meine Bestellung", "de"),
        ("Bist du ein Bot? What are your opening hours?", "de"),
    ],
)
def test_the_languages_own_messages_still_tell_it(text: str, language: str) -> None:
    assert visitor_language(text) == language


@pytest.mark.parametrize("word", ["ok", "no", "si", "sì", "sos", "merci", "Merci!", "gracias"])
def test_one_word_flips_no_german_conversation(word: str) -> None:
    assert conversation_language(word, GERMAN) == "de"


async def test_thanks_after_an_english_question_with_a_name_stays_english(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    for question in ("Does the SOS robot come in blue?", "Shipping to Las Vegas or Los Angeles?"):
        session = f"s-{uuid.uuid4().hex[:12]}"
        first = (await chat(client, owner, question, session_id=session)).json()
        conversation = first["conversation_id"]
        for message, intent, answer in [
            ("😡", "unclear", "I'm not sure what you mean"),
            ("thanks", "thanks", "You're welcome!"),
        ]:
            body = (
                await chat(client, owner, message, session_id=session, conversation_id=conversation)
            ).json()
            assert body["intent"] == intent, body
            assert body["answer"].startswith(answer), (question, body)
