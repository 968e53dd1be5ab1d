"""What migration 0048's triggers (the kept BM25 statistics) cost a chunk write: the product's
``replace_chunks`` with terms, then the document's chunks deleted, timed with the triggers on
and off in alternating rounds on one embedded PostgreSQL (docs/retrieval.md, fourteenth
session).

    .venv/bin/python -m bench.lexical_triggers --chunks 500 --rounds 6

Each round, as the app role (row-level security on): a document's ``--chunks`` chunks written
with their terms (``chunk_repo.replace_chunks(with_terms=True)``: the INSERT of chunks, the
INSERT of their terms, the UPDATE of ``term_count``), then their vectors rewritten
(``set_embeddings``: an UPDATE that changes no count), then the chunks deleted (their terms by
cascade), each step in its own transaction. "off" disables both tables' triggers as the owner
(``ALTER TABLE ... DISABLE TRIGGER USER``) for that round, re-enabled after. The chunk texts are
the Python documentation's (``bench.lexical_scale.base_chunks``), vectors a constant.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import ROOT, Table, pct
from bench.lexical_scale import APP_ROLE, base_chunks
from bench.search_http import load_average


async def bench_workspace(data_dir: Path, name: str) -> tuple[Any, Any, uuid.UUID]:
    """A recreated embedded database ``trulybot_bench_NAME`` under ``data_dir`` (made by the
    caller), migrated with
    the bench's app role: the cluster, an owner connection (asyncpg) and one new workspace."""
    import asyncpg

    from core import migrate
    from core.embedded import embedded_postgres

    pg = await embedded_postgres(data_dir, database=f"trulybot_bench_{name}", recreate=True)
    owner_url = pg.owner_url()
    await migrate.ensure_app_role(owner_url, APP_ROLE)
    await migrate.upgrade(owner_url, app_role=APP_ROLE)
    owner = await asyncpg.connect(owner_url.replace("postgresql+asyncpg://", "postgresql://"))
    ws = uuid.uuid4()
    await owner.execute(
        "INSERT INTO workspaces (id, name, slug, plan, public_key)"
        " VALUES ($1, $2, $3, 'unlimited', $4)",
        ws,
        name,
        f"{name}-{ws.hex[:6]}",
        "pk_" + ws.hex,
    )
    return pg, owner, ws


async def run(args: argparse.Namespace) -> None:
    import numpy as np

    from core.db import Database
    from rag.knowledge import lexical
    from rag.knowledge.repository import chunks as chunk_repo
    from rag.knowledge.repository import documents as document_repo

    base = base_chunks(args.data_dir.parent / "lexical-scale-chunks.pickle")[: args.chunks]
    args.data_dir.mkdir(parents=True, exist_ok=True)
    pg, owner, ws = await bench_workspace(args.data_dir, "triggers")
    vector = np.full(384, 0.05, dtype=np.float32)
    rows = [
        chunk_repo.ChunkRow(
            i, body, meta, 200, f"h{i}", embedding=vector, terms=lexical.chunk_terms(body, meta)
        )
        for i, (body, meta) in enumerate(base)
    ]
    db = Database.from_url(pg.app_url(APP_ROLE), statement_timeout_ms=0)
    steps = ("write with terms", "rewrite vectors", "delete")
    times: dict[tuple[str, str], list[float]] = {}
    try:
        for number in range(args.rounds * 2):
            state = ("on", "off")[number % 2]
            action = "ENABLE" if state == "on" else "DISABLE"
            for table in ("chunks", "chunk_terms"):
                await owner.execute(f"ALTER TABLE {table} {action} TRIGGER USER")
            doc = uuid.uuid4()
            await owner.execute(
                "INSERT INTO documents (id, workspace_id, title, source_type, source, status)"
                " VALUES ($1, $2, 't', 'text', $3, 'ready')",
                doc,
                ws,
                str(doc),
            )
            for step in steps:
                started = time.perf_counter()
                async with db.transaction(workspace_id=ws) as session:
                    if step == "write with terms":
                        await chunk_repo.replace_chunks(session, ws, doc, rows, [], with_terms=True)
                    elif step == "rewrite vectors":
                        ids = [c for c, _ in await chunk_repo.chunk_hashes(session, ws, doc)]
                        await chunk_repo.set_embeddings(
                            session, ws, ids, np.tile(vector, (len(ids), 1))
                        )
                    else:
                        await document_repo.delete_document(session, ws, doc)
                elapsed = (time.perf_counter() - started) * 1000 / len(rows)
                times.setdefault((step, state), []).append(elapsed)
        for table in ("chunks", "chunk_terms"):
            await owner.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    finally:
        await db.dispose()
        await owner.close()
    load = load_average()
    table = Table(["step", "triggers", "ms per chunk, median", "p95 of rounds", "load avg"])
    for step in steps:
        for state in ("on", "off"):
            values = times[(step, state)]
            table.add(
                step,
                state,
                f"{statistics.median(values):.3f}",
                f"{pct(values, 0.95):.3f}",
                f"{load:.1f}",
            )
    table.print(f"{args.chunks} chunks a round, {args.rounds} rounds each way, alternating")
    print(table.markdown())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".trulybot" / "bench-triggers")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
