""" "are you a bot?" followed by no question: an email address ("Are you a bot?
jane@example.com") or a word that asks nothing ("are you a bot? what?"). The rest was looked up
as a question: "Sorry, I don't know...", the address (or "what?") on the owner's Unanswered
page, and the address never made a lead. Now the bot says what it is and takes the address, or
just says what it is; "are you a bot? what are your opening hours?" is still the question."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.test_chat import chat, new_session

IDENTITY = "I'm an automated assistant"


async def _unanswered(client: httpx.AsyncClient, owner: Owner) -> list[object]:
    listed = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert listed.status_code == 200, listed.text
    return list(listed.json())


@pytest.mark.parametrize(
    "template", ["Are you a bot? {email}", "are you a bot? my email is {email}"]
)
async def test_an_address_after_asking_is_taken(
    client: httpx.AsyncClient, owner: Owner, template: str
) -> None:
    email = f"jane-{uuid.uuid4().hex[:10]}@example.com"
    message = template.format(email=email)
    assert detect_intent(message).intent == "contact"
    body = (await chat(client, owner, message, session_id=new_session())).json()
    assert (body["intent"], body["lead_saved"]) == ("contact", True), body
    assert body["answer"].startswith(IDENTITY), body
    assert "passed your message on" in body["answer"], body
    assert await _unanswered(client, owner) == []
    leads = (await client.get(owner.url("/leads"), headers=owner.headers)).json()["items"]
    assert [lead["email"] for lead in leads] == [email]


@pytest.mark.parametrize(
    "message", ["are you a bot? what?", "Are you a bot?? huh?", "are you real? really?"]
)
async def test_a_word_that_asks_nothing_after_asking_is_no_question(
    client: httpx.AsyncClient, owner: Owner, message: str
) -> None:
    assert detect_intent(message).intent == "bot_identity"
    body = (await chat(client, owner, message, session_id=new_session())).json()
    assert body["intent"] == "bot_identity", body
    assert body["answer"].startswith(IDENTITY), body
    assert "don't know" not in body["answer"]
    assert await _unanswered(client, owner) == []


def test_a_question_after_asking_is_still_answered() -> None:
    assert detect_intent("are you a bot? what are your opening hours?").intent == "question"
    assert detect_intent("are you a bot? what is the refund policy").intent == "question"
