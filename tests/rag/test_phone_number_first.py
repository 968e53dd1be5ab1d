"""A visitor who types their number BEFORE the words saying it is theirs ("98765 43210 is my
number", "9876543210 is my whatsapp", "+91 98765 43210 is my mobile, please call", "612 345
678 es mi número", "0171 2345678 ist meine Nummer", "13812345678是我的手机号"), without the bot
having asked for contact details, leaves it on a lead, thanked with a call promised, as one
writing "my number is ..." first does (tests/rag/test_phone_leads_chat.py). Before, such a
message was a question with no callback number and no lead (a reviewer's finding); it worked
only where the bot had asked. Italian's "il mio numero è ..." was none either.

And where an order's number comes first, named after it, and the visitor's number after in the
same clause, unpunctuated ("hi 5779079277 is my order number my number is 98765 43210 call
me"), the visitor's is the one on the lead: before, "my number is" was read as naming the
order's ("order number my number is ..."), and the order's became the contact phone.

A number asked about ("is 9876543210 your number?", "9876543210 is your support number?"),
said to be someone else's or not theirs ("... is not my number"), and an order's alone ("my
order 5779079277 is late") make no lead. Test numbers drawn per test (the neighbouring tests'
helpers): no two collide unless a test makes them."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from rag.chat.contact_details import contact_phone, leaves_a_phone
from rag.chat.intents import detect_intent
from rag.chat.reply_language import Language
from rag.chat.translations import translated
from tests.conftest import Owner
from tests.rag.test_chat import chat
from tests.rag.test_lead_capture_never import leads_of
from tests.rag.test_phone_callbacks import _phone
from tests.rag.test_phone_other_number_beside_a_call import (
    _chinese,
    _french,
    _german,
    _japanese,
    _order,
    _spanish,
)
from tests.rag.test_phone_other_number_named_after import _italian, _portuguese, _russian

# The number first, then the words giving it as the visitor's (and maybe a call asked), by
# language: the reply's language (None: English).
NUMBER_FIRST: list[tuple[Language | None, str, Callable[[], str]]] = [
    (None, "{n} is my number", _phone),
    (None, "{n} is my whatsapp", _phone),
    (None, "{n} is my number, call me", _phone),
    (None, "{n} is my mobile, please call", _phone),
    (None, "hi, {n} is my phone number", _phone),
    (None, "{n} its my number call me", _phone),
    ("es", "{n} es mi número", _spanish),
    ("es", "{n} es mi número de teléfono", _spanish),
    ("de", "{n} ist meine Nummer", _german),
    ("de", "{n} ist meine Handynummer", _german),
    ("fr", "{n} est mon numéro", _french),
    ("fr", "{n}, c'est mon portable", _french),
    ("pt", "{n} é o meu número", _portuguese),
    ("pt", "{n} é meu celular", _portuguese),
    ("it", "{n} è il mio numero", _italian),
    ("it", "{n} è il mio cellulare", _italian),
    ("it", "il mio numero è {n}", _italian),
    (None, "my whatsapp is {n}", _phone),
    ("hi-Latn", "{n} mera number hai", _phone),
    ("hi", "{n} मेरा नंबर है", _phone),
    ("ru", "{n} — это мой номер", _russian),
    ("ru", "{n} мой номер телефона", _russian),
    ("zh", "{n}是我的手机号", _chinese),
    ("zh", "{n}是我的电话号码", _chinese),
    ("ja", "{n}が私の電話番号です", _japanese),
    ("ja", "{n}は私の携帯番号です", _japanese),
]

# An order's number named after it, then the visitor's number and a call in the same clause,
# unpunctuated.
ORDER_THEN_NUMBER: list[tuple[Language | None, str, Callable[[], str]]] = [
    (None, "hi {o} is my order number my number is {n} call me", _phone),
    (None, "{o} is my order number my number is {n} please call me", _phone),
    (None, "{o} is the invoice my mobile is {n} call me back", _phone),
    ("es", "{o} es mi número de pedido mi número es {n} llámame", _spanish),
    ("de", "{o} ist meine Bestellnummer meine Nummer ist {n} rufen Sie mich an", _german),
]

# Numbers asked about, not the visitor's, or an order's: no lead.
NO_LEAD = [
    "my order {o} is late",
    "is {n} your number?",
    "{n} is your support number?",
    "{n} is not my number",
    "{n} is my wife's number, not mine",
    "{o} is my order number",
    "{n} no es mi número",
    "{n} ist nicht meine Nummer",
    "{n} n'est pas mon numéro",
    "{n} non è il mio numero",
    "{n} mera number nahi hai",
    "{n} не мой номер",
]


@pytest.mark.parametrize(("language", "message", "phone"), NUMBER_FIRST)
def test_a_number_given_first_is_the_visitors(
    language: Language | None, message: str, phone: Callable[[], str]
) -> None:
    number = phone()
    text = message.format(n=number)
    assert contact_phone(text) == number, text
    assert leaves_a_phone(text), text
    assert detect_intent(text).intent == "contact", text


@pytest.mark.parametrize(("language", "message", "phone"), ORDER_THEN_NUMBER)
def test_the_visitors_number_after_an_order_named_after_its_number(
    language: Language | None, message: str, phone: Callable[[], str]
) -> None:
    number = phone()
    text = message.format(o=_order(), n=number)
    assert contact_phone(text) == number, text
    assert detect_intent(text).intent == "contact", text


@pytest.mark.parametrize("message", NO_LEAD)
def test_a_number_asked_about_or_not_theirs_leaves_none(message: str) -> None:
    text = message.format(o=_order(), n=_phone())
    assert leaves_a_phone(text) is False, text
    assert detect_intent(text).intent not in ("contact", "lead"), text


def _thanks(language: Language | None) -> str:
    return translated("contact_phone", language) or (
        "Thank you! I've passed your message on; someone from the team will call you."
    )


# The number given first, in English and a few languages besides, and after an order's.
CHATS = [
    *NUMBER_FIRST[:6],
    *(case for case in NUMBER_FIRST if case[0] in ("es", "de", "it", "hi-Latn", "zh")),
    *ORDER_THEN_NUMBER,
]


@pytest.mark.parametrize(("language", "message", "phone"), CHATS)
async def test_the_chat_saves_the_visitors_number_given_first(
    client: httpx.AsyncClient,
    owner: Owner,
    language: Language | None,
    message: str,
    phone: Callable[[], str],
) -> None:
    """The message in a new chat: a lead with the visitor's number (not an order's; no
    address), the message whole, the visitor thanked with a call promised in their language."""
    number = phone()
    text = message.format(o=_order(), n=number)
    body = (await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")).json()
    assert (body["intent"], body["lead_saved"]) == ("contact", True), body
    assert body["answer"] == _thanks(language), body
    [lead] = await leads_of(client, owner)
    assert (lead["phone"], lead["email"], lead["source"]) == (number, None, "chat"), lead
    assert (lead["message"], lead["conversation_id"]) == (text, body["conversation_id"]), lead


@pytest.mark.parametrize("message", NO_LEAD[:3])
async def test_the_chat_saves_no_lead_for_a_number_asked_about(
    client: httpx.AsyncClient, owner: Owner, message: str
) -> None:
    text = message.format(o=_order(), n=_phone())
    body = (await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")).json()
    assert body["lead_saved"] is False, body
    assert body["intent"] == "question", body
    assert await leads_of(client, owner) == [], body
