"""What the response cache may give to another visitor: never an answer naming the visitor who
asked. Found by a review of the answer shortcuts; each test fails on the code before its fix."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rag.knowledge.embeddings import LocalEmbedder
from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_answers import REFUNDS, ingest
from tests.rag.test_chat import chat


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def minilm() -> LocalEmbedder:
    return LocalEmbedder()


def llm_kwargs(fake: FakeOpenAI) -> dict[str, Any]:
    fake.reset()
    return {
        "openai_api_key": "sk-test",
        "openai_base_url": fake.base_url,
        "llm_timeout_seconds": 5.0,
        "llm_max_retries": 0,
        "retrieval_min_similarity": 0.05,
    }


async def answer(client: httpx.AsyncClient, owner: Owner, message: str, session: str) -> Any:
    response = await chat(client, owner, message, session_id=session)
    assert response.status_code == 200, response.text
    return response.json()


# --- a visitor's name never reaches another visitor ----------------------------------------

BASE = "Can I get a refund on a yearly plan if I cancel within the first month of my subscription?"
NAMES = ("Priya", "Jo")


def greet_by_name(request: dict[str, Any]) -> str:
    """A model that greets the visitor by the name they signed with."""
    asked = set(re.findall(r"\w+", request["messages"][-1]["content"].casefold()))
    hello = "".join(f"Hi {name}! " for name in NAMES if name.casefold() in asked)
    return hello + "Yearly plans are refunded in full within 30 days [1]."


@pytest.mark.parametrize(
    ("signed", "name"),
    [
        (BASE + " Regards, Priya", "Priya"),  # a name after a comma and a space
        (BASE + " thanks, priya", "Priya"),  # typed in lowercase
        (BASE + " im jo", "Jo"),  # 0.987 from BASE
    ],
)
async def test_an_answer_naming_the_visitor_is_never_served_to_another(
    runtime_factory: RuntimeFactory,
    fake_llm: FakeOpenAI,
    minilm: LocalEmbedder,
    signed: str,
    name: str,
) -> None:
    """A's question carries their name and the model greets them by it. B asks the same
    without a name (MiniLM puts the two 0.99 apart, above the semantic cache's bound): B's
    answer is written for B, naming nobody. An answer naming nobody is still cached."""
    async with runtime_factory(embedder=minilm, **llm_kwargs(fake_llm)) as runtime:
        fake_llm.chat_reply = greet_by_name
        async with client_for(runtime) as client:
            owner = await signup(client, "Names")
            await ingest(client, owner, runtime, "Refunds", REFUNDS)
            mine = await answer(client, owner, signed, "visitor-a")
            assert mine["source"] == "rag"
            assert f"Hi {name}!" in mine["answer"]
            theirs = await answer(client, owner, BASE, "visitor-b")
            assert theirs["source"] == "rag"
            assert not any(n in theirs["answer"] for n in NAMES)
            # B's answer, in the passages' words, is given to the next one asking alike.
            next_one = await answer(client, owner, BASE, "visitor-c")
            assert next_one["source"] == "cache"
            assert not any(n in next_one["answer"] for n in NAMES)
