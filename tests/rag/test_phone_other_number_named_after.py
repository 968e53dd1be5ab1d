# ruff: noqa: RUF001 (messages written in their own scripts and punctuation)
"""A number the visitor names as an order's, an invoice's, a ticket's... AFTER it ("5779079277
is my order number, call me on +91 98765 43210", "5779079277 es mi número de pedido, llámame
al ...", "5779079277 ist meine Bestellnummer, ..."), beside a call asked on another number,
is no phone candidate either, as one named before it is
(tests/rag/test_phone_other_number_beside_a_call.py). Before, both were read as phone numbers:
two, none to call, the turn taken for a sales lead asking for an email, and the call lost.

A number followed by words that are no naming of another's ("98765 43210 is my number", "...
is late") stays a candidate. Test numbers drawn per test, as in the neighbouring tests."""

from __future__ import annotations

import httpx
import pytest

from rag.chat.contact_details import callback_number, contact_phone
from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.test_phone_callbacks import _digits, _phone
from tests.rag.test_phone_other_number_beside_a_call import (
    _chinese,
    _french,
    _german,
    _japanese,
    _spanish,
    the_call_number_is_the_one,
    the_chat_saves_the_call_number,
)


def _portuguese() -> str:
    digits = _digits(8)
    return f"11 9{digits[:4]} {digits[4:]}"


def _italian() -> str:
    digits = _digits(7)
    return f"333 {digits[:3]} {digits[3:]}"


def _russian() -> str:
    digits = _digits(9)
    return f"+7 9{digits[:2]} {digits[2:5]} {digits[5:7]} {digits[7:]}"


# A number named as another's after it, then a call asked on the visitor's, by language.
NAMED_AFTER_THEN_CALL = [
    ("en", "{o} is my order number, call me on {n}", _phone),
    ("en", "{o} is the invoice, please call me back on {n}", _phone),
    ("en", "{o} is my ticket number and it is still open, call me on {n}", _phone),
    ("en", "{o} was my order. Please call me on {n}", _phone),
    ("en", "{o} is the tracking number, the parcel is late, call me on {n}", _phone),
    ("en", "{o} is the number of my order, please call me on {n}", _phone),
    ("es", "{o} es mi número de pedido, llámame al {n}", _spanish),
    ("es", "{o} es el número de la factura, llámame al {n}", _spanish),
    ("de", "{o} ist meine Bestellnummer, rufen Sie mich unter {n} an", _german),
    ("de", "{o} ist die Rechnungsnummer, rufen Sie mich unter {n} an", _german),
    ("fr", "{o} est mon numéro de commande, appelez-moi au {n}", _french),
    ("fr", "{o} est ma commande, appelez-moi au {n}", _french),
    ("pt", "{o} é o número do pedido, me liga no {n}", _portuguese),
    ("it", "{o} è il mio numero d'ordine, chiamami al {n}", _italian),
    ("ru", "{o} — это номер заказа, позвоните мне по номеру {n}", _russian),
    ("ru", "{o} — номер моего заказа, перезвоните мне на {n}", _russian),
    ("hi", "{o} mera order number hai, mujhe {n} par call karo", _phone),
    ("zh", "{o}是我的订单号，请打电话给我 {n}", _chinese),
    ("ja", "{o}は注文番号です。{n}に電話してください", _japanese),
    # Named before it, the call in a clause after a dash: as before.
    ("en", "ticket no. {o} - call me on {n}", _phone),
]


@pytest.mark.parametrize(("language", "message", "phone"), NAMED_AFTER_THEN_CALL)
def test_the_number_named_after_as_another_is_no_candidate_beside_a_call(
    language: str, message: str, phone: object
) -> None:
    text = the_call_number_is_the_one(language, message, phone)
    assert detect_intent(text).intent != "lead", (language, text)


@pytest.mark.parametrize(
    "message",
    [
        # Words after the number that name no other's: it stays the visitor's, and with a
        # second number offered bare, none is picked.
        "{n} is my number, {p} is my wife's, call me",
        "{n} is the number on my account, {p} is my office, call me",
    ],
)
def test_a_number_followed_by_other_words_stays_a_candidate(message: str) -> None:
    text = message.format(n=_phone(), p=_phone())
    assert contact_phone(text) is None, text
    assert callback_number(text) is None, text


CHATS = [
    ("en", "{o} is my order number, call me on {n}", _phone),
    ("en", "{o} is the invoice, please call me back on {n}", _phone),
    ("es", "{o} es mi número de pedido, llámame al {n}", _spanish),
    ("de", "{o} ist meine Bestellnummer, rufen Sie mich unter {n} an", _german),
    ("fr", "{o} est mon numéro de commande, appelez-moi au {n}", _french),
]


@pytest.mark.parametrize(("language", "message", "phone"), CHATS)
async def test_the_chat_saves_the_visitors_number_named_after_an_order(
    client: httpx.AsyncClient, owner: Owner, language: str, message: str, phone: object
) -> None:
    body = await the_chat_saves_the_call_number(client, owner, language, message, phone)
    assert body["intent"] != "lead", (language, body)
