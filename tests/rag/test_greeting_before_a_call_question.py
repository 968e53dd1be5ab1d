# ruff: noqa: RUF001 (messages written in their own scripts and punctuation)
"""A question or a problem after a greeting or an introduction, beside a call, through the real
chat path.

"where is my parcel, call me on ..." is answered from the knowledge and the number goes on a
lead (``problems.states_a_problem``: a question's word opens it). The same message after "hi",
"good morning", "hola", "مرحبا", "你好"... or after the visitor's name ("this is Ravi, ...")
was a number left: thanked, the question never answered, because only the message's first word
was read for a question's. A greeting, a name and a time the visitor is not free beside a call
stay a number left ("hi, call me on ...", "Hi, this is Ravi, call me on ...", "hi, I can't talk
now, call me on ...", "привет, не могу говорить, ...": before, that greeting was counted among
the few words a number is left with, and it made a question), and so do an order or a booking
beside one and when to call ("when you get a chance, call me on ...", "quando puder, me ligue
no ...": "when" opens no question there)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from rag.chat.contact_details import callback_number
from rag.chat.intents import detect_intent
from tests.conftest import signup
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_answers import fake_llm, ingest, llm_client, llm_settings
from tests.rag.test_chat import chat
from tests.rag.test_lead_capture_never import leads_of
from tests.rag.test_phone_callback_requests import NUMBERS

__all__ = ["fake_llm", "llm_client", "llm_settings"]  # the fixtures, used below

# A greeting (in the courtesy lexicon's words) or a name, then a question or a problem, then a
# call on a number: the question it is. By the language of the number.
ASKED_AFTER_A_GREETING = [
    ("en", "hi, where is my parcel, call me on {n}"),
    ("en", "hi where is my parcel call me on {n}"),
    ("en", "hello, how do I get a refund, call me on {n}"),
    ("en", "good morning, when will my parcel arrive, please call me on {n}"),
    ("en", "hey there, what is the status of my refund, call me back on {n}"),
    ("hi", "namaste, kab tak parcel aayega, mujhe {n} par call karo"),
    ("es", "hola, dónde está mi paquete, llámame al {n}"),
    ("fr", "bonjour, comment être remboursé, appelez-moi au {n}"),
    ("de", "hallo, wo ist mein Paket, rufen Sie mich unter {n} an"),
    ("de", "Guten Morgen, wann kommt mein Paket, rufen Sie mich unter {n} an"),
    ("it", "ciao, dove è il pacco, chiamatemi al {n}"),
    ("it", "ciao, dov'è il pacco, chiamatemi al {n}"),
    ("pt", "olá, como peço reembolso, me ligue no {n}"),
    ("ru", "привет, где курьер, перезвоните мне {n}"),
    ("ar", "مرحبا، أين طردي، اتصلوا بي على الرقم {n}"),
    ("zh", "你好，怎么退款，请打电话给我 {n}"),
    ("ja", "こんにちは、どうやって返金してもらえますか。{n}に電話してください"),
    # the visitor's name first
    ("en", "this is Ravi, where is my parcel, call me on {n}"),
    ("en", "hi, this is Ravi, where is my parcel, call me on {n}"),
    ("en", "Ravi here, how do I get a refund, call me on {n}"),
    ("en", "my name is Ravi Kumar, where is my parcel, call me on {n}"),
    ("es", "hola, soy Ana, dónde está mi paquete, llámame al {n}"),
]
# A greeting or a name beside a call with nothing asked, with a time the visitor is not free,
# or with an order or a booking: a number left, as without the greeting.
LEFT_AFTER_A_GREETING = [
    ("en", "hi, call me on {n}"),
    ("en", "hello, please call me back on {n}"),
    ("en", "good morning, call me on {n} tomorrow morning"),
    ("en", "hi, how are you, call me on {n}"),
    ("en", "Hi, this is Ravi, call me on {n} tomorrow morning"),
    ("en", "hello, my name is Ravi Kumar, call me on {n}"),
    ("en", "hi, I can't talk now, call me on {n}"),
    ("en", "hey, I won't be free before 5pm, call me on {n}"),
    ("en", "hello, I want to order 50 units, call me on {n}"),
    ("en", "hi, I'd like a table for 2 at 8, call me on {n}"),
    ("hi", "namaste, mujhe {n} par call karo"),
    ("hi", "namaste, abhi baat nahi kar sakta, mujhe {n} par call karo"),
    ("es", "hola, llámame al {n}"),
    ("es", "hola, no puedo hablar ahora, llámame al {n}"),
    ("de", "hallo, rufen Sie mich unter {n} an"),
    ("ru", "привет, не могу говорить, перезвоните мне по номеру {n}"),
    ("ar", "مرحبا، لا أستطيع التحدث الآن، اتصلوا بي على {n}"),
    ("zh", "你好，现在不能说话，请打电话给我 {n}"),
    ("ja", "こんにちは。{n}に電話してください"),
    # when to call, with or without a greeting ("when" opens no question there)
    ("en", "when you get a chance, call me on {n}"),
    ("en", "hi, when you get a chance, call me on {n}"),
    ("en", "hello, whenever you're free, call me on {n}"),
    ("pt", "quando puder, me ligue no {n}"),
    ("pt", "olá, quando puder, me ligue no {n}"),
]


@pytest.mark.parametrize(("language", "message"), ASKED_AFTER_A_GREETING)
def test_a_question_after_a_greeting_beside_a_call_is_a_question(
    language: str, message: str
) -> None:
    number = NUMBERS[language]()
    text = message.format(n=number)
    assert callback_number(text) == number, text
    assert detect_intent(text).intent == "question", text


@pytest.mark.parametrize(("language", "message"), LEFT_AFTER_A_GREETING)
def test_a_greeting_beside_a_call_with_nothing_asked_is_a_number_left(
    language: str, message: str
) -> None:
    text = message.format(n=NUMBERS[language]())
    assert detect_intent(text).intent == "contact", text


# What the knowledge says, in the languages asked in below.
PARCELS = (
    "# Where is my parcel\n\nEvery parcel ships within 2 days and arrives within 5 working days; "
    "the tracking link for your parcel is in the shipping email.\n\n"
    "# Dónde está mi paquete\n\nCada paquete sale en 2 días y llega en 5 días hábiles; el enlace"
    " de seguimiento de su paquete está en el correo de envío.\n\n"
    "# Wo ist mein Paket\n\nJedes Paket wird innerhalb von 2 Tagen verschickt und kommt in 5"
    " Werktagen an; der Link zur Sendungsverfolgung für Ihr Paket steht in der Versand-E-Mail.\n\n"
    "# أين طردي\n\nيُشحن كل طرد خلال يومين ويصل خلال 5 أيام عمل؛ رابط تتبع طردي في بريد الشحن."
)
REPLY = "Every parcel arrives within 5 working days [1]."
# A question after a greeting or a name, and the same greeting with the call alone.
ANSWERED = [
    ("en", "hi, where is my parcel, call me on {n}", "hi, call me on {n}"),
    ("en", "this is Ravi, where is my parcel, call me on {n}", "this is Ravi, call me on {n}"),
    ("es", "hola, dónde está mi paquete, llámame al {n}", "hola, llámame al {n}"),
    (
        "de",
        "hallo, wo ist mein Paket, rufen Sie mich unter {n} an",
        "hallo, rufen Sie mich unter {n} an",
    ),
    ("ar", "مرحبا، أين طردي، اتصلوا بي على الرقم {n}", "مرحبا، اتصلوا بي على الرقم {n}"),
]


async def test_a_question_after_a_greeting_is_answered_and_the_number_kept(
    llm_client: Any, fake_llm: FakeOpenAI
) -> None:
    """Answered from the knowledge (source rag, cited) after the call promised as a number
    left is thanked, in the visitor's language; the number on a lead of that conversation. The
    greeting with the call alone is thanked, its number on a lead, and nothing answered."""
    client, runtime = llm_client
    fake_llm.chat_reply = REPLY
    owner = await signup(client, f"Greet {uuid.uuid4().hex[:6]}")
    await ingest(client, owner, runtime, "Parcels", PARCELS)
    for language, asked, left in ANSWERED:
        bodies = []
        for message in (left, asked):
            number = NUMBERS[language]()
            text = message.format(n=number)
            body = (await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")).json()
            assert body["lead_saved"] is True, (text, body)
            leads = [lead for lead in await leads_of(client, owner) if lead["phone"] == number]
            assert [lead["conversation_id"] for lead in leads] == [body["conversation_id"]], text
            bodies.append(body)
        thanked, answered = bodies
        assert (thanked["intent"], thanked["source"]) == ("contact", "fallback"), thanked
        assert (answered["intent"], answered["source"]) == ("question", "rag"), answered
        assert answered["citations"], answered
        assert answered["answer"] == f"{thanked['answer']}\n\n{REPLY}", (answered, thanked)
    listing = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert listing.status_code == 200, listing.text
    assert listing.json() == [], listing.json()
