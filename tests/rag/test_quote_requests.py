"""A visitor asking for a quote, a demo or pricing for their team is offered the contact form,
in every language of the lead lexicon, while the answer still comes from the knowledge (the
documents, an FAQ, the response cache). An owner's walk found "I'd like a quote for 20
licences" answered from the documents with no form: the lexicon read it as a question, so a
ready buyer left without leaving details. An ordinary price question the knowledge answers
("How much is the Pro plan?") still gets no form (``tests/rag/test_price_questions.py``)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from api.runtime import Runtime
from rag.chat.intents import detect_intent, price_question
from tests.conftest import Owner
from tests.rag.test_answers import ingest, streamed_chat
from tests.rag.test_chat import add_faq, chat

LICENCES = (
    "# Licences\n\nA licence for the Acme kayak planner covers one paddler. Licences for a "
    "quote of 20 licences or more come with a volume discount and a named account manager."
)
QUOTE = "I'd like a quote for 20 licences"

# A sales request in each language of the lexicon (``lead_phrases``, ``lead_languages``),
# worded as visitors wrote them and the lexicon did not read as a lead before.
SALES_REQUESTS = [
    QUOTE,
    "We would like a quote for 20 seats",
    "I'd love a demo for my team",
    "Could I have a quote for 20 licences?",
    "Can you quote me for 20 licences?",
    "quote for 20 licences",
    "What would pricing be for my team of 20?",
    "pricing for my team",
    "Pricing for 50 users?",
    "Do you offer volume pricing for 20 licences?",
    "Können Sie uns ein Angebot für 20 Lizenzen machen?",
    "Ich möchte eine Demo für mein Team",
    "¿Me pueden enviar una cotización para 20 licencias?",
    "Je souhaiterais un devis pour 20 licences",
    "Pouvez-vous m'envoyer un devis pour 20 licences ?",
    "Podem me enviar um orçamento para 20 licenças?",
    "Potete inviarmi un preventivo per 20 licenze?",
    "Mi servirebbe un preventivo per 20 licenze",
    "मुझे 20 लाइसेंस का कोटेशन चाहिए",
    "Нужно коммерческое предложение на 20 лицензий",
    "نحتاج عرض سعر ل 20 ترخيص",
    "我想要20个许可证的报价",
    "请给我们20个许可证的报价",
    "我们需要20个许可证的报价",
    "20ライセンス分の見積もりをいただけますか",
]

# Ordinary price questions: answered from the knowledge they get no form.
PRICE_QUESTIONS = [
    "how much is the Pro plan?",
    "How much does the Pro plan cost?",
    "what are your prices?",
    "pricing",
    "What is the price of the Pro plan for one user?",
    "How much is the price for a business account?",
]

# Neither: a quote or a team named without asking for one.
NOT_REQUESTS = [
    "Is the quote I got last week still valid?",
    "How do I quote a message in the chat?",
    "What does my team see in the dashboard?",
    "How do I pay for my team?",
    "¿Qué incluye la cotización?",
    "Quel est le délai du devis ?",
]


@pytest.mark.parametrize("message", SALES_REQUESTS)
def test_a_sales_request_is_a_lead_asking_more_than_a_price(message: str) -> None:
    assert detect_intent(message).intent == "lead", message
    assert not price_question(message), message


@pytest.mark.parametrize("message", PRICE_QUESTIONS)
def test_an_ordinary_price_question_stays_a_price_question(message: str) -> None:
    assert detect_intent(message).intent == "lead", message
    assert price_question(message), message


@pytest.mark.parametrize("message", NOT_REQUESTS)
def test_a_quote_or_a_team_named_is_no_request(message: str) -> None:
    assert detect_intent(message).intent != "lead", message


def _session() -> str:
    return f"v-{uuid.uuid4().hex}"


async def test_a_quote_answered_from_the_documents_offers_the_form_and_so_does_its_cache(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime
) -> None:
    await ingest(client, owner, runtime, "Licences", LICENCES)
    first = (await chat(client, owner, QUOTE, session_id=_session())).json()
    assert first["source"] == "rag", first
    assert first["citations"], first  # the answer is the knowledge's, not the canned offer
    assert first["intent"] == "lead", first
    assert first["lead_capture"] is True, first
    again = (await chat(client, owner, QUOTE, session_id=_session())).json()
    assert again["source"] == "cache", again
    assert again["answer"] == first["answer"], again
    assert again["lead_capture"] is True, again
    events = await streamed_chat(client, owner, QUOTE, _session())
    meta = dict(events)["meta"]
    assert meta["source"] == "cache", events
    assert meta["lead_capture"] is True, events
    assert dict(events)["done"]["lead_capture"] is True, events


async def test_a_quote_an_faq_answers_offers_the_form(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    answer = "Twenty licences or more come with a volume discount."
    await add_faq(client, owner, QUOTE, answer)
    body = (await chat(client, owner, QUOTE, session_id=_session())).json()
    assert (body["source"], body["answer"]) == ("faq", answer), body
    assert body["lead_capture"] is True, body
    events = await streamed_chat(client, owner, QUOTE, _session())
    assert dict(events)["meta"]["lead_capture"] is True, events


async def test_a_german_quote_answered_from_german_documents_offers_the_form(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime
) -> None:
    text = (
        "# Lizenzen\n\nEin Angebot für 20 Lizenzen oder mehr enthält einen Mengenrabatt und "
        "einen persönlichen Ansprechpartner."
    )
    await ingest(client, owner, runtime, "Lizenzen", text)
    message = "Können Sie uns ein Angebot für 20 Lizenzen machen?"
    body = (await chat(client, owner, message, session_id=_session())).json()
    assert body["source"] == "rag", body
    assert body["lead_capture"] is True, body
