"""What an anonymous visitor reads when the widget's API refuses or fails: sentences a person can
act on, never the server's internals (a provider's error, a validation pattern)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from rag.knowledge.embeddings import EmbeddingError, OpenAIEmbedder
from tests.conftest import RuntimeFactory, client_for, signup
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_chat import chat, widget_headers

PHONE_SENTENCE = "Enter a phone number of 3 to 40 characters: digits, spaces and + ( ) - . only."


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def _leaks_the_provider(text: str) -> bool:
    return any(word in text for word in ("Fake failure", "Error code", "invalid_api_key"))


@pytest.mark.parametrize(("status", "expected"), [(401, 502), (500, 503)])
async def test_a_failing_embeddings_provider_tells_a_visitor_nothing_of_it(
    runtime_factory: RuntimeFactory,
    provider: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
    status: int,
    expected: int,
) -> None:
    """The provider refuses the key (401) or is down (500): the visitor gets the error code and
    a fixed sentence; what the provider said (in production: the account, the key's last
    characters) is in the log only."""
    provider.reset()
    embedder = OpenAIEmbedder(
        api_key="sk-test", base_url=provider.base_url, dimensions=64, max_retries=0
    )
    async with runtime_factory(embedder=embedder) as runtime, client_for(runtime) as client:
        owner = await signup(client, f"Provider{status}")
        with caplog.at_level(logging.WARNING):
            provider.fail_next(status)
            plain = await chat(client, owner, "Do you ship to Japan?")
            provider.fail_next(status)
            streamed = await client.post(
                "/api/v1/chat",
                json={"message": "Do you ship to Peru?", "session_id": "s-stream"},
                headers=widget_headers(owner, Accept="text/event-stream"),
            )
    for response in (plain, streamed):
        assert response.status_code == expected, response.text
        error = response.json()["error"]
        assert error["code"] == "embedding_failed"
        assert error["message"] == "This assistant cannot answer right now. Try again in a moment."
        assert error["details"] is None
        assert not _leaks_the_provider(response.text), response.text
    assert f"Fake failure {status}" in caplog.text  # the operator still reads it


async def test_an_owner_reads_the_providers_status_not_its_words(
    provider: FakeOpenAI,
) -> None:
    """The error's own message (an owner's failed document shows it) names the provider's
    status, not what the provider wrote."""
    provider.reset()
    embedder = OpenAIEmbedder(
        api_key="sk-test", base_url=provider.base_url, dimensions=64, max_retries=0
    )
    provider.fail_next(401)
    with pytest.raises(EmbeddingError) as info:
        await embedder.embed_documents(["a page"])
    message = str(info.value)
    assert "HTTP 401" in message
    assert not _leaks_the_provider(message), message


@pytest.mark.parametrize("phone", ["call me maybe", "12", "1" * 41])
async def test_a_refused_phone_number_is_explained_in_a_sentence(
    client: httpx.AsyncClient, phone: str
) -> None:
    owner = await signup(client, "Phones")
    refused = await client.post(
        "/api/v1/widget/leads",
        json={"email": "visitor@example.com", "phone": phone},
        headers=widget_headers(owner),
    )
    assert refused.status_code == 422
    [detail] = refused.json()["error"]["details"]
    assert detail["field"] == "phone"
    assert detail["message"] == PHONE_SENTENCE
    assert "pattern" not in refused.text
    assert "^[" not in refused.text
    # The owners' own lead API words it the same.
    by_owner = await client.post(
        owner.url("/leads"),
        json={"email": "visitor@example.com", "phone": phone},
        headers=owner.headers,
    )
    assert by_owner.status_code == 422
    assert by_owner.json()["error"]["details"][0]["message"] == PHONE_SENTENCE
    taken = await client.post(
        "/api/v1/widget/leads",
        json={"email": "visitor@example.com", "phone": "+91 (98765) 43-210."},
        headers=widget_headers(owner),
    )
    assert taken.status_code == 202, taken.text
