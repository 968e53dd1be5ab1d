"""The semantic response cache's question vectors: one matrix per scope, bounded, and with Redis
a per-process mirror of each scope's list that reads only what other processes added since."""

from __future__ import annotations

import uuid

import numpy as np
from redis.asyncio import Redis

from rag.chat.cache import ResponseCache, ScopeVectors

DIMS = 384


def _vector(seed: int, dims: int = DIMS) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(dims).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_scope_vectors_keep_the_latest_questions_and_find_each() -> None:
    held = ScopeVectors(capacity=20)
    for n in range(23):
        held.add(f"q{n}", _vector(n))
    assert len(held) == 20
    for n in range(3, 23):  # the newest 20: each is its own nearest, at cosine 1
        digest, similarity = held.nearest(_vector(n)) or ("", 0.0)
        assert digest == f"q{n}"
        assert similarity > 0.999
    for n in range(3):  # the three oldest gave way
        found = held.nearest(_vector(n))
        assert found is not None
        assert found[0] != f"q{n}"
        assert found[1] < 0.5
    held.add("q10", _vector(10))  # a question already held takes no second row
    assert len(held) == 20
    assert held.matrix is not None
    assert held.matrix.shape == (20, DIMS)


def test_scope_vectors_grow_as_needed_and_start_over_for_another_dimension() -> None:
    held = ScopeVectors(capacity=512)
    held.add("a", _vector(1))
    assert held.matrix is not None
    assert held.matrix.shape[0] < 512  # a small scope does not hold a full matrix
    assert held.nearest(_vector(1, dims=8)) is None  # a query of another model
    held.add("b", _vector(2, dims=8))
    assert len(held) == 1
    assert (held.nearest(_vector(2, dims=8)) or ("", 0.0))[0] == "b"
    assert held.nearest(_vector(1)) is None


async def test_memory_scope_serves_its_latest_questions() -> None:
    cache = ResponseCache(None, ttl_seconds=60, semantic_similarity=0.95, max_vectors_per_scope=4)
    ws = uuid.uuid4()
    for n in range(6):
        await cache.put(ws, 1, f"question {n}", _vector(n), {"answer": f"answer {n}"})
    for n in range(2, 6):
        hit = await cache.get_semantic(ws, 1, _vector(n))
        assert hit is not None
        assert hit.entry["answer"] == f"answer {n}"
    assert await cache.get_semantic(ws, 1, _vector(0)) is None  # its vector gave way...
    assert await cache.get_exact(ws, 1, "question 0") is not None  # ...its answer did not


async def test_a_process_mirror_reads_what_other_processes_add(redis_client: Redis) -> None:
    def worker() -> ResponseCache:
        return ResponseCache(redis_client, ttl_seconds=60, semantic_similarity=0.95)

    a, b = worker(), worker()
    ws = uuid.uuid4()
    scope = ResponseCache.scope(ws, 1)
    await a.put(ws, 1, "how do refunds work", _vector(1), {"answer": "Within 30 days."})
    hit = await b.get_semantic(ws, 1, _vector(1))
    assert hit is not None
    assert hit.entry["answer"] == "Within 30 days."
    await a.put(ws, 1, "can I pause my plan", _vector(2), {"answer": "Yes, for 3 months."})
    hit = await b.get_semantic(ws, 1, _vector(2))
    assert hit is not None
    assert hit.entry["answer"] == "Yes, for 3 months."
    assert b.mirrors[scope].seen == 2  # read one item, then the one added since
    assert await b.get_semantic(ws, 1, _vector(3)) is None  # nothing close

    # The list expired (and another question began it again): b reads it from the start.
    await redis_client.delete(f"tb:rcl:{scope}")
    await a.put(ws, 1, "where is my invoice", _vector(4), {"answer": "Under Billing."})
    hit = await b.get_semantic(ws, 1, _vector(4))
    assert hit is not None
    assert hit.entry["answer"] == "Under Billing."
    assert b.mirrors[scope].seen == 1
    assert await b.get_semantic(ws, 1, _vector(1)) is None  # no longer in the list


async def test_the_redis_list_is_bounded_and_expires(redis_client: Redis) -> None:
    cache = ResponseCache(
        redis_client, ttl_seconds=60, semantic_similarity=0.95, max_vectors_per_scope=3
    )
    ws = uuid.uuid4()
    for n in range(5):
        await cache.put(ws, 1, f"question {n}", _vector(n), {"answer": f"answer {n}"})
    key = f"tb:rcl:{ResponseCache.scope(ws, 1)}"
    assert await redis_client.llen(key) == 3
    assert 0 < await redis_client.ttl(key) <= 60
    assert await cache.get_semantic(ws, 1, _vector(2)) is not None
    assert await cache.get_semantic(ws, 1, _vector(4)) is None  # the scope was full
    assert await cache.get_exact(ws, 1, "question 4") is not None
