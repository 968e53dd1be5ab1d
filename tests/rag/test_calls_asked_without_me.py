"""A call asked of the team on a number with no "me" ("call +44 20 7946 0958", "please call
98765 43210", "call back on ...", "can you call ...", "llamen al ...", "appelez le ... svp",
"bitte rufen Sie ... an", "ligue para ...", "chiamate il ...", "... par call karo"), as
"Позвоните на ..." already was: the visitor's number to be called back on, a lead with it and
the call promised. Before, each was a question with no lead, and the visitor asking for a call
got "I don't know".

Asked at the message's start (greetings aside) or after "please" anywhere; a call quoted ("your
site says call ..."), one the visitor may make ("can I call ...?", "should I call ..."), told of
("call ... is busy", "call ... for support"), turned down ("don't call ..."), asked of another
person ("call my husband on ...") or of two numbers merely named ("call A or B":
``offered_numbers.or_numbers``) is none, as before."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from rag.chat.contact_details import callback_number
from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.number_leads import assert_called, assert_chats, given
from tests.rag.test_phone_callbacks import _phone
from tests.rag.test_phone_other_number_beside_a_call import _french, _german, _spanish


def _uk() -> str:
    return f"+44 20 7{uuid.uuid4().int % 1000:03d} {uuid.uuid4().int % 10000:04d}"


CALLS: list[tuple[str, Callable[[], str]]] = [
    ("call {n}", _uk),
    ("please call {n}", _phone),
    ("Please call {n}.", _phone),
    ("hi, please call {n}", _phone),
    ("hello call {n} tomorrow morning", _phone),
    ("call {n} please", _phone),
    ("ring {n} please", _phone),
    ("pls call on {n}", _phone),
    ("call back on {n}", _phone),
    ("please call back {n}", _phone),
    ("call this number {n}", _phone),
    ("can you call {n}", _phone),
    ("could you please call {n}?", _phone),
    ("you can call {n}", _phone),
    ("whatsapp {n}", _phone),
    ("llamen al {n} por favor", _spanish),
    ("por favor llame al {n}", _spanish),
    ("appelez le {n} svp", _french),
    ("bitte rufen Sie {n} an", _german),
    ("rufen Sie bitte unter {n} zurück", _german),
    ("ligue para {n} por favor", _phone),
    ("chiamate il {n} per favore", _phone),
    ("{n} par call karo", _phone),
    ("is number par call karo {n}", _phone),
]
# Beside a complaint: a question answered, the number on a lead.
COMPLAINTS = ["my order is late, please call {n}", "the app keeps crashing, please call {n}"]
NO_CALLS = [
    "your site says call {n}, is that right",
    "can I call {n}?",
    "should I call {n}",
    "why did you call {n}",
    "did you call {n}",
    "I will call {n} tomorrow",
    "call {n} for support",
    "call {n} is busy",
    "don't call {n}",
    "call my husband on {n}",
    "please call my manager on {n}",
    "call {n} or {m}",
]


@pytest.mark.parametrize(("message", "phone"), CALLS)
def test_a_call_asked_without_me_gives_the_number(message: str, phone: Callable[[], str]) -> None:
    assert_called(message, phone)


@pytest.mark.parametrize("message", COMPLAINTS)
def test_a_call_without_me_beside_a_complaint_is_a_question(message: str) -> None:
    assert_called(message, intent="question")


@pytest.mark.parametrize("message", NO_CALLS)
def test_a_call_quoted_told_of_or_of_another_asks_none(message: str) -> None:
    text, _ = given(message)
    assert callback_number(text) is None, text
    assert detect_intent(text).intent not in ("contact", "lead"), text


async def test_the_chat_saves_the_number_a_call_is_asked_on(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await assert_chats(client, owner, saved=True, cases=CALLS)


async def test_the_chat_saves_no_lead_for_a_call_not_asked_of_the_team(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await assert_chats(
        client, owner, saved=False, cases=[(message, _phone) for message in NO_CALLS]
    )
