# ruff: noqa: RUF001 (messages in their own letters)
"""A price for a number of people ("price for 2 people", "Preis für 2 Personen", "大人2名の料金")
is an ordinary price question, in every language of the lead lexicon: a hotel's, a restaurant's,
a venue's or a class's visitor asking what two guests pay. Before, the lexicon counted people
as it counts seats, so the bot put the contact form under the price its FAQ gave. A number of
users, seats, licences, employees, agents or members, or people of the visitor's team or
company, is still a buyer's question, and the form still comes (``test_team_pricing_languages``).
Through the chat API with a widget key: the FAQ's answer, and the form or not."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import Owner
from tests.rag.test_chat import add_faq, chat
from tests.rag.test_team_pricing_languages import sales_lead

# (a price for people: no form under its answer, a price for seats: the form), by language
BY_LANGUAGE = [
    ("What is the price for 2 people?", "What is the price for 20 users?"),
    ("Was ist der Preis für 2 Personen?", "Was ist der Preis für 20 Nutzer?"),
    ("¿Cuál es el precio para 2 personas?", "¿Cuál es el precio para 20 usuarios?"),
    ("Quel est le prix pour 2 personnes ?", "Quel est le prix pour 20 utilisateurs ?"),
    ("Qual é o preço para 2 pessoas?", "Qual é o preço para 20 usuários?"),
    ("Qual è il prezzo per 2 persone?", "Qual è il prezzo per 20 utenti?"),
    ("2 लोगों के लिए कीमत क्या है?", "20 यूजर के लिए कीमत क्या है?"),
    ("Какая цена для 2 человек?", "Какая цена для 20 пользователей?"),
    ("ما هو السعر ل 2 أشخاص؟", "ما هو السعر ل 20 مستخدم؟"),
    ("2人的价格是多少？", "20个用户的价格是多少？"),
    ("大人2名の料金はいくらですか？", "20ユーザーの料金はいくらですか？"),
]


async def asked_with_an_faq(client: httpx.AsyncClient, owner: Owner, message: str) -> Any:
    """``message`` asked through the chat API after an FAQ of its own words: the answer's
    body, the FAQ's answer in it."""
    answer = f"Our price list answers: {uuid.uuid4().hex[:8]}."
    await add_faq(client, owner, message, answer)
    body = (await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex}")).json()
    assert (body["source"], body["answer"]) == ("faq", answer), body
    return body


@pytest.mark.parametrize(("people", "seats"), BY_LANGUAGE)
async def test_a_price_for_people_the_faq_answers_gets_no_form_a_price_for_seats_does(
    client: httpx.AsyncClient, owner: Owner, people: str, seats: str
) -> None:
    body = await asked_with_an_faq(client, owner, people)
    assert body["lead_capture"] is False, body
    body = await asked_with_an_faq(client, owner, seats)
    assert (body["intent"], body["lead_capture"]) == ("lead", True), body


# People counted, as a hotel, a restaurant, a ticket office or a class counts them: ordinary
# price questions. Each was a sales lead before.
PEOPLE = [
    "price for 2 people",
    "How much is the price for 4 people?",
    "What's the cost for 3 students?",
    "Preis für 2 Personen",
    "Was kostet der Kurs? Preis für 3 Schüler?",
    "Angebot für 2 Personen?",
    "precio para 4 personas",
    "precio para 3 alumnos",
    "tarif pour 2 personnes",
    "prix pour 3 élèves",
    "preço para 2 pessoas",
    "prezzo per 2 persone",
    "2 log ke liye price kya hai?",
    "2 logon ke liye rate",
    "стоимость на 2 человек",
    "цена для 3 студентов",
    "السعر ل 2 شخص",
    "2人的价格",
    "2 人的费用",
    "大人2名の料金",
    "2人で料金はいくら？",
    # A team word elsewhere is no team of the visitor's
    "prix pour 2 personnes avec le service",
    "price for 2 people at the office party venue",
]

# Still the sales route: seats counted, or the visitor's team or company named.
BUYERS = [
    "price for 20 users",
    "pricing for 50 seats",
    "cost for 10 agents",
    "price for 25 team members",
    "price for 30 employees",
    "price for 20 people in our team",
    "pricing for 40 people at my company",
    "Preis für 20 Mitarbeiter",
    "Preis für 20 Personen aus unserem Team",
    "precio para 20 personas de mi empresa",
    "prix pour 20 personnes de notre équipe",
    "preço para 20 pessoas da nossa empresa",
    "prezzo per 20 persone della nostra azienda",
    "цена для 20 человек из нашей команды",
    "السعر ل 20 شخص من شركتنا",
    "hamari company ke 20 logon ke liye price",
    "हमारी कंपनी के 20 लोगों के लिए कीमत",
    "我们公司20人的价格",
    "社員20名の料金",
    "precio para 20 empleados",
    "prix pour 20 licences",
    "preço para 20 funcionários",
    "prezzo per 20 licenze",
    "20 users ke liye price",
    "цена для 20 сотрудников",
    "سعر ل 20 موظف",
    "20个用户的价格",
    "20ライセンスの料金",
]


@pytest.mark.parametrize("message", PEOPLE)
def test_people_counted_is_an_ordinary_price_question(message: str) -> None:
    assert not sales_lead(message), message


@pytest.mark.parametrize("message", BUYERS)
def test_seats_or_a_team_counted_is_still_a_sales_lead(message: str) -> None:
    assert sales_lead(message), message
