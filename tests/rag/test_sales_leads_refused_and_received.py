"""Sales leads in de/es/fr/pt/it (fix-i18n4) that were none, and ones it missed:

- a demo or a quote turned down ("No quiero una demo, solo el precio", "Não quero uma
  demonstração", "Non voglio una demo", "Ich will keine Demo buchen") was a lead: the contact
  form and "I'd be happy to connect you with our team about ... a demo" to a visitor who had
  just said they want none;
- asking whether one must ask for one ("¿Es necesario pedir una demo?", "Faut-il avoir un devis
  pour commander ?", "Bisogna richiedere un preventivo per ordinare?") was a lead, as asking
  whether one must talk to a person is no request for one ("Tengo que pedir un presupuesto"
  still is);
- a German offer that is the shop's ("Kann ich das Angebot für Studenten noch bekommen?", "Bis
  wann kann man dieses Angebot bekommen?": "das Angebot" is the deal, "ein Angebot" a quote)
  was a lead;
- a quote already received ("Ich habe das Angebot erhalten, aber der Preis stimmt nicht": the
  German participle is the infinitive) was a new lead;
- a quote asked for with the verb first or none ("Schicken Sie mir ein Angebot für 20 Lizenzen",
  "Ich hätte gerne ein Angebot") was a plain question."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.test_chat import chat

NO_LEAD = [
    "No quiero una demo, solo el precio del envío",
    "No necesito un presupuesto, ¿cuándo abren?",
    "Não quero uma demonstração, só o horário",
    "Non voglio una demo, solo sapere gli orari",
    "Non vorrei un preventivo, grazie",
    "Ich will keine Demo buchen, nur die Lieferzeit wissen",
    "Ich möchte kein Angebot anfordern",
    "¿Es necesario pedir una demo?",
    "¿Hay que pedir un presupuesto para comprar?",
    "Faut-il avoir un devis pour commander ?",
    "Dois-je demander un devis avant de commander ?",
    "Bisogna richiedere un preventivo per ordinare?",
    "É preciso pedir um orçamento?",
    "Kann ich das Angebot für Studenten noch bekommen?",
    "Bis wann kann man dieses Angebot bekommen?",
    "Wie kann ich das Angebot erhalten?",
    "Ich habe das Angebot erhalten, aber der Preis stimmt nicht",
    "Wir haben Ihr Angebot bekommen und haben eine Frage zur Lieferung",
]
STILL_LEADS = [
    "No, quiero una demo",
    "Quiero una demo",
    "Não, quero uma demonstração",
    "Vorrei un preventivo",
    "Tengo que pedir un presupuesto",
    "Je dois demander un devis",
    "Ich möchte eine Demo buchen",
    "Kann ich ein Angebot für 50 Nutzer bekommen?",
    "Ich habe eine Frage: kann ich ein Angebot bekommen?",
    "Schicken Sie mir ein Angebot für 20 Lizenzen",
    "Bitte senden Sie mir ein Angebot",
    "Ich hätte gerne ein Angebot für 50 Nutzer",
    "Ich brauche ein Angebot",
    "Wo kann ich ein Angebot anfordern?",
]


@pytest.mark.parametrize("text", NO_LEAD)
def test_a_demo_or_quote_turned_down_or_already_had_is_no_lead(text: str) -> None:
    assert detect_intent(text).intent != "lead"


@pytest.mark.parametrize("text", STILL_LEADS)
def test_a_demo_or_quote_asked_for_is_a_lead(text: str) -> None:
    assert detect_intent(text).intent == "lead"


async def test_a_refused_demo_gets_no_sales_reply_and_a_quote_asked_for_gets_one(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    refused = "No quiero una demo, solo el precio del envío"
    body = (await chat(client, owner, refused, session_id=f"s-{uuid.uuid4().hex}")).json()
    assert body["intent"] == "question", body
    assert body["answer"].startswith("Lo siento"), body  # "I don't know", not the sales offer
    asked = "Schicken Sie mir ein Angebot für 20 Lizenzen"
    body = (await chat(client, owner, asked, session_id=f"s-{uuid.uuid4().hex}")).json()
    assert (body["intent"], body["source"]) == ("lead", "fallback"), body
    assert body["answer"].startswith("Gerne verbinde ich Sie mit unserem Team"), body
    assert body["lead_capture"] is True, body
