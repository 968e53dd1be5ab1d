# ruff: noqa: RUF001 (messages written in their own scripts and punctuation)
"""A visitor asking to book or reserve and leaving a number to call is a lead in every lexicon
language; a booking's or a reservation's own number or reference is no phone. Before, the
booking words alone ("reservation", "reserva", "Buchung", "réservation", "prenotazione",
"бронь", "बुकिंग", "حجز") made any number in the message something else's: "I want a
reservation for 4 tonight, call me on +44 7911 123456" saved no lead, and a restaurant's or a
hotel's bot lost its best leads.

The data cannot be read either way by accident: every lead's number is a real phone's shape
(a country's mobile), every reference a booking's (8 digits, two groups of four), and the same
reference stays no phone when a call is asked for beside it."""

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

REF = "4432 8871"

BOOKING_LEADS = [
    # English
    "I want a reservation for 4 tonight, call me on +44 7911 123456",
    "I'd like to make a booking for Friday, call me on +44 7911 123456",
    "I’d like a table for 2 at 8, call me on +44 7911 123456",
    # "I'd" is no "ID" once its apostrophe goes (any sales lead lost so before)
    "I'd like a quote, call me on +44 7911 123456",
    # Spanish
    "Quiero una reserva para 4 esta noche, llámame al 612 345 678",
    # German
    "Ich möchte eine Buchung für zwei Nächte, rufen Sie mich an: 0171 2345678",
    "Reservierung für Samstag bitte, rufen Sie mich an: 0171 2345678",
    # French
    "Je voudrais une réservation pour 4 ce soir, appelez-moi au 06 12 34 56 78",
    # Italian
    "Vorrei una prenotazione per 4 stasera, chiamatemi al 333 123 4567",
    # Portuguese
    "Quero uma reserva para 4 hoje, me ligue no 912 345 678",
    # Russian
    "Нужна бронь на двоих, перезвоните мне +7 912 345-67-89",
    # Hindi, in Devanagari and in Latin letters
    "मुझे बुकिंग करनी है, मुझे कॉल करो 9876543210",
    "mujhe booking karni hai, mujhe call karo 9876543210",
    # Arabic
    "أريد حجز طاولة، اتصل بي على 0501234567",
    # Chinese, Japanese (leads before too: their booking words alone were never listed)
    "我想预订今晚四人桌，请打电话给我 13812345678",
    "今夜4名で予約したいです、電話してください 090-1234-5678",
]


@pytest.mark.parametrize("message", BOOKING_LEADS)
def test_a_visitor_asking_to_book_and_leaving_a_number_is_a_lead(message: str) -> None:
    assert leaves_a_phone(message) is True, message
    assert detect_intent(message).intent == "contact", message


BOOKING_REFERENCES = [
    # English
    f"my booking number is {REF}",
    f"call me back about my booking number {REF}",
    f"please call me, booking reference {REF}",
    f"call me about reservation {REF}",
    f"call me back, my reservation is {REF}",
    f"{REF} is my booking reference, call me back",
    # Spanish
    f"llámame, reserva nº {REF}",
    f"llámame, mi número de reserva es {REF}",
    # German
    f"Rufen Sie mich an, Buchungsnummer {REF}",
    f"Rufen Sie mich an, Buchung Nr. {REF}",
    f"Rückruf bitte, Reservierungsnummer {REF}",
    # French
    f"appelez-moi, numéro de réservation {REF}",
    f"rappelez-moi, réservation n° {REF}",
    # Italian
    f"chiamatemi, numero di prenotazione {REF}",
    f"richiamatemi, prenotazione {REF}",
    # Portuguese
    f"me ligue, número da reserva {REF}",
    # Russian
    f"перезвоните мне, номер брони {REF}",
    f"перезвоните, бронь {REF}",
    # Hindi
    f"मुझे कॉल करो, बुकिंग नंबर {REF}",
    f"mujhe call karo, booking number {REF} hai",
    # Arabic
    f"اتصل بي، رقم الحجز {REF}",
    # Any language
    f"call me about booking #{REF.replace(' ', '')}",
]


@pytest.mark.parametrize("message", BOOKING_REFERENCES)
def test_a_bookings_own_number_is_no_phone(message: str) -> None:
    assert_no_phone_lead(message)


async def test_a_reservation_with_a_number_to_call_saves_the_lead_in_the_chat(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    session = f"visitor-{uuid.uuid4().hex[:12]}"
    message = "I want a reservation for 4 tonight, call me on +44 7911 123456"
    body = (await chat(client, owner, message, session_id=session)).json()
    assert (body["intent"], body["lead_saved"]) == ("contact", True), body
    [lead] = await leads_of(client, owner)
    assert lead["phone"] == "+44 7911 123456"


async def test_a_booking_reference_in_the_chat_saves_no_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    session = f"visitor-{uuid.uuid4().hex[:12]}"
    body = (
        await chat(client, owner, f"call me back, my booking number is {REF}", session_id=session)
    ).json()
    assert (body["intent"], body["lead_saved"]) != ("contact", True), body
    assert await leads_of(client, owner) == []
