"""A greeting, then a question and its call in one clause, through the real chat path.

"where is my parcel call me on ..." is answered as "where is my parcel call me on" (the number
left out, ``call_requests.without_callback``: the call's clause is all the text). After "hi, " the
clause of the call was cut and the question was "hi": the FAQs, the cache and the model were
asked "hi", the visitor's question never answered, and the owner's Unanswered page listed "hi"
for a question the same message without the greeting had answered."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from rag.chat.intents import detect_intent, question_of
from tests.conftest import signup
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_answers import fake_llm, ingest, llm_client, llm_settings
from tests.rag.test_chat import chat
from tests.rag.test_greeting_before_a_call_question import PARCELS, REPLY
from tests.rag.test_lead_capture_never import leads_of
from tests.rag.test_phone_callback_requests import NUMBERS

__all__ = ["fake_llm", "llm_client", "llm_settings"]  # the fixtures, used below

# A greeting set off by its comma, then the question and the call in one clause.
GREETED = [
    ("en", "hi, ", "where is my parcel call me on {n}"),
    ("en", "good morning, ", "where is my parcel please call me on {n}"),
    ("en", "hi, ", "what time can you call me on {n}"),
    ("es", "hola, ", "dónde está mi paquete llámame al {n}"),
    ("de", "hallo, ", "wo ist mein Paket rufen Sie mich unter {n} an"),
]


@pytest.mark.parametrize(("language", "greeting", "message"), GREETED)
def test_the_question_after_a_greeting_is_the_one_asked_without_it(
    language: str, greeting: str, message: str
) -> None:
    text = message.format(n=NUMBERS[language]())
    greeted = greeting + text
    plain = detect_intent(text).intent
    assert detect_intent(greeted).intent == plain == "question", greeted
    assert question_of(greeted, "question") == greeting + question_of(text, "question"), greeted


async def test_a_question_in_the_calls_clause_after_a_greeting_is_answered(
    llm_client: Any, fake_llm: FakeOpenAI
) -> None:
    """Answered from the knowledge (source rag, cited) with the number on a lead, nothing on the
    Unanswered page, with the greeting as without it."""
    client, runtime = llm_client
    fake_llm.chat_reply = REPLY
    owner = await signup(client, f"Clause {uuid.uuid4().hex[:6]}")
    await ingest(client, owner, runtime, "Parcels", PARCELS)
    for greeting in ("", "hi, "):
        number = NUMBERS["en"]()
        text = f"{greeting}where is my parcel call me on {number}"
        body = (await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")).json()
        assert (body["intent"], body["source"]) == ("question", "rag"), (text, body)
        assert body["citations"], body
        assert body["lead_saved"] is True, body
        assert [lead["phone"] for lead in await leads_of(client, owner)].count(number) == 1
    listing = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert listing.status_code == 200, listing.text
    assert listing.json() == [], listing.json()
