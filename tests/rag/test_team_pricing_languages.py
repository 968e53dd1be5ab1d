# ruff: noqa: RUF001 (messages in their own letters)
"""A visitor asking for pricing for their team, for a number of seats, for volume or for the
enterprise plan is offered the contact form in every language of the lead lexicon, as "pricing
for my team" and "enterprise plan" are in English: before, "Preise für unser Team?" or
"¿Precio del plan empresarial?" was a question, answered "I don't know" with no form, and a
ready buyer left. Through the chat API: the intent, the form and the reply in the visitor's
language."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.intents import detect_intent, price_question
from tests.conftest import Owner
from tests.rag.test_chat import chat

# (message, the start of the lead reply in its language: rag.chat.translations.leads)
TEAM_PRICING = [
    ("Was kosten die Preise für unser Team?", "Gerne verbinde ich Sie"),
    ("Preis für 50 Nutzer?", "Gerne verbinde ich Sie"),
    ("Gibt es Teampreise oder einen Mengenrabatt?", "Gerne verbinde ich Sie"),
    ("Ich interessiere mich für den Enterprise-Plan", "Gerne verbinde ich Sie"),
    ("¿Cuál es el precio para mi empresa?", "Con gusto le pongo"),
    ("precios para 30 usuarios", "Con gusto le pongo"),
    ("¿Tienen descuentos por volumen?", "Con gusto le pongo"),
    ("Me interesa el plan empresarial", "Con gusto le pongo"),
    ("Quels sont vos tarifs pour notre équipe ?", "Je serais ravi"),
    ("Prix pour 25 utilisateurs ?", "Je serais ravi"),
    ("Avez-vous une offre entreprise ?", "Je serais ravi"),
    ("Qual é o preço para minha equipe?", "Terei prazer"),
    ("Preço para 40 usuários?", "Terei prazer"),
    ("Vocês têm um plano empresarial?", "Terei prazer"),
    ("Quali sono i prezzi per la nostra azienda?", "Sarò lieto"),
    ("Prezzo per 15 utenti?", "Sarò lieto"),
    ("Avete un piano aziendale?", "Sarò lieto"),
    ("हमारी टीम के लिए कीमत क्या है?", "मुझे प्लान"),
    ("hamari team ke liye pricing kya hai?", "Mujhe plans"),
    ("Какая цена для нашей команды?", "С радостью свяжу"),
    ("Стоимость для 50 пользователей?", "С радостью свяжу"),
    ("Есть ли корпоративный тариф?", "С радостью свяжу"),
    ("ما هو السعر لشركتنا؟", "يسعدني"),
    ("هل لديكم باقة الشركات؟", "يسعدني"),
    ("团队版的价格是多少？", "我很乐意"),
    ("你们有企业版吗？", "我很乐意"),
    ("チーム向けの料金を教えてください", "プラン、料金"),
    ("法人プランはありますか？", "プラン、料金"),
]

# A team or a company named without asking what it would cost them: no lead (a question;
# whether it offers the form depends on the answer found, as in English).
NOT_LEADS = [
    "Was sieht mein Team im Dashboard?",
    "¿Cómo invito a mi equipo?",
    "Comment ajouter mon équipe ?",
    "Como adiciono minha equipe?",
    "Come aggiungo il mio team?",
    "Как добавить мою команду?",
    "كيف أضيف فريقي؟",
    "如何添加团队成员？",
    "チームに招待するには？",
    # Whether a quote is needed, for the enterprise plan: asked about, not asked for.
    "¿Necesito pedir una cotización para el plan empresarial?",
]


@pytest.mark.parametrize(("message", "reply"), TEAM_PRICING)
async def test_team_pricing_asked_is_offered_the_form_in_its_language(
    client: httpx.AsyncClient, owner: Owner, message: str, reply: str
) -> None:
    body = (await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex}")).json()
    assert (body["intent"], body["source"]) == ("lead", "fallback"), body
    assert body["lead_capture"] is True, body
    assert str(body["answer"]).startswith(reply), body


async def test_a_team_named_without_pricing_is_no_lead(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    for message in NOT_LEADS:
        body = (await chat(client, owner, message, session_id=f"v-{uuid.uuid4().hex}")).json()
        assert body["intent"] != "lead", (message, body)


# A plan named Team (or Business) asked about, as English's "What does the Team plan include?"
# (a question) and "How much is the team plan?" (a price question, the form only when the bot
# does not know): no sales lead, whose form comes under every answer (review 13: "Was
# beinhaltet der Teamtarif?", "チームプランの解約方法" and "团队版怎么邀请成员?" were).
PLAN_NAMED_TEAM = [
    "Was beinhaltet der Teamtarif?",
    "Wie aktiviere ich meine Teamlizenz?",
    "Wie füge ich Nutzer zu meinem Team-Tarif hinzu?",
    "Was kostet der Team-Tarif?",
    "Come disdico il piano business?",
    "Quanto costa il piano business?",
    "チームプランの解約方法",
    "チームプランの料金は？",
    "団体ライセンスの有効化の方法",
    "团队版怎么邀请成员？",
    "团队版多少钱？",
    # Things counted, not seats: "the price of 5 logos" (a design studio's price question)
    "5 logo ka price kya hai?",
    "3 logo ki cost",
]


@pytest.mark.parametrize("message", PLAN_NAMED_TEAM)
def test_a_plan_named_team_or_a_thing_counted_is_no_sales_lead(message: str) -> None:
    assert not sales_lead(message), message


def sales_lead(message: str) -> bool:
    """Whether ``message`` is a sales lead (a lead that is no mere price question)."""
    return detect_intent(message).intent == "lead" and not price_question(message)
