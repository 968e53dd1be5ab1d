"""``OpenAIEmbedder``: any OpenAI-compatible ``/embeddings`` endpoint (``text-embedding-3-small``).

Requests are planned within the API's limits (``plan_batches``), sent with bounded concurrency
and retried here with jittered exponential backoff (honouring Retry-After).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

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

from rag.knowledge.batching import Batching, ModelScheduler, QueryCache
from rag.knowledge.embedders import EmbeddingError, QueryFront, l2_normalize

log = logging.getLogger(__name__)

OPENAI_MAX_INPUTS = 2048
OPENAI_MAX_TOKENS = 300_000


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


class OpenAIEmbedder(QueryFront):
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
            # The provider's own words (its account, the key's ends, its request ids) go to the
            # log only: the error reaches whoever asked, a visitor through the chat included.
            log.warning("embedding request failed (provider status %s): %s", status, exc)
            answered = f"the provider answered HTTP {status}" if status else "provider unreachable"
            if not _is_retryable(exc):
                raise EmbeddingError(
                    f"Embedding request failed ({answered})", details={"status": status}
                ) from exc
            attempts = retrying.statistics.get("attempt_number", self.max_retries + 1)
            raise EmbeddingError(
                f"Embedding service unavailable after {attempts} attempts ({answered})",
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
