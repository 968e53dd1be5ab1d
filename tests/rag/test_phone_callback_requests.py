# ruff: noqa: RUF001 (messages written in their own scripts and punctuation)
"""Callback requests the chat missed, through the real chat path.

1. A call asked for as a polite question ("Können Sie mich unter 0171 2345678 zurückrufen?",
   "Potete richiamarmi al 333 123 4567?", "Could you call me back on ...?") is a request for a
   call: the number goes on a lead and the visitor is promised the call, in every language of
   ``call_phrases.CALL_ON`` and the Chinese and Japanese ones, as "call me on ..." is (a number
   left: intent ``contact``, no sales lead). A call told of ("why did you call
   me on ...?") still asks for none.
2. A later callback request on another number ("actually call me on +91 ... instead") replaces
   the number on the conversation's lead: the owner's list and export show the latest, and the
   lead's submissions keep each number the visitor gave.
3. A problem stated beside a call, however short ("the app crashes, call me on ..."), is
   answered as the question it is, the number on a lead; "call me on ..." alone and a sales
   contact ("I want to order 50 units, call me on ...") stay a number left, thanked."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
import pytest

from rag.chat.contact_details import callback_number
from rag.chat.intents import detect_intent
from tests.conftest import Owner, signup
from tests.rag.test_answers import REFUNDS, fake_llm, ingest, llm_client, llm_settings
from tests.rag.test_chat import chat
from tests.rag.test_lead_capture_never import leads_of

__all__ = ["fake_llm", "llm_client", "llm_settings"]  # the fixtures, used below


def _d(count: int) -> str:
    return f"{uuid.uuid4().int % 10**count:0{count}d}"


# A number of this test alone, written as a visitor in that country writes theirs.
NUMBERS = {
    "en": lambda: f"020 7946 {_d(4)}",
    "de": lambda: f"0171 {_d(7)}",
    "es": lambda: f"6{_d(2)} {_d(3)} {_d(3)}",
    "fr": lambda: f"06 {_d(2)} {_d(2)} {_d(2)} {_d(2)}",
    "pt": lambda: f"11 9{_d(4)} {_d(4)}",
    "it": lambda: f"333 {_d(3)} {_d(4)}",
    "hi": lambda: f"9{_d(4)} {_d(5)}",
    "ru": lambda: f"+7 916 {_d(3)}-{_d(2)}-{_d(2)}",
    "ar": lambda: f"05{_d(8)}",
    "zh": lambda: f"138{_d(8)}",
    "ja": lambda: f"090-{_d(4)}-{_d(4)}",
}

# A call asked for as a question, as native speakers ask it.
POLITE = {
    "en": [
        "Could you call me back on {n}?",
        "Can someone please call me on {n}?",
    ],
    "de": [
        "Können Sie mich unter {n} zurückrufen?",
        "Könnten Sie mich bitte unter {n} anrufen?",
        "Kannst du mich unter {n} zurückrufen?",
    ],
    "es": [
        "¿Me puede llamar al {n}?",
        "¿Me puedes llamar al {n}?",
        "¿Podrían llamarme al {n}, por favor?",
    ],
    "fr": [
        "Pouvez-vous me rappeler au {n} ?",
        "Tu peux me rappeler au {n} ?",
        "Est-ce que vous pouvez me rappeler au {n} ?",
    ],
    "pt": [
        "Pode me ligar no {n}?",
        "Você poderia me ligar no {n}?",
        "Podem ligar-me para o {n}?",
    ],
    "it": [
        "Potete richiamarmi al {n}?",
        "Mi può richiamare al {n}?",
        "Mi potreste chiamare al {n}?",
    ],
    "hi": [
        "क्या आप मुझे {n} पर कॉल कर सकते हैं?",
        "kya aap mujhe {n} par call kar sakte hain?",
    ],
    "ru": [
        "Можете перезвонить мне по номеру {n}?",
        "Не могли бы вы перезвонить мне на {n}?",
    ],
    "ar": [
        "هل يمكنكم الاتصال بي على الرقم {n}؟",
        "ممكن تتصلوا بي على {n}؟",
    ],
    "zh": [
        "可以打电话给我吗？{n}",
        "能给我回个电话吗？我的手机号是{n}",
    ],
    "ja": [
        "{n}に電話していただけますか？",
        "{n}に折り返しお電話いただけますか？",
    ],
}
POLITE_CASES = [(language, m) for language, messages in POLITE.items() for m in messages]

# A call told of, asked as a question: no call asked for (no number of a lead's).
TOLD_OF = [
    "Why did you call me on {n}?",
    "Someone called me at {n}, was it you?",
    "Warum haben Sie mich unter {n} angerufen?",
    "¿Por qué me llamaron al {n}?",
    "Pourquoi m'avez-vous appelé au {n} ?",
    "Perché mi avete chiamato al {n}?",
    "Почему вы звонили мне на {n}?",
    "لماذا اتصلتم بي على الرقم {n}؟",
    # tried to call
    "Perché avete provato a chiamarmi al {n}?",
    "Por que tentaram ligar-me para o {n}?",
    "Кто-то пытался позвонить мне на {n}?",
    "لماذا حاولتم الاتصال بي على الرقم {n}؟",
]


@pytest.mark.parametrize(("language", "message"), POLITE_CASES)
def test_a_call_asked_as_a_question_gives_its_number(language: str, message: str) -> None:
    number = NUMBERS[language]()
    text = message.format(n=number)
    assert callback_number(text) == number, text
    # A number left, as "call me on ..." is (``call_requests.asks_only_a_call``): no question left
    # for the knowledge, no sales lead.
    assert detect_intent(text).intent == "contact", text


@pytest.mark.parametrize("message", TOLD_OF)
def test_a_call_told_of_as_a_question_asks_for_none(message: str) -> None:
    assert callback_number(message.format(n=NUMBERS["en"]())) is None, message


async def test_a_call_asked_as_a_question_is_a_number_left(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Each language's polite questions through the chat: the number on the lead, the call
    promised, no address asked for; nothing for a call told of."""
    for language, message in POLITE_CASES:
        number = NUMBERS[language]()
        text = message.format(n=number)
        body = (await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")).json()
        # The number taken and the call promised: no contact form, no address asked for.
        assert body["intent"] == "contact", (text, body)
        assert (body["lead_saved"], body["lead_capture"]) == (True, False), (text, body)
        leads = [lead for lead in await leads_of(client, owner) if lead["phone"] == number]
        assert [lead["conversation_id"] for lead in leads] == [body["conversation_id"]], text
    saved = len(await leads_of(client, owner))
    for message in TOLD_OF:
        text = message.format(n=NUMBERS["en"]())
        body = (await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")).json()
        assert body["lead_saved"] is False, (text, body)
    assert len(await leads_of(client, owner)) == saved


def _plus91() -> str:
    digits = _d(9)
    return f"+91 9{digits[:4]} {digits[4:]}"


async def _export(client: httpx.AsyncClient, owner: Owner) -> list[dict[str, str]]:
    response = await client.get(owner.url("/leads/export"), headers=owner.headers)
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


class _Visitor:
    """One visitor's conversation: each message after the first in the same one."""

    def __init__(self, client: httpx.AsyncClient, owner: Owner) -> None:
        self.client, self.owner = client, owner
        self.session = f"v-{uuid.uuid4().hex}"
        self.conversation: str | None = None

    async def says(self, message: str) -> dict[str, Any]:
        more = {} if self.conversation is None else {"conversation_id": self.conversation}
        response = await chat(self.client, self.owner, message, session_id=self.session, **more)
        body: dict[str, Any] = response.json()
        self.conversation = body["conversation_id"]
        return body


async def _history(client: httpx.AsyncClient, owner: Owner, lead_id: str) -> list[str | None]:
    """The numbers of a lead's submissions, the latest first."""
    listing = await client.get(owner.url(f"/leads/{lead_id}/submissions"), headers=owner.headers)
    assert listing.status_code == 200, listing.text
    return [item["phone"] for item in listing.json()["items"]]


@pytest.mark.parametrize("first", ["call me on {n}", "my email is {e}, please call me on {n}"])
async def test_a_later_callback_on_another_number_replaces_the_leads_number(
    client: httpx.AsyncClient, owner: Owner, first: str
) -> None:
    old, new = _plus91(), _plus91()
    email = f"ravi.{uuid.uuid4().hex[:8]}@example.com"
    visitor = _Visitor(client, owner)
    given = await visitor.says(first.format(n=old, e=email))
    assert given["lead_saved"] is True, given
    assert [lead["phone"] for lead in await leads_of(client, owner)] == [old]
    for message in (f"actually call me on {new} instead", f"Could you call me back on {new}?"):
        body = await visitor.says(message)
        assert body["lead_saved"] is True, (message, body)
        assert "will call you" in body["answer"], body
    [lead] = await leads_of(client, owner)
    assert lead["phone"] == new, lead
    # (a cell starting with "+" is quoted against spreadsheet formulas)
    assert [row["phone"].lstrip("'") for row in await _export(client, owner)] == [new]
    # The numbers the visitor gave stay in the lead's history, the latest first.
    phones = await _history(client, owner, lead["id"])
    assert phones[0] == new, phones
    assert old in phones, phones


async def test_the_same_number_again_changes_nothing(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    number = _plus91()
    visitor = _Visitor(client, owner)
    await visitor.says(f"call me on {number}")
    body = await visitor.says(f"please call me back on {number.replace(' ', '')}")
    assert body["lead_saved"] is True, body
    [lead] = await leads_of(client, owner)
    assert lead["phone"] == number, lead  # as first written
    assert await _history(client, owner, lead["id"]) == [number]


async def test_a_number_another_lead_has_is_left_to_it(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Two visitors' leads without email cannot share a number (one lead per number): the
    number another lead has stays that lead's, the conversation's lead keeps its own, and the
    request is in its history."""
    mine, theirs = _plus91(), _plus91()
    other = await _Visitor(client, owner).says(f"call me on {theirs}")
    assert other["lead_saved"] is True, other
    visitor = _Visitor(client, owner)
    given = await visitor.says(f"call me on {mine}")
    body = await visitor.says(f"actually call me on {theirs} instead")
    assert body["lead_saved"] is True, body
    leads = {lead["conversation_id"]: lead for lead in await leads_of(client, owner)}
    assert leads[given["conversation_id"]]["phone"] == mine
    assert leads[other["conversation_id"]]["phone"] == theirs
    assert theirs in await _history(client, owner, leads[given["conversation_id"]]["id"])


async def test_an_erasure_by_the_earlier_number_still_takes_the_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The number replaced stays in the lead's history and its conversation: a visitor's
    erasure by it finds the lead all the same."""
    old, new = _plus91(), _plus91()
    visitor = _Visitor(client, owner)
    await visitor.says(f"call me on {old}")
    await visitor.says(f"actually call me on {new} instead")
    assert [lead["phone"] for lead in await leads_of(client, owner)] == [new]
    erased = await client.post(owner.url("/erasures"), json={"phone": old}, headers=owner.headers)
    assert erased.status_code in (200, 201), erased.text
    assert await leads_of(client, owner) == []


# A problem stated beside a call, short: the question it is.
SHORT_PROBLEMS = [
    "the app crashes, call me on {n}",
    "refund not arrived, call me on {n}",
    "login broken, please call me back on {n}",
    "where is my parcel, call me on {n}",
    "Die App stürzt ab, rufen Sie mich unter {n} an",
    "La app no funciona, llámame al {n}",
    "L'appli plante, appelez-moi au {n}",
    "O app não abre, me ligue no {n}",
    "L'app non funziona, chiamatemi al {n}",
    "app kharab hai, mujhe call karo {n}",
    "Приложение не работает, перезвоните мне {n}",
    "التطبيق لا يعمل، اتصلوا بي على {n}",
    "我无法登录，请打电话给我 {n}",
]
# A number left alone or with a sales contact's details: thanked, no question.
LEFT = [
    "call me on {n}",
    "please call me back on {n}",
    "I want to order 50 units, call me on {n}",
    "my name is Ravi Kumar, call me on {n}",
    "Hi, this is Ravi, call me on {n} tomorrow morning",
    "I can't talk now, call me on {n} after 5 pm",
    "I'd like a table for 2 at 8, call me on {n}",
    "actually call me on {n} instead",
]


@pytest.mark.parametrize("message", SHORT_PROBLEMS)
def test_a_short_problem_beside_a_call_is_a_question(message: str) -> None:
    assert detect_intent(message.format(n=_plus91())).intent == "question", message


@pytest.mark.parametrize("message", LEFT)
def test_a_number_left_alone_or_with_a_sales_contact_is_no_question(message: str) -> None:
    assert detect_intent(message.format(n=_plus91())).intent == "contact", message


async def test_a_short_problem_beside_a_call_is_answered_and_the_number_kept(
    llm_client: Any,
) -> None:
    client, runtime = llm_client
    owner = await signup(client, f"Short {uuid.uuid4().hex[:6]}")
    await ingest(client, owner, runtime, "Refunds", REFUNDS)
    number = _plus91()
    message = f"yearly plan refund has not arrived, call me on {number}"
    body = (await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex}")).json()
    assert (body["intent"], body["source"], body["lead_saved"]) == ("question", "rag", True), body
    assert "will call you" in body["answer"], body
    assert body["answer"].endswith("Yearly plans are refunded in full within 30 days [1]."), body
    assert [lead["phone"] for lead in await leads_of(client, owner)] == [number]
    for left in LEFT:
        text = left.format(n=_plus91())
        body = (await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")).json()
        assert (body["intent"], body["source"], body["lead_saved"]) == (
            "contact",
            "fallback",
            True,
        ), (text, body)
