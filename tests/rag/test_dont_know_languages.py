# ruff: noqa: RUF001 (questions in their own punctuation)
""" "I don't know" and the reply to a model that failed, in the visitor's language. A visitor
who asked in German, Spanish or Chinese got "Sorry, I don't know the answer to that based on
the information available..." and "Sorry, I'm having trouble answering right now...", in
English, though the greeting, thanks, hand-off and the other canned replies were translated.
The owner's own texts (``dont_know``, ``unavailable``) still win (tests/rag/test_owner_texts)."""

from __future__ import annotations

import httpx
import pytest

from api.runtime import Runtime
from tests.conftest import Owner, signup
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_answers import REFUNDS, ingest
from tests.rag.test_chat import chat, new_session
from tests.rag.test_lead_capture_never import fake_llm, llm_client, never  # noqa: F401
from tests.rag.test_owner_texts import failed_model_answers


@pytest.mark.parametrize(
    ("question", "starts", "offer"),
    [
        (
            "Können Sie mir sagen, ob es Geschenkkarten gibt?",
            "Entschuldigung",
            "Möchten Sie Ihre E-Mail-Adresse hinterlassen",
        ),
        ("¿Por qué no tengo acceso para mi cuenta?", "Lo siento", "¿Quiere dejar su correo"),
        ("你们卖礼品卡吗？", "抱歉", "电子邮件"),
        ("Вы продаёте подарочные карты?", "Извините", "адрес электронной почты"),
    ],
)
async def test_dont_know_is_in_the_visitors_language(
    client: httpx.AsyncClient, owner: Owner, question: str, starts: str, offer: str
) -> None:
    body = (await chat(client, owner, question, session_id=new_session())).json()
    assert body["source"] == "fallback", body
    assert body["answer"].startswith(starts), body
    assert offer in body["answer"], body
    assert body["lead_capture"] is True
    assert "Sorry" not in body["answer"]
    # Still on the owner's Unanswered page.
    groups = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    assert [g["question"] for g in groups] == [question]


async def test_dont_know_in_english_and_without_contact_offer(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    english = (
        await chat(client, owner, "Do you sell gift cards?", session_id=new_session())
    ).json()
    assert english["answer"].startswith("Sorry, I don't know the answer"), english
    await never(client, owner)
    german = await chat(
        client, owner, "Können Sie mir sagen, ob es Geschenkkarten gibt?", session_id=new_session()
    )
    answer = german.json()["answer"]
    assert answer.startswith("Entschuldigung"), answer
    assert "E-Mail" not in answer


async def test_the_models_failure_is_answered_in_the_visitors_language(
    llm_client: tuple[httpx.AsyncClient, Runtime],  # noqa: F811
    fake_llm: FakeOpenAI,  # noqa: F811
) -> None:
    client, runtime = llm_client
    owner = await signup(client, "Modell")
    await ingest(client, owner, runtime, "Refunds", REFUNDS)
    question = "Kann ich einen refund für meinen yearly plan bekommen, bitte?"

    answers = await failed_model_answers(client, owner, fake_llm, question)
    assert answers[0].startswith("Entschuldigung, ich kann gerade nicht antworten"), answers
    assert answers == [answers[0]] * 4
    assert "E-Mail-Adresse hinterlassen" in answers[0]

    # English stays English.
    fake_llm.fail_next(500)
    english = await chat(client, owner, "Can I get a refund on a yearly plan?")
    assert english.json()["answer"].startswith("Sorry, I'm having trouble"), english.text
