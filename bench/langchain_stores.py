"""The LangChain side of bench.peer_langchain: langchain-postgres ``PGVector`` and
``PGVectorStore`` loaded with the corpus' precomputed vectors and queried per tenant."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.peer_corpus import DIM, DOC_CHUNKS, Tenant, embed


def fake_embeddings(lookup: dict[str, np.ndarray]) -> Any:
    from langchain_core.embeddings import Embeddings

    class Precomputed(Embeddings):
        """Returns the precomputed HashEmbedder vectors (the same ones TrulyBot stores)."""

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [self._one(t) for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return self._one(text)

        @staticmethod
        def _one(text: str) -> list[float]:
            vec = lookup.get(text)
            if vec is None:
                vec = embed([text])[0]
            return [float(x) for x in vec]

    return Precomputed()


def psycopg_url(url: str) -> str:
    return re.sub(r"^postgresql(\+\w+)?://", "postgresql+psycopg://", url)


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def lc_v1(
    url: str, tenants: list[Tenant], target: Tenant, queries: np.ndarray, k: int, emb: Any
) -> dict[str, Any]:
    from langchain_postgres import PGVector

    store = PGVector(
        embeddings=emb,
        connection=url,
        collection_name="bench",
        embedding_length=DIM,
        use_jsonb=True,
        pre_delete_collection=True,
    )

    def add(t: Tenant) -> None:
        for s in range(0, len(t.texts), DOC_CHUNKS):
            store.add_embeddings(
                texts=t.texts[s : s + DOC_CHUNKS],
                embeddings=[[float(x) for x in v] for v in t.vectors[s : s + DOC_CHUNKS]],
                metadatas=[{"tenant": t.name, "title": f"doc {s}"}]
                * len(t.texts[s : s + DOC_CHUNKS]),
            )

    for t in tenants:
        if t is not target:
            add(t)
    insert = timed(lambda: add(target))
    times, results = [], []
    for q in queries:
        qv = [float(x) for x in q]
        t0 = time.perf_counter()
        docs = store.similarity_search_by_vector(qv, k=k, filter={"tenant": target.name})
        times.append((time.perf_counter() - t0) * 1000)
        results.append([d.page_content for d in docs])
    return {"insert": insert, "index": 0.0, "times": times, "results": results}


def lc_v2(
    url: str, tenants: list[Tenant], target: Tenant, queries: np.ndarray, k: int, emb: Any
) -> dict[str, Any]:
    from langchain_postgres import Column, PGEngine, PGVectorStore
    from langchain_postgres.v2.indexes import HNSWIndex

    engine = PGEngine.from_connection_string(url=url)
    table = "bench_lc_v2"
    engine.init_vectorstore_table(
        table_name=table,
        vector_size=DIM,
        metadata_columns=[Column("tenant", "TEXT"), Column("title", "TEXT")],
        overwrite_existing=True,
    )
    store = PGVectorStore.create_sync(
        engine=engine,
        embedding_service=emb,
        table_name=table,
        metadata_columns=["tenant", "title"],
    )

    def add(t: Tenant) -> None:
        for s in range(0, len(t.texts), DOC_CHUNKS):
            part = t.texts[s : s + DOC_CHUNKS]
            store.add_embeddings(
                texts=part,
                embeddings=[[float(x) for x in v] for v in t.vectors[s : s + DOC_CHUNKS]],
                metadatas=[{"tenant": t.name, "title": f"doc {s}"}] * len(part),
            )

    for t in tenants:
        if t is not target:
            add(t)
    insert = timed(lambda: add(target))
    index = timed(lambda: store.apply_vector_index(HNSWIndex()))
    times, results = [], []
    for q in queries:
        qv = [float(x) for x in q]
        t0 = time.perf_counter()
        docs = store.similarity_search_by_vector(qv, k=k, filter={"tenant": target.name})
        times.append((time.perf_counter() - t0) * 1000)
        results.append([d.page_content for d in docs])
    return {"insert": insert, "index": index, "times": times, "results": results}
