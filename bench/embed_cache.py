"""An on-disk embedding cache shared by the retrieval-quality benchmarks.

``EmbeddingCache`` keeps float32 vectors in one sqlite file keyed by sha256(model NUL text), so a
lever that changes a tenth of the chunks re-embeds a tenth, and a rerun re-embeds nothing.
``CachedEmbedder`` puts it in front of a product embedder (the ``Embedder`` Protocol) so the real
ingest path of ``bench.eval_quality`` shares the vectors ``bench.retrieval_levers`` computed.

The default place is ``.cache/levers`` in the checkout (ignored by git), or ``$LEVERS_DIR``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from bench.common import ROOT
from rag.knowledge.embeddings import LOCAL_MODEL_NAME, Embedder
from rag.knowledge.onnx_minilm import QUANTIZED_FORMAT

INT8_QUERIES = f"#int8q{QUANTIZED_FORMAT}"
"""Appended to the cache's model name for questions encoded by the int8 graph
(``EMBED_QUERY_PRECISION=int8``): their vectors are not the full-precision ones, and a new
quantization format keys them apart again."""

DEFAULT_DIR = Path(os.environ.get("LEVERS_DIR", str(ROOT / ".cache" / "levers")))


class EmbeddingCache:
    """float32 vectors by sha256(model NUL text) in one sqlite file."""

    def __init__(self, path: Path, model: str = LOCAL_MODEL_NAME) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("CREATE TABLE IF NOT EXISTS e (key TEXT PRIMARY KEY, v BLOB NOT NULL)")
        self.model = model
        self.path = path
        self.encoded = 0

    def int8_questions(self) -> EmbeddingCache:
        """The same file, keyed apart for questions encoded by the int8 graph."""
        return EmbeddingCache(self.path, model=self.model + INT8_QUERIES)

    def key(self, text: str) -> str:
        return hashlib.sha256(f"{self.model}\0{text}".encode()).hexdigest()

    def lookup(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors of ``texts``, by key."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(self.key(t) for t in texts))
        for i in range(0, len(unique), 500):
            part = unique[i : i + 500]
            marks = ",".join("?" * len(part))
            for key, blob in self.db.execute(f"SELECT key, v FROM e WHERE key IN ({marks})", part):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def store(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        rows = [
            (self.key(t), np.asarray(v, dtype=np.float32).tobytes())
            for t, v in zip(texts, vectors, strict=True)
        ]
        self.db.executemany("INSERT OR REPLACE INTO e VALUES (?, ?)", rows)
        self.db.commit()
        self.encoded += len(rows)

    def embed(
        self,
        texts: Sequence[str],
        encode: Callable[[list[str]], np.ndarray],
        *,
        longest_first: bool = False,
    ) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        found = self.lookup(texts)
        missing = [(k, t) for k, t in dict(zip(keys, texts, strict=True)).items() if k not in found]
        # Batches of alike lengths pad less; a second process filling the same shard from the
        # other end (longest_first) meets the first one in the middle.
        missing.sort(key=lambda kt: len(kt[1]), reverse=longest_first)
        batch = 64
        started = time.perf_counter()
        for i in range(0, len(missing), batch):
            part = missing[i : i + batch]
            vectors = encode([t for _, t in part])
            self.store([t for _, t in part], vectors)
            for (k, _), v in zip(part, vectors, strict=True):
                found[k] = v.astype(np.float32)
            done = i + len(part)
            rate = done / max(1e-9, time.perf_counter() - started)
            print(f"  embedded {done}/{len(missing)} ({rate:.0f}/s)", file=sys.stderr, end="\r")
        if missing:
            print(file=sys.stderr)
        return np.vstack([found[k] for k in keys]) if keys else np.zeros((0, 384), np.float32)


class VectorCache(Protocol):
    """What the levers harness reads from a cache: one model's (``EmbeddingCache``) or two
    models' side by side (``EnsembleCache``)."""

    @property
    def model(self) -> str: ...

    @property
    def path(self) -> Path: ...

    @property
    def encoded(self) -> int: ...

    def int8_questions(self) -> VectorCache: ...

    def embed(
        self, texts: Sequence[str], encode: Callable[[list[str]], np.ndarray]
    ) -> np.ndarray: ...


class EnsembleCache:
    """Two models' caches read as one (``--ensemble``): each text's vector is the two models'
    unit vectors side by side, each times 1/sqrt(2), so a question's dot product with a chunk is
    the mean of its two cosines (pseudo-relevance feedback then moves the question in that
    joint space). Each side embeds what its own cache lacks with its own encoder; the
    ``encode`` a caller passes is not used."""

    def __init__(
        self,
        caches: tuple[EmbeddingCache, EmbeddingCache],
        encodes: tuple[Callable[[list[str]], np.ndarray], Callable[[list[str]], np.ndarray]],
    ) -> None:
        self.caches = caches
        self.encodes = encodes
        self.model = f"mean:{caches[0].model}+{caches[1].model}"
        self.path = caches[0].path

    @property
    def encoded(self) -> int:
        return sum(c.encoded for c in self.caches)

    def int8_questions(self) -> EnsembleCache:
        raise SystemExit("--ensemble encodes questions in full precision only")

    def embed(
        self, texts: Sequence[str], encode: Callable[[list[str]], np.ndarray] | None = None
    ) -> np.ndarray:
        halves = [c.embed(texts, e) for c, e in zip(self.caches, self.encodes, strict=True)]
        return np.hstack(halves).astype(np.float32) / np.float32(np.sqrt(2.0))


def open_cache(directory: Path, model: Path | None) -> EmbeddingCache:
    """The embedding cache, keyed by the product's model, by ``st:<model directory name>`` or
    by ``onnx:<graph file name>``."""
    path = directory / "embeddings.sqlite"
    if model is None:
        return EmbeddingCache(path)
    kind = "onnx" if model.suffix == ".onnx" else "st"
    return EmbeddingCache(path, f"{kind}:{model.name}")


class CachedEmbedder:
    """A product embedder behind an ``EmbeddingCache``: documents and queries already embedded
    (by this or by ``bench.retrieval_levers``) are read from disk, the rest go to ``inner``."""

    def __init__(self, inner: Embedder, cache: EmbeddingCache) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        self.dimensions = inner.dimensions
        self._questions: EmbeddingCache | None = None

    def questions(self) -> EmbeddingCache:
        """The cache of question vectors: the documents' own, or for int8 questions one keyed
        apart (the model loaded first, so the precision it runs is known)."""
        if self._questions is None:
            load = getattr(self.inner, "load", None)
            if callable(load):
                load()
            int8 = getattr(self.inner, "query_precision_used", None) == "int8"
            self._questions = self.cache.int8_questions() if int8 else self.cache
        return self._questions

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        keys = [self.cache.key(t) for t in texts]
        found = self.cache.lookup(texts)
        missing = list(dict.fromkeys(t for k, t in zip(keys, texts, strict=True) if k not in found))
        if missing:
            vectors = await self.inner.embed_documents(missing)
            self.cache.store(missing, vectors)
            found.update(self.cache.lookup(missing))
        if not keys:
            return np.zeros((0, self.dimensions), np.float32)
        return np.vstack([found[k] for k in keys])

    async def embed_query(self, text: str) -> np.ndarray:
        cache = self.questions()
        found = cache.lookup([text]).get(cache.key(text))
        if found is not None:
            return found
        vector = await self.inner.embed_query(text)
        cache.store([text], vector[None, :])
        return vector

    async def aclose(self) -> None:
        await self.inner.aclose()
