"""Filtered retrieval benchmark: one workspace of N chunks beside nine others holding far more.

    .venv/bin/python -m bench.retrieval                       # full: 1k/10k/100k beside 400k
    .venv/bin/python -m bench.retrieval --sizes 1000,5000 --others 60000 --queries 50   # quick

Runs on the embedded PostgreSQL + pgvector (a separate cluster under --data-dir), or on any
PostgreSQL with pgvector given --owner-url (a superuser or the schema owner) and --app-role.
Vectors are 384-d, clustered (each workspace mixes its own topics); chunk texts are Zipf-drawn
words. Ground truth for vector search is an exact numpy scan of the workspace's own vectors, which
is also timed as the floor. Latency is measured around ``rag.knowledge.retrieval.search`` on a
session of the app role with the tenant set (RLS on), i.e. what the API pays.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector

from bench.common import add_write_options, writes_docs
from core import migrate
from core.db import Database
from core.embedded import embedded_postgres
from rag.knowledge import indexing, retrieval
from rag.knowledge.repository import indexes

DIM = 384
WORDS = 60


@dataclass
class Workspace:
    id: uuid.UUID
    name: str
    size: int
    vectors: np.ndarray
    centers: np.ndarray


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def make_vectors(rng: np.random.Generator, centers: np.ndarray, n: int, noise: float) -> np.ndarray:
    picks = rng.integers(0, len(centers), size=n)
    return unit(centers[picks] + noise * rng.standard_normal((n, DIM)).astype(np.float32))


def make_texts(rng: np.random.Generator, n: int, vocab: int) -> list[str]:
    ranks = np.minimum(rng.zipf(1.15, size=(n, WORDS)), vocab) - 1
    return [" ".join(f"term{r}" for r in row) for row in ranks]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def load(
    conn: asyncpg.Connection, ws: Workspace, rng: np.random.Generator, vocab: int
) -> float:
    started = time.perf_counter()
    await conn.execute(
        "INSERT INTO workspaces (id, name, slug, plan, public_key)"
        " VALUES ($1, $2, $3, 'unlimited', $4)",
        ws.id,
        ws.name,
        ws.name,
        "pk_" + ws.id.hex,
    )
    doc = uuid.uuid4()
    await conn.execute(
        "INSERT INTO documents (id, workspace_id, title, source_type, source, status)"
        " VALUES ($1, $2, 'bench', 'text', 'bench', 'ready')",
        doc,
        ws.id,
    )
    batch = 20_000
    for start in range(0, ws.size, batch):
        end = min(ws.size, start + batch)
        texts = make_texts(rng, end - start, vocab)
        records = [
            (
                uuid.uuid4(),
                ws.id,
                doc,
                start + i,
                texts[i],
                '{"title": "bench"}',
                WORDS,
                "h",
                ws.vectors[start + i],
            )
            for i in range(end - start)
        ]
        await conn.copy_records_to_table(
            "chunks",
            records=records,
            columns=[
                "id",
                "workspace_id",
                "document_id",
                "position",
                "text",
                "metadata",
                "token_count",
                "content_hash",
                "embedding",
            ],
        )
    return time.perf_counter() - started


async def run(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    centers = unit(rng.standard_normal((args.topics, DIM)).astype(np.float32))
    sizes = [int(s) for s in args.sizes.split(",")]
    weights = np.array([0.35, 0.2, 0.12, 0.1, 0.08, 0.06, 0.04, 0.03, 0.02])
    other_sizes = [int(w * args.others) for w in weights]

    def ws(name: str, size: int) -> Workspace:
        own = centers[rng.choice(len(centers), size=args.topics_per_ws, replace=False)]
        return Workspace(uuid.uuid4(), name, size, make_vectors(rng, own, size, args.noise), own)

    targets = [ws(f"target-{s}", s) for s in sizes]
    others = [ws(f"other-{i}", s) for i, s in enumerate(other_sizes)]

    if args.owner_url:
        owner_url, app_url = args.owner_url, args.app_url
    else:
        pg = await embedded_postgres(Path(args.data_dir), database="trulybot_bench", recreate=True)
        owner_url, app_url = pg.owner_url(), pg.app_url(args.app_role)
        await migrate.ensure_app_role(owner_url, args.app_role)
    await migrate.upgrade(owner_url, app_role=args.app_role)

    raw_url = owner_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(raw_url)
    await register_vector(conn)
    total = sum(w.size for w in targets + others)
    print(f"loading {total:,} chunks ({len(targets)} measured + {len(others)} other workspaces)")
    t0 = time.perf_counter()
    for w in others + targets:
        await load(conn, w, rng, args.vocab)
    load_s = time.perf_counter() - t0
    await conn.execute("ANALYZE chunks")
    print(f"  loaded in {load_s:.0f} s ({total / load_s:,.0f} rows/s)")

    policy = indexing.IndexPolicy(
        build_threshold=args.threshold,
        drop_threshold=args.threshold // 2,
        m=args.m,
        ef_construction=args.efc,
    )
    db = Database.from_url(app_url, pool_size=2, max_overflow=0, statement_timeout_ms=600_000)
    builds: list[tuple[str, int, float]] = []
    for w in (targets + others) if args.index_others else targets:
        t = time.perf_counter()
        outcome = await indexing.maintain(w.id, db=db, owner_url=owner_url, policy=policy)
        if outcome == "built":
            builds.append((w.name, w.size, time.perf_counter() - t))
    await conn.execute("ANALYZE chunks")
    for name, size, secs in builds:
        print(f"  HNSW m={args.m} efc={args.efc} for {name}: {size:,} rows in {secs:.1f} s")

    lines: list[str] = []
    header = (
        "| chunks in workspace | mode | plan | ef_search | recall@10 | rows | p50 ms | p95 ms |"
        " numpy p50 ms | p50 / numpy |"
    )
    lines += [header, "|" + "---|" * 10]
    for w in targets:
        queries = make_vectors(rng, w.centers, args.queries, args.noise)
        query_texts = [" ".join(t.split()[:4]) for t in make_texts(rng, args.queries, args.vocab)]
        # exact ground truth and the numpy floor
        floor: list[float] = []
        truth: list[set[int]] = []
        order_ids = await conn.fetch(
            "SELECT id FROM chunks WHERE workspace_id = $1 ORDER BY position", w.id
        )
        ids = [r["id"] for r in order_ids]
        for q in queries:
            t = time.perf_counter()
            scores = w.vectors @ q
            top = np.argpartition(-scores, 10)[:10]
            floor.append((time.perf_counter() - t) * 1000)
            truth.append({int(i) for i in top})
        exact_sets = [{ids[i] for i in s} for s in truth]
        floor_p50 = statistics.median(floor)
        indexed = await _has_index(db, w.id)
        plan = "partial HNSW" if indexed else "exact (btree)"
        ef_values = [int(e) for e in args.ef_search.split(",")] if indexed else [indexing.EF_SEARCH]
        for mode in ("vector", "fulltext", "hybrid"):
            for ef in ef_values if mode != "fulltext" else [0]:
                lat, recalls, counts = [], [], []
                for qi, q in enumerate(queries):
                    async with db.transaction(workspace_id=w.id) as session:
                        t = time.perf_counter()
                        hits = await retrieval.search(
                            session,
                            workspace_id=w.id,
                            query=query_texts[qi],
                            query_embedding=q,
                            k=10,
                            mode=mode,  # type: ignore[arg-type]
                            weights=retrieval.Weights(),  # chunk-level: no page is ranked
                            per_document=False,
                            ef_search=max(ef, 1),
                        )
                        lat.append((time.perf_counter() - t) * 1000)
                    counts.append(len(hits))
                    if mode == "vector":
                        got = {h.chunk_id for h in hits}
                        recalls.append(len(got & exact_sets[qi]) / 10)
                    elif mode == "hybrid":
                        exact = await _exact_hybrid(db, w, q, query_texts[qi], ids)
                        got = {h.chunk_id for h in hits}
                        recalls.append(len(got & exact) / max(1, len(exact)))
                recall = f"{statistics.mean(recalls):.3f}" if recalls else "1 (exact)"
                p50 = statistics.median(lat)
                lines.append(
                    f"| {w.size:,} | {mode} | {plan if mode != 'fulltext' else 'GIN / btree'} |"
                    f" {ef if mode != 'fulltext' else '-'} | {recall} |"
                    f" {statistics.mean(counts):.1f} | {p50:.2f} | {pct(lat, 0.95):.2f} |"
                    f" {floor_p50:.2f} | {p50 / floor_p50:.1f}x |"
                )
                print(lines[-1], flush=True)
    await conn.close()
    await db.dispose()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    summary = (
        f"\nRetrieval benchmark ({machine}); {total:,} chunks in {len(targets) + len(others)}"
        f" workspaces; HNSW m={args.m} ef_construction={args.efc}; threshold {args.threshold:,};"
        f" {args.queries} queries per row; k=10\n"
    )
    print(summary)
    print("\n".join(lines))
    if args.append_to:
        with Path(args.append_to).open("a", encoding="utf-8") as fh:  # noqa: ASYNC230
            fh.write(summary + "\n" + "\n".join(lines) + "\n")
    if writes_docs(args):
        from bench.common import write_section

        write_section("retrieval_run", "Last run: " + summary.strip() + "\n\n" + "\n".join(lines))


async def _has_index(db: Database, workspace_id: uuid.UUID) -> bool:
    async with db.transaction(workspace_id=workspace_id) as session:
        return await indexes.index_state(session, workspace_id) == "valid"


async def _exact_hybrid(
    db: Database, w: Workspace, q: np.ndarray, query: str, ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    n = retrieval.hybrid_candidates(10)
    scores = w.vectors @ q
    top = np.argsort(-scores)[:n]
    ranks: dict[uuid.UUID, float] = {}
    for r, i in enumerate(top, start=1):
        ranks[ids[int(i)]] = ranks.get(ids[int(i)], 0.0) + 1.0 / (retrieval.RRF_K + r)
    async with db.transaction(workspace_id=w.id) as session:
        from rag.knowledge.repository import search as search_repo

        ft = await search_repo.fulltext_search(session, w.id, query, n)
    for r, row in enumerate(ft, start=1):
        ranks[row[0]] = ranks.get(row[0], 0.0) + 1.0 / (retrieval.RRF_K + r)
    return {cid for cid, _ in sorted(ranks.items(), key=lambda kv: -kv[1])[:10]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--others", type=int, default=400_000, help="chunks in the 9 others")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--threshold", type=int, default=indexing.BUILD_THRESHOLD)
    parser.add_argument("--m", type=int, default=indexing.HNSW_M)
    parser.add_argument("--efc", type=int, default=indexing.HNSW_EF_CONSTRUCTION)
    parser.add_argument("--ef-search", default=f"40,{indexing.EF_SEARCH}")
    parser.add_argument("--index-others", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--topics", type=int, default=2000)
    parser.add_argument("--topics-per-ws", type=int, default=200)
    parser.add_argument("--noise", type=float, default=0.08)
    parser.add_argument("--vocab", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", default=".trulybot/bench")
    parser.add_argument("--owner-url", default=None)
    parser.add_argument("--app-url", default=None)
    parser.add_argument("--app-role", default="trulybot_app")
    parser.add_argument("--append-to", default=None, help="append the table to this file too")
    add_write_options(parser)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
