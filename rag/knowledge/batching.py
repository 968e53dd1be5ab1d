"""One embedding model, many callers: micro-batched queries ahead of document slices.

A ``ModelScheduler`` stands in front of one embedding backend, an async ``encode(texts) ->
matrix`` (the local model in a worker thread, or one request to an embeddings API):

- Queries (``query``) that arrive while the model is busy, or within ``wait_ms`` of the first
  of them, are encoded together, at most ``max_batch`` at a time; each caller gets its own row.
  The gathering window applies only once the scheduler has seen concurrent queries (its last
  query batch had more than one caller): a lone visitor is never kept waiting for company.
- Document batches (``documents``) are cut into slices of at most ``slice_size`` texts and at
  most ``slice_chars`` characters (a text longer than that is a slice of its own), queued behind
  every waiting query: a query waits for at most the one slice the model is busy with, about one
  full chunk's time, while short chunks still share a model call. Document jobs take turns,
  one slice each (round robin): a workspace's FAQ or small upload waits for one slice of each
  job ahead of it, not for the whole of a large upload queued first (another workspace's 2 MB
  document held an FAQ's save for minutes, first in first out).
- ``workers`` batches run at once: 1 for a local model (one encoding already uses every core),
  the request concurrency for a remote API.
- ``query_encode`` (default: ``encode``) encodes the query batches, so questions may run on a
  cheaper graph than stored documents (``EMBED_QUERY_PRECISION=int8``).
- A batch that fails fails its own callers only. ``aclose`` lets the workers finish what is
  queued, then stops them; a later call starts them again.

``QueryCache`` keeps query vectors by model and normalized text (bounded LRU), so a repeated
question does not pay for the model again.
"""

from __future__ import annotations

import asyncio
import time
import unicodedata
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from cachetools import LRUCache

from core import metrics

Encode = Callable[[list[str]], Awaitable[np.ndarray]]
Kind = Literal["query", "document"]


@dataclass(frozen=True)
class Batching:
    """How a ``ModelScheduler`` gathers work (EMBED_BATCH_MAX, EMBED_BATCH_WAIT_MS,
    EMBED_DOCUMENT_SLICE, EMBED_DOCUMENT_SLICE_CHARS)."""

    max_batch: int = 64
    wait_ms: float = 2.0
    slice_size: int = 4
    slice_chars: int = 1200

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.slice_size < 1 or self.slice_chars < 1 or self.wait_ms < 0:
            raise ValueError(
                "max_batch, slice_size and slice_chars must be positive, wait_ms not negative"
            )

    def slices(self, texts: Sequence[str]) -> list[list[str]]:
        """``texts`` in order, cut into slices of at most ``slice_size`` texts whose lengths add
        up to at most ``slice_chars`` (one longer text alone)."""
        slices: list[list[str]] = []
        current: list[str] = []
        chars = 0
        for text in texts:
            if current and (
                len(current) >= self.slice_size or chars + len(text) > self.slice_chars
            ):
                slices.append(current)
                current, chars = [], 0
            current.append(text)
            chars += len(text)
        if current:
            slices.append(current)
        return slices


@dataclass
class SchedulerStats:
    """What the scheduler did: how many model calls of each kind, and the largest query batch."""

    query_batches: int = 0
    queries: int = 0
    slices: int = 0
    largest_batch: int = 0
    calls: list[tuple[Kind, int]] = field(default_factory=list)
    """The most recent model calls in order, (kind, texts), at most ``KEEP_CALLS``."""

    KEEP_CALLS = 256

    def record(self, kind: Kind, size: int) -> None:
        if kind == "query":
            self.query_batches += 1
            self.queries += size
            self.largest_batch = max(self.largest_batch, size)
        else:
            self.slices += 1
        self.calls.append((kind, size))
        if len(self.calls) > self.KEEP_CALLS:
            del self.calls[: -self.KEEP_CALLS]


@dataclass
class _Query:
    text: str
    future: asyncio.Future[np.ndarray]
    queued_at: float


@dataclass
class _Slice:
    texts: list[str]
    future: asyncio.Future[np.ndarray]


class ModelScheduler:
    """Queries first, micro-batched; documents in small slices behind them (module docstring)."""

    def __init__(
        self,
        encode: Encode,
        *,
        batching: Batching | None = None,
        workers: int = 1,
        query_encode: Encode | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be positive")
        self._encode = encode
        self._query_encode = query_encode or encode
        self.batching = batching or Batching()
        self.workers = workers
        self.stats = SchedulerStats()
        self._queries: deque[_Query] = deque()
        self._jobs: deque[deque[_Slice]] = deque()  # each document call's slices, in turn
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._closing = False
        self._concurrent = False

    # --- callers ------------------------------------------------------------------------

    async def query(self, text: str) -> np.ndarray:
        """The vector of one query, encoded with whatever other queries are waiting."""
        loop = self._start()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._queries.append(_Query(text, future, time.perf_counter()))
        if len(self._queries) >= self.batching.max_batch:
            self._full.set()
        self._wake.set()
        return await future

    async def documents(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors of ``texts`` in order, encoded slice by slice behind waiting queries."""
        loop = self._start()
        futures: list[asyncio.Future[np.ndarray]] = []
        job: deque[_Slice] = deque()
        for part in self.batching.slices(texts):
            future: asyncio.Future[np.ndarray] = loop.create_future()
            job.append(_Slice(part, future))
            futures.append(future)
        if job:
            self._jobs.append(job)
        self._wake.set()
        try:
            parts = [await future for future in futures]
        finally:  # one slice failed, or the caller went away: the rest are not encoded
            for future in futures:
                if not future.done():
                    future.cancel()
                elif not future.cancelled():
                    future.exception()  # retrieved, so asyncio does not log it again
        return np.vstack(parts)

    async def aclose(self) -> None:
        """Finish everything queued, then stop the workers."""
        if not self._tasks:
            return
        if self._loop is not asyncio.get_running_loop():  # its loop is gone: nothing to drain
            self._tasks = []
            return
        self._closing = True
        self._wake.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    @property
    def pending(self) -> int:
        """Queries and document slices waiting for the model."""
        return len(self._queries) + sum(len(job) for job in self._jobs)

    # --- the workers ----------------------------------------------------------------------

    def _start(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is loop and any(not task.done() for task in self._tasks):
            return loop
        if self._loop is not loop:  # a new event loop (another asyncio.run): start afresh
            self._queries.clear()
            self._jobs.clear()
            self._wake = asyncio.Event()
            self._full = asyncio.Event()
        self._loop = loop
        self._closing = False
        self._tasks = [
            loop.create_task(self._work(), name=f"embedding-worker-{i}")
            for i in range(self.workers)
        ]
        return loop

    async def _work(self) -> None:
        while True:
            job = await self._next()
            if job is None:
                return
            kind, texts, futures = job
            started = time.perf_counter()
            encode = self._query_encode if kind == "query" else self._encode
            encoding = asyncio.ensure_future(encode(texts))
            _withdrawn_with(encoding, futures)
            try:
                matrix = await encoding
                if len(matrix) != len(texts):
                    raise RuntimeError(f"the model returned {len(matrix)} rows for {len(texts)}")
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if encoding.cancelled() and not (task is not None and task.cancelling()):
                    continue  # every caller went away: their request was withdrawn
                for future in futures:
                    if not future.done():
                        future.set_exception(RuntimeError("the embedding worker was stopped"))
                raise
            except Exception as exc:
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
                await asyncio.sleep(0)
                continue
            finally:
                self.stats.record(kind, len(texts))
                metrics.observe_embedding_batch(kind, len(texts), time.perf_counter() - started)
            if kind == "query":
                for future, row in zip(futures, matrix, strict=True):
                    if not future.done():  # a copy: a row alone, not a view of the batch
                        future.set_result(np.array(row, dtype=np.float32))
            elif not futures[0].done():
                futures[0].set_result(np.asarray(matrix, dtype=np.float32))
            # One loop turn before the next piece: the callers just answered react (a failed
            # document job withdraws its other slices), and queries about to arrive are queued
            # before a slice is picked.
            await asyncio.sleep(0)

    async def _next(self) -> tuple[Kind, list[str], list[asyncio.Future[np.ndarray]]] | None:
        """The next piece of work: waiting queries first, else one slice of the document job
        whose turn it is; None once closing and nothing is left."""
        while True:
            if self._queries:
                await self._gather()
                batch: list[_Query] = []
                while self._queries and len(batch) < self.batching.max_batch:
                    item = self._queries.popleft()
                    if not item.future.done():  # its caller went away
                        batch.append(item)
                if not batch:
                    continue
                self._concurrent = len(batch) > 1
                return "query", [q.text for q in batch], [q.future for q in batch]
            if self._jobs:
                job = self._jobs.popleft()
                piece = job.popleft()
                if job:  # its next slice after one of every other job's
                    self._jobs.append(job)
                if piece.future.done():
                    continue
                return "document", piece.texts, [piece.future]
            if self._closing:
                return None
            self._wake.clear()
            await self._wake.wait()

    async def _gather(self) -> None:
        """Under concurrency, wait up to ``wait_ms`` after the oldest waiting query for more
        (until ``max_batch`` are waiting)."""
        wait = self.batching.wait_ms / 1000
        if not self._concurrent or wait <= 0 or self._closing:
            return
        remaining = self._queries[0].queued_at + wait - time.perf_counter()
        if remaining <= 0 or len(self._queries) >= self.batching.max_batch:
            return
        self._full.clear()
        try:
            async with asyncio.timeout(remaining):
                await self._full.wait()
        except TimeoutError:
            pass


def _withdrawn_with(
    encoding: asyncio.Future[np.ndarray], futures: list[asyncio.Future[np.ndarray]]
) -> None:
    """``encoding`` (the model's request) cancelled once every caller waiting for it went away
    (a chat turn past its model time, a visitor gone): a hung provider's request does not go
    on, with its retries, for nobody."""

    def withdraw(_: object) -> None:
        if not encoding.done() and all(future.cancelled() for future in futures):
            encoding.cancel()

    for future in futures:
        future.add_done_callback(withdraw)


def normalize_query(text: str) -> str:
    """The cache key of a query: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


class QueryCache:
    """Query vectors by (model, normalized text), least recently used out first; size 0: off.

    Vectors are stored read-only, so no caller can change another's."""

    def __init__(self, model: str, size: int) -> None:
        self.model = model
        self._lru: LRUCache[tuple[str, str], np.ndarray] | None = (
            LRUCache(maxsize=size) if size > 0 else None
        )

    def get(self, text: str) -> np.ndarray | None:
        if self._lru is None:
            return None
        vector = self._lru.get((self.model, normalize_query(text)))
        metrics.count_cache("miss" if vector is None else "hit", cache="query_embedding")
        return vector

    def put(self, text: str, vector: np.ndarray) -> np.ndarray:
        if self._lru is None:
            return vector
        vector = np.array(vector, dtype=np.float32)
        vector.flags.writeable = False
        self._lru[(self.model, normalize_query(text))] = vector
        return vector

    def __len__(self) -> int:
        return 0 if self._lru is None else len(self._lru)


__all__ = ["Batching", "ModelScheduler", "QueryCache", "SchedulerStats", "normalize_query"]
