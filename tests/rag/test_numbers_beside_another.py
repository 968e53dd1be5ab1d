"""A visitor's number left beside something that is not it, through the real chat API: a
removal of their email, not of the number ("remove my email from the newsletter, my number is
..."), someone else's number before their own ("my husband's number is ..., call me on ..."),
a wrong number named after theirs ("my number is A, not B") and a correction ("no, my number
is ..."), another's number then "mine is ..." ("my wife's number is A and mine is B"). Each
leaves the visitor's number, which goes on a lead. Before, none of them made a
lead (two numbers and none chosen, the removal taken for the number's, "no" taken for the
number turned down), and the visitor got the don't-know asking for their email address."""

from __future__ import annotations

import httpx
import pytest

from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.number_leads import assert_chats, assert_left, given
from tests.rag.test_phone_callbacks import _phone

# "{n}": the visitor's number, the one the lead must hold; "{m}": another number.
LEFT = [
    "remove my email from the newsletter, my number is {n}",
    "please remove my email address from your mailing list, my number is {n}",
    "my husband's number is {m}, call me on {n}",
    "my wife's number is {m}, my number is {n}",
    # "mine" after another's number names the visitor's own (before: no lead).
    "my wife's number is {m} and mine is {n}",
    "my wife's number is {m}, mine is {n}",
    "my husband's number is {m} and mine's {n}",
    "my number is {n}, not {m}",
    "call me on {n}, not on {m}",
    "no, my number is {n}",
    "no my number is {n}",
]
# Still no number of the visitor's: another's alone, a removal of the number itself.
NONE_LEFT = [
    "my husband's number is {n}",
    "remove my number {n}",
    "remove my email and my number {n}",
    "{n} is not mine",
    "is {n} mine?",
]


@pytest.mark.parametrize("message", LEFT)
def test_the_visitors_number_is_read(message: str) -> None:
    assert_left(message)


@pytest.mark.parametrize("message", NONE_LEFT)
def test_no_number_of_theirs_is_read_where_none_is_left(message: str) -> None:
    text, _ = given(message)
    assert detect_intent(text).intent != "contact", text


async def test_the_chat_saves_the_visitors_number(client: httpx.AsyncClient, owner: Owner) -> None:
    await assert_chats(client, owner, saved=True, cases=[(m, _phone) for m in LEFT])
