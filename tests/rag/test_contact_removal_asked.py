# ruff: noqa: RUF001 (messages written in their own scripts)
"""A visitor asking to remove their number, address or data ("9876543210 is my number, delete
it", "please delete my number ...", "remove me from your list ...", "borren mi número ...",
"löschen Sie meine Nummer ...", "supprimez-le", "cancellalo", "isko hata do", "удалите мой
номер ...", "请删除我的手机号...") leaves no contact: no lead, no call promised, no sales
reply. It is an erasure request (intent ``erasure``, handed to the team, who erase a visitor's
data through the API; its reply is tests/rag/test_erasure_reply.py's). Before, each such
message with a number or an address was a lead thanked with "someone from the team will call
you" (a reviewer's finding), or a sales lead ("I'd be happy to connect you with our team about
plans, pricing or a demo").

A removal of something else ("delete my account, call me on ...", "I can't delete it, call me
on ...", "remove my old number, my new number is ...") leaves the number as before."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from rag.chat.contact_beside import contact_beside
from rag.chat.contact_details import (
    callback_number,
    contact_phone,
    leaves_a_phone,
    leaves_an_address,
)
from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.number_leads import assert_chats, given
from tests.rag.test_phone_callbacks import _phone
from tests.rag.test_phone_other_number_beside_a_call import _chinese, _french, _german, _spanish


def _email() -> str:
    return f"v{uuid.uuid4().hex[:12]}@example.com"


# The visitor's number or address typed with its removal asked, by the detail's maker.
REMOVALS: list[tuple[str, Callable[[], str]]] = [
    ("{n} is my number, delete it", _phone),
    ("{n} is my number, please delete it", _phone),
    ("{n} is my number. Delete it from your records please", _phone),
    ("please delete my number {n}", _phone),
    ("delete my phone number {n}", _phone),
    ("remove my number {n}", _phone),
    ("can you remove my mobile number {n} from your list", _phone),
    ("my number is {n}, please remove it from your records", _phone),
    ("my number is {n}, erase all my data", _phone),
    ("delete {n}", _phone),
    ("remove {n} from your list", _phone),
    ("{n} is my number, don't store it", _phone),
    ("my number is {n}, do not save it", _phone),
    ("{n} is my number, unsubscribe me", _phone),
    ("unsubscribe {n}", _phone),
    ("hi, remove me from your list, my number is {n}", _phone),
    ("please forget my number {n}", _phone),
    ("take my number {n} off your list", _phone),
    ("{e} is my email, delete it", _email),
    ("please delete my email {e}", _email),
    ("my email is {e}, can you delete it?", _email),
    ("remove my email address {e} from your mailing list", _email),
    ("borra mi número {n}", _spanish),
    ("{n} es mi número, bórralo", _spanish),
    ("por favor eliminen mis datos, mi número es {n}", _spanish),
    ("bitte löschen Sie meine Nummer {n}", _german),
    ("{n} ist meine Nummer, bitte löschen", _german),
    ("supprimez mon numéro {n}", _french),
    ("{n} est mon numéro, supprimez-le", _french),
    ("pouvez-vous le supprimer ? mon numéro est {n}", _french),
    ("apague o meu número {n}", _phone),
    ("cancellate il mio numero {n}", _phone),
    ("il mio numero è {n}, cancellalo", _phone),
    ("mera number {n} hai, delete kar do", _phone),
    ("{n} mera number hai isko hata do", _phone),
    ("удалите мой номер {n}", _phone),
    ("{n} это мой номер, удалите его", _phone),
    ("请删除我的手机号{n}", _chinese),
]
# A removal of something else beside the visitor's number: the number left as before.
KEPT = [
    "delete my account, call me on {n}",
    "I want to delete my account, please call me on {n}",
    "I can't delete it, call me on {n}",
    "how do I remove a user, call me on {n}",
    "remove my old number, my new number is {n}",
    "my new number is {n}, please delete the old one",
]


@pytest.mark.parametrize(("message", "detail"), REMOVALS)
def test_a_removal_asked_leaves_no_contact(message: str, detail: Callable[[], str]) -> None:
    text, _ = given(message, detail)
    assert leaves_a_phone(text) is False, text
    assert leaves_an_address(text) is False, text
    assert callback_number(text) is None, text
    assert contact_beside(text) is None, text
    assert detect_intent(text).intent == "erasure", text


@pytest.mark.parametrize("message", KEPT)
def test_a_removal_of_something_else_keeps_the_number(message: str) -> None:
    text, number = given(message)
    assert contact_phone(text) == number, text
    assert leaves_a_phone(text) or callback_number(text) == number, text


async def test_the_chat_saves_no_lead_for_a_removal_asked(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await assert_chats(client, owner, saved=False, cases=REMOVALS, intent="erasure")


async def test_the_chat_keeps_a_number_left_beside_another_removal(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await assert_chats(
        client, owner, saved=True, cases=[("remove my old number, my new number is {n}", _phone)]
    )
