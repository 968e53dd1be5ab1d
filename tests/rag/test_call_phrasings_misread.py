"""Calls asked in words the chat misread, through the real chat path (the widget's chat API on
the real database and Redis, with the local fake model).

"Could you call me back on +91 98765 43210?" is a number left (`contact`): thanked, the call
promised, a lead with the number. Asked in other words, the same call was not:
- the number in a clause of its own ("Can you call me? My number is ..."): a sales `lead`, the
  sales blurb and the contact form, no lead saved, the number given lost; beside a question,
  the number was not taken;
- when to call, in words the call phrases did not know between the call and its number ("call
  me when convenient on ...") or read as a question of when ("when it suits you, call me on
  ...", "quando hai tempo, chiamami al ..."): a question, answered "I don't know" and listed on
  the owner's Unanswered page, or no number taken at all;
- how are you after a greeting, in Italian ("ciao, come stai, chiamami al ...") or before a
  call asked as a question ("hallo, wie geht es Ihnen, können Sie mich unter ...
  zurückrufen?"): a question, where "hi, how are you, call me on ..." is a number left;
- two numbers, the second offered as another way to reach the visitor ("call me on ... or
  ..."): a sales lead with neither number, the blurb and the contact form. The first is now
  the lead's number, the other kept in the lead's message (the visitor's words)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from rag.chat.contact_details import callback_number, contact_phone
from rag.chat.intents import detect_intent, question_of
from tests.conftest import Owner
from tests.rag.test_chat import chat
from tests.rag.test_lead_capture_never import leads_of

SALES_BLURB = "plans, pricing or a demo"


def _plus91() -> str:
    digits = f"{uuid.uuid4().int % 10**9:09d}"
    return f"+91 9{digits[:4]} {digits[4:]}"


def _read_as(message: str, intent: str) -> str:
    """``message`` with a number of its own: the call asked on that number, the message read
    as ``intent``; the text."""
    number = _plus91()
    text = message.format(n=number)
    assert callback_number(text) == number, text
    assert detect_intent(text).intent == intent, text
    return text


# (a) The call asked, then the number given in a clause of its own.
NUMBER_AFTER_THE_CALL = [
    "Can you call me? My number is {n}",
    "Could you call me back? my number: {n}",
    "Could you call me back? My mobile number is {n}",
    "Can someone call me back please? my number is {n}",
    "Please call me back, here is my number {n}",
    "¿Me puedes llamar? Mi número es {n}",
    "Pouvez-vous me rappeler ? Mon numéro est le {n}",
    "Können Sie mich zurückrufen? Meine Nummer ist {n}",
    "Mi potete richiamare? Il mio numero è {n}",
    "Pode me ligar? Meu número é {n}",
    # (the number alone after it)
    "Can you call me? {n}",
    "Could you call me back please? {n}",
    "¿Me puedes llamar? {n}",
    "Pouvez-vous me rappeler ? {n}",
    "Können Sie mich zurückrufen? {n}",
    "Mi potete richiamare? {n}",
    "Pode me ligar? {n}",
]
# A call told of, with the number: no call asked on it.
CALL_TOLD_OF = [
    "Why did you call me? My number is {n}",
    "Did someone call me? my number is {n}",
    "why did you call me? {n}",
]


# A question beside it: the question asked, without the call and its number.
QUESTIONS_BESIDE = [
    ("Where is my order? Can you call me? My number is {n}", "Where is my order?"),
    ("¿Dónde está mi pedido? ¿Me puedes llamar? Mi número es {n}", "¿Dónde está mi pedido?"),
    # (and another number offered after it: "or ..." is the call's too)
    ("call me on {n}, or +91 91234 56789. Where is my order?", "Where is my order?"),
    # (an "or" elsewhere, and "ya", Spanish "already", are the visitor's words: a review's
    # finding, thanked as a number left with the question dropped)
    ("¿ya llegó? llámame al {n}", "¿ya llegó?"),
    ("pagato, o no? chiamami al {n}", "pagato, o no?"),
    ("¿ya pagaron o no? llámame al {n}", "¿ya pagaron o no?"),
    # (a time to call is the call's only when nothing of the visitor's follows it in its
    # clause: a review's finding, these were thanked as a number left, the question dropped)
    ("when you can refund me? call me on {n}", "when you can refund me?"),
    ("When it is possible to cancel? call me on {n}", "When it is possible to cancel?"),
    ("when it is possible to cancel, call me on {n}", "when it is possible to cancel"),
    ("when convenient for you to deliver? call me on {n}", "when convenient for you to deliver?"),
    ("quando puoi spedire? chiamami al {n}", "quando puoi spedire?"),
    ("quand vous pouvez livrer ? appelez-moi au {n}", "quand vous pouvez livrer ?"),
]


@pytest.mark.parametrize(("message", "question"), QUESTIONS_BESIDE)
def test_a_question_beside_the_call_is_asked_without_it(message: str, question: str) -> None:
    text = _read_as(message, "question")
    assert question_of(text, "question") == question, text


@pytest.mark.parametrize("message", CALL_TOLD_OF)
def test_a_call_told_of_beside_a_number_asks_for_none(message: str) -> None:
    assert callback_number(message.format(n=_plus91())) is None, message


async def _said(client: httpx.AsyncClient, owner: Owner, text: str) -> dict[str, Any]:
    """The chat's answer to ``text``, a new visitor's first message."""
    response = await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _thanked_with_a_lead(
    client: httpx.AsyncClient, owner: Owner, message: str, number: str
) -> dict[str, Any]:
    """``message`` through the chat: a number left (thanked, no sales blurb, no form), and the
    lead of its conversation, with ``number`` to call."""
    body = await _said(client, owner, message)
    thanked = {"intent": "contact", "source": "fallback", "lead_saved": True}
    assert {key: body[key] for key in thanked} == thanked, (message, body)
    assert not body["lead_capture"], (message, body)
    assert SALES_BLURB not in body["answer"], (message, body)
    leads = [lead for lead in await leads_of(client, owner) if lead["phone"] == number]
    assert [lead["conversation_id"] for lead in leads] == [body["conversation_id"]], message
    return leads[0]


async def _all_thanked_with_a_lead(
    client: httpx.AsyncClient, owner: Owner, messages: list[str]
) -> None:
    """Each message, with a number of its own, through the chat (``_thanked_with_a_lead``)."""
    for message in messages:
        number = _plus91()
        await _thanked_with_a_lead(client, owner, message.format(n=number), number)


# (b) When to call, said in words the call phrases or a question's words misread: "call me when
# convenient on ...", "when it suits you, call me on ...".
WHEN_TO_CALL = [
    "call me when convenient on {n}",
    "call me at your convenience on {n}",
    "call me whenever you are free on {n}",
    "call me back when you get a chance on {n}",
    "when convenient, call me on {n}",
    "when it's convenient, call me on {n}",
    "when it suits you, call me on {n}",
    "when you're not busy, call me on {n}",
    "when convenient for you, please call me on {n}",
    "when you get a chance please call me on {n}",
    "call me on {n}, whenever you are free",
    "call me on {n} when you get a chance",
    "quand vous aurez un moment, appelez-moi au {n}",
    "quand vous serez disponible, appelez-moi au {n}",
    "quando for possível, me ligue no {n}",
    "quando hai tempo, chiamami al {n}",
    "quando ti è comodo, chiamami al {n}",
    "когда вам будет удобно, перезвоните мне по номеру {n}",
    "متى ما سمح وقتك، اتصلوا بي على {n}",
]
# A question of when beside the call stays the question it is.
WHEN_ASKED = [
    "when will my order arrive? call me on {n}",
    "when does the store open, call me on {n}",
    "when is my refund due, call me on {n}",
]


# (c) How are you after a greeting, beside a call asked as a question or in Italian: "come
# stai" and the like were two words of the visitor's own, a complaint beside the call.
HOW_ARE_YOU_BESIDE = [
    "ciao, come stai, chiamami al {n}",
    "ciao come stai chiamami al {n}",
    "buongiorno, come sta, mi può richiamare al {n}?",
    "hallo, wie geht es Ihnen, können Sie mich unter {n} zurückrufen?",
    "olá, tudo bem, pode me ligar no {n}?",
    "hi, how are you, could you call me back on {n}?",
]
# A question after the greeting stays the question it is.
ASKED_AFTER_HOW_ARE_YOU = [
    "ciao, come va la spedizione? chiamami al {n}",
    "ciao, come stai? dov'è il mio ordine? chiamami al {n}",
    "hallo, wie geht es Ihnen, wo ist meine Bestellung? Rufen Sie mich unter {n} an",
]


# (d) Two numbers, the second another way to reach the visitor: the first is the one to call.
TWO_NUMBERS_CALLED = [
    "call me on {n} or {m}",
    "call me on {n} or on {m}",
    "Could you call me back on {n} or {m}?",
    "please call me on {n}, or on my other number {m}",
    "chiamami al {n} oppure al {m}",
    "llámame al {n} o al {m}",
    "rufen Sie mich unter {n} oder {m} an",
]
TWO_NUMBERS = [*TWO_NUMBERS_CALLED, "my number is {n} or {m}", "mi número es {n} o {m}"]
# Numbers asked about or quoted: no call asked, no number left.
NUMBERS_ASKED_ABOUT = [
    "Is {n} or {m} your support line?",
    "your site says call {n} or {m}, which one is it?",
]


@pytest.mark.parametrize("message", TWO_NUMBERS)
def test_of_two_numbers_the_first_is_the_one_to_call(message: str) -> None:
    first, other = _plus91(), _plus91()
    text = message.format(n=first, m=other)
    assert contact_phone(text) == first, text
    assert detect_intent(text).intent == "contact", text
    assert callback_number(text) == (first if message in TWO_NUMBERS_CALLED else None), text


@pytest.mark.parametrize("message", NUMBERS_ASKED_ABOUT)
def test_two_numbers_asked_about_leave_none(message: str) -> None:
    text = message.format(n=_plus91(), m=_plus91())
    assert contact_phone(text) is None, text
    assert callback_number(text) is None, text
    assert detect_intent(text).intent == "question", text


async def test_of_two_numbers_the_lead_has_the_first_and_its_message_the_other(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    for message in TWO_NUMBERS:
        first, other = _plus91(), _plus91()
        text = message.format(n=first, m=other)
        lead = await _thanked_with_a_lead(client, owner, text, first)
        assert other in lead["message"], (text, lead)


# Each message: the call asked on its number, read as the number left it is, or as the question
# beside the call.
READINGS = [
    *((m, "contact") for m in (*NUMBER_AFTER_THE_CALL, *WHEN_TO_CALL, *HOW_ARE_YOU_BESIDE)),
    *((m, "question") for m in (*WHEN_ASKED, *ASKED_AFTER_HOW_ARE_YOU)),
]


@pytest.mark.parametrize(("message", "intent"), READINGS)
def test_the_call_is_asked_on_the_number_and_read_as_it_is(message: str, intent: str) -> None:
    _read_as(message, intent)


async def test_each_call_is_thanked_with_a_lead_and_nothing_unanswered(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await _all_thanked_with_a_lead(
        client, owner, [*NUMBER_AFTER_THE_CALL, *WHEN_TO_CALL, *HOW_ARE_YOU_BESIDE]
    )
    listing = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert listing.status_code == 200, listing.text
    assert listing.json() == [], listing.json()
