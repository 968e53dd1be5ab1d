# ruff: noqa: RUF001 (messages written in their own scripts and punctuation)
"""An order's, an invoice's, a parcel's, an account's or a booking's number is no phone number in
any lexicon language, even beside a call asked for ("call me back, my order number is ...") or
right after the bot asked for contact details (the rule: a message that names such a number,
or a number written after "#" or "№", leaves no phone). Before, the words telling so were
English only: "注文番号は 123456789012 です", "Rufen Sie mich an, Bestellnummer ...", "llámame,
mi número de pedido es ..." saved a lead with the order's number and mailed the owner."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.contact_details import (
    callback_number,
    gives_asked_address,
    leaves_a_phone,
    number_left,
)
from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.test_chat import chat
from tests.rag.test_lead_capture_never import leads_of

N = "123456789012"

OTHER_NUMBERS = [
    # Chinese
    f"我的订单号是 {N}",
    f"请打电话给我，我的订单号是{N}",
    f"请给我回电话，快递单号{N}",
    f"回電話給我，訂單編號{N}",
    f"我的发票号码是{N}",
    # Japanese
    f"注文番号は {N} です",
    f"電話してください、注文番号は{N}です",
    f"お問い合わせ番号は{N}です",
    f"予約番号は{N}です",
    f"会員番号は{N}です",
    # German
    f"Rufen Sie mich an, Bestellnummer {N}",
    f"Bitte rufen Sie mich zurück, meine Rechnungsnummer ist {N}",
    f"Rückruf bitte, Kundennummer {N}",
    f"Rufen Sie mich an, Sendungsnummer {N}",
    # Spanish
    f"llámame, mi número de pedido es {N}",
    f"llámeme, número de factura {N}",
    f"llámame, número de seguimiento {N}",
    # French
    f"appelez-moi, numéro de commande {N}",
    f"rappelez-moi, ma facture {N}",
    f"appelez-moi, numéro de suivi {N}",
    # Portuguese
    f"me ligue, número do pedido {N}",
    f"me liga, minha fatura {N}",
    f"me ligue, código de rastreio {N}",
    # Italian
    f"richiamatemi, fattura {N}",
    f"chiamami, il numero dell'ordine è {N}",
    # Russian, Ukrainian
    f"перезвоните мне, номер заказа {N}",
    f"позвоните мне, номер счёта {N}",
    f"перезвоните, трек номер {N}",
    f"передзвоніть мені, номер замовлення {N}",
    # Hindi
    f"मुझे कॉल करो, ऑर्डर नंबर {N}",
    f"मुझे कॉल करें, मेरा बिल नंबर {N} है",
    f"mujhe call karo, mera bill number {N} hai",
    # Arabic
    f"اتصل بي، رقم الطلب {N}",
    # Ordering named beside an order's own number (a visitor who orders and leaves a number
    # to call is a lead: tests/rag/test_phone_leads_ordering.py)
    f"I want to order, my order number is {N}, call me",
    f"please call me, I placed an order {N}",
    f"call me about an order, order number {N}",
    f"I need to order number {N}, call me",
    f"mujhe call karo, order karna hai, order number {N}",
    f"appelez-moi, je commande, numéro de commande {N}",
    f"rappelez-moi, une commande {N}",
    f"llámame, he pedido, mi número de pedido es {N}",
    f"перезвоните, хочу сделать заказ, номер заказа {N}",
    # Any language: a number after "#" or "№"
    f"call me back about #{N}",
    f"перезвоните мне по заказу №{N}",
]


def assert_no_phone_lead(message: str) -> None:
    """No phone lead from ``message``: alone, as the intent, where the bot asked, beside an
    address, or as a call asked beside a question (``callback_number``)."""
    assert leaves_a_phone(message) is False, message
    assert callback_number(message) is None, message
    assert detect_intent(message).intent != "contact", message
    assert gives_asked_address(message) is False, message
    assert number_left(f"{message} jo@example.com") is None, message


@pytest.mark.parametrize("message", OTHER_NUMBERS)
def test_another_kind_of_number_is_no_phone_lead(message: str) -> None:
    assert_no_phone_lead(message)


@pytest.mark.parametrize(
    "message",
    [
        "我的手机号是13812345678",
        "電話番号は090-1234-5678です",
        "Rufen Sie mich an, meine Nummer ist 0171 2345678",
        "llámame, mi número es 612 345 678",
        "appelez-moi au 06 12 34 56 78",
        "перезвоните мне, мой номер +7 912 345-67-89",
        "mera number 9876543210 hai",
        "मेरा नंबर 9876543210 है",
        # A word that holds a stem but names no other number
        "बिलकुल, मेरा नंबर 9876543210 है",
        "contacte-me, meu número é 912 345 678",
    ],
)
def test_a_phone_number_left_in_those_languages_is_still_a_lead(message: str) -> None:
    assert leaves_a_phone(message) is True, message


async def test_an_order_number_after_a_call_asked_for_saves_no_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    session = f"visitor-{uuid.uuid4().hex[:12]}"
    body = (await chat(client, owner, f"注文番号は {N} です", session_id=session)).json()
    assert (body["intent"], body["lead_saved"]) != ("contact", True), body
    assert await leads_of(client, owner) == []


@pytest.mark.parametrize(
    "message",
    [
        "Ich möchte bestellen, rufen Sie mich an: 0171 2345678",
        "Ich möchte das Premium-Paket, rufen Sie mich an: 0171 2345678",
        "je voudrais commander, appelez-moi au 06 12 34 56 78",
        "vorrei ordinare, chiamatemi al 333 123 4567",
        "хочу заказать, перезвоните мне 8 912 345-67-89",
        "注文したいです、電話番号は090-1234-5678です",
        "اتصل بي على 0501234567 بخصوص الشحن",
    ],
)
def test_a_visitor_who_wants_to_order_and_leaves_a_number_is_a_lead(message: str) -> None:
    """The verbs of ordering and a plan's "Paket" name no order's number."""
    assert leaves_a_phone(message) is True, message
