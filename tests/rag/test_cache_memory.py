"""The response cache without Redis (one process, or Redis unreachable): bounded, expiring,
scoped by workspace and knowledge version."""

from __future__ import annotations

import uuid

import numpy as np

from rag.chat.cache import ResponseCache


def _vector(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(16).astype(np.float32)
    return vector / np.linalg.norm(vector)


async def test_exact_and_semantic_hits_within_one_knowledge_version() -> None:
    cache = ResponseCache(None, ttl_seconds=60, semantic_similarity=0.95)
    ws = uuid.uuid4()
    await cache.put(ws, 1, "how do refunds work", _vector(1), {"answer": "Within 30 days."})
    exact = await cache.get_exact(ws, 1, "how do refunds work")
    assert exact is not None
    assert exact.entry["answer"] == "Within 30 days."
    semantic = await cache.get_semantic(ws, 1, _vector(1))
    assert semantic is not None
    assert semantic.kind == "semantic"
    assert await cache.get_semantic(ws, 1, _vector(2)) is None  # another question
    assert await cache.get_exact(ws, 2, "how do refunds work") is None  # knowledge changed
    assert await cache.get_exact(uuid.uuid4(), 1, "how do refunds work") is None
    stats = await cache.stats(ws)
    assert (stats["exact_hits"], stats["semantic_hits"], stats["misses"]) == (1, 1, 2)


async def test_a_quoted_answer_not_served_is_no_hit() -> None:
    """With a model to answer, an answer quoted without one is skipped: the exact lookup (which
    counts no miss) and the semantic one (which finds the same entry) count one miss, not two
    hits; the stats count what was served."""
    cache = ResponseCache(None, ttl_seconds=60, semantic_similarity=0.95)
    ws = uuid.uuid4()
    entry = {"answer": "Within 30 days.", "extractive": True}
    await cache.put(ws, 1, "how do refunds work", _vector(1), entry)
    assert (
        await cache.get_exact(ws, 1, "how do refunds work", count_miss=False, extractive=False)
        is None
    )
    assert await cache.get_semantic(ws, 1, _vector(1), extractive=False) is None
    stats = await cache.stats(ws)
    assert (stats["lookups"], stats["exact_hits"], stats["semantic_hits"]) == (1, 0, 0)
    # Without a model the quoted answer is served, and counted.
    hit = await cache.get_exact(ws, 1, "how do refunds work", count_miss=False)
    assert hit is not None
    assert (await cache.stats(ws))["exact_hits"] == 1


async def test_entries_are_bounded_least_recently_used_first() -> None:
    cache = ResponseCache(None, ttl_seconds=60, semantic_similarity=0.95, max_memory_entries=2)
    ws = uuid.uuid4()
    for question in ("first", "second"):
        await cache.put(ws, 1, question, None, {"answer": question})
    assert await cache.get_exact(ws, 1, "first") is not None  # now the most recently used
    await cache.put(ws, 1, "third", None, {"answer": "third"})
    assert await cache.get_exact(ws, 1, "second") is None
    assert await cache.get_exact(ws, 1, "first") is not None
    assert await cache.get_exact(ws, 1, "third") is not None


async def test_an_entry_past_its_ttl_is_gone() -> None:
    cache = ResponseCache(None, ttl_seconds=0, semantic_similarity=0.95)
    ws = uuid.uuid4()
    await cache.put(ws, 1, "how do refunds work", _vector(1), {"answer": "Within 30 days."})
    assert await cache.get_exact(ws, 1, "how do refunds work") is None
    assert await cache.get_semantic(ws, 1, _vector(1)) is None
