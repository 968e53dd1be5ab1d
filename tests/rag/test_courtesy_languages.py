"""The replies to greetings, thanks and goodbyes, and the thanks for an address typed into the
chat, in the visitor's language. "Danke!", "Спасибо", "谢谢" got "You're welcome! Is there
anything else I can help you with?", "Hola" got "Hi! I'm ...", "Tschüss" "Thanks for chatting
with ...", and "Meine E-Mail ist jane@..., bitte melden Sie sich" "Thank you! I've passed your
message on...": only the hand-off, "are you a bot?", the no-contact and the wordless replies
followed the visitor's language. The owner's own texts (greeting, thanks_reply, goodbye_reply,
lead_thanks) still win."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import Owner
from tests.rag.test_chat import chat, new_session


def _email() -> str:
    return f"v-{uuid.uuid4().hex[:12]}@example.de"


@pytest.mark.parametrize(
    ("message", "intent", "starts"),
    [
        ("Danke!", "thanks", "Gern geschehen!"),
        ("Vielen Dank", "thanks", "Gern geschehen!"),
        ("Спасибо", "thanks", "Пожалуйста!"),
        ("谢谢", "thanks", "不客气"),
        ("Gracias", "thanks", "¡De nada!"),
        ("Hola", "greeting", "¡Hola! Soy Acme assistant."),
        ("Bonjour", "greeting", "Bonjour ! Je suis Acme assistant."),
        ("नमस्ते", "greeting", "नमस्ते! मैं Acme assistant हूँ।"),
        ("Tschüss", "goodbye", "Danke für das Gespräch mit Acme assistant."),
        ("Au revoir", "goodbye", "Merci d'avoir discuté avec Acme assistant."),
        ("Пока", "goodbye", "Спасибо за разговор \u0441 Acme assistant."),
        # These were questions: "Sorry, I don't know the answer to that...", and a line on the
        # owner's Unanswered page.
        ("Adiós", "goodbye", "Gracias por conversar"),
        ("Hasta luego!", "goodbye", "Gracias por conversar"),
        ("Buenos días", "greeting", "¡Hola! Soy"),
        ("Auf Wiedersehen", "goodbye", "Danke für das Gespräch"),
        ("Guten Morgen", "greeting", "Hallo! Ich bin"),
        ("Bis bald", "goodbye", "Danke für das Gespräch"),
        ("Bonsoir", "greeting", "Bonjour ! Je suis"),
        ("À bientôt", "goodbye", "Merci d'avoir discuté"),
        ("Bonne journée", "goodbye", "Merci d'avoir discuté"),
        ("Bom dia", "greeting", "Olá! Sou"),
        ("Tchau", "goodbye", "Obrigado por conversar"),
        ("Buongiorno", "greeting", "Salve! Sono"),
        ("Arrivederci", "goodbye", "Grazie per aver parlato"),
    ],
)
async def test_courtesy_is_answered_in_the_visitors_language(
    client: httpx.AsyncClient, owner: Owner, message: str, intent: str, starts: str
) -> None:
    await answered_in(client, owner, message, intent, starts)


async def answered_in(
    client: httpx.AsyncClient, owner: Owner, message: str, intent: str, starts: str
) -> None:
    """``message`` is ``intent``, answered by a canned reply starting with ``starts``, and
    left nothing on the owner's Unanswered page."""
    body = (await chat(client, owner, message, session_id=new_session())).json()
    assert body["intent"] == intent, body
    assert body["answer"].startswith(starts), body
    listed = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert listed.json() == [], listed.text


async def then(
    client: httpx.AsyncClient, owner: Owner, first: str, message: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answers to ``first``, then to ``message`` in the same conversation."""
    session = new_session()
    before = (await chat(client, owner, first, session_id=session)).json()
    conversation = before["conversation_id"]
    after = await chat(client, owner, message, session_id=session, conversation_id=conversation)
    return before, after.json()


async def test_english_courtesy_stays_english(client: httpx.AsyncClient, owner: Owner) -> None:
    thanks = (await chat(client, owner, "thanks!", session_id=new_session())).json()
    assert thanks["answer"] == "You're welcome! Is there anything else I can help you with?"
    hello = (await chat(client, owner, "hello", session_id=new_session())).json()
    assert hello["answer"] == "Hi! I'm Acme assistant. How can I help you today?", hello
    bye = (await chat(client, owner, "bye", session_id=new_session())).json()
    assert bye["answer"] == "Thanks for chatting with Acme assistant. Have a great day!", bye


async def test_an_ok_after_german_messages_is_answered_in_german(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    first, body = await then(client, owner, "Ich möchte mit einem Menschen sprechen", "ok")
    assert first["answer"].startswith("Ich bin ein automatischer Assistent"), first
    assert body["intent"] == "thanks", body
    assert body["answer"].startswith("Gern geschehen!"), body


async def test_an_address_typed_in_german_is_thanked_in_german(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    message = f"Meine E-Mail ist {_email()}, bitte melden Sie sich"
    body = (await chat(client, owner, message, session_id=new_session())).json()
    assert (body["intent"], body["lead_saved"]) == ("contact", True), body
    assert body["answer"].startswith("Vielen Dank! Ich habe Ihre Nachricht weitergegeben"), body
    english = f"my email is {_email()}"
    thanked = (await chat(client, owner, english, session_id=new_session())).json()
    assert thanked["answer"].startswith("Thank you! I've passed your message on"), thanked


async def test_the_owners_courtesy_texts_win_over_the_translations(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    texts = {
        "thanks_reply": "Bitte sehr, {bot_name}!",
        "goodbye_reply": "Auf Wiedersehen!",
        "lead_thanks": "Wir schreiben an {email}.",
    }
    saved = await client.patch(
        owner.url("/widget"),
        json={"greeting": "Welcome to Acme!", "texts": texts},
        headers=owner.headers,
    )
    assert saved.status_code == 200, saved.text
    for message, answer in [
        ("Merci", "Bitte sehr, Acme assistant!"),
        ("Спасибо", "Bitte sehr, Acme assistant!"),
        ("Tschüss", "Auf Wiedersehen!"),
        ("Hola", "Welcome to Acme!"),
        ("Привет", "Welcome to Acme!"),
    ]:
        body = (await chat(client, owner, message, session_id=new_session())).json()
        assert body["answer"] == answer, (message, body)
    email = _email()
    body = (
        await chat(
            client, owner, f"Meine E-Mail ist {email}, bitte melden", session_id=new_session()
        )
    ).json()
    assert body["answer"] == f"Wir schreiben an {email}.", body
