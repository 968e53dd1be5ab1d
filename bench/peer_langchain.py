"""TrulyBot against langchain-postgres on the same PostgreSQL server, with the same vectors.

    .venv/bin/python -m bench.peer_langchain             # 20k chunks beside 60k of 3 other tenants
    .venv/bin/python -m bench.peer_langchain --quick     # 5k chunks, no other tenants

The corpus is synthetic and deterministic (seeded): each chunk is a sentence drawn from one of 40
topic vocabularies plus common words and a unique tag; vectors come from TrulyBot's HashEmbedder
(384 d, L2-normalized), computed once and handed to both systems (LangChain gets a fake
``Embeddings`` that returns the precomputed vectors). Queries are fresh sentences from the target
tenant's topics. Recall@10 is against an exact numpy scan of the target tenant's vectors.

- TrulyBot: migrations + app role on the same server; 40 documents of 500 chunks inserted with
  ``rag.knowledge.repository.chunks.replace_chunks`` (the ingestion job's write), one transaction
  per document as the app role (RLS on), then ``rag.knowledge.indexing.maintain`` (the
  workspace's partial HNSW index, built once the workspace reaches 20k chunks). Query:
  ``rag.knowledge.retrieval.search(mode="vector", k=10)`` in a tenant transaction of the app role.
- langchain-postgres ``PGVector`` (its documented store; ``use_jsonb=True``, the only supported
  setting; it offers no vector index, so the default exact scan): ``add_embeddings`` in calls of
  500, one collection for all tenants, the tenant in the metadata; query:
  ``similarity_search_by_vector(k=10, filter={"tenant": ...})``.
- langchain-postgres ``PGVectorStore`` (the recommended successor): a table with a ``tenant``
  metadata column, ``add_embeddings`` in calls of 500, then ``apply_vector_index(HNSWIndex())``
  (its defaults: m 16, ef_construction 64); the same filtered query.

Runs on an embedded PostgreSQL under --data-dir, or on any PostgreSQL given --owner-url
(superuser or schema owner, ``postgresql+asyncpg://`` form) and --app-url (the app role).

The corpus lives in bench/peer_corpus.py, the LangChain side in bench/langchain_stores.py.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    Table,
    add_write_options,
    database_versions,
    package_version,
    pct,
    require_packages,
    write_section,
    writes_docs,
)
from bench.langchain_stores import fake_embeddings, lc_v1, lc_v2, psycopg_url
from bench.peer_corpus import DIM, DOC_CHUNKS, Tenant, embed, make_texts, topic_vocabularies

APP_ROLE = "trulybot_app"
PEER_PACKAGES = {
    "langchain_core": "langchain-core",
    "langchain_postgres": "langchain-postgres",
    "psycopg": "psycopg[binary]",
}
"""Not the product's dependencies (psycopg is a dev one): the peer side of the comparison."""


# --- TrulyBot --------------------------------------------------------------------------------


async def trulybot_ingest(
    db: Any, owner_url: str, tenant: Tenant, *, build_index: bool
) -> dict[str, float]:
    import asyncpg

    from rag.knowledge import indexing
    from rag.knowledge.models import Document
    from rag.knowledge.repository import chunks as chunk_repo
    from rag.knowledge.repository import documents as document_repo
    from workspaces import models as _workspace_models  # the FK target of documents

    del _workspace_models

    t0 = time.perf_counter()
    # The workspace row as the owner (what signup does through its own policy).
    conn = await asyncpg.connect(owner_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(
            "INSERT INTO workspaces (id, name, slug, plan, public_key)"
            " VALUES ($1, $2, $3, 'unlimited', $4)",
            tenant.workspace_id,
            tenant.name,
            f"{tenant.name}-{tenant.workspace_id.hex[:6]}",
            "pk_" + tenant.workspace_id.hex,
        )
    finally:
        await conn.close()
    for start in range(0, len(tenant.texts), DOC_CHUNKS):
        end = min(len(tenant.texts), start + DOC_CHUNKS)
        async with db.transaction(workspace_id=tenant.workspace_id) as session:
            doc = Document(
                id=uuid.uuid4(),
                workspace_id=tenant.workspace_id,
                title=f"doc {start}",
                source_type="text",
                source=f"doc-{start}",
                status="ready",
                progress=1.0,
                chunk_count=end - start,
                revision=1,
                counted=True,
            )
            await document_repo.insert_document(session, doc)
            rows = [
                chunk_repo.ChunkRow(
                    position=i - start,
                    text=tenant.texts[i],
                    metadata={"title": f"doc {start}", "heading_path": []},
                    token_count=40,
                    content_hash=f"h{i}",
                    embedding=tenant.vectors[i],
                )
                for i in range(start, end)
            ]
            await chunk_repo.replace_chunks(session, tenant.workspace_id, doc.id, rows, [])
    inserted = time.perf_counter() - t0
    indexed = 0.0
    if build_index:
        t1 = time.perf_counter()
        await indexing.maintain(tenant.workspace_id, db=db, owner_url=owner_url)
        indexed = time.perf_counter() - t1
    return {"insert": inserted, "index": indexed}


async def trulybot_queries(
    db: Any, tenant: Tenant, queries: np.ndarray, k: int
) -> tuple[list[float], list[list[str]]]:
    from rag.knowledge import retrieval

    times, results = [], []
    for q in queries:
        t0 = time.perf_counter()
        async with db.transaction(workspace_id=tenant.workspace_id) as session:
            hits = await retrieval.search(
                session,
                workspace_id=tenant.workspace_id,
                query="",
                query_embedding=q,
                k=k,
                mode="vector",
                weights=retrieval.Weights(),  # chunk-level: no page is ranked
                per_document=False,
            )
        times.append((time.perf_counter() - t0) * 1000)
        results.append([h.text for h in hits])
    return times, results


# --- the run ---------------------------------------------------------------------------------


def recall(results: list[list[str]], truth: list[set[str]], k: int) -> float:
    return float(np.mean([len(set(r[:k]) & t) / k for r, t in zip(results, truth, strict=True)]))


async def run(args: argparse.Namespace) -> None:
    from core import migrate
    from core.db import Database

    rng = np.random.default_rng(args.seed)
    vocab = topic_vocabularies(rng, 40, 120)
    print(f"corpus: {args.chunks:,} target chunks + {args.others:,} others, HashEmbedder {DIM} d")
    t0 = time.perf_counter()
    target_topics = list(rng.choice(40, size=8, replace=False))
    tenants = [Tenant("t0", make_texts(rng, vocab, target_topics, args.chunks, "t0c"), np.empty(0))]
    per_other = args.others // max(1, args.other_tenants) if args.others else 0
    for i in range(1, args.other_tenants + 1 if per_other else 1):
        topics = list(rng.choice(40, size=8, replace=False))
        tenants.append(
            Tenant(f"t{i}", make_texts(rng, vocab, topics, per_other, f"t{i}c"), np.empty(0))
        )
    for t in tenants:
        t.vectors = embed(t.texts)
    target = tenants[0]
    query_texts = make_texts(rng, vocab, target_topics, args.queries, "q")
    queries = embed(query_texts)
    sims = queries @ target.vectors.T
    truth = [
        {target.texts[int(j)] for j in np.argsort(-row, kind="stable")[: args.k]} for row in sims
    ]
    t_np = []
    for q in queries:
        s = time.perf_counter()
        np.argpartition(-(target.vectors @ q), args.k)[: args.k]
        t_np.append((time.perf_counter() - s) * 1000)
    print(f"  corpus and vectors in {time.perf_counter() - t0:.1f} s")
    lookup = {t: v for ten in tenants for t, v in zip(ten.texts, ten.vectors, strict=True)}

    if args.owner_url:
        owner_url, app_url = args.owner_url, args.app_url
    else:
        from core.embedded import embedded_postgres

        pg = await embedded_postgres(args.data_dir, database="trulybot_bench_peer", recreate=True)
        owner_url, app_url = pg.owner_url(), pg.app_url(APP_ROLE)
        await migrate.ensure_app_role(owner_url, APP_ROLE)
    await migrate.upgrade(owner_url, app_role=APP_ROLE)
    versions = await database_versions(owner_url)
    db = Database.from_url(app_url, pool_size=4, max_overflow=4)
    try:
        for other in tenants[1:]:
            await trulybot_ingest(db, owner_url, other, build_index=True)
        print("TrulyBot: ingesting the target ...", flush=True)
        tb_ing = await trulybot_ingest(db, owner_url, target, build_index=True)
        await trulybot_queries(db, target, queries[:10], args.k)  # warm-up
        tb_times, tb_results = await trulybot_queries(db, target, queries, args.k)
    finally:
        await db.dispose()
    tb = {**tb_ing, "times": tb_times, "results": tb_results}
    print(f"  insert {tb['insert']:.1f} s + index {tb['index']:.1f} s", flush=True)

    emb = fake_embeddings(lookup)
    lc_url = psycopg_url(owner_url)
    peers: dict[str, dict[str, Any]] = {}
    for name, fn in (("PGVector", lc_v1), ("PGVectorStore + HNSW", lc_v2)):
        if name.startswith("PGVectorStore") and args.skip_v2:
            continue
        print(f"langchain-postgres {name}: ingesting ...", flush=True)
        peers[name] = await asyncio.to_thread(fn, lc_url, tenants, target, queries, args.k, emb)
        p = peers[name]
        print(f"  insert {p['insert']:.1f} s + index {p['index']:.1f} s", flush=True)

    table = Table(
        [
            "system",
            "ingest 20k: insert s",
            "+ index s",
            "chunks/s (insert+index)",
            "query p50 ms",
            "query p95 ms",
            "recall@10",
        ]
    )
    table.headers[1] = f"ingest {args.chunks // 1000}k: insert s"

    def add_row(name: str, r: dict[str, Any]) -> None:
        total = r["insert"] + r["index"]
        table.add(
            name,
            r["insert"],
            r["index"],
            round(args.chunks / total),
            pct(r["times"], 0.5),
            pct(r["times"], 0.95),
            round(recall(r["results"], truth, args.k), 3),
        )

    add_row("TrulyBot", tb)
    for name, r in peers.items():
        add_row(f"langchain-postgres {name}", r)
    table.add("numpy exact scan (floor)", "-", "-", "-", pct(t_np, 0.5), pct(t_np, 0.95), 1.0)
    ratios = Table(["peer", "ingest speed-up", "query p95 speed-up", "recall TrulyBot - peer"])
    tb_total = tb["insert"] + tb["index"]
    for name, r in peers.items():
        ratios.add(
            f"langchain-postgres {name}",
            f"{(r['insert'] + r['index']) / tb_total:.2f}x"
            f" (insert only {r['insert'] / tb['insert']:.2f}x)",
            f"{pct(r['times'], 0.95) / pct(tb['times'], 0.95):.2f}x",
            f"{recall(tb['results'], truth, args.k) - recall(r['results'], truth, args.k):+.3f}",
        )
    table.print("ingestion and filtered k=10 vector query, target tenant")
    ratios.print("TrulyBot against the peer (speed-up > 1: TrulyBot faster)")
    where = "--owner-url" if args.owner_url else "embedded PostgreSQL"
    body = "\n".join(
        [
            f"`python -m bench.peer_langchain {' '.join(args.argv)}`".replace(" `", "`"),
            "",
            f"Same server ({where}), same vectors: {args.chunks:,} target chunks beside"
            f" {args.others:,} of {args.other_tenants} other tenants; synthetic topic sentences"
            f" embedded once with TrulyBot's HashEmbedder (384 d); {args.queries} queries, k ="
            f" {args.k}; recall against an exact numpy scan of the target's vectors. Ingestion:"
            f" calls/transactions of {DOC_CHUNKS} chunks; the index column is the time to build"
            " the vector index afterwards (TrulyBot: the workspace's partial HNSW index, m 16,"
            " ef_construction 64, queried at ef_search 100; PGVector offers no vector index,"
            " so it scans exactly with its JSONB filter; PGVectorStore: `HNSWIndex()` defaults,"
            " one index shared by all tenants, filter applied after the index scan).",
            "",
            table.markdown(),
            "",
            ratios.markdown(),
            "",
            f"langchain-postgres {package_version('langchain-postgres')}, langchain-core"
            f" {package_version('langchain-core')}, psycopg {package_version('psycopg')},"
            f" SQLAlchemy {package_version('sqlalchemy')}, asyncpg {package_version('asyncpg')}.",
        ]
    )
    if writes_docs(args):
        write_section("peer_langchain", body, machine=versions)


def main(argv: list[str] | None = None) -> None:
    import sys

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--others", type=int, default=60_000)
    parser.add_argument("--other-tenants", type=int, default=3)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/tb-bench-peer"))
    parser.add_argument("--owner-url", default=None)
    parser.add_argument("--app-url", default=None)
    parser.add_argument("--skip-v2", action="store_true", help="skip PGVectorStore")
    parser.add_argument("--quick", action="store_true")
    add_write_options(parser)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.chunks, args.others, args.queries = 5_000, 0, 50
    if args.owner_url and not args.app_url:
        parser.error("--app-url is needed with --owner-url")
    require_packages("bench.peer_langchain", PEER_PACKAGES)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
