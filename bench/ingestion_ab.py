"""The ingestion job of this checkout against another checkout's, beside the raw embedder, in
alternated rounds: chunks/s end to end over the raw embedder's on the same texts (wall) and CPU
per chunk, as ``bench.ingestion`` measures them, plus ``trulybot ingest``'s path (two documents
in flight, this checkout's job) when ``--in-flight`` is given.

    .venv/bin/python -m bench.ingestion_ab --before /work/main --files 30 --rounds 6

``--before`` names a checkout whose ``rag/knowledge/jobs.py`` is loaded beside this one's (the
rest of the code is this checkout's, so only the job module may differ). The two serial runs
swap places every other round. Prints only (docs/benchmarks.md records runs by hand).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from types import ModuleType

from api.commands.ingest import ingest_files
from api.runtime import build_runtime
from bench import ingestion as bench
from core import migrate
from core.config import Settings
from core.db import Database
from core.embedded import embedded_postgres
from rag.knowledge import jobs as this_job
from rag.knowledge.embeddings import Embedder, LocalEmbedder

BEFORE = "serial, the --before checkout's job"
AFTER = "serial, this checkout's job"
IN_FLIGHT = "trulybot ingest's path (2 in flight), this checkout's job"


def load_job(checkout: Path) -> ModuleType:
    path = checkout / "rag" / "knowledge" / "jobs.py"
    spec = importlib.util.spec_from_file_location("bench_before_jobs", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"no job module at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


async def two_in_flight(
    db: Database, settings: Settings, embedder: Embedder, ws: uuid.UUID, files: list[Path]
) -> tuple[int, float]:
    async with build_runtime(settings, database=db, embedder=embedder, jobs="in-process") as rt:
        started = time.perf_counter()
        named = [(f, f.relative_to(bench.CORPUS).as_posix()) for f in files]
        summary = await ingest_files(rt, ws, named, concurrency=2)
        await rt.ingestion.jobs.drain()
        return int(summary["chunks"]), time.perf_counter() - started


async def run(args: argparse.Namespace) -> None:
    before = load_job(Path(args.before))
    files = bench.corpus_files(args.files)
    data = Path(args.data_dir)
    pg = await embedded_postgres(data, database="trulybot_bench_ingest", recreate=True)
    await migrate.ensure_app_role(pg.owner_url(), "trulybot_app")
    await migrate.upgrade(pg.owner_url(), app_role="trulybot_app")
    postmaster = int((data / "pgdata" / "postmaster.pid").read_text().split()[0])
    pids = {"bench": [os.getpid()], "postgres": [postmaster]}
    db = Database.from_url(pg.app_url("trulybot_app"), statement_timeout_ms=0)
    settings = Settings(_env_file=None, environment="test")  # type: ignore[call-arg]
    local = LocalEmbedder(batch_size=32)
    await local.embed_documents(["warm up"])
    texts = bench.embedded_texts(settings, files)
    ratios: dict[str, list[tuple[float, float]]] = {}
    load = [os.getloadavg()[0]]
    for index in range(1, args.rounds + 1):
        raw = await bench.timed(bench.RAW, index, pids, bench.raw_embedding(local, texts))
        paths = [(BEFORE, before.ingest_document), (AFTER, this_job.ingest_document)]
        if index % 2 == 0:
            paths.reverse()
        for name, job in paths:
            ws = await bench.new_workspace(pg.owner_url())
            row = await bench.timed(
                name, index, pids, bench.ingest_all(db, settings, local, ws, files, job)
            )
            ratios.setdefault(name, []).append(_ratio(row, raw))
        if args.in_flight:
            ws = await bench.new_workspace(pg.owner_url())
            row = await bench.timed(
                IN_FLIGHT, index, pids, two_in_flight(db, settings, local, ws, files)
            )
            ratios.setdefault(IN_FLIGHT, []).append(_ratio(row, raw))
        load.append(os.getloadavg()[0])
    await db.dispose()
    print(
        f"\n`python -m bench.ingestion_ab --files {args.files} --rounds {args.rounds}"
        f"{' --in-flight' if args.in_flight else ''}`: {len(files)} pages; load average (1 min)"
        f" {min(load):.2f}-{max(load):.2f}\n\n"
        "| path | end to end / raw, by chunks/s, per round | median | by CPU per chunk | median |"
        "\n|---|---|---|---|---|"
    )
    for name, values in ratios.items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        print(
            f"| {name} | {', '.join(f'{w:.2f}' for w in walls)} | {statistics.median(walls):.2f}"
            f" | {', '.join(f'{c:.2f}' for c in cpus)} | {statistics.median(cpus):.2f} |"
        )


def _ratio(row: bench.Row, raw: bench.Row) -> tuple[float, float]:
    return row.rate / raw.rate, (raw.cpu / raw.chunks) / (row.cpu / row.chunks)


def main() -> None:
    parser = argparse.ArgumentParser(description="the ingestion job against another checkout's")
    parser.add_argument("--before", required=True, help="the other checkout's root")
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--in-flight", action="store_true", help="also trulybot ingest's path")
    parser.add_argument("--data-dir", default=".trulybot/bench-ingest-ab")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
