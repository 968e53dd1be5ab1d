"""A message without a word that is neither thanks nor a greeting ("😡", "🤔", "???"): the
visitor is asked to say what they need, and nothing goes on the owner's Unanswered page. Before,
they got "Sorry, I don't know the answer to that...", the contact form, and the owner's list of
knowledge gaps got "😡". A thankful emoji ("👍", "🙏") is thanks; a sign asked about ("🍕?")
stays a question (it may mean something the owner's documents answer)."""

from __future__ import annotations

import httpx
import pytest

from rag.chat.intents import NEVER_UNANSWERED, detect_intent
from tests.conftest import Owner
from tests.rag.test_chat import chat

UNCLEAR = ["😡", "🤔", "😡😡😡", "???", "...", "?!", "😤 😤"]


@pytest.mark.parametrize("text", UNCLEAR)
def test_a_wordless_message_is_unclear_not_a_question(text: str) -> None:
    assert detect_intent(text).intent == "unclear"


@pytest.mark.parametrize(
    ("text", "intent"), [("👍", "thanks"), ("🙏", "thanks"), ("🍕?", "question")]
)
def test_thanks_emoji_and_a_sign_asked_about_keep_their_intent(text: str, intent: str) -> None:
    assert detect_intent(text).intent == intent


def test_an_unclear_message_is_never_unanswered_in_analytics() -> None:
    assert "unclear" in NEVER_UNANSWERED


@pytest.mark.parametrize("text", ["😡", "???"])
async def test_a_wordless_message_asks_for_words_and_is_not_unanswered(
    client: httpx.AsyncClient, owner: Owner, text: str
) -> None:
    body = (await chat(client, owner, text)).json()
    assert (body["intent"], body["source"]) == ("unclear", "fallback"), body
    assert "don't know" not in body["answer"], body
    assert "in a few words" in body["answer"], body
    assert body["lead_capture"] is False, body
    unanswered = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert unanswered.status_code == 200, unanswered.text
    assert unanswered.json() == []
