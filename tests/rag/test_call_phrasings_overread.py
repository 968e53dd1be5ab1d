"""Messages the call phrases of the "Merge callphrases" change read as a call asked, or as
nothing but one, when they are not (a review's findings; each failed on main):
- a number right after the call with no "on", "al", "my number is" between them, that its own
  clause tells of ("Can you call me? 1800 123 456 never answers", "... 98765 43210 is not my
  number", "... 1 500 000 was debited"): the number was the visitor's to call back, a lead
  saved with it, and the question asked without it;
- "call me on A, or no, B": the number taken back was the lead's;
- "which is my number A or B": a question, read as A left as the visitor's number.
"ya", "o" and the other words of "or" read as the call's own: test_call_phrasings_misread's
QUESTIONS_BESIDE."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from rag.chat.contact_details import callback_number, contact_phone
from rag.chat.intents import detect_intent, question_of
from tests.conftest import Owner
from tests.rag.test_call_phrasings_misread import _plus91
from tests.rag.test_chat import chat
from tests.rag.test_lead_capture_never import leads_of

# The number right after the call, told of by the rest of its clause: no call asked on it.
NUMBER_TOLD_OF = [
    "Can you call me? {n} never answers",
    "Can you call me? {n} is always busy",
    "Could you call me back? {n} didn't work",
    "Can you call me? {n} is not my number",
    "call me, {n} keeps calling me, who is it",
    "Contact me? {n} is my customer id",
    "¿Me puedes llamar? {n} no es mi número",
    "Können Sie mich zurückrufen? {n} ist immer besetzt",
    "Mi potete richiamare? {n} non risponde mai",
    "Pouvez-vous me rappeler ? {n} ne répond jamais",
    "Pode me ligar? {n} não atende",
]
# Amounts and dates the call phrases took for a number to call.
AMOUNTS_TOLD_OF = [
    "Can you call me? 1 500 000 was debited from my account",
    "Please call me. 2 000 000 is the amount I was charged, why?",
    "Call me back please. 20261205 is the date of the charge",
]
# The number alone after the call, or with the call's own words: still the one to call.
NUMBER_GIVEN = [
    "Can you call me? {n}",
    "Can you call me? {n} thanks",
    "Can you call me? {n} is my number",
    "call me {n} tomorrow morning",
    "llámame {n} por favor",
    "Können Sie mich zurückrufen? {n}",
]


@pytest.mark.parametrize("message", NUMBER_TOLD_OF)
def test_a_number_its_clause_tells_of_is_no_call_asked(message: str) -> None:
    text = message.format(n=_plus91())
    assert callback_number(text) is None, text
    assert detect_intent(text).intent != "contact", text
    # the number stays in the question asked
    assert question_of(text, detect_intent(text).intent) == text, text


@pytest.mark.parametrize("text", AMOUNTS_TOLD_OF)
def test_an_amount_or_a_date_after_the_call_is_no_number_to_call(text: str) -> None:
    assert callback_number(text) is None, text
    assert question_of(text, "question") == text, text


@pytest.mark.parametrize("message", NUMBER_GIVEN)
def test_the_number_given_alone_after_the_call_is_still_the_one_to_call(message: str) -> None:
    number = _plus91()
    text = message.format(n=number)
    assert callback_number(text) == number, text
    assert detect_intent(text).intent == "contact", text


@pytest.mark.parametrize(
    "message",
    ["call me on {n}, or no, {m}", "call me on {n} or no {m}", "llámame al {n}, o no, al {m}"],
)
def test_a_number_taken_back_is_not_the_one_to_call(message: str) -> None:
    first, other = _plus91(), _plus91()
    text = message.format(n=first, m=other)
    assert contact_phone(text) != first, text
    assert callback_number(text) != first, text


@pytest.mark.parametrize("message", ["me ligue no {n} ou no {m}", "call me on {n} or my no {m}"])
def test_a_number_offered_after_a_no_of_its_own_is_another(message: str) -> None:
    first, other = _plus91(), _plus91()
    text = message.format(n=first, m=other)
    assert contact_phone(text) == first, text
    assert callback_number(text) == first, text


@pytest.mark.parametrize(
    "message",
    [
        "which is my number {n} or {m}",
        "Is my number {n} or {m}?",
        "do you have my number as {n} or {m}",
        "was it my number {n} or {m} you called",
    ],
)
def test_numbers_asked_about_as_the_visitors_leave_none(message: str) -> None:
    text = message.format(n=_plus91(), m=_plus91())
    assert contact_phone(text) is None, text
    assert detect_intent(text).intent != "contact", text


async def test_a_number_told_of_saves_no_lead_and_the_question_keeps_it(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    number = _plus91()
    text = f"Can you call me? {number} is not my number"
    response = await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert not body.get("lead_saved"), body
    assert [lead for lead in await leads_of(client, owner) if lead["phone"] == number] == []
