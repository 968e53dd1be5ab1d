"""A visitor who leaves only a phone number in the chat ("call me on +91 98765 43210", "mera
number 98765 43210 hai", "mi número es 612 345 678") becomes a lead with that number, linked to
the conversation, as one typing their address does: thanked in their language with a call
promised, the widget told the lead is saved, the owner mailed. Before, the message was a sales
lead (or, "call me on/at <number>", a question): the bot asked for an email address, and the
number reached no one."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.contact_details import contact_phone, gives_asked_address, number_left
from rag.chat.intents import detect_intent
from tests.conftest import Owner, signup
from tests.rag.test_chat import chat
from tests.rag.test_lead_capture_never import leads_of, never
from tests.workspaces.test_notifications import World, w

__all__ = ["w"]  # the fixture, used below


def _number() -> str:
    """An Indian mobile number of this test alone, as a visitor writes it."""
    digits = f"{uuid.uuid4().int % 10**9:09d}"
    return f"+91 9{digits[:4]} {digits[4:]}"


@pytest.mark.parametrize(
    ("message", "thanks"),
    [
        ("call me on {n}", "someone from the team will call you"),
        ("Please call me at {n}", "someone from the team will call you"),
        ("my number is {n}, thanks", "someone from the team will call you"),
        ("mera number {n} hai", "team ka koi sadasya aapko call karega"),
        ("मेरा नंबर {n} है", "टीम का कोई सदस्य आपको कॉल करेगा"),
        ("mi número es {n}", "alguien del equipo le llamará"),
        # The number inside the Hindi call asked for (a reviewer's finding: a question).
        ("mujhe {n} par call karo", "team ka koi sadasya aapko call karega"),
    ],
)
async def test_a_phone_number_left_in_the_chat_is_a_lead(
    client: httpx.AsyncClient, owner: Owner, message: str, thanks: str
) -> None:
    number = _number()
    session = f"visitor-{uuid.uuid4().hex[:12]}"
    body = (await chat(client, owner, message.format(n=number), session_id=session)).json()
    assert (body["intent"], body["lead_saved"], body["lead_capture"]) == (
        "contact",
        True,
        False,
    ), body
    assert thanks in body["answer"], body
    [lead] = [lead for lead in await leads_of(client, owner) if lead["phone"] == number]
    assert (lead["email"], lead["source"]) == (None, "chat"), lead
    assert lead["conversation_id"] == body["conversation_id"], lead
    submissions = await client.get(
        owner.url(f"/leads/{lead['id']}/submissions"), headers=owner.headers
    )
    [sent] = submissions.json()["items"]
    assert (sent["email"], sent["phone"]) == (None, number), sent


async def test_the_same_number_from_two_conversations_is_one_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    number = _number()
    for message in (f"call me on {number}", f"my number is {number.replace(' ', '-')}"):
        body = (await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex[:12]}")).json()
        assert (body["intent"], body["lead_saved"]) == ("contact", True), body
    digits = number.replace(" ", "")
    same = [
        lead
        for lead in await leads_of(client, owner)
        if (lead["phone"] or "").replace(" ", "").replace("-", "") == digits
    ]
    assert len(same) == 1, same
    assert same[0]["phone"] == number  # as first written


async def _after_the_bot_asked(
    client: httpx.AsyncClient, owner: Owner, *messages: str
) -> list[dict[str, object]]:
    """``messages`` sent, one by one, in a conversation whose bot just asked for contact
    details (it did not know); their answers."""
    session = f"visitor-{uuid.uuid4().hex[:12]}"
    first = (await chat(client, owner, "Do you repair vintage zithers?", session_id=session)).json()
    assert first["lead_capture"] is True, first
    conversation = first["conversation_id"]
    return [
        (await chat(client, owner, m, session_id=session, conversation_id=conversation)).json()
        for m in messages
    ]


async def test_a_number_typed_after_the_bot_asked_for_contact_details_is_taken(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    number = _number()
    [given] = await _after_the_bot_asked(client, owner, number)
    assert (given["intent"], given["lead_saved"]) == ("contact", True), given
    assert [lead["phone"] for lead in await leads_of(client, owner)] == [number]


async def test_a_number_among_a_question_or_an_order_number_makes_no_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    # (A number given as theirs beside a question, "my number is 98765 43210, do you deliver
    # to Pune?", is a lead now, the question answered: test_contact_beside_a_question.py.)
    for message in (
        "do you deliver to Pune? my friend's number is 98765 43210",
        "my order number is 98765432",
        "call me back, my order number is 98765432",
        "I want to order, my order number is 98765432, call me",
        "why did someone call me at 3am from 98765 43210?",
    ):
        body = (await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex[:12]}")).json()
        assert body["lead_saved"] is False, body
    assert await leads_of(client, owner) == []


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("call me on +91 98765 43210", "+91 98765 43210"),
        ("my number is (555) 123-4567.", "(555) 123-4567"),
        ("मेरा नंबर ९८७६५ ४३२१० है", "98765 43210"),  # Devanagari digits, as ASCII
        ("call 98765 43210 or 98765 43211", None),  # two numbers: not someone leaving theirs
        ("my number is 12345", None),  # too short to call
        ("my email is jane@example.com", None),
    ],
)
def test_the_number_taken_from_a_message(text: str, number: str | None) -> None:
    assert contact_phone(text) == number


def test_call_me_at_a_number_is_a_lead() -> None:
    """ "call me at 555 ..." was a question: the pattern's "at (?=\\d)" could never be
    followed by the phrase's end."""
    assert detect_intent("call me at 9876543210").intent == "contact"
    assert detect_intent("मुझे ९८७६५४३२१० पर कॉल करें").intent == "contact"
    assert detect_intent("call me at 3pm tomorrow about the demo").intent != "contact"


async def test_the_new_lead_mail_names_the_number(w: World) -> None:
    owner = await signup(w.client, "Acme")
    number = _number()
    response = await w.client.post(
        "/api/v1/chat",
        json={"message": f"call me on {number}", "session_id": f"v-{uuid.uuid4().hex[:12]}"},
        headers={"X-Widget-Key": owner.workspace["public_key"]},
    )
    assert response.json()["lead_saved"] is True, response.text
    [mail] = await w.notices(owner.email)
    assert mail.message["Subject"] == f"[Acme] New lead: {number}"
    body = mail.text
    assert f"Phone: {number}" in body
    assert "Email:" not in body
    assert "None" not in body


async def test_after_a_number_the_bot_asks_no_more_and_promises_no_email(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The conversation has its lead: a later "I don't know", request for a person or sales
    lead asks for no address, and says the team follows up with what was left (it said "at
    the email address you left" to a visitor who left none)."""
    session = f"visitor-{uuid.uuid4().hex[:12]}"
    given = (await chat(client, owner, f"call me on {_number()}", session_id=session)).json()
    assert given["lead_saved"] is True, given
    for message, intent in (
        ("Do you repair vintage zithers?", "question"),
        ("I want to talk to a human", "human"),
        ("I want to book a demo", "lead"),
        ("Können Sie mir sagen, ob es Geschenkkarten gibt?", "question"),
    ):
        body = (
            await chat(
                client,
                owner,
                message,
                session_id=session,
                conversation_id=given["conversation_id"],
            )
        ).json()
        assert (body["intent"], body["lead_capture"]) == (intent, False), body
        answer = body["answer"]
        assert "email" not in answer.lower(), body
        assert "E-Mail" not in answer, body
        assert "contact details you left" in answer or "Kontaktdaten" in answer, body


@pytest.mark.parametrize(
    ("message", "declined"),
    [
        ("call me on {n}", "your details were not passed on"),
        ("mi número es {n}", "sus datos no se han transmitido"),
    ],
)
async def test_under_lead_capture_never_a_number_is_not_taken_nor_called_an_address(
    client: httpx.AsyncClient, owner: Owner, message: str, declined: str
) -> None:
    await never(client, owner)
    body = (
        await chat(
            client, owner, message.format(n=_number()), session_id=f"v-{uuid.uuid4().hex[:12]}"
        )
    ).json()
    assert (body["intent"], body["lead_saved"], body["lead_capture"]) == ("contact", False, False)
    assert declined in body["answer"], body
    assert await leads_of(client, owner) == []


async def test_a_number_left_beside_an_address_goes_on_the_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The address makes the lead, and the number left with it is its phone (it was dropped);
    an order's number beside an address is no phone."""
    number = _number()
    email = f"ravi.{uuid.uuid4().hex[:8]}@example.com"
    for message in (
        f"my email is {email}, my number is {number}",
        f"jane.{uuid.uuid4().hex[:8]}@example.com order 12345678",
    ):
        body = (await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex[:12]}")).json()
        assert (body["intent"], body["lead_saved"]) == ("contact", True), body
        assert "email you" in body["answer"], body
    phones = {lead["email"]: lead["phone"] for lead in await leads_of(client, owner)}
    assert phones[email] == number
    assert [phone for address, phone in phones.items() if address != email] == [None]


# A reviewer's findings: right after the bot asked for contact details, any message holding
# 7 to 15 digits and at most six other words was "the number alone": a date, a price, a number
# the visitor called or one they asked not to be called on became a lead, its owner mailed
# "New lead: 2026-12-05"; and "don't call me, my number is ..." was promised a call.
NOT_A_NUMBER_LEFT = (
    "it was delivered on 2026-12-05",
    "on 05.12.2026 please",
    "2026-12-05",
    "the price is 12 999 000",
    "it costs 1299000",
    "I called 1800 123 4567 and nobody answered",
    "your number 1800 123 4567 does not work",
    "why did you call me at 9876543210 yesterday",
    "please don't call me at 9876543210",
)


@pytest.mark.parametrize("message", NOT_A_NUMBER_LEFT)
def test_a_date_a_price_or_a_number_called_gives_no_number_where_asked(message: str) -> None:
    assert gives_asked_address(message) is False


@pytest.mark.parametrize(
    "message",
    [
        "don't call me, my number is 98765 43210",
        "my number is 9876543210 but please do not call, email only",
        "never call me on 9876543210",
        "mujhe call mat karo, mera number 9876543210 hai",
        "मुझे कॉल मत करो, मेरा नंबर 9876543210 है",
        "ne m'appelez pas, mon numéro est 06 12 34 56 78",
        "no me llames, mi número es 612 345 678",
        "bitte nicht anrufen, meine Nummer ist 0171 2345678",
        "не звоните, мой номер +7 912 345-67-89",
        "不要打电话\uff0c我的手机号是13812345678",
    ],
)
def test_a_number_left_with_a_call_turned_down_is_no_phone_lead(message: str) -> None:
    assert detect_intent(message).intent != "contact"


@pytest.mark.parametrize(
    "message", ["98765 43210", "it's +91 98765 43210", "you can reach me on 98765 43210, thanks"]
)
def test_a_number_given_where_asked_is_still_taken(message: str) -> None:
    assert gives_asked_address(message) is True


async def test_a_date_typed_after_the_bot_asked_makes_no_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    for body in await _after_the_bot_asked(
        client,
        owner,
        "it was delivered on 2026-12-05",
        "I called 1800 123 4567 and nobody answered",
    ):
        assert body["lead_saved"] is False, body
    assert await leads_of(client, owner) == []


async def _one_then_the_other(
    client: httpx.AsyncClient, owner: Owner, first: str, then: str
) -> None:
    """A visitor's contact details, then more of them in the same conversation: both saved."""
    session = f"visitor-{uuid.uuid4().hex[:12]}"
    given = (await chat(client, owner, first, session_id=session)).json()
    assert given["lead_saved"] is True, given
    body = (
        await chat(
            client, owner, then, session_id=session, conversation_id=given["conversation_id"]
        )
    ).json()
    assert (body["intent"], body["lead_saved"]) == ("contact", True), body


async def test_a_number_left_after_the_address_goes_on_the_conversation_s_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A reviewer's finding: a visitor who typed their address and then "you can also call me
    on <number>" was thanked with a call promised, but the conversation had its lead, so the
    number went nowhere: the lead showed no phone, and nobody called."""
    email, number = f"ravi.{uuid.uuid4().hex[:8]}@example.com", _number()
    await _one_then_the_other(
        client, owner, f"my email is {email}", f"you can also call me on {number}"
    )
    assert [(lead["email"], lead["phone"]) for lead in await leads_of(client, owner)] == [
        (email, number)
    ]


async def test_an_address_left_after_the_number_goes_on_the_conversation_s_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The other way round: "call me on <number>", then the address. It was promised an email
    and went nowhere; an address another lead of the workspace has is left to that lead (one
    lead per address), the number's lead kept as it is."""
    taken = f"jane.{uuid.uuid4().hex[:8]}@example.com"
    await client.post(owner.url("/leads"), json={"email": taken}, headers=owner.headers)
    for address in (f"ravi.{uuid.uuid4().hex[:8]}@example.com", taken):
        number = _number()
        await _one_then_the_other(client, owner, f"call me on {number}", f"my email is {address}")
        expected = address if address != taken else None
        assert [
            lead["email"] for lead in await leads_of(client, owner) if lead["phone"] == number
        ] == [expected]


@pytest.mark.parametrize(
    "message",
    [
        "my email is jane@example.com, call me on 2026-12-05",
        "jane@example.com - don't call me, my number is 98765 43210",
    ],
)
def test_a_date_or_a_number_not_to_call_beside_an_address_is_no_phone(message: str) -> None:
    assert number_left(message) is None


async def test_erasing_the_session_takes_the_lead_its_number_made(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Erasure has no key for a phone number: a visitor who left only one is erased by their
    session, which takes the lead their number made with the conversation."""
    session = f"visitor-{uuid.uuid4().hex[:12]}"
    number = _number()
    given = (await chat(client, owner, f"call me on {number}", session_id=session)).json()
    assert given["lead_saved"] is True, given
    erased = await client.post(
        owner.url("/erasures"), json={"session_id": session}, headers=owner.headers
    )
    assert erased.status_code == 200, erased.text
    assert await leads_of(client, owner) == []
