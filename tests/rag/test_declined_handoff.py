"""A visitor who turns a person down ("I don't need a human, ...") or asks whether they need
one is not handed off: the question they ask is answered, the conversation stays open and the
owner's webhook hears nothing. Before, any "talk to a human" anywhere in the message handed the
conversation off and the question went unanswered."""

from __future__ import annotations

import httpx
import pytest

from api.runtime import Runtime
from rag.chat.intents import detect_intent
from rag.knowledge.embeddings import LocalEmbedder
from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.rag.test_answers import REFUNDS, ingest
from tests.rag.test_chat import _deliveries, chat

DECLINED = [
    "I don't want to talk to a human",
    "I don't need a human, how long do refunds take?",
    "please don't connect me to an agent",
    "no human please, how do I cancel?",
    "I do not want to speak to a person, just tell me the price",
    "I'd rather not talk to a person",
    "Do I need to talk to a human to cancel?",
]
STILL_ASKS = [
    "no, I want a human",
    "I don't want a bot, I want a human",
    "Why can't I talk to a person?",
    "I don't know how to talk to a human here",
    "can I talk to a human?",
]


@pytest.mark.parametrize("text", DECLINED)
def test_a_person_turned_down_is_no_request(text: str) -> None:
    assert detect_intent(text).intent != "human"


@pytest.mark.parametrize("text", STILL_ASKS)
def test_a_request_for_a_person_after_a_no_is_still_one(text: str) -> None:
    assert detect_intent(text).intent == "human"


async def test_the_question_beside_a_declined_person_is_answered(
    runtime_factory: RuntimeFactory,
) -> None:
    settings = {"retrieval_min_similarity": 0.05}
    async with (
        runtime_factory(embedder=LocalEmbedder(), **settings) as runtime,
        client_for(runtime) as client,
    ):
        await _answered(client, await signup(client, "Declined"), runtime)


async def _answered(client: httpx.AsyncClient, owner: Owner, runtime: Runtime) -> None:
    patched = await client.patch(
        owner.url(""), json={"webhook_url": "https://hooks.example.com/tb"}, headers=owner.headers
    )
    assert patched.status_code == 200
    await ingest(client, owner, runtime, "Refunds", REFUNDS)
    message = "I don't need a human, how long do refunds take to arrive?"
    body = (await chat(client, owner, message, session_id="declined-1")).json()
    assert body["intent"] == "question"
    assert body["source"] == "rag", body
    assert "5 to 7 business days" in body["answer"]
    listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert [c["status"] for c in listing["items"]] == ["open"]
    assert await _deliveries(runtime, owner) == []


DECLINED_ALONE = [
    "I don't want to talk to a human",
    "I don't need a human, thanks",
    "no need for a human",
    "I do not want an agent.",
    "Nah, I don't want a person right now",
]


@pytest.mark.parametrize("text", DECLINED_ALONE)
def test_a_person_turned_down_and_nothing_else_is_no_question(text: str) -> None:
    assert detect_intent(text).intent == "greeting"


@pytest.mark.parametrize(
    "text",
    [
        "I don't want to talk to a human, what is your refund policy?",
        "I don't need a human resources tool",
        "I don't want a human to read my messages",
    ],
)
def test_a_turned_down_person_with_more_to_it_is_still_a_question(text: str) -> None:
    assert detect_intent(text).intent == "question"


async def test_a_person_turned_down_alone_is_invited_to_ask_and_not_unanswered(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A visitor saying only "I don't want to talk to a human" got "Sorry, I don't know" with
    the contact form, and the owner's unanswered list showed the sentence."""
    body = (await chat(client, owner, "I don't want to talk to a human", session_id="nah-1")).json()
    assert body["intent"] == "greeting", body
    assert "don't know" not in body["answer"].lower()
    assert "help" in body["answer"].lower()
    groups = (await client.get(owner.url("/unanswered"), headers=owner.headers)).json()
    assert groups == [], groups
