"""The visitor's number named by its kind ("my work number is ...", "my office number is ...",
"my landline is ...", "my new number is ...", "my cell phone number is ...", "my ph no is ...",
"... is my office number", "... is my work number, call me there", "Can you call me? My work
number is ...", "mera whatsapp ... hai", "mein Handy: ...") is
left as theirs, as "my number is ..." and "my mobile is ..." are: a lead with it. Before, each
was a question, no lead, and "I don't know".

An old number, another's, or an order's ("my old number is ...", "my previous number was
...", "... is my old number", "my order number is ...") is none, as before."""

from __future__ import annotations

import httpx
import pytest

from rag.chat.contact_details import callback_number
from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.number_leads import assert_chats, assert_left, given
from tests.rag.test_phone_callbacks import _phone

KINDS = [
    "my work number is {n}",
    "my office number is {n}",
    "my home number is {n}",
    "my landline is {n}",
    "my landline number is {n}",
    "my alternate number is {n}",
    "my other number is {n}",
    "my new number is {n}",
    "my personal number is {n}",
    "my cell phone number is {n}",
    "my direct line number is {n}",
    "hi, my business number is {n}, call me",
    "{n} is my office number",
    "{n} is my work number, call me there",
    "{n} is my landline",
    "{n} is my personal mobile",
    "my ph no is {n}",
    "my mob no is {n}",
    "mera whatsapp {n} hai",
    "mein Handy: {n}",
    "mein Telefon ist {n}",
]
# Asked as a call, the number given after it in a clause of its own.
CALLED = ["Can you call me? My work number is {n}", "call me on my office number {n}"]
NONE = [
    "my old number is {n}",
    "my previous number was {n}",
    "{n} is my old number",
    "{n} is my wife's number",
    "my order number is {n}",
]


@pytest.mark.parametrize("message", KINDS)
def test_a_number_of_a_kind_is_the_visitors(message: str) -> None:
    assert_left(message)


@pytest.mark.parametrize("message", CALLED)
def test_a_call_on_a_number_of_a_kind_gives_it(message: str) -> None:
    text, number = given(message)
    assert callback_number(text) == number, text


@pytest.mark.parametrize("message", NONE)
def test_an_old_or_another_number_is_none(message: str) -> None:
    text, _ = given(message)
    assert detect_intent(text).intent not in ("contact", "lead"), text


async def test_the_chat_saves_a_number_of_a_kind(client: httpx.AsyncClient, owner: Owner) -> None:
    await assert_chats(
        client, owner, saved=True, cases=[(message, _phone) for message in [*KINDS, *CALLED]]
    )
