"""A visitor asking whether they talk to a bot or a person ("are you human?", "is this a real
person?", "Spreche ich mit einem Menschen?") gets an honest canned reply: an automated
assistant, and a person from the team if they ask for one. Before, they got "Sorry, I don't
know..." (and the question went on the owner's Unanswered page), or, for "am I talking to a
human?", a hand-off with the owner alerted though nobody asked for a person. An explicit request
("I want to talk to a human") still hands off."""

from __future__ import annotations

import httpx
import pytest

from rag.chat.intents import NEVER_UNANSWERED, detect_intent, persona_reply
from tests.conftest import Owner
from tests.rag.test_chat import chat, new_session

ASKING_WHO = [
    "am I talking to a human?",
    "Am I talking to a bot?",
    "are you human?",
    "are you a bot?",
    "Are you a robot",
    "is this a real person?",
    "are you a real person?",
    "r u a bot?",
    "Is this an AI?",
    "are you an AI or a human?",
    "am i chatting with a real person or a bot",
    "hi, are you a real human?",
    "Is this chat automated?",
    "Spreche ich mit einem Menschen?",
    "Bist du ein Bot?",
    "Est-ce que je parle à un humain ?",
    "Tu es un robot ?",
    "¿Estoy hablando con una persona?",
    "¿Eres un bot?",
    "Estou falando com uma pessoa?",
    "Sto parlando con una persona reale?",
    "Sei un bot?",
]
STILL_A_REQUEST = [
    "I want to talk to a human",
    "can I speak to a person?",
    "are you a bot? I want to talk to a human",
    "Ich möchte mit einem Menschen sprechen",
    "Quiero hablar con una persona",
    "human please",
]
STILL_A_QUESTION = [
    "do you offer human support?",
    "is there a bot for Slack?",
    "can your bot answer in German?",
    "does the AI use my data?",
    "are you open on Sundays?",
    "is this a real leather bag?",
]


@pytest.mark.parametrize("text", ASKING_WHO)
def test_asking_whether_a_person_answers_is_bot_identity(text: str) -> None:
    assert detect_intent(text).intent == "bot_identity"


@pytest.mark.parametrize("text", STILL_A_REQUEST)
def test_a_request_for_a_person_still_hands_off(text: str) -> None:
    assert detect_intent(text).intent == "human"


@pytest.mark.parametrize("text", STILL_A_QUESTION)
def test_a_question_about_a_bot_feature_stays_a_question(text: str) -> None:
    assert detect_intent(text).intent == "question"


def test_bot_identity_is_never_unanswered_and_names_the_bot() -> None:
    assert "bot_identity" in NEVER_UNANSWERED
    reply = persona_reply("bot_identity", "Acme helper")
    assert reply.startswith("I'm an automated assistant for Acme helper.")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("am I talking to a human?", "automated assistant"),
        ("are you a bot?", "automated assistant"),
        ("is this a real person?", "automated assistant"),
        # in the visitor's language (rag.chat.translations)
        ("Spreche ich mit einem Menschen?", "automatischer Assistent"),
        ("Est-ce que je parle à un humain ?", "assistant automatique"),
        ("¿Estoy hablando con una persona?", "asistente automático"),
    ],
)
async def test_asked_whether_it_is_a_bot_it_says_so_without_hand_off_or_unanswered(
    client: httpx.AsyncClient, owner: Owner, text: str, says: str
) -> None:
    body = (await chat(client, owner, text, session_id=new_session())).json()
    assert (body["intent"], body["source"]) == ("bot_identity", "fallback"), body
    assert says in body["answer"], body
    assert body["lead_capture"] is False, body
    assert body["citations"] == [], body
    unanswered = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert unanswered.json() == [], unanswered.text
    listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert [c["status"] for c in listing["items"]] == ["open"], listing


async def test_the_owner_writes_the_reply_and_a_request_still_hands_off(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    own = "Ich bin {bot_name}, ein automatischer Assistent. Möchten Sie einen Menschen?"
    saved = await client.patch(
        owner.url("/widget"), json={"texts": {"bot_identity_reply": own}}, headers=owner.headers
    )
    assert saved.status_code == 200, saved.text
    session = new_session()
    asked = (await chat(client, owner, "Bist du ein Bot?", session_id=session)).json()
    assert asked["intent"] == "bot_identity", asked
    name = asked["answer"].removeprefix("Ich bin ").split(",", 1)[0]  # the bot's name, put in
    assert name, asked
    assert asked["answer"] == own.replace("{bot_name}", name)
    assert "{bot_name}" not in name
    request = (await chat(client, owner, "I want to talk to a human", session_id=session)).json()
    assert (request["intent"], request["source"]) == ("human", "handoff"), request
