"""The response cache: exact and semantic, per workspace and knowledge version.

Keys carry the workspace and its knowledge version, so any document or FAQ change (which bumps
the version) makes every earlier answer unreachable at once: a stale answer never survives a
knowledge change. Entries expire after a TTL. Besides the exact key (the normalized question), a
new question whose embedding lies within a strict cosine similarity of a cached one, in the same
workspace and knowledge version, is served too.

Redis when configured; an in-process LRU otherwise, and also while Redis is unreachable (the
cache degrades to a miss or to memory, the chat keeps answering).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
from cachetools import LRUCache, TTLCache
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

HitKind = Literal["exact", "semantic"]
MEMORY_SCOPES = 1000  # (workspace, knowledge version) pairs whose embeddings memory keeps
T = TypeVar("T")


@dataclass(frozen=True)
class CacheHit:
    kind: HitKind
    entry: dict[str, Any]
    similarity: float


async def _wait(value: Awaitable[T] | T) -> T:
    """redis-py types its asyncio commands as ``Awaitable[T] | T``."""
    if inspect.isawaitable(value):
        return await value
    return value


def _digest(normalized: str) -> str:
    return hashlib.sha256(normalized.encode()).hexdigest()[:32]


class _MemoryStore:
    """Without Redis (or while it is unreachable): a bounded LRU of entries with a TTL, and
    bounded LRU lists of embeddings per scope (cachetools)."""

    def __init__(self, max_entries: int, max_vectors: int, ttl: int) -> None:
        self.max_vectors = max_vectors
        self.entries: TTLCache[str, dict[str, Any]] = TTLCache(maxsize=max_entries, ttl=ttl)
        self.vectors: LRUCache[str, LRUCache[str, np.ndarray]] = LRUCache(maxsize=MEMORY_SCOPES)
        self.stats: dict[str, dict[str, int]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.entries.get(key)

    def put(self, key: str, entry: dict[str, Any]) -> None:
        self.entries[key] = entry

    def add_vector(self, scope: str, digest: str, vector: np.ndarray) -> None:
        bucket = self.vectors.get(scope)
        if bucket is None:
            bucket = self.vectors[scope] = LRUCache(maxsize=self.max_vectors)
        bucket[digest] = vector

    def scope_vectors(self, scope: str) -> dict[str, np.ndarray]:
        return dict(self.vectors.get(scope) or {})

    def count(self, workspace: str, field: str) -> None:
        bucket = self.stats.setdefault(workspace, {})
        bucket[field] = bucket.get(field, 0) + 1


class ResponseCache:
    def __init__(
        self,
        redis: Redis | None,
        *,
        ttl_seconds: int,
        semantic_similarity: float,
        max_vectors_per_scope: int = 512,
        max_memory_entries: int = 20_000,
        redis_retry_seconds: float = 5.0,
    ) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        self.semantic_similarity = semantic_similarity
        self.max_vectors = max_vectors_per_scope
        self.memory = _MemoryStore(max_memory_entries, max_vectors_per_scope, ttl_seconds)
        self._redis_down_until = 0.0
        self._retry = redis_retry_seconds

    # --- helpers --------------------------------------------------------------------------

    @staticmethod
    def scope(workspace_id: uuid.UUID, knowledge_version: int) -> str:
        return f"{workspace_id}:{knowledge_version}"

    def _usable_redis(self) -> Redis | None:
        if self.redis is None or time.monotonic() < self._redis_down_until:
            return None
        return self.redis

    def _redis_failed(self, exc: Exception) -> None:
        log.warning("response cache: Redis unavailable (%s); using memory", type(exc).__name__)
        self._redis_down_until = time.monotonic() + self._retry

    async def _count(self, workspace_id: uuid.UUID, field: str) -> None:
        redis = self._usable_redis()
        if redis is not None:
            try:
                await _wait(redis.hincrby(f"tb:rcs:{workspace_id}", field, 1))
                return
            except (RedisError, OSError) as exc:
                self._redis_failed(exc)
        self.memory.count(str(workspace_id), field)

    # --- API ------------------------------------------------------------------------------

    async def get_exact(
        self,
        workspace_id: uuid.UUID,
        knowledge_version: int,
        normalized: str,
        *,
        count_miss: bool = True,
    ) -> CacheHit | None:
        """The exact key only: no embedding needed, so the cheapest lookup comes first."""
        scope = self.scope(workspace_id, knowledge_version)
        hit = await self._get_exact(scope, _digest(normalized))
        if hit is not None or count_miss:
            await self._count(workspace_id, hit.kind if hit else "miss")
        return hit

    async def get_semantic(
        self, workspace_id: uuid.UUID, knowledge_version: int, embedding: np.ndarray | None
    ) -> CacheHit | None:
        """A cached question within the similarity bound; counts a hit or a miss."""
        hit = None
        if embedding is not None:
            hit = await self._get_semantic(self.scope(workspace_id, knowledge_version), embedding)
        await self._count(workspace_id, hit.kind if hit else "miss")
        return hit

    async def _get_exact(self, scope: str, digest: str) -> CacheHit | None:
        redis = self._usable_redis()
        if redis is not None:
            try:
                raw = await redis.get(f"tb:rc:{scope}:{digest}")
                return CacheHit("exact", json.loads(raw), 1.0) if raw else None
            except (RedisError, OSError) as exc:
                self._redis_failed(exc)
        entry = self.memory.get(f"{scope}:{digest}")
        return CacheHit("exact", entry, 1.0) if entry is not None else None

    async def _get_semantic(self, scope: str, embedding: np.ndarray) -> CacheHit | None:
        redis = self._usable_redis()
        vectors: dict[str, np.ndarray]
        if redis is not None:
            try:
                raw = await _wait(redis.hgetall(f"tb:rcv:{scope}"))
                vectors = {k.decode(): np.frombuffer(v, dtype=np.float32) for k, v in raw.items()}
            except (RedisError, OSError) as exc:
                self._redis_failed(exc)
                vectors = self.memory.scope_vectors(scope)
        else:
            vectors = self.memory.scope_vectors(scope)
        if not vectors:
            return None
        digests = list(vectors)
        matrix = np.stack([vectors[d] for d in digests])
        if matrix.shape[1] != embedding.shape[0]:
            return None
        similarities = matrix @ embedding.astype(np.float32)
        best = int(np.argmax(similarities))
        similarity = float(similarities[best])
        if similarity < self.semantic_similarity:
            return None
        exact = await self._get_exact(scope, digests[best])
        if exact is None:
            return None
        return CacheHit("semantic", exact.entry, similarity)

    async def put(
        self,
        workspace_id: uuid.UUID,
        knowledge_version: int,
        normalized: str,
        embedding: np.ndarray | None,
        entry: dict[str, Any],
    ) -> None:
        scope = self.scope(workspace_id, knowledge_version)
        digest = _digest(normalized)
        payload = json.dumps(entry, default=str)
        vector = None if embedding is None else embedding.astype(np.float32)
        redis = self._usable_redis()
        if redis is not None:
            try:
                async with redis.pipeline(transaction=False) as pipe:
                    pipe.set(f"tb:rc:{scope}:{digest}", payload, ex=self.ttl)
                    if vector is not None:
                        key = f"tb:rcv:{scope}"
                        pipe.hlen(key)
                        pipe.expire(key, self.ttl)
                    results = await pipe.execute()
                if vector is not None and int(results[1]) < self.max_vectors:
                    await _wait(redis.hset(f"tb:rcv:{scope}", digest, vector.tobytes()))  # type: ignore[arg-type]
                return
            except (RedisError, OSError) as exc:
                self._redis_failed(exc)
        self.memory.put(f"{scope}:{digest}", json.loads(payload))
        if vector is not None:
            self.memory.add_vector(scope, digest, vector)

    async def stats(self, workspace_id: uuid.UUID) -> dict[str, Any]:
        counts: dict[str, int] = {}
        redis = self._usable_redis()
        if redis is not None:
            try:
                raw = await _wait(redis.hgetall(f"tb:rcs:{workspace_id}"))
                counts = {k.decode(): int(v) for k, v in raw.items()}
            except (RedisError, OSError) as exc:
                self._redis_failed(exc)
        for field, value in self.memory.stats.get(str(workspace_id), {}).items():
            counts[field] = counts.get(field, 0) + value
        exact = counts.get("exact", 0)
        semantic = counts.get("semantic", 0)
        misses = counts.get("miss", 0)
        lookups = exact + semantic + misses
        return {
            "lookups": lookups,
            "exact_hits": exact,
            "semantic_hits": semantic,
            "misses": misses,
            "hit_ratio": round((exact + semantic) / lookups, 4) if lookups else 0.0,
        }
