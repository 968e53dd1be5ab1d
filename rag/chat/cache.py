"""The response cache: exact and semantic, per workspace and knowledge version.

Keys carry the workspace and its knowledge version, so any document or FAQ change (which bumps
the version) makes every earlier answer unreachable at once: a stale answer never survives a
knowledge change. The version also carries a digest of what the model is told besides the
question (persona, bot name, lead capture): answers in an old voice retire with it. Entries
expire after a TTL. Besides the exact key (the normalized question), a new question whose
embedding lies within a strict cosine similarity of a cached one, in the same workspace and
version, is served too.

Redis when configured; an in-process LRU otherwise, and also while Redis is unreachable (the
cache degrades to a miss or to memory, the chat keeps answering).

A visitor's erasure clears the workspace's cache (``forget_workspace``); a turn begun before it
stores nothing after it (``fence``, ``put``: ``rag.chat.cache_fence``).

A scope's cached-question embeddings are one float32 matrix in the process (``ScopeVectors``), so
a semantic lookup is one matrix product. With Redis they live in a list per scope (digest and
vector bytes per item, appended until ``max_vectors_per_scope``); each process mirrors the lists
it reads and fetches only the items added since its last look (``LLEN`` + ``LRANGE seen -1`` in
one round trip), instead of the whole scope's vectors on every question.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
from cachetools import LRUCache, TTLCache
from redis.asyncio import Redis
from redis.exceptions import RedisError

from rag.chat.cache_fence import (
    PUT_SCRIPT,
    Fence,
    MemoryEpochs,
    epoch_key,
    raise_epoch,
    read_epoch,
)
from rag.chat.match_guard import contradicts, says_more

log = logging.getLogger(__name__)

HitKind = Literal["exact", "semantic"]
Version = int | str
"""A scope's version: the workspace's knowledge version, with what else shapes a model's
answers (``rag.chat.stages.Turn.cache_version``: persona, bot name, lead capture)."""
# The vectors a process's mirrors of Redis lists hold together: 31 MB at 384 dimensions, 123 MB
# at 1536 (a scope full at 512 vectors is 0.8 MB, or 3.1 MB).
MIRROR_ROWS = 20_000
DIGEST_BYTES = 32  # a Redis list item: the question's digest (32 ASCII hex), then its vector
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


def _served(hit: CacheHit | None, extractive: bool) -> CacheHit | None:
    """The hit, unless it is an answer quoted without a model and those are not served."""
    if hit is not None and not extractive and hit.entry.get("extractive"):
        return None
    return hit


def _rows(vectors: ScopeVectors) -> int:
    return vectors.reserved


def _mirror_rows(mirror: _Mirror) -> int:
    return max(1, mirror.vectors.reserved)


def _digest(normalized: str) -> str:
    return hashlib.sha256(normalized.encode()).hexdigest()[:32]


class ScopeVectors:
    """One scope's cached-question embeddings as rows of one float32 matrix, in the order they
    came; once ``capacity`` rows are held, a new question replaces the oldest. ``nearest`` is
    one matrix product."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, int(capacity))
        self.matrix: np.ndarray | None = None
        self.digests: list[str] = []
        self.rows: dict[str, int] = {}
        self._oldest = 0  # the row a new question replaces once full

    def clear(self) -> None:
        self.matrix, self.digests, self.rows, self._oldest = None, [], {}, 0

    def __len__(self) -> int:
        return len(self.digests)

    @property
    def reserved(self) -> int:
        """The rows the matrix holds room for (what it weighs: rows x dimensions x 4 bytes)."""
        return 0 if self.matrix is None else int(self.matrix.shape[0])

    def add(self, digest: str, vector: np.ndarray) -> None:
        v = np.asarray(vector, dtype=np.float32).ravel()
        if self.matrix is not None and self.matrix.shape[1] != v.shape[0]:
            self.clear()  # another model's dimension: start over
        row = self.rows.get(digest)
        if row is None:
            if len(self.digests) < self.capacity:
                row = len(self.digests)
                self._reserve(row + 1, v.shape[0])
                self.digests.append(digest)
            else:
                row = self._oldest
                self._oldest = (row + 1) % self.capacity
                del self.rows[self.digests[row]]
                self.digests[row] = digest
            self.rows[digest] = row
        assert self.matrix is not None
        self.matrix[row] = v

    def _reserve(self, rows: int, dim: int) -> None:
        if self.matrix is None:
            self.matrix = np.empty((min(self.capacity, max(rows, 16)), dim), dtype=np.float32)
        elif rows > self.matrix.shape[0]:
            grown = np.empty(
                (min(self.capacity, max(rows, 2 * self.matrix.shape[0])), dim), dtype=np.float32
            )
            grown[: len(self.digests)] = self.matrix[: len(self.digests)]
            self.matrix = grown

    def nearest(self, embedding: np.ndarray) -> tuple[str, float] | None:
        """The digest of the most similar cached question and the cosine (unit vectors)."""
        query = np.asarray(embedding, dtype=np.float32).ravel()
        held = len(self.digests)
        if not held or self.matrix is None or self.matrix.shape[1] != query.shape[0]:
            return None
        similarities = self.matrix[:held] @ query
        best = int(np.argmax(similarities))
        return self.digests[best], float(similarities[best])


@dataclass
class _Mirror:
    """A process's copy of one scope's Redis vector list: the first ``seen`` items."""

    vectors: ScopeVectors
    seen: int
    born: float


class _MemoryStore:
    """Without Redis (or while it is unreachable): a bounded LRU of entries with a TTL, and
    the embeddings of each scope's latest questions (``ScopeVectors``, scopes in an LRU).

    A scope's vectors expire with its newest entry (the TTL from its last question added) and
    all scopes together hold at most as many vectors as there may be entries: they pointed to
    nothing once the entries were gone, and were bounded by a count of scopes only (1,000 x 512
    vectors, 3.1 GB at 1536 dimensions; a reviewer's finding)."""

    def __init__(
        self,
        max_entries: int,
        max_vectors: int,
        ttl: int,
        *,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_vectors = max_vectors
        self.entries: TTLCache[str, dict[str, Any]] = TTLCache(
            maxsize=max_entries, ttl=ttl, timer=timer
        )
        self.vectors: TTLCache[str, ScopeVectors] = TTLCache(
            maxsize=max(max_entries, max_vectors), ttl=ttl, timer=timer, getsizeof=_rows
        )
        self.stats: dict[str, dict[str, int]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.entries.get(key)

    def put(self, key: str, entry: dict[str, Any]) -> None:
        self.entries[key] = entry

    def add_vector(self, scope: str, digest: str, vector: np.ndarray) -> None:
        bucket = self.vectors.get(scope)
        if bucket is None:
            bucket = ScopeVectors(self.max_vectors)
        bucket.add(digest, vector)
        self.vectors[scope] = bucket  # weighed again, and its TTL from now

    def nearest(self, scope: str, embedding: np.ndarray) -> tuple[str, float] | None:
        bucket = self.vectors.get(scope)
        return None if bucket is None else bucket.nearest(embedding)

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
        self.mirrors: LRUCache[str, _Mirror] = LRUCache(
            maxsize=max(MIRROR_ROWS, max_vectors_per_scope), getsizeof=_mirror_rows
        )
        self._redis_down_until = 0.0
        self._retry = redis_retry_seconds
        # A turn's entry is stored only while no erasure cleared the cache since it began.
        self.epochs = MemoryEpochs()
        self._put = None if redis is None else redis.register_script(PUT_SCRIPT)

    # --- helpers --------------------------------------------------------------------------

    @staticmethod
    def scope(workspace_id: uuid.UUID, knowledge_version: Version) -> str:
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
        knowledge_version: Version,
        normalized: str,
        *,
        count_miss: bool = True,
        extractive: bool = True,
    ) -> CacheHit | None:
        """The exact key only: no embedding needed, so the cheapest lookup comes first.
        ``extractive=False``: an answer quoted without a model is not served (a model answers
        it anew), so it is no hit (the stats count what was served)."""
        scope = self.scope(workspace_id, knowledge_version)
        hit = _served(await self._get_exact(scope, _digest(normalized)), extractive)
        if hit is not None or count_miss:
            await self._count(workspace_id, hit.kind if hit else "miss")
        return hit

    async def get_semantic(
        self,
        workspace_id: uuid.UUID,
        knowledge_version: Version,
        embedding: np.ndarray | None,
        *,
        extractive: bool = True,
        question: str | None = None,
    ) -> CacheHit | None:
        """A cached question within the similarity bound (``extractive`` as for ``get_exact``)
        whose words do not contradict the visitor's ``question`` (``match_guard.contradicts``:
        "not included" is not "included") nor say more than it (``match_guard.says_more``: an
        answer shaped by words this visitor did not write is not theirs); an entry stored
        without its question is no hit; None, the vectors alone. Counts a hit or a miss."""
        hit = None
        if embedding is not None:
            found = await self._get_semantic(self.scope(workspace_id, knowledge_version), embedding)
            hit = _served(found, extractive)
        if hit is not None and question is not None:
            cached = hit.entry.get("question")
            if (
                not isinstance(cached, str)
                or contradicts(question, cached) is not None
                or says_more(cached, question)
            ):
                hit = None
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
        nearest = None
        if redis is not None:
            try:
                nearest = (await self._mirror(redis, scope)).vectors.nearest(embedding)
            except (RedisError, OSError) as exc:
                self._redis_failed(exc)
                nearest = self.memory.nearest(scope, embedding)
        else:
            nearest = self.memory.nearest(scope, embedding)
        if nearest is None:
            return None
        digest, similarity = nearest
        if similarity < self.semantic_similarity:
            return None
        exact = await self._get_exact(scope, digest)
        if exact is None:
            return None
        return CacheHit("semantic", exact.entry, similarity)

    async def _mirror(self, redis: Redis, scope: str) -> _Mirror:
        """This process's copy of the scope's vector list, brought up to date: the items added
        since the last look, in the same round trip as the list's length. A list shorter than
        what was seen (it expired and began again), or a copy older than the TTL, is read
        again from the start."""
        key = f"tb:rcl:{scope}"
        mirror = self.mirrors.get(scope)
        if mirror is None or time.monotonic() - mirror.born > self.ttl:
            mirror = self._fresh_mirror(scope)
        async with redis.pipeline(transaction=False) as pipe:
            pipe.llen(key)
            pipe.lrange(key, mirror.seen, -1)
            length, items = await pipe.execute()
        if int(length) < mirror.seen:
            mirror = self._fresh_mirror(scope)
            items = await _wait(redis.lrange(key, 0, -1))
        for item in items:
            digest = item[:DIGEST_BYTES].decode("ascii", "replace")
            mirror.vectors.add(digest, np.frombuffer(item[DIGEST_BYTES:], dtype=np.float32))
        mirror.seen += len(items)
        if items:
            self.mirrors[scope] = mirror  # weighed again
        return mirror

    def _fresh_mirror(self, scope: str) -> _Mirror:
        mirror = self.mirrors[scope] = _Mirror(ScopeVectors(self.max_vectors), 0, time.monotonic())
        return mirror

    async def fence(self, workspace_id: uuid.UUID) -> Fence:
        """The workspace's erasure epochs now: read when a turn begins, its ``put`` stores
        nothing once an erasure cleared the cache after (``rag.chat.cache_fence``)."""
        epoch = None
        redis = self._usable_redis()
        if redis is not None:
            try:
                epoch = await read_epoch(redis, workspace_id)
            except (RedisError, OSError) as exc:
                self._redis_failed(exc)
        return Fence(redis=epoch, memory=self.epochs.get(workspace_id))

    async def put(
        self,
        workspace_id: uuid.UUID,
        knowledge_version: Version,
        normalized: str,
        embedding: np.ndarray | None,
        entry: dict[str, Any],
        *,
        fence: Fence | None = None,
    ) -> None:
        """Store the answer (``fence``: only if no erasure cleared the workspace's cache since
        the turn's ``fence`` was read; None, always)."""
        scope = self.scope(workspace_id, knowledge_version)
        digest = _digest(normalized)
        payload = json.dumps({**entry, "question": normalized}, default=str)
        vector = None if embedding is None else embedding.astype(np.float32)
        redis = self._usable_redis()
        if redis is not None and self._put is not None:
            if fence is not None and fence.redis is None:
                return  # its epoch unread, a turn cannot tell an erasure came since
            item = b"" if vector is None else digest.encode("ascii") + vector.tobytes()
            keys = [epoch_key(workspace_id), f"tb:rc:{scope}:{digest}", f"tb:rcl:{scope}"]
            expected = "" if fence is None else str(fence.redis)
            try:
                await self._put(
                    keys=keys, args=[expected, payload, self.ttl, item, self.max_vectors]
                )
                return
            except (RedisError, OSError) as exc:
                self._redis_failed(exc)
        if fence is not None and fence.memory != self.epochs.get(workspace_id):
            return
        self.memory.put(f"{scope}:{digest}", json.loads(payload))
        if vector is not None:
            self.memory.add_vector(scope, digest, vector)

    async def forget_workspace(self, workspace_id: uuid.UUID) -> int:
        """Every cached answer of the workspace, whatever its version, and the embeddings of its
        cached questions: in Redis (``tb:rc:<ws>:*``, ``tb:rcl:<ws>:*``, SCAN and DEL), in this
        process's memory and in its mirrors of the Redis lists. An entry holds the visitor's
        question and its key is a digest, so a visitor's erasure cannot pick out their entries:
        the workspace's cache goes (the next questions fill it again). The hit/miss counts stay
        (numbers only). How many Redis keys went. With Redis unreachable its keys stay until
        CACHE_TTL_SECONDS (a warning says so) and this process's memory is cleared all the same.
        The erasure epoch is raised first: a turn begun before stores nothing after
        (``rag.chat.cache_fence``)."""
        prefix = f"{workspace_id}:"
        removed = 0
        if self.redis is not None:
            try:
                await raise_epoch(self.redis, workspace_id)
                for pattern in (f"tb:rc:{prefix}*", f"tb:rcl:{prefix}*"):
                    batch: list[bytes | str] = []
                    async for key in self.redis.scan_iter(match=pattern, count=1000):
                        batch.append(key)
                        if len(batch) >= 500:
                            removed += int(await self.redis.delete(*batch))
                            batch.clear()
                    if batch:
                        removed += int(await self.redis.delete(*batch))
            except (RedisError, OSError) as exc:
                self._redis_failed(exc)
                log.warning(
                    "response cache of workspace %s not cleared in Redis: its entries expire"
                    " with CACHE_TTL_SECONDS",
                    workspace_id,
                )
        self.forget_workspace_here(workspace_id)
        return removed

    def forget_workspace_here(self, workspace_id: uuid.UUID) -> None:
        """The workspace's entries and vectors in this process only (the in-process LRU, the
        mirrors of Redis lists): what a purge, which deletes the Redis keys itself, leaves.
        Its erasure epoch here is raised first (``rag.chat.cache_fence``)."""
        self.epochs.raise_epoch(workspace_id)
        prefix = f"{workspace_id}:"
        for key in [k for k in list(self.memory.entries) if k.startswith(prefix)]:
            self.memory.entries.pop(key, None)
        for scope in [s for s in list(self.memory.vectors) if s.startswith(prefix)]:
            self.memory.vectors.pop(scope, None)
        for scope in [s for s in list(self.mirrors) if s.startswith(prefix)]:
            self.mirrors.pop(scope, None)

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
