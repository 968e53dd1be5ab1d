"""Ingestion throughput: chunks/s end to end vs. the embedder's raw throughput, and with a
zero-cost embedder (what parsing, chunking and the database cost).

    .venv/bin/python -m bench.ingestion --files 80          # quick
    .venv/bin/python -m bench.ingestion --files 530         # the whole Python documentation

Corpus: the Python 3.11 HTML documentation (``apt-get install python3-doc``). Runs on a separate
embedded cluster under --data-dir; every run starts from an empty database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from api.runtime import build_runtime
from core import migrate
from core.config import Settings
from core.db import Database, create_engine
from core.embedded import embedded_postgres
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge import submissions
from rag.knowledge.chunking import chunk_document
from rag.knowledge.embeddings import Embedder, HashEmbedder, LocalEmbedder
from rag.knowledge.parsing import parse
from workspaces import repository as ws_repo
from workspaces.service import WorkspaceAccess

CORPUS = Path("/usr/share/doc/python3.11/html")


async def new_workspace(owner_url: str) -> uuid.UUID:
    ws = uuid.uuid4()
    engine = create_engine(owner_url, pool_size=1, max_overflow=0)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO workspaces (id, name, slug, plan, public_key)"
                " VALUES (:i, 'bench', :s, 'unlimited', :p)"
            ),
            {"i": ws, "s": f"bench-{ws.hex[:10]}", "p": f"pk_{ws.hex}"},
        )
    await engine.dispose()
    return ws


async def ingest_all(
    db: Database, settings: Settings, embedder: Embedder, ws: uuid.UUID, files: list[Path]
) -> tuple[int, float]:
    async with build_runtime(
        settings, database=db, embedder=embedder, jobs="in-process"
    ) as runtime:
        return await _ingest_all(runtime.ingestion, ws, files)


async def _ingest_all(
    deps: knowledge_jobs.IngestionDeps, ws: uuid.UUID, files: list[Path]
) -> tuple[int, float]:
    db, settings = deps.db, deps.settings
    chunks = 0
    started = time.perf_counter()
    for file in files:
        async with db.transaction(workspace_id=ws) as session:
            workspace = await ws_repo.get_workspace(session, ws)
            assert workspace is not None
            sub = await submissions.submit_upload(
                session,
                WorkspaceAccess.operator(workspace, command="bench"),
                data=file.read_bytes(),
                filename=file.relative_to(CORPUS).as_posix(),
                content_type="text/html",
                settings=settings,
            )
        if sub.duplicate:
            continue
        await knowledge_jobs.ingest_document(deps, ws, sub.document.id)
        async with db.transaction(workspace_id=ws) as session:
            chunks += int(
                (
                    await session.execute(
                        text("SELECT chunk_count FROM documents WHERE id = :d"),
                        {"d": sub.document.id},
                    )
                ).scalar_one()
            )
    await deps.jobs.drain()  # index maintenance, when a workspace grew past the threshold
    return chunks, time.perf_counter() - started


async def raw_embedding(
    embedder: Embedder, settings: Settings, files: list[Path]
) -> tuple[int, float]:
    texts: list[str] = []
    for file in files:
        parsed = parse(file.read_bytes(), filename=file.name, content_type="text/html")
        texts += [
            c.text
            for c in chunk_document(
                parsed, max_tokens=settings.chunk_tokens, overlap=settings.chunk_overlap_tokens
            )
        ]
    started = time.perf_counter()
    for i in range(0, len(texts), knowledge_jobs.EMBED_BATCH):
        await embedder.embed_documents(texts[i : i + knowledge_jobs.EMBED_BATCH])
    return len(texts), time.perf_counter() - started


def corpus_files(limit: int) -> list[Path]:
    pages = [
        p for p in CORPUS.rglob("*.html") if not p.relative_to(CORPUS).parts[0].startswith("_")
    ]
    return sorted(pages)[:limit]


async def run(args: argparse.Namespace) -> None:
    files = corpus_files(args.files)
    pg = await embedded_postgres(
        Path(args.data_dir), database="trulybot_bench_ingest", recreate=True
    )
    await migrate.ensure_app_role(pg.owner_url(), "trulybot_app")
    await migrate.upgrade(pg.owner_url(), app_role="trulybot_app")
    db = Database.from_url(pg.app_url("trulybot_app"), statement_timeout_ms=0)
    settings = Settings(_env_file=None, environment="test")  # type: ignore[call-arg]
    local = LocalEmbedder(batch_size=32)
    await local.embed_documents(["warm up"])
    rows = []
    zero_chunks, zero_s = await ingest_all(
        db, settings, HashEmbedder(), await new_workspace(pg.owner_url()), files
    )
    rows.append(("end to end, zero-cost (hash) embedder", zero_chunks, zero_s))
    raw_chunks, raw_s = await raw_embedding(local, settings, files)
    rows.append(("local MiniLM embedder alone (raw)", raw_chunks, raw_s))
    e2e_chunks, e2e_s = await ingest_all(
        db, settings, local, await new_workspace(pg.owner_url()), files
    )
    rows.append(("end to end, local MiniLM embedder", e2e_chunks, e2e_s))
    await db.dispose()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    lines = [
        f"Last run: ingestion benchmark ({machine}); {len(files)} HTML pages of the Python docs",
        "",
        "| path | chunks | seconds | chunks/s |",
        "|---|---|---|---|",
        *(
            f"| {name} | {chunks:,} | {secs:.1f} | {chunks / secs:,.1f} |"
            for name, chunks, secs in rows
        ),
        "",
        f"end to end / raw embedder: {(e2e_chunks / e2e_s) / (raw_chunks / raw_s):.2f}",
    ]
    print("\n" + "\n".join(lines))
    if not args.no_write:
        from bench.common import write_section

        write_section("ingestion_run", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description="ingestion throughput")
    parser.add_argument("--files", type=int, default=80)
    parser.add_argument("--data-dir", default=".trulybot/bench-ingest")
    parser.add_argument("--no-write", action="store_true", help="leave docs/benchmarks.md alone")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
