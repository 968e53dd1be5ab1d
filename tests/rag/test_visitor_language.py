"""Canned replies in the visitor's language. A German visitor asking for a person, or whether a
bot answers, got the English default ("I'm an automated assistant, but..."); with lead capture
"Never" the owner's German ``no_contact_hint`` came inside an English sentence; a Hindi visitor
asking "क्या आप बॉट हैं?" or "kya aap bot ho" got "Sorry, I don't know" (no Hindi patterns). Now
the default follows the language the request was written in, where there is a translation; the
owner's own texts always win."""

from __future__ import annotations

import httpx
import pytest

from rag.chat.intents import detect_intent, question_of
from rag.chat.reply_language import visitor_language
from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.rag.test_answers import REFUNDS, ingest
from tests.rag.test_chat import add_faq, chat, new_session, parse_sse, widget_headers


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Ich möchte mit einem Menschen sprechen", "de"),
        ("Bist du ein Bot?", "de"),
        ("Je veux parler à un humain", "fr"),
        ("Tu es un robot ?", "fr"),
        ("Quiero hablar con una persona", "es"),
        ("¿Eres un bot?", "es"),
        ("Quero falar com um atendente", "pt"),
        ("Vorrei parlare con un operatore", "it"),
        ("Sei un bot?", "it"),
        ("मुझे किसी इंसान से बात करनी है", "hi"),
        ("\u0442\u044b \u0431\u043e\u0442?", "ru"),
        ("أريد التحدث مع موظف", "ar"),
        ("我要转人工", "zh"),
        ("担当者と話したいです", "ja"),
        ("Meine E-Mail ist jane@example.de, bitte melden Sie sich", "de"),
        ("I want to talk to a human", None),
        ("are you a bot?", None),
        ("jane@example.com", None),
    ],
)
def test_the_language_a_message_is_written_in(text: str, language: str | None) -> None:
    assert visitor_language(text) == language


@pytest.mark.parametrize(
    "text",
    [
        "क्या आप बॉट हैं?",
        "क्या मैं किसी इंसान से बात कर रहा हूँ?",
        "kya aap bot ho",
        "kya aap bot hain?",
        "kya tum insaan ho",
        "aap bot ho ya insaan?",
    ],
)
def test_asking_in_hindi_whether_a_bot_answers_is_bot_identity(text: str) -> None:
    assert detect_intent(text).intent == "bot_identity"


async def test_a_german_visitor_asking_for_a_person_is_answered_in_german(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    body = (
        await chat(
            client, owner, "Ich möchte mit einem Menschen sprechen", session_id=new_session()
        )
    ).json()
    assert (body["intent"], body["source"]) == ("human", "handoff"), body
    assert body["answer"].startswith("Ich bin ein automatischer Assistent"), body
    english = (
        await chat(client, owner, "I want to talk to a human", session_id=new_session())
    ).json()
    assert english["answer"].startswith("I'm an automated assistant"), english


async def test_the_owners_handoff_text_wins_over_the_translation(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    own = "Un membre de l'équipe vous répondra : laissez votre e-mail."
    saved = await client.patch(
        owner.url("/widget"), json={"texts": {"handoff": own}}, headers=owner.headers
    )
    assert saved.status_code == 200, saved.text
    body = (
        await chat(
            client, owner, "Ich möchte mit einem Menschen sprechen", session_id=new_session()
        )
    ).json()
    assert body["answer"] == own, body


async def test_a_german_visitor_asking_whether_a_bot_answers_is_answered_in_german(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    body = (await chat(client, owner, "Bist du ein Bot?", session_id=new_session())).json()
    assert (body["intent"], body["source"]) == ("bot_identity", "fallback"), body
    assert body["answer"].startswith("Ich bin "), body
    assert "automatischer Assistent" in body["answer"], body


async def test_with_lead_capture_never_the_owners_hint_sits_in_the_visitors_language(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    hint = "Rufen Sie uns unter 030 1234567 an."
    saved = await client.patch(
        owner.url("/widget"),
        json={"lead_capture": "off", "texts": {"no_contact_hint": hint}},
        headers=owner.headers,
    )
    assert saved.status_code == 200, saved.text
    body = (
        await chat(
            client, owner, "Kann ich mit einem Mitarbeiter sprechen?", session_id=new_session()
        )
    ).json()
    assert body["intent"] == "human", body
    assert body["answer"].startswith("Ich bin ein automatischer Assistent"), body
    assert body["answer"].endswith(hint), body
    assert "automated" not in body["answer"], body
    declined = (
        await chat(
            client,
            owner,
            "Meine E-Mail ist jane@example.de, bitte melden Sie sich",
            session_id=new_session(),
        )
    ).json()
    assert declined["intent"] == "contact", declined
    assert declined["answer"].endswith(hint), declined
    assert "Thanks" not in declined["answer"], declined


async def test_a_wordless_message_after_german_gets_german_and_the_owner_may_write_it(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    session = new_session()
    first = (await chat(client, owner, "Bist du ein Bot?", session_id=session)).json()
    assert first["intent"] == "bot_identity", first
    body = (
        await chat(
            client, owner, "😡", session_id=session, conversation_id=first["conversation_id"]
        )
    ).json()
    assert body["intent"] == "unclear", body
    assert "in a few words" not in body["answer"], body
    assert body["answer"].startswith("Ich bin nicht sicher"), body
    own = "Wie können wir helfen? Schreiben Sie uns ein paar Worte."
    saved = await client.patch(
        owner.url("/widget"), json={"texts": {"unclear_reply": own}}, headers=owner.headers
    )
    assert saved.status_code == 200, saved.text
    again = (await chat(client, owner, "???", session_id=new_session())).json()
    assert (again["intent"], again["answer"]) == ("unclear", own), again


async def test_asked_whether_a_bot_answers_and_a_question_both_are_answered(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    hours = "We are open Monday to Friday, 9 am to 5 pm."
    await add_faq(client, owner, "What are your opening hours?", hours)
    body = (
        await chat(
            client, owner, "are you a bot? what are your opening hours?", session_id=new_session()
        )
    ).json()
    assert (body["intent"], body["source"]) == ("question", "faq"), body
    assert body["answer"].startswith("I'm an automated assistant for "), body
    assert body["answer"].endswith(hours), body
    # Streamed, the same: what the bot is (in the visitor's language), then the answer.
    streamed = await client.post(
        "/api/v1/chat",
        json={
            "message": "Bist du ein Bot? What are your opening hours?",
            "session_id": new_session(),
        },
        headers={**widget_headers(owner), "Accept": "text/event-stream"},
    )
    events = parse_sse(streamed.text)
    shown = "".join(d["text"] for kind, d in events if kind == "delta")
    done = next(d for kind, d in events if kind == "done")
    assert shown == done["answer"], events
    assert shown.startswith("Ich bin "), shown
    assert shown.endswith(hours), shown
    # The question alone gets the answer alone.
    alone = await chat(client, owner, "What are your opening hours?", session_id=new_session())
    assert alone.json()["answer"] == hours, alone.text


async def test_an_answer_from_the_documents_says_what_the_bot_is_first(
    runtime_factory: RuntimeFactory,
) -> None:
    async with (
        runtime_factory(retrieval_min_similarity=0.05) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, "Identity and refunds")
        await ingest(client, owner, runtime, "Refunds", REFUNDS)
        question = "are you a bot? How long do refunds take to arrive?"
        body = (await chat(client, owner, question, session_id=new_session())).json()
        streamed = await client.post(
            "/api/v1/chat",
            json={
                "message": "r u a bot? Can I get a refund on a yearly plan?",
                "session_id": new_session(),
            },
            headers={**widget_headers(owner), "Accept": "text/event-stream"},
        )
    assert body["source"] == "rag", body
    assert body["answer"].startswith("I'm an automated assistant for "), body
    assert "5 to 7 business days" in body["answer"], body
    events = parse_sse(streamed.text)
    shown = ""
    for kind, d in events:
        shown = d["text"] if kind == "replace" else shown + d["text"] if kind == "delta" else shown
    done = next(d for kind, d in events if kind == "done")
    assert shown == done["answer"], events
    assert shown.startswith("I'm an automated assistant for "), shown
    assert "30 days" in shown, shown


@pytest.mark.parametrize(
    ("text", "intent", "question"),
    [
        ("are you a bot? thanks", "bot_identity", None),
        ("are you real? lol", "bot_identity", None),
        ("Hello. Is this a real person? Thanks!", "bot_identity", None),
        ("hi! are you a bot? what do you sell?", "question", "what do you sell?"),
        ("are you a bot. I need the refund policy", "question", "I need the refund policy"),
        ("are you a bot? I want to talk to a human", "human", None),
        ("what is a bot? are you one?", "question", None),
    ],
)
def test_what_follows_are_you_a_bot_decides_what_is_answered(
    text: str, intent: str, question: str | None
) -> None:
    found = detect_intent(text).intent
    assert found == intent
    assert question_of(text, found) == (question or text)


@pytest.mark.parametrize(
    "text",
    [
        "Are you human? Are you a bot?",
        "are you a bot?? r u real?",
        "Bist du ein Mensch? Bist du ein Bot?",
    ],
)
async def test_asking_twice_whether_a_bot_answers_gets_the_reply_once_and_no_dont_know(
    client: httpx.AsyncClient, owner: Owner, text: str
) -> None:
    """Asked in two sentences, the second sentence was taken for a question to look up: the
    reply, then "I don't know" below it, and the message on the owner's Unanswered page."""
    body = (await chat(client, owner, text, session_id=new_session())).json()
    assert (body["intent"], body["source"]) == ("bot_identity", "fallback"), body
    unanswered = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert unanswered.json() == [], unanswered.text
