"""The response cache without Redis (one process, or Redis unreachable): bounded, expiring,
scoped by workspace and knowledge version."""

from __future__ import annotations

import uuid

import numpy as np

from rag.chat.cache import ResponseCache, _MemoryStore


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


class _Clock:
    """A clock the test moves by hand (no sleeping)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _held_rows(cache: ResponseCache) -> int:
    return sum(b.matrix.shape[0] for b in cache.memory.vectors.values() if b.matrix is not None)


async def test_a_scopes_vectors_expire_with_its_entries() -> None:
    """Once every entry of a scope has expired its vectors go too (they stayed, pointing to
    nothing, until 1,000 scopes pushed them out: a reviewer's finding); a scope still written
    to keeps its vectors as long as its newest entry."""
    clock = _Clock()
    cache = ResponseCache(None, ttl_seconds=60, semantic_similarity=0.95)
    cache.memory = _MemoryStore(20_000, 512, 60, timer=clock)
    ws = uuid.uuid4()
    for version in range(5):
        for n in range(20):
            await cache.put(ws, version, f"q {n}", _vector(n), {"answer": f"a {n}"})
    assert await cache.get_semantic(ws, 4, _vector(3)) is not None
    clock.now += 50
    await cache.put(ws, 4, "late question", _vector(99), {"answer": "late"})
    clock.now += 20  # the first questions are 70 s old, the late one 20 s
    assert await cache.get_semantic(ws, 0, _vector(3)) is None
    assert await cache.get_semantic(ws, 4, _vector(99)) is not None  # written 20 s ago
    other = uuid.uuid4()
    await cache.put(other, 1, "another workspace", _vector(7), {"answer": "x"})
    # Nothing held of the four scopes whose entries all expired.
    assert set(cache.memory.vectors) == {
        ResponseCache.scope(ws, 4),
        ResponseCache.scope(other, 1),
    }


async def test_the_vectors_held_are_bounded_by_the_entries_held() -> None:
    """All scopes together hold no more vectors than there may be entries (scopes were counted
    instead: 1,000 x 512 vectors, 3.1 GB at 1536 dimensions)."""
    cache = ResponseCache(None, ttl_seconds=60, semantic_similarity=0.95, max_memory_entries=1000)
    ws = uuid.uuid4()
    for version in range(10):
        for n in range(512):
            await cache.put(ws, version, f"q {n}", _vector(n), {"answer": "a"})
    assert _held_rows(cache) <= 1000
    # The scope written last is held whole.
    assert await cache.get_semantic(ws, 9, _vector(0)) is not None
    assert await cache.get_semantic(ws, 9, _vector(511)) is not None
