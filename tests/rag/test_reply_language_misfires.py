"""Misfires of the visitor's-language choice and of "are you a bot?" a real visitor hit
(second look at the fix-i18n merge).

- A visitor who wrote German, then switched to English ("Sorry, can you answer in English
  please?"), got the German hand-off to "human please": the earlier-message fallback skipped
  every English message and took the last non-English one.
- English words that are also German, Italian, French or Portuguese common words ("was",
  "die", "come", "per", "pour", "um") made an English message German or Italian ("Die Hard box
  set, was it in stock?").
- "is it real?", "is this real?", "is it automated?", "is it AI?" (about a product) were the
  bot-identity question, and "is this software? how do I install it" was answered with "I'm an
  automated assistant..." first.
- "ok. are you a bot?" (an acknowledgement before it) was a question: "I don't know"."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.intents import detect_intent, question_of
from rag.chat.reply_language import conversation_language, visitor_language
from tests.conftest import Owner
from tests.rag.test_chat import chat

GERMAN_FIRST = ("user", "Hallo, ich habe eine Frage zu meiner Bestellung")


@pytest.mark.parametrize(
    "switched",
    [
        "Sorry, can you answer in English please?",
        "Actually I will write in English. Where is my order?",
    ],
)
def test_a_visitor_who_switched_to_english_stays_english(switched: str) -> None:
    history = [GERMAN_FIRST, ("assistant", "Gern, worum geht es?"), ("user", switched)]
    assert conversation_language("human please", history) is None
    assert conversation_language("😡", history) is None
    # Without the switch, the German before still speaks for a message that tells nothing.
    assert conversation_language("😡", [GERMAN_FIRST]) == "de"


@pytest.mark.parametrize("text", ["r u a bot?", "are u human", "R U REAL?"])
def test_asking_in_english_whether_a_bot_answers_is_answered_in_english_after_german(
    text: str,
) -> None:
    """The English "are you a bot?" lexicon recognised it, but with fewer than two common
    English words the German messages before decided: "Ich bin ..." to "r u a bot?"."""
    assert detect_intent(text).intent == "bot_identity"
    assert conversation_language(text, [GERMAN_FIRST]) is None


@pytest.mark.parametrize(
    "text",
    [
        "Die Hard box set, was it in stock?",
        "Was die shipping free",
        "Come per month?",
        "um, do you support mac os?",
        "pour over kettle, was it discontinued?",
    ],
)
def test_english_words_other_languages_share_make_no_foreign_message(text: str) -> None:
    assert visitor_language(text) is None


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Was kostet das?", "de"),
        ("Die Bestellung ist nicht da", "de"),
        ("Come funziona per il rimborso?", "it"),
        ("Pour la livraison, cest combien ?", "fr"),
    ],
)
def test_those_words_still_count_in_their_own_language(text: str, language: str) -> None:
    assert visitor_language(text) == language


@pytest.mark.parametrize(
    "text",
    [
        "is it real?",
        "Is this real?",
        "is it automated?",
        "is it AI?",
        "is this for real?",
        "is it a real one?",
        "is this a machine?",
        "is it a program?",
        "is this software?",
        "is it real or not?",
    ],
)
def test_asking_about_a_thing_is_no_bot_identity_question(text: str) -> None:
    assert detect_intent(text).intent != "bot_identity"


@pytest.mark.parametrize(
    "text",
    [
        "Is it real? I mean the leather on the sofa",
        "is this software? how do I install it",
        "is it automated? the billing, I mean",
    ],
)
def test_a_question_about_a_thing_gets_no_identity_reply_first(text: str) -> None:
    intent = detect_intent(text).intent
    assert question_of(text, intent) == text


@pytest.mark.parametrize(
    "text",
    [
        "is this a bot?",
        "is it a real person?",
        "is this an AI?",
        "is it human?",
        "is this AI or a real person?",
        "is it automated or a real person?",
        "is this chat real?",
        "is this thing automated?",
        "ok. are you a bot? bye",
        "ok are you a bot?",
        "Okay, are you a real person?",
        "got it. are you a bot?",
    ],
)
def test_still_the_bot_identity_question(text: str) -> None:
    assert detect_intent(text).intent == "bot_identity"


@pytest.mark.parametrize(
    ("text", "intent", "question"),
    [
        ("are you real? or a bot? lol", "bot_identity", None),
        ("Are you a bot? Or human?", "bot_identity", None),
        ("Are you a bot? Or human? What are your hours?", "question", "What are your hours?"),
    ],
)
def test_the_identity_question_in_two_sentences_is_one(
    text: str, intent: str, question: str | None
) -> None:
    """ "are you real? or a bot? lol" was a question ("or a bot? lol", answered "I don't know"
    after the identity reply and listed as unanswered): the first sentence was cut off alone."""
    found = detect_intent(text).intent
    assert found == intent
    assert question_of(text, found) == (question or text)


def test_an_acknowledgement_before_it_still_splits_off_the_question() -> None:
    text = "ok. are you a bot? what time do you open"
    intent = detect_intent(text).intent
    assert question_of(text, intent) == "what time do you open"


async def test_after_switching_to_english_a_request_for_a_person_is_answered_in_english(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    session = f"s-{uuid.uuid4().hex[:12]}"
    first = (await chat(client, owner, "Bist du ein Bot?", session_id=session)).json()
    assert first["answer"].startswith("Ich bin "), first
    conversation = first["conversation_id"]
    switched = await chat(
        client,
        owner,
        "Sorry, can you answer in English please?",
        session_id=session,
        conversation_id=conversation,
    )
    assert switched.status_code == 200, switched.text
    body = (
        await chat(client, owner, "human please", session_id=session, conversation_id=conversation)
    ).json()
    assert body["intent"] == "human", body
    assert body["answer"].startswith("I'm an automated assistant"), body


async def test_the_unanswered_page_lists_the_question_without_are_you_a_bot(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The question after "are you a bot?" went on the Unanswered page with the identity
    question in front: the owner's FAQ made from it asked "are you a bot? ..." too."""
    question = f"Do you repair vintage synth model {uuid.uuid4().hex[:6]}?"
    body = (
        await chat(client, owner, f"are you a bot? {question}", session_id=f"s-{uuid.uuid4()}")
    ).json()
    assert body["answer"].startswith("I'm an automated assistant"), body
    listed = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert listed.status_code == 200, listed.text
    groups = listed.json()
    assert len(groups) == 1, groups
    assert groups[0]["question"] == question, groups
    assert groups[0]["examples"] == [question], groups
