# ruff: noqa: RUF001 (messages written in their own scripts)
"""A visitor who says what is wrong and asks to be called back on a number ("my order is late,
please call me on +91 98765 43210", "the app keeps crashing, can someone phone me at 020 7946
0958") leaves that number on a lead, with the message, and still gets their question answered
from the knowledge, the call promised before the answer. Before, the word "order" made any
number in the message an order's (or the message was too long to be someone leaving their
number, or "phone me" asked for no call): the bot offered the contact form, the number was on
no lead and nobody called. A support complaint is no sales lead: "I don't know" to it is no
offer of plans, pricing or a demo, and it stays on the owner's Unanswered page.

An order's, an invoice's or a parcel's number, a call turned down and a number in a question
about the shop's own phone line make no lead (numbers of another range than the positives')."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from core.models import utcnow
from rag.chat.contact_details import callback_number
from rag.chat.intents import detect_intent
from tests.conftest import Owner, signup
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_analytics import around_today, figures, rebuild
from tests.rag.test_answers import (
    REFUNDS,
    fake_llm,
    ingest,
    llm_client,
    llm_settings,
    streamed_chat,
)
from tests.rag.test_chat import chat
from tests.rag.test_lead_capture_never import leads_of, never
from tests.rag.test_leads_not_unanswered import unanswered

__all__ = ["fake_llm", "llm_client", "llm_settings"]  # the fixtures, used below


def _digits(count: int) -> str:
    return f"{uuid.uuid4().int % 10**count:0{count}d}"


def _phone() -> str:
    """A mobile number of this test alone ("+91 9..."), as a visitor writes it."""
    digits = _digits(9)
    return f"+91 9{digits[:4]} {digits[4:]}"


def _other() -> str:
    """An order's, a parcel's or a line's number: 8 digits starting with 4, never a
    ``_phone``."""
    return f"4{_digits(7)}"


# The number of the chat tests answered from the knowledge: one number, so the question's
# embedding (the tests' hashing embedder reads the digits too) is the same in every run; each
# test has a workspace of its own, and the other numbers are of another range (``_other``).
CALLER = "+91 98765 43210"
REFUND_LATE = (
    "My order of a yearly plan was refunded but the refund has not arrived, please call me on "
    + CALLER
)


# One complaint or question and a call asked on the number, in every lead table's language.
CALLBACKS = {
    "en": [
        "my order is late, please call me on {n}",
        "the app keeps crashing, can someone phone me at {n}",
        "My invoice shows the wrong amount and I was charged twice, call me back on {n}",
    ],
    "de": [
        "Meine Bestellung ist verspätet, rufen Sie mich unter {n} an",
        "Meine Rechnung ist falsch, rufen Sie mich an: {n}",
    ],
    "es": ["Mi pedido llega tarde, llámame al {n}"],
    "fr": ["Ma commande est en retard, appelez-moi au {n}"],
    "pt": ["Minha encomenda está atrasada, me ligue no {n}"],
    "it": ["Il mio ordine è in ritardo, chiamatemi al {n}"],
    "hi": ["मेरा ऑर्डर लेट है, मुझे {n} पर कॉल करें", "mera order late hai, mujhe call karo {n}"],
    "ru": ["Мой заказ опаздывает, перезвоните мне по номеру {n}"],
    "ar": ["طلبي متأخر، اتصلوا بي على الرقم {n}"],
    "zh": ["我的订单还没到，请打电话给我 {n}"],
    "ja": ["アカウントにログインできません。{n}に電話してください"],
}


@pytest.mark.parametrize(
    ("language", "message"),
    [(language, m) for language, messages in CALLBACKS.items() for m in messages],
)
def test_a_call_asked_on_a_number_beside_a_complaint_gives_the_number(
    language: str, message: str
) -> None:
    number = _phone()
    text = message.format(n=number)
    assert callback_number(text) == number, (language, text)
    # A complaint, not a sales lead: answered as a question.
    assert detect_intent(text).intent == "question", (language, text)


# Not someone to call back on that number: an order's, an invoice's, a parcel's or a
# ticket's number (a call asked or not), a call turned down, a call told of, and a number in a
# question about the shop's phone line.
NOT_CALLBACKS = [
    "my order {o} is late, please call me",
    "order number {o} is late, call me back",
    "please call me back, my tracking number is {o}",
    "call me about invoice {o}, it is wrong",
    "my account number is {o}, the app keeps crashing, call me",
    "Meine Bestellnummer ist {o}, rufen Sie mich bitte an",
    "Mi número de pedido es {o}, llámame",
    "Ma commande numéro {o} est en retard, rappelez-moi",
    "don't call me on {o}, my order is late",
    "please do not call me at {o}, just email",
    "no me llames al {o}, mi pedido llega tarde",
    "ne m'appelez pas au {o}, ma commande est en retard",
    "why did you call me on {o} yesterday?",
    "Is {o} your phone support line?",
    "Does your phone support on {o} open on Sundays?",
    "I called your support line {o} and nobody answered, what are your hours?",
    "Can I call you on {o} about my order?",
]


@pytest.mark.parametrize("message", NOT_CALLBACKS)
def test_an_order_number_a_call_turned_down_or_the_shops_line_is_no_callback(
    message: str,
) -> None:
    assert callback_number(message.format(o=_other())) is None, message


async def _shop(client: httpx.AsyncClient, runtime: Any) -> Owner:
    owner = await signup(client, f"Callbacks {uuid.uuid4().hex[:6]}")
    await ingest(client, owner, runtime, "Refunds", REFUNDS)
    return owner


async def test_the_number_is_on_a_lead_and_the_question_answered_from_the_knowledge(
    llm_client: Any, fake_llm: FakeOpenAI
) -> None:
    client, runtime = llm_client
    owner = await _shop(client, runtime)
    number = CALLER
    message = REFUND_LATE
    body = (await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex}")).json()
    # Answered from the documents, the call promised first; no contact form (the number is
    # left), and no sales lead.
    assert (body["intent"], body["source"]) == ("question", "rag"), body
    assert (body["lead_saved"], body["lead_capture"]) == (True, False), body
    assert "someone from the team will call you" in body["answer"], body
    assert body["answer"].endswith("Yearly plans are refunded in full within 30 days [1]."), body
    assert body["citations"], body
    [lead] = await leads_of(client, owner)
    assert (lead["phone"], lead["email"], lead["source"]) == (number, None, "chat"), lead
    assert (lead["message"], lead["conversation_id"]) == (message, body["conversation_id"]), lead
    # The model was asked the question, not told to collect contact details.
    assert "30 days" in str(fake_llm.chat_requests[-1].json)


async def test_a_streamed_answer_promises_the_call_and_saves_the_number(
    llm_client: Any,
) -> None:
    client, runtime = llm_client
    owner = await _shop(client, runtime)
    number = CALLER
    events = await streamed_chat(
        client,
        owner,
        f"The refund for my yearly plan order has not arrived, please call me on {number}",
        session_id=f"v-{uuid.uuid4().hex}",
    )
    meta = dict(events)["meta"]
    done = dict(events)["done"]
    assert (meta["lead_saved"], done["lead_saved"], done["source"]) == (True, True, "rag"), events
    text = "".join(data["text"] for kind, data in events if kind == "delta")
    assert text.startswith("Thank you!"), text
    assert "will call you" in text, text
    assert [lead["phone"] for lead in await leads_of(client, owner)] == [number]


async def test_a_complaint_the_knowledge_cannot_answer_is_no_sales_lead(
    llm_client: Any,
) -> None:
    """Nothing relevant: "I don't know" (not the offer of plans, pricing or a demo a sales lead
    gets), the question on the Unanswered page and counted unanswered (not a sales lead sent
    to the team), and the number on its lead all the same."""
    client, runtime = llm_client
    owner = await signup(client, f"Empty {uuid.uuid4().hex[:6]}")
    numbers = [_phone(), _phone()]
    messages = [
        f"the app keeps crashing, can someone phone me at {numbers[0]}",
        f"my order is late, please call me on {numbers[1]}",
    ]
    for message in messages:
        body = (await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex}")).json()
        assert (body["intent"], body["source"], body["lead_saved"]) == (
            "question",
            "fallback",
            True,
        ), body
        assert "pricing or a demo" not in body["answer"], body
        assert "someone from the team will call you" in body["answer"], body
        assert body["lead_capture"] is False, body
    # Asked without the call: the numbers are on the leads (``call_requests.without_callback``).
    assert sorted(await unanswered(client, owner)) == sorted(
        ["the app keeps crashing", "my order is late"]
    )
    assert sorted(lead["phone"] for lead in await leads_of(client, owner)) == sorted(numbers)
    await rebuild(runtime, owner, utcnow())
    totals = (await figures(client, owner, **around_today()))["totals"]
    assert (totals["unanswered"], totals["sales_routed"]) == (2, 0), totals


async def test_an_order_number_or_a_call_turned_down_makes_no_lead_in_the_chat(
    llm_client: Any,
) -> None:
    client, runtime = llm_client
    owner = await _shop(client, runtime)
    for message in NOT_CALLBACKS:
        text = message.format(o=_other())
        body = (await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")).json()
        assert body["lead_saved"] is False, (text, body)
    assert await leads_of(client, owner) == []


async def test_the_number_goes_on_the_lead_the_conversation_has(llm_client: Any) -> None:
    client, runtime = llm_client
    owner = await _shop(client, runtime)
    session = f"v-{uuid.uuid4().hex}"
    email = f"ravi.{uuid.uuid4().hex[:8]}@example.com"
    given = (await chat(client, owner, f"my email is {email}", session_id=session)).json()
    assert given["lead_saved"] is True, given
    number = CALLER
    body = (
        await chat(
            client,
            owner,
            REFUND_LATE,
            session_id=session,
            conversation_id=given["conversation_id"],
        )
    ).json()
    assert (body["source"], body["lead_saved"]) == ("rag", True), body
    assert [(lead["email"], lead["phone"]) for lead in await leads_of(client, owner)] == [
        (email, number)
    ]


async def test_under_lead_capture_never_the_number_is_not_taken_and_the_visitor_told(
    llm_client: Any,
) -> None:
    client, runtime = llm_client
    owner = await _shop(client, runtime)
    await never(client, owner)
    message = REFUND_LATE
    body = (await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex}")).json()
    assert (body["source"], body["lead_saved"]) == ("rag", False), body
    assert "your details were not passed on" in body["answer"], body
    assert await leads_of(client, owner) == []


async def test_a_person_asked_for_with_a_number_to_call_hands_off_and_keeps_the_number(
    llm_client: Any,
) -> None:
    """The hand-off says the team follows up with the details left, not "leave your email"."""
    client, runtime = llm_client
    owner = await _shop(client, runtime)
    number = _phone()
    message = f"I want to talk to a human about my late order, please call me on {number}"
    body = (await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex}")).json()
    assert (body["intent"], body["source"], body["lead_saved"]) == ("human", "handoff", True)
    assert "someone from the team will call you" in body["answer"], body
    assert "leave your email" not in body["answer"], body
    assert [lead["phone"] for lead in await leads_of(client, owner)] == [number]


async def test_a_sales_lead_too_long_to_be_a_number_left_keeps_its_number(
    llm_client: Any,
) -> None:
    """A sales lead that says much besides the call stays a sales lead (the team's), and its
    number is on the lead: the contact form is not offered for what was already left."""
    client, _ = llm_client
    owner = await signup(client, f"Sales {uuid.uuid4().hex[:6]}")
    number = _phone()
    message = (
        "We are a team of 40 people across three offices and we want to buy licences for "
        f"everyone next quarter, please call me on {number}"
    )
    body = (await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex}")).json()
    assert (body["intent"], body["lead_saved"], body["lead_capture"]) == ("lead", True, False)
    assert "someone from the team will call you" in body["answer"], body
    assert "leave your email" not in body["answer"], body
    assert [lead["phone"] for lead in await leads_of(client, owner)] == [number]
    assert await unanswered(client, owner) == []
