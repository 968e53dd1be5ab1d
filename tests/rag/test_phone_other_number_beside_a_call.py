# ruff: noqa: RUF001 (messages written in their own scripts and punctuation)
"""A visitor who names an order's, an invoice's, a ticket's, a parcel's, an account's, a booking's
or a reference number and asks to be called back on another number ("my order 5779079277 is
late, please call me on +91 98765 43210") leaves that other number on a lead, the order's
number kept in the lead's message. Before, both were read as phone numbers: two numbers, none
to call, the turn answered as a question with no lead, and the call asked for was lost (a
flaky test's finding: an order number of 7 digits or more; "#5779079277" or five digits worked).

A message whose only number is an order's still leaves none (tests/rag/test_phone_callbacks.py,
test_phone_leads_other_numbers.py). Test numbers: the visitor's "+91 9..." (or a local format
with its spaces), an order's ten digits starting with 5, each drawn per test: no two collide
unless a test makes them."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.call_requests import without_callback
from rag.chat.contact_details import (
    callback_number,
    contact_phone,
    leaves_a_phone,
    number_left,
    phones_in,
)
from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.test_chat import chat
from tests.rag.test_lead_capture_never import leads_of
from tests.rag.test_phone_callbacks import _digits, _phone


def _spanish() -> str:
    digits = _digits(8)
    return f"6{digits[:2]} {digits[2:5]} {digits[5:]}"


def _french() -> str:
    digits = _digits(8)
    return "06 " + " ".join(digits[i : i + 2] for i in range(0, 8, 2))


def _german() -> str:
    return f"0171 {_digits(7)}"


def _chinese() -> str:
    return f"138{_digits(8)}"


def _japanese() -> str:
    digits = _digits(8)
    return f"090-{digits[:4]}-{digits[4:]}"


def _order() -> str:
    """An order's (an invoice's, a ticket's...) number: ten digits starting with 5, written
    without spaces, so never one of the phone numbers above nor inside one."""
    return f"5{_digits(9)}"


# A number named as another's, then a call asked on the visitor's number, by language.
NAMED_THEN_CALL = [
    ("en", "my order {o} is late, please call me on {n}", _phone),
    ("en", "my order number is {o} and it is late, call me on {n}", _phone),
    ("en", "invoice {o} shows the wrong amount, call me back on {n}", _phone),
    ("en", "ticket {o} is still open, please call me on {n}", _phone),
    ("en", "parcel {o} never arrived, please call me on {n}", _phone),
    ("en", "my tracking number is {o}, the parcel is late, call me on {n}", _phone),
    ("en", "my account {o} is locked, please call me on {n}", _phone),
    ("en", "my booking reference is {o}, please call me on {n}", _phone),
    ("en", "reference {o}: the refund has not arrived, please call me on {n}", _phone),
    ("es", "Mi pedido {o} llega tarde, llámame al {n}", _spanish),
    ("es", "Mi número de pedido es {o}, llámame al {n}", _spanish),
    ("de", "Meine Bestellung {o} ist verspätet, rufen Sie mich unter {n} an", _german),
    ("de", "Rechnungsnummer {o} ist falsch, rufen Sie mich unter {n} an", _german),
    ("fr", "Ma commande {o} est en retard, appelez-moi au {n}", _french),
    ("fr", "Numéro de suivi {o}, le colis est en retard, appelez-moi au {n}", _french),
    # Written without spaces: the words after the order's number are the call's.
    ("zh", "我的订单{o}还没到请打电话给我{n}", _chinese),
    ("zh", "我的订单号是{o}，请打电话给我 {n}", _chinese),
    ("ja", "注文番号{o}の件で、{n}に電話してください", _japanese),
]


def the_call_number_is_the_one(language: str, message: str, phone: object) -> str:
    """``message`` with an order's number ({o}) and ``phone()`` ({n}): both typed like phone
    numbers, the call's the one (``contact_phone``, ``callback_number``); the text."""
    assert callable(phone)
    order, number = _order(), phone()
    text = message.format(o=order, n=number)
    # Both typed like phone numbers (an erasure by phone reads every one of them)...
    assert phones_in(text) == [order, number], text
    # ...but the call is asked on the visitor's, and that is their number.
    assert contact_phone(text) == number, (language, text)
    assert callback_number(text) == number, (language, text)
    return text


@pytest.mark.parametrize(("language", "message", "phone"), NAMED_THEN_CALL)
def test_the_number_named_as_another_is_no_candidate_beside_a_call(
    language: str, message: str, phone: object
) -> None:
    text = the_call_number_is_the_one(language, message, phone)
    # A complaint beside the call, as without the order's number: answered, the number saved
    # (a booking's details are a lead's own: a sales lead, its number saved too).
    expected = "lead" if "booking" in message else "question"
    assert detect_intent(text).intent == expected, (language, text)


def test_the_call_asked_first_and_the_order_named_after() -> None:
    order, number = _order(), _phone()
    text = f"please call me on {number}, my order {order} is late"
    assert callback_number(text) == number
    assert without_callback(text) == f"my order {order} is late"


def test_a_call_on_one_number_or_another_gives_the_first() -> None:
    order, first, second = _order(), _phone(), _phone()
    text = f"my order {order} is late, please call me on {first} or {second}"
    assert contact_phone(text) == first
    assert callback_number(text) == first


@pytest.mark.parametrize(
    "message",
    [
        # The same digits named as the order's and given to call on: the call's is the one.
        "my order {x} is late, please call me on {x}",
        "Mi pedido {x} llega tarde, llámame al {x}",
        # The call's number the start of the order's: the order's is never taken for it.
        "my order {x}1 is late, please call me on {x}",
    ],
)
def test_an_order_number_with_the_calls_digits_still_gives_the_call(message: str) -> None:
    number = _order()
    text = message.format(x=number)
    assert callback_number(text) == number, text
    # The question asked without the call's clause: the order's number stays in it.
    asked = without_callback(text)
    assert number in asked, (text, asked)
    assert "call" not in asked, (text, asked)
    assert "llám" not in asked, (text, asked)


@pytest.mark.parametrize(
    "message",
    [
        "my order {o} is late, please call me",
        "my order {o} and invoice {p} are wrong, please call me",
        "call me about order {o} or order {p}",
        "{o} is my order number, please call me",
        "{o} is my order number, {p} is the invoice, call me",
    ],
)
def test_numbers_all_named_as_others_still_leave_none(message: str) -> None:
    text = message.format(o=_order(), p=_order())
    assert callback_number(text) is None, text
    assert leaves_a_phone(text) is False, text
    assert number_left(f"{text} jo@example.com") is None, text


CHATS = [
    ("en", "my order {o} is late, please call me on {n}", _phone),
    ("es", "Mi pedido {o} llega tarde, llámame al {n}", _spanish),
    ("de", "Meine Bestellung {o} ist verspätet, rufen Sie mich unter {n} an", _german),
    ("fr", "Ma commande {o} est en retard, appelez-moi au {n}", _french),
]


@pytest.mark.parametrize(("language", "message", "phone"), CHATS)
async def test_the_chat_saves_the_visitors_number_and_keeps_the_order_in_the_message(
    client: httpx.AsyncClient, owner: Owner, language: str, message: str, phone: object
) -> None:
    body = await the_chat_saves_the_call_number(client, owner, language, message, phone)
    assert body["intent"] == "question", (language, body)


async def the_chat_saves_the_call_number(
    client: httpx.AsyncClient, owner: Owner, language: str, message: str, phone: object
) -> dict[str, object]:
    """``message`` with an order's number ({o}) and ``phone()`` ({n}) in a chat: a lead saved
    with the call's number, the message whole (the order's in it); the chat's answer."""
    assert callable(phone)
    order, number = _order(), phone()
    text = message.format(o=order, n=number)
    body: dict[str, object] = (
        await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")
    ).json()
    assert body["lead_saved"] is True, (language, body)
    [lead] = await leads_of(client, owner)
    assert (lead["phone"], lead["email"], lead["source"]) == (number, None, "chat"), lead
    assert (lead["message"], lead["conversation_id"]) == (text, body["conversation_id"]), lead
    return body


async def test_the_chat_saves_the_first_of_two_numbers_offered(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    order, first, second = _order(), _phone(), _phone()
    text = f"my order {order} is late, please call me on {first} or {second}"
    body = (await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")).json()
    assert body["lead_saved"] is True, body
    [lead] = await leads_of(client, owner)
    assert (lead["phone"], lead["message"]) == (first, text), lead


async def test_the_chat_saves_the_call_number_with_the_orders_digits(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    number = _order()
    text = f"my order {number} is late, please call me on {number}"
    body = (await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")).json()
    assert body["lead_saved"] is True, body
    [lead] = await leads_of(client, owner)
    assert (lead["phone"], lead["message"]) == (number, text), lead
