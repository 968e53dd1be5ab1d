"""What repairing drifted BM25 statistics costs at 16k chunks: ``terms.recount_statistics``
(what `trulybot recount-lexical` runs per workspace, and what a document deletion runs when its
cascade breaks a CHECK of ``lexical_stats``/``lexical_df``), and a document deletion with
correct counts against one that finds them drifted and repairs them (docs/retrieval.md,
fourteenth session, its paragraph on drift).

    .venv/bin/python -m bench.lexical_recount --chunks 16000 --rounds 5

One embedded PostgreSQL under --data-dir, migrated; one workspace of --chunks chunks of the
Python documentation (``bench.lexical_scale.base_chunks``; their product terms), written as the
app role by ``replace_chunks(with_terms=True)`` in documents of 100 chunks, then ``VACUUM
ANALYZE``. Each round, as the app role (row-level security on), each step in its own
transaction: the recount with nothing to correct; the recount after the owner lowered the
workspace's counts (``chunks`` to 0, every ``df`` to 1: the drift a deletion trips on); the
deletion of one 100-chunk document with correct counts; the same with counts lowered (the
cascade breaks the CHECK, the savepoint rolls back, the recount, the deletion again). The
deleted document is written back after each deletion.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from pathlib import Path

from bench.common import ROOT, Table, pct
from bench.lexical_scale import APP_ROLE, base_chunks
from bench.lexical_triggers import bench_workspace
from bench.search_http import load_average

PER_DOCUMENT = 100


async def run(args: argparse.Namespace) -> None:
    import numpy as np

    from core.db import Database
    from rag.knowledge import lexical
    from rag.knowledge.repository import chunks as chunk_repo
    from rag.knowledge.repository import documents as document_repo
    from rag.knowledge.repository import terms as terms_repo

    base = base_chunks(args.data_dir.parent / "lexical-scale-chunks.pickle")[: args.chunks]
    args.data_dir.mkdir(parents=True, exist_ok=True)
    pg, owner, ws = await bench_workspace(args.data_dir, "recount")
    vector = np.full(384, 0.05, dtype=np.float32)
    rows = [
        chunk_repo.ChunkRow(
            i % PER_DOCUMENT,
            body,
            meta,
            200,
            f"h{i}",
            embedding=vector,
            terms=lexical.chunk_terms(body, meta),
        )
        for i, (body, meta) in enumerate(base)
    ]
    documents = [rows[i : i + PER_DOCUMENT] for i in range(0, len(rows), PER_DOCUMENT)]
    db = Database.from_url(pg.app_url(APP_ROLE), statement_timeout_ms=0)

    async def write(doc: uuid.UUID, part: list[chunk_repo.ChunkRow]) -> None:
        await owner.execute(
            "INSERT INTO documents (id, workspace_id, title, source_type, source, status)"
            " VALUES ($1, $2, 't', 'text', $3, 'ready')",
            doc,
            ws,
            str(doc),
        )
        async with db.transaction(workspace_id=ws) as session:
            await chunk_repo.replace_chunks(session, ws, doc, part, [], with_terms=True)

    async def lower() -> None:
        await owner.execute(
            "UPDATE lexical_stats SET chunks = 0, total_terms = 0, chunks_without_terms = 0"
            " WHERE workspace_id = $1",
            ws,
        )
        await owner.execute("UPDATE lexical_df SET df = 1 WHERE workspace_id = $1", ws)

    times: dict[str, list[float]] = {}
    try:
        for part in documents:
            await write(uuid.uuid4(), part)
        await owner.execute("VACUUM ANALYZE chunks")
        await owner.execute("VACUUM ANALYZE chunk_terms")
        await owner.execute("VACUUM ANALYZE lexical_df")
        terms = await owner.fetchval("SELECT count(*) FROM chunk_terms")
        for _ in range(args.rounds):
            for step in ("recount, nothing to correct", "recount, counts lowered"):
                if step.endswith("lowered"):
                    await lower()
                started = time.perf_counter()
                async with db.transaction(workspace_id=ws) as session:
                    recount = await terms_repo.recount_statistics(session, ws)
                times.setdefault(step, []).append((time.perf_counter() - started) * 1000)
                assert recount.changed == step.endswith("lowered"), recount
            for step in ("delete a document, counts right", "delete a document, counts lowered"):
                if step.endswith("lowered"):
                    await lower()
                doc = uuid.UUID(str(await owner.fetchval("SELECT min(id::text) FROM documents")))
                started = time.perf_counter()
                async with db.transaction(workspace_id=ws) as session:
                    assert await document_repo.delete_document(session, ws, doc)
                times.setdefault(step, []).append((time.perf_counter() - started) * 1000)
                await write(uuid.uuid4(), documents[0])
    finally:
        await db.dispose()
        await owner.close()
    load = load_average()
    table = Table(["step", "ms, median", "p95 of rounds", "load avg"])
    for step, values in times.items():
        table.add(
            step, f"{statistics.median(values):.0f}", f"{pct(values, 0.95):.0f}", f"{load:.1f}"
        )
    table.print(f"{len(rows)} chunks, {terms} chunk_terms rows, {args.rounds} rounds")
    print(table.markdown())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=16_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".trulybot" / "bench-recount")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
