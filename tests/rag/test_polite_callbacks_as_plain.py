# ruff: noqa: RUF001 (messages written in their own scripts and punctuation)
"""A call asked politely is answered as the same call asked plainly.

"call me on +91 98765 43210" is a number left (`contact`): thanked, the call promised, a lead
with the number. "Could you call me back on +91 98765 43210?", "Können Sie mich unter 0171
2345678 zurückrufen?", "Potete richiamarmi al 333 123 4567?" asked the same, but were intent
`lead`: after the promised call came the sales blurb ("...plans, pricing or a demo..."), and
analytics counted the answer `sales_routed`, a sales lead that was none. Through the widget's
chat API on the real database and Redis, with the local fake model.

A sales request beside the call ("Can I get a quote? call me on ...") stays a lead, and a
problem beside it ("my order is late, can you call me on ...?") a question."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.runtime import Runtime
from core.models import utcnow
from rag.chat.intents import detect_intent
from tests.conftest import RuntimeFactory, signup
from tests.rag.test_analytics import Visitor, around_today, figures, rebuild, with_model
from tests.rag.test_lead_capture_never import leads_of
from tests.rag.test_phone_callback_requests import NUMBERS

# (language, asked plainly, asked politely): the same request for a call on the number.
PAIRS = [
    ("en", "call me on {n}", "Could you call me back on {n}?"),
    ("en", "please call me on {n}", "Can someone please call me on {n}?"),
    ("de", "Rufen Sie mich unter {n} an", "Können Sie mich unter {n} zurückrufen?"),
    ("es", "Llámame al {n}", "¿Me puedes llamar al {n}?"),
    ("fr", "Appelez-moi au {n}", "Pouvez-vous me rappeler au {n} ?"),
    ("pt", "Me liga no {n}", "Pode me ligar no {n}?"),
    ("it", "Richiamatemi al {n}", "Potete richiamarmi al {n}?"),
    ("hi", "mujhe {n} par call karo", "kya aap mujhe {n} par call kar sakte hain?"),
    ("ru", "Перезвоните мне по номеру {n}", "Можете перезвонить мне по номеру {n}?"),
    ("ar", "اتصلوا بي على {n}", "هل يمكنكم الاتصال بي على الرقم {n}؟"),
    ("zh", "请打电话给我 {n}", "可以打电话给我吗？{n}"),
    ("ja", "{n}に電話してください", "{n}に電話していただけますか？"),
]
SALES_BLURB = "plans, pricing or a demo"

# A sales request beside the call: the team's lead, as before.
SALES_WITH_A_CALL = [
    "Can I get a quote? call me on {n}",
    "Can I get a quote? Can you call me on {n}?",
    "I'd like to book a demo, can you call me on {n}?",
]
# A problem beside the call: the question it is, answered.
PROBLEMS_WITH_A_CALL = [
    "my order is late, can you call me on {n}?",
    "the app crashes, can you call me on {n}?",
    "Ma commande est en retard, pouvez-vous me rappeler au {n} ?",
]


_DRAWN: set[str] = set()


def _text(language: str, message: str) -> tuple[str, str]:
    """The message with a number no other message of this run has (English numbers are drawn
    from 10,000: two alike would be one lead)."""
    number = NUMBERS[language]()
    while number in _DRAWN:
        number = NUMBERS[language]()
    _DRAWN.add(number)
    return message.format(n=number), number


@pytest.mark.parametrize(("language", "plain", "polite"), PAIRS)
def test_a_call_asked_politely_is_the_call_asked_plainly(
    language: str, plain: str, polite: str
) -> None:
    plain_text, _ = _text(language, plain)
    polite_text, _ = _text(language, polite)
    assert detect_intent(plain_text).intent == "contact", plain_text
    assert detect_intent(polite_text).intent == "contact", polite_text


@pytest.mark.parametrize("message", SALES_WITH_A_CALL)
def test_a_sales_request_beside_a_polite_call_stays_a_lead(message: str) -> None:
    text, _ = _text("en", message)
    assert detect_intent(text).intent == "lead", text


@pytest.mark.parametrize("message", PROBLEMS_WITH_A_CALL)
def test_a_problem_beside_a_polite_call_stays_a_question(message: str) -> None:
    text, _ = _text("fr" if "commande" in message else "en", message)
    assert detect_intent(text).intent == "question", text


def model(body: dict[str, Any]) -> str:
    """Cites nothing: whatever reaches the model is not answered from the knowledge."""
    return "I can't tell from the documentation; our team can help with that."


@pytest.fixture
async def app(runtime_factory: RuntimeFactory) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with with_model(runtime_factory, model) as app:
        yield app


async def test_polite_and_plain_calls_get_the_same_reply_lead_and_figures(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    """Each pair through the chat, each message a new visitor's: the same reply kind (the call
    promised, no sales blurb, no contact form), the number on a lead of its own conversation,
    and analytics counting neither a sales lead routed nor a question unanswered."""
    client, runtime = app
    owner = await signup(client, f"Calls {uuid.uuid4().hex[:6]}")
    for language, plain, polite in PAIRS:
        kinds = []
        for message in (plain, polite):
            text, number = _text(language, message)
            body = await Visitor(client, owner).say(text)
            kinds.append((body["intent"], body["source"], body["lead_saved"], body["lead_capture"]))
            assert SALES_BLURB not in body["answer"], (text, body)
            leads = [lead for lead in await leads_of(client, owner) if lead["phone"] == number]
            assert [lead["conversation_id"] for lead in leads] == [body["conversation_id"]], text
        assert kinds[0] == kinds[1] == ("contact", "fallback", True, False), (language, kinds)

    await rebuild(runtime, owner, utcnow())
    totals = (await figures(client, owner, **around_today()))["totals"]
    assert (totals["sales_routed"], totals["unanswered"]) == (0, 0), totals
