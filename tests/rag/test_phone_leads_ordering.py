"""Ordering is no order's number: a visitor who wants to order, to place an order or a new one,
and leaves a number to call is a lead in every lexicon language ("I want to order 50 units, call me
on +91 98765 43210", "je commande souvent chez vous, appelez-moi au ...", "ऑर्डर करने हैं, मुझे
कॉल करो ...", "Quiero hacer un pedido, llámame al ..."). Before, the words "order", "commande",
"ऑर्डर", "pedido", "encomenda", "заказ" alone made any number in the message an order's: the
sales lead the owner most wanted went unsaved, and the visitor was promised a call nobody could
make. An order's own number ("my order number is 123456789") is still no phone
(tests/rag/test_phone_leads_other_numbers.py, tests/rag/test_phone_leads_chat.py)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.contact_details import leaves_a_phone
from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.test_chat import chat
from tests.rag.test_lead_capture_never import leads_of
from tests.rag.test_phone_leads_other_numbers import assert_no_phone_lead

ORDERING_LEADS = [
    # English: the verb, and an order placed
    "I want to order 50 units, call me on {n}",
    "we order every month, please call me on {n}",
    "I'd like to place an order for 200 units, call me on {n}",
    # A new order: an indefinite article, no number after it
    "For an order of 200 units, call me on {n}",
    "Pour une commande de 200 pièces, appelez-moi au {n}",
    "J'ai besoin d'une commande de 500 pièces, appelez-moi au {n}",
    "Für eine Bestellung von 500 Stück rufen Sie mich an: {n}",
    # Hindi in Devanagari and in Latin letters ("order karna": to order)
    "मुझे 50 यूनिट ऑर्डर करने हैं, मुझे कॉल करो {n}",
    "mujhe 50 units order karne hain, mujhe call karo {n}",
    # French: "je commande" is the verb; "passer une commande", an order placed
    "Je commande souvent chez vous, appelez-moi au {n}",
    "Je voudrais passer une commande, appelez-moi au {n}",
    # Spanish: an order placed; "he pedido" is "I asked for"
    "Quiero hacer un pedido de 50 unidades, llámame al {n}",
    "Ya he pedido una demo, llámame al {n}",
    # Portuguese, Italian, German, Russian: an order placed
    "Quero fazer uma encomenda, me ligue no {n}",
    "Vorrei fare un ordine, chiamatemi al {n}",
    "Ich möchte eine Bestellung aufgeben, rufen Sie mich an: {n}",
    "Хочу сделать заказ на 50 штук, перезвоните мне {n}",
    # In one clause with the number: a call asked between them, the number with it
    "I'd like to place an order my number is {n}",
    "Quiero hacer un pedido llámame al {n}",
    "mujhe order karna hai mera number {n} hai",
]


def _number() -> str:
    """An Indian mobile number of this test alone, as a visitor writes it."""
    digits = f"{uuid.uuid4().int % 10**9:09d}"
    return f"+91 9{digits[:4]} {digits[4:]}"


@pytest.mark.parametrize("message", ORDERING_LEADS)
def test_a_visitor_who_orders_and_leaves_a_number_leaves_a_phone(message: str) -> None:
    text = message.format(n=_number())
    assert leaves_a_phone(text) is True, text
    assert detect_intent(text).intent == "contact", text


@pytest.mark.parametrize(
    "message",
    [
        "I want to order 50 units, call me on {n}",
        "Je commande souvent chez vous, appelez-moi au {n}",
        "mujhe 50 units order karne hain, mujhe call karo {n}",
        # An order placed before: the visitor wants a call back all the same.
        "I ordered last week, call me on {n}",
    ],
)
async def test_the_chat_saves_the_number_of_a_visitor_who_wants_to_order(
    client: httpx.AsyncClient, owner: Owner, message: str
) -> None:
    number = _number()
    session = f"visitor-{uuid.uuid4().hex[:12]}"
    body = (await chat(client, owner, message.format(n=number), session_id=session)).json()
    assert (body["intent"], body["lead_saved"]) == ("contact", True), body
    [lead] = [lead for lead in await leads_of(client, owner) if lead["phone"] == number]
    assert (lead["email"], lead["conversation_id"]) == (None, body["conversation_id"]), lead


async def test_an_order_with_an_address_and_a_number_saves_both(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The number's digits counted as the visitor's own words beside an address: a message
    leaving both with what it is about ("I want to order 50 units") was too long to be anyone
    leaving their address, and the bot asked for the address it had just been given."""
    number = _number()
    email = f"buyer-{uuid.uuid4().hex[:10]}@example.com"
    message = f"I want to order 50 units, my email is {email}, call me on {number}"
    session = f"visitor-{uuid.uuid4().hex[:12]}"
    body = (await chat(client, owner, message, session_id=session)).json()
    assert (body["intent"], body["lead_saved"]) == ("contact", True), body
    [lead] = [lead for lead in await leads_of(client, owner) if lead["email"] == email]
    assert lead["phone"] == number, lead


# The number right after the ordering phrase in its clause, no call asked between them, is the
# order's: "une commande numéro ...", "un pedido número ...", "eine Bestellung mit der Nummer
# ...", "can order ... be cancelled", "he pedido ... y no ha llegado". Stripping the phrase
# struck out the only word naming the order, and its number became the visitor's phone
# (a reviewer's finding: 12 such messages saved a lead that the old code did not).
ORDERS_NUMBERED = [
    "J'ai une commande numéro {N} en retard, rappelez-moi",
    "Rappelez-moi, une commande n° {N} n'est pas arrivée",
    "Tengo un pedido número {N}, llámame",
    "Llámame, hice un pedido con el número {N}",
    "He pedido {N} y no ha llegado, llámame",
    "Ich habe eine Bestellung mit der Nummer {N} aufgegeben, rufen Sie mich an",
    "Ho un ordine numero {N} in ritardo, chiamatemi",
    "Tenho um pedido número {N} atrasado, me ligue",
    "Please call me, can you make my order {N} arrive sooner",
    "call me back, can order {N} be cancelled",
    "Перезвоните мне, я хочу сделать заказ номер {N}",
    "मुझे कॉल करो, मैंने ऑर्डर किया था नंबर {N}",
    "mujhe call karo, maine order kiya tha number {N}",
]


@pytest.mark.parametrize("message", ORDERS_NUMBERED)
def test_the_number_the_ordering_phrase_names_is_no_phone(message: str) -> None:
    assert_no_phone_lead(message.format(N=f"{uuid.uuid4().int % 10**8:08d}"))


async def test_the_chat_saves_no_lead_for_an_order_numbered_after_une_commande(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    order = f"{uuid.uuid4().int % 10**8:08d}"
    message = f"J'ai une commande numéro {order} en retard, rappelez-moi"
    session = f"visitor-{uuid.uuid4().hex[:12]}"
    body = (await chat(client, owner, message, session_id=session)).json()
    assert body["lead_saved"] is not True, body
    assert await leads_of(client, owner) == []


# An address or a phone's label between the ordering phrase and the number, or the number
# written with its country code: the visitor's own, beside their address (``number_left``). The
# number right after the phrase (``_ordered_number``) took them for the order's: the lead was
# saved with the address and without the number the visitor left to be called on.
ORDERS_WITH_AN_ADDRESS_AND_A_NUMBER = [
    "I want to order 20 chairs for my restaurant: {e} / {n}",
    "I'd like to place a bulk order: {e} {n}",
    "I want to order 20 chairs email {e} phone {n}",
    "Je voudrais passer une commande : {e} {n}",
    "I ordered last week {e} {n}",
]


@pytest.mark.parametrize("message", ORDERS_WITH_AN_ADDRESS_AND_A_NUMBER)
async def test_a_number_left_after_the_address_is_the_visitors_beside_an_order(
    client: httpx.AsyncClient, owner: Owner, message: str
) -> None:
    number = _number()
    email = f"buyer-{uuid.uuid4().hex[:10]}@example.com"
    session = f"visitor-{uuid.uuid4().hex[:12]}"
    text = message.format(e=email, n=number)
    body = (await chat(client, owner, text, session_id=session)).json()
    assert (body["intent"], body["lead_saved"]) == ("contact", True), body
    [lead] = [lead for lead in await leads_of(client, owner) if lead["email"] == email]
    assert lead["phone"] == number, (text, lead)
