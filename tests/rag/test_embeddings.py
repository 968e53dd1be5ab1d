"""Embedders: the real local model, the hashing embedder and OpenAI over HTTP to a local fake."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest
from starlette.requests import Request
from starlette.responses import Response

from core.config import Settings
from rag.knowledge.embeddings import (
    EmbeddingError,
    HashEmbedder,
    LocalEmbedder,
    OpenAIEmbedder,
    build_embedder,
    plan_batches,
)
from tests.fakes.openai_server import FakeOpenAI, hash_embedding


def _norms(matrix: np.ndarray) -> np.ndarray:
    return np.linalg.norm(matrix, axis=1)


# --------------------------------------------------------------------------- hash


async def test_hash_embedder_is_deterministic_normalized_and_word_sensitive() -> None:
    embedder = HashEmbedder(dimensions=256)
    texts = [
        "refund policy for annual plans",
        "annual plans refund policy details",
        "the weather in paris is sunny",
        "",
    ]
    vectors = await embedder.embed_documents(texts)
    assert vectors.shape == (4, 256)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(_norms(vectors), 1.0, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2]) + 0.3
    again = await HashEmbedder(dimensions=256).embed_query(texts[0])
    np.testing.assert_array_equal(again, vectors[0])
    assert (await embedder.embed_documents([])).shape == (0, 256)


# --------------------------------------------------------------------------- local


@pytest.fixture(scope="module")
async def local() -> LocalEmbedder:
    embedder = LocalEmbedder(batch_size=4)
    await embedder.embed_query("warm up")  # loads the model once for this module
    return embedder


async def test_local_embedder_dimensions_normalization_and_meaning(local: LocalEmbedder) -> None:
    texts = [
        "How do I get my money back for a purchase?",
        "What is the process to request a refund?",
        "The giraffe is the tallest living land animal.",
    ]
    vectors = await local.embed_documents(texts)
    assert vectors.shape == (3, 384)
    assert local.dimensions == 384
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(_norms(vectors), 1.0, atol=1e-4)
    paraphrase, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert paraphrase > unrelated + 0.3


async def test_local_embedder_query_matches_batched_documents(local: LocalEmbedder) -> None:
    texts = [f"Document number {i} talks about topic {i % 3}." for i in range(9)]
    batched = await local.embed_documents(texts)  # three batches of <= 4
    assert batched.shape == (9, 384)
    query = await local.embed_query(texts[7])
    assert query.shape == (384,)
    np.testing.assert_allclose(query, batched[7], atol=1e-4)
    both = await asyncio.gather(local.embed_query("alpha"), local.embed_query("beta"))
    assert float(both[0] @ both[1]) < 0.99


# --------------------------------------------------------------------------- openai


class _ShufflingFake(FakeOpenAI):
    """Answers embeddings with ``data`` in reverse order and tracks concurrent requests."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.max_in_flight = 0

    async def _embeddings(self, request: Request) -> Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            response = await super()._embeddings(request)
        finally:
            self.in_flight -= 1
        if response.status_code != 200:
            return response
        payload = json.loads(bytes(response.body))
        payload["data"].reverse()
        return Response(json.dumps(payload), media_type="application/json")


@pytest.fixture(scope="module")
def fake() -> Iterator[_ShufflingFake]:
    with _ShufflingFake() as server:
        yield server


@pytest.fixture
async def openai_fake(fake: _ShufflingFake) -> AsyncIterator[_ShufflingFake]:
    fake.reset()
    fake.latency = 0.0
    yield fake
    fake.reset()


def _embedder(fake: FakeOpenAI, **kwargs: object) -> OpenAIEmbedder:
    options: dict[str, object] = {"dimensions": 64, "backoff_base": 0.01, "backoff_max": 0.05}
    options.update(kwargs)
    return OpenAIEmbedder(api_key="test-key", base_url=fake.base_url, **options)  # type: ignore[arg-type]


async def test_openai_batches_orders_and_normalizes(openai_fake: _ShufflingFake) -> None:
    texts = [f"text number {i} {'alpha' if i % 2 else 'beta'}" for i in range(4500)]
    embedder = _embedder(openai_fake, batch_size=5000, concurrency=2)
    openai_fake.latency = 0.05
    vectors = await embedder.embed_documents(texts)
    sizes = [len(r.json["input"]) for r in openai_fake.embedding_requests]
    assert sorted(sizes) == [404, 2048, 2048]  # SDK limit of 2048 inputs per request
    assert all(r.json["dimensions"] == 64 for r in openai_fake.embedding_requests)
    assert all(r.json["model"] == "text-embedding-3-small" for r in openai_fake.embedding_requests)
    assert openai_fake.max_in_flight <= 2
    assert vectors.shape == (4500, 64)
    np.testing.assert_allclose(_norms(vectors), 1.0, atol=1e-5)
    for i in [*random.Random(7).sample(range(4500), 50), 0, 4499]:
        np.testing.assert_allclose(vectors[i], hash_embedding(texts[i], 64), atol=1e-5)


async def test_openai_token_budget_splits_requests(openai_fake: _ShufflingFake) -> None:
    texts = ["word " * 600] * 10  # about 1000 estimated tokens each
    embedder = _embedder(openai_fake, max_batch_tokens=3500)
    vectors = await embedder.embed_documents(texts)
    # Batches are sent concurrently, so they may arrive in any order.
    assert sorted(len(r.json["input"]) for r in openai_fake.embedding_requests) == [1, 3, 3, 3]
    assert vectors.shape == (10, 64)
    assert plan_batches(["a"] * 5, max_inputs=2) == [(0, 2), (2, 4), (4, 5)]


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_openai_retries_transient_errors(openai_fake: _ShufflingFake, status: int) -> None:
    openai_fake.fail_next(status, times=2)
    vector = await _embedder(openai_fake).embed_query("hello world")
    assert len(openai_fake.embedding_requests) == 3
    np.testing.assert_allclose(vector, hash_embedding("hello world", 64), atol=1e-5)


async def test_openai_gives_up_after_bounded_retries(openai_fake: _ShufflingFake) -> None:
    openai_fake.fail_next(500, times=10)
    with pytest.raises(EmbeddingError) as info:
        await _embedder(openai_fake, max_retries=2).embed_documents(["a", "b"])
    assert info.value.status_code == 503
    assert info.value.code == "embedding_failed"
    assert len(openai_fake.embedding_requests) == 3


async def test_openai_does_not_retry_client_errors(openai_fake: _ShufflingFake) -> None:
    openai_fake.fail_next(400)
    with pytest.raises(EmbeddingError) as info:
        await _embedder(openai_fake).embed_documents(["a"])
    assert info.value.details == {"status": 400}
    assert len(openai_fake.embedding_requests) == 1


async def test_openai_replaces_empty_inputs(openai_fake: _ShufflingFake) -> None:
    vectors = await _embedder(openai_fake).embed_documents(["", "x"])
    assert openai_fake.embedding_requests[0].json["input"] == [" ", "x"]
    assert vectors.shape == (2, 64)


# --------------------------------------------------------------------------- factory


def test_build_embedder_picks_the_provider(fake: _ShufflingFake) -> None:
    hashed = build_embedder(Settings(embedding_provider="hash", embedding_dimensions=128))
    assert isinstance(hashed, HashEmbedder)
    assert hashed.dimensions == 128
    local = build_embedder(Settings(embedding_provider="local", embedding_batch_size=8))
    assert isinstance(local, LocalEmbedder)
    assert local.batch_size == 8
    with pytest.raises(ValueError, match="384"):
        build_embedder(Settings(embedding_provider="local", embedding_dimensions=1536))
    remote = build_embedder(
        Settings(
            embedding_provider="openai",
            embedding_dimensions=256,
            openai_api_key="k",
            openai_base_url=fake.base_url,
            embedding_concurrency=3,
        )
    )
    assert isinstance(remote, OpenAIEmbedder)
    assert (remote.dimensions, remote.model) == (256, "text-embedding-3-small")
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        build_embedder(Settings(embedding_provider="openai", openai_api_key=None))
