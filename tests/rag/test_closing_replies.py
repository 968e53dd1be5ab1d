"""A visitor closing the chat ("no", "no thanks, I'm good", "talk to you later") after the
bot's "Is there anything else I can help you with?" gets the goodbye reply. Before, these were
questions: "Sorry, I don't know the answer to that...", the contact form, and the owner's
unanswered list got "no"."""

from __future__ import annotations

import httpx
import pytest

from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.test_chat import chat

CLOSING = [
    "no",
    "Nope",
    "no thanks, I'm good",
    "nah I'm all set",
    "nope, that's all",
    "nothing else, thanks!",
    "talk to you later",
    "I'll talk to you soon",
]
STILL_ASKING = [
    "no refunds?",
    "no human please, how do I cancel?",
    "I'm good, how do I cancel?",
    "all good, and shipping?",
    "no pets allowed",
]


@pytest.mark.parametrize("text", CLOSING)
def test_closing_the_chat_is_a_goodbye(text: str) -> None:
    assert detect_intent(text).intent == "goodbye"


@pytest.mark.parametrize("text", STILL_ASKING)
def test_a_no_with_a_question_is_a_question(text: str) -> None:
    assert detect_intent(text).intent == "question"


async def test_closing_the_chat_gets_the_goodbye_not_dont_know(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    for n, text in enumerate(["no thanks, I'm good", "no"]):
        body = (await chat(client, owner, text, session_id=f"closing-{n}")).json()
        assert (body["intent"], body["source"]) == ("goodbye", "fallback"), body
        assert body["answer"] == "Thanks for chatting with Acme assistant. Have a great day!"
        assert body["lead_capture"] is False
    unanswered = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert unanswered.status_code == 200, unanswered.text
    assert unanswered.json() == []
