"""A visitor plainly leaving their number who got no lead after the rules of numbers withheld
(``details_withheld``) came in, found by a review of them:

- a verb after the number read as telling of it ("my number ... got hacked") where the
  number is the complement of "is" before it: "my number is ... no rush", "... (not a
  landline)", "mi número es ... (no es fijo)": after "my number is" the number is given, and
  what follows is a clause of its own;
- a clause led by "when"/"where" with its subject right after it read as a question: "when
  you are free my number is ..." is a clause of time, a question inverts ("when can you");
- a removal with a pronoun for its object ("delete that", "delete it") before every number the
  message types: the pronoun points back, so at something before, not the number after;
- a removal read across clauses: "delete my cart, my number is ..." is no "delete my ...
  number";
- "remove me from the newsletter and call me on ...": the visitor asks a call on the number.

Each here was a ``contact`` before the rules and a ``question`` with no lead after them."""

from __future__ import annotations

import httpx
import pytest

from rag.chat.contact_details import callback_number
from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.number_leads import assert_called, assert_chats, assert_left, given
from tests.rag.test_phone_callbacks import _phone

# The number given after "is" (or its colon), a clause of the visitor's own after it.
AFTER_IS = [
    "my number is {n} (not a landline)",
    "my number is {n} (not whatsapp)",
    "my number is {n} no rush",
    "my number is {n} not urgent",
    "my number is {n} has whatsapp",
    "my number is {n} is whatsapp too",
    "my number is {n} cant wait to hear from you",
    "my number is {n} doesn't matter when you call",
    "my mobile number: {n} no rush",
    "mi número es {n} (no es fijo)",
    "meine Nummer ist {n} (nicht Festnetz)",
]
# A clause of time or place, its subject right after its first word.
SUBORDINATE = [
    "when you are free my number is {n}",
    "when you get a chance my number is {n}",
    "whenever you can my number is {n}",
]
# A removal of something before the number, its object a pronoun or not the visitor's detail.
REMOVED_BEFORE = [
    "please delete that, my number is {n}",
    "sorry, wrong number before, delete that, my number is {n}",
    "delete it, call me on {n}",
    "delete my cart, my number is {n}",
    "remove my cart items, my number is {n}",
    "delete my message my number is {n}",
    "remove me from the newsletter and call me on {n}",
    "unsubscribe me from emails, call me on {n}",
]
# The brief's probes, which the rules leave as leads (kept so they stay that way).
STILL_LEFT = [
    "I don't want to miss your call, my number is {n}",
    "not sure if you got it, my number is {n}",
    "delete my previous message, my number is {n}",
    "my number is {n}, not a landline",
    "call me, my no. is {n}, no rush",
    "e.g. tomorrow, my number is {n}",
    "no es mi primera vez, mi número es {n}",
    "das ist nicht meine erste Nachricht, meine Nummer ist {n}",
    "borra mi mensaje anterior, mi número es {n}",
    "lösche meine letzte Nachricht, meine Nummer ist {n}",
]
LOST = [*AFTER_IS, *SUBORDINATE, *REMOVED_BEFORE]


@pytest.mark.parametrize("message", [*LOST, *STILL_LEFT])
def test_a_number_plainly_left_is_a_contact(message: str) -> None:
    assert_left(message)


async def test_the_chat_saves_the_lead(client: httpx.AsyncClient, owner: Owner) -> None:
    cases = [(m, _phone) for m in (AFTER_IS[0], SUBORDINATE[0], REMOVED_BEFORE[0])]
    await assert_chats(client, owner, cases, saved=True)


# A call with no "me" on a number the rest of the sentence tells of: the number the visitor
# tried, not one to call them on. Before, "call ... and" read "an" of "and" as German "rufen
# Sie ... an" (the call's alternatives ungrouped, so "(?!\S)" closed only the last one), and
# a call's link ("whatsapp", "al", "le") let a bare call skip what its clause says after it.
TRIED = [
    "call {n} and nobody picks up",
    "call {n} and it just rings",
    "whatsapp {n} not working",
    "appelez le {n} ne répond pas",
    "llamen al {n} y nadie contesta",
]
# Bare calls asked, which stay calls.
STILL_CALLED = [
    "call {n}",
    "please call {n} tomorrow",
    "whatsapp {n} please",
    "appelez le {n}",
    "llamen al {n}",
    "bitte rufen Sie {n} an",
    "{n} par call karo",
]


@pytest.mark.parametrize("message", TRIED)
def test_a_number_tried_is_no_call_asked(message: str) -> None:
    text, _ = given(message)
    assert callback_number(text) is None, text
    assert detect_intent(text).intent != "contact", text


@pytest.mark.parametrize("message", STILL_CALLED)
def test_a_bare_call_asked_still_is(message: str) -> None:
    assert_called(message)


async def test_the_chat_promises_no_call_on_a_number_tried(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await assert_chats(client, owner, [(TRIED[0], _phone)], saved=False)
