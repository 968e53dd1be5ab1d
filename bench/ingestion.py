"""Ingestion throughput: chunks/s end to end vs. the embedder's raw throughput, and with a
zero-cost embedder (what parsing, chunking and the database cost).

    .venv/bin/python -m bench.ingestion --files 80          # quick
    .venv/bin/python -m bench.ingestion --files 530         # the whole Python documentation

The raw embedder is timed on the texts ingestion embeds (each chunk's header line and text, the
job's chunking), in rounds that alternate with the end-to-end run so a change in the machine's
load hits both; CPU time per chunk (this process and PostgreSQL) is reported beside the wall
rates. Once per run the bare chunk texts are timed too, as this benchmark did before the header.

Corpus: the Python 3.11 HTML documentation (``apt-get install python3-doc``). Runs on a separate
embedded cluster under --data-dir; every run starts from an empty database.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from api.runtime import build_runtime
from bench.chat_workload import cpu_seconds
from bench.common import add_write_options, writes_docs
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


Ingest = Callable[[knowledge_jobs.IngestionDeps, uuid.UUID, uuid.UUID], Awaitable[str]]


async def ingest_all(
    db: Database,
    settings: Settings,
    embedder: Embedder,
    ws: uuid.UUID,
    files: list[Path],
    ingest: Ingest = knowledge_jobs.ingest_document,
) -> tuple[int, float]:
    """``files`` one at a time through ``ingest`` (the job), as the queue runs one workspace's
    documents (JOBS_PER_WORKSPACE 1): (chunks stored, seconds)."""
    async with build_runtime(
        settings, database=db, embedder=embedder, jobs="in-process"
    ) as runtime:
        return await _ingest_all(runtime.ingestion, ws, files, ingest)


async def _ingest_all(
    deps: knowledge_jobs.IngestionDeps, ws: uuid.UUID, files: list[Path], ingest: Ingest
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
        await ingest(deps, ws, sub.document.id)
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


def embedded_texts(settings: Settings, files: list[Path], *, header: bool = True) -> list[str]:
    """What ingestion embeds for ``files``: the job's chunking (title, sizes, floor) and each
    piece's ``embed_text`` (the header line, then the chunk); ``header=False``: the bare chunk
    text, which is what this benchmark embedded before the header (format 2) was introduced."""
    texts: list[str] = []
    for file in files:
        parsed = parse(file.read_bytes(), filename=file.name, content_type="text/html")
        pieces = chunk_document(
            parsed,
            max_tokens=settings.chunk_tokens,
            overlap=settings.chunk_overlap_tokens,
            min_tokens=settings.chunk_min_tokens,
        )
        texts += [p.embed_text if header else p.text for p in pieces]
    return texts


async def raw_embedding(embedder: Embedder, texts: list[str]) -> tuple[int, float]:
    started = time.perf_counter()
    for i in range(0, len(texts), knowledge_jobs.EMBED_BATCH):
        await embedder.embed_documents(texts[i : i + knowledge_jobs.EMBED_BATCH])
    return len(texts), time.perf_counter() - started


def corpus_files(limit: int) -> list[Path]:
    pages = [
        p for p in CORPUS.rglob("*.html") if not p.relative_to(CORPUS).parts[0].startswith("_")
    ]
    return sorted(pages)[:limit]


@dataclass
class Row:
    path: str
    round: int
    chunks: int
    seconds: float
    cpu: float  # CPU seconds of this process and PostgreSQL's (parse_isolated's child: not)

    @property
    def rate(self) -> float:
        return self.chunks / self.seconds if self.seconds else math.nan


async def timed(
    name: str, index: int, pids: dict[str, list[int]], work: Awaitable[tuple[int, float]]
) -> Row:
    before = sum(cpu_seconds(pids).values())
    chunks, seconds = await work
    row = Row(name, index, chunks, seconds, sum(cpu_seconds(pids).values()) - before)
    print(
        f"  {name} (round {index}): {chunks} chunks, {seconds:.1f} s, {row.rate:.1f}/s", flush=True
    )
    return row


def ratios(rows: list[Row]) -> list[tuple[float, float]]:
    """Per round: end to end over the embedder alone on the same texts, by chunks/s (wall) and
    by CPU per chunk."""
    out = []
    for index in sorted({r.round for r in rows if r.path == E2E}):
        e2e = next(r for r in rows if r.round == index and r.path == E2E)
        raw = next(r for r in rows if r.round == index and r.path == RAW)
        out.append((e2e.rate / raw.rate, (raw.cpu / raw.chunks) / (e2e.cpu / e2e.chunks)))
    return out


ZERO = "end to end, zero-cost (hash) embedder"
RAW = "local MiniLM alone, on the texts ingestion embeds (header + chunk)"
RAW_BARE = "local MiniLM alone, on the bare chunk texts (what this bench timed before)"
E2E = "end to end, local MiniLM embedder"


async def run(args: argparse.Namespace) -> None:
    files = corpus_files(args.files)
    pg = await embedded_postgres(
        Path(args.data_dir), database="trulybot_bench_ingest", recreate=True
    )
    await migrate.ensure_app_role(pg.owner_url(), "trulybot_app")
    await migrate.upgrade(pg.owner_url(), app_role="trulybot_app")
    pids = {"bench": [os.getpid()]}
    postmaster = Path(args.data_dir) / "pgdata" / "postmaster.pid"
    pids["postgres"] = [int(postmaster.read_text().split()[0])]
    db = Database.from_url(pg.app_url("trulybot_app"), statement_timeout_ms=0)
    settings = Settings(_env_file=None, environment="test")  # type: ignore[call-arg]
    local = LocalEmbedder(batch_size=32)
    await local.embed_documents(["warm up"])
    texts = embedded_texts(settings, files)
    bare = embedded_texts(settings, files, header=False)
    load = [os.getloadavg()[0]]
    rows = [
        await timed(
            ZERO,
            0,
            pids,
            ingest_all(db, settings, HashEmbedder(), await new_workspace(pg.owner_url()), files),
        )
    ]
    for index in range(1, args.rounds + 1):
        # raw and end to end alternate, so a change in the machine's load hits both
        rows.append(await timed(RAW, index, pids, raw_embedding(local, texts)))
        workspace = await new_workspace(pg.owner_url())
        rows.append(
            await timed(E2E, index, pids, ingest_all(db, settings, local, workspace, files))
        )
        if index == 1:
            rows.append(await timed(RAW_BARE, index, pids, raw_embedding(local, bare)))
        load.append(os.getloadavg()[0])
    await db.dispose()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    per_round = ratios(rows)
    wall = statistics.median(r for r, _ in per_round)
    cpu = statistics.median(c for _, c in per_round)
    bare_row = next(r for r in rows if r.path == RAW_BARE)
    e2e_1 = next(r for r in rows if r.path == E2E and r.round == 1)
    lines = [
        f"Last run: `python -m bench.ingestion --files {args.files} --rounds {args.rounds}`"
        f" ({machine}); {len(files)} HTML pages of the Python docs; load average (1 min)"
        f" {min(load):.2f}-{max(load):.2f} during the run",
        "",
        "| path | round | chunks | seconds | chunks/s |"
        " CPU ms per chunk (this process + PostgreSQL; not the parser's subprocess) |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r.path} | {r.round or '-'} | {r.chunks:,} | {r.seconds:.1f} | {r.rate:,.1f} |"
            f" {r.cpu * 1000 / r.chunks:.1f} |"
            for r in rows
        ),
        "",
        "end to end / raw embedder on the same texts, per round: "
        + ", ".join(f"{w:.2f} by chunks/s ({c:.2f} by CPU)" for w, c in per_round)
        + f"; median **{wall:.2f}** by chunks/s, {cpu:.2f} by CPU per chunk (goal >= 0.90).",
        f"Against the bare chunk texts (this bench before the header was embedded): "
        f"{e2e_1.rate / bare_row.rate:.2f}.",
    ]
    print("\n" + "\n".join(lines))
    if writes_docs(args):
        from bench.common import write_section

        write_section("ingestion_run", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description="ingestion throughput")
    parser.add_argument("--files", type=int, default=80)
    parser.add_argument("--rounds", type=int, default=2, help="raw and end to end, alternated")
    parser.add_argument("--data-dir", default=".trulybot/bench-ingest")
    add_write_options(parser)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
