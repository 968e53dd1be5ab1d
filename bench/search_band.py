"""The exact-scan band over HTTP: workspaces just under the HNSW build threshold, searched with
their own partial HNSW index and without it (an exact scan), alternately, in one sitting.

    .venv/bin/python -m bench.search_band                  # ~5k and ~9.8k chunks; prints only
    .venv/bin/python -m bench.search_band --sizes 5000 --rounds 3

The same server, workspaces, queries and cells as ``bench.search_http`` (whose ``measure`` this
uses): the Python 3.11 HTML docs ingested through `trulybot ingest`'s path (the smaller
workspace's pages are the first pages of the larger one, so the embedding cache serves both),
then for every round and size: the index built with the product's DDL and parameters
(``indexes.build_concurrently``, m and ef_construction of ``indexing.DEFAULT_POLICY``; its
seconds and size reported) and measured, then dropped and measured exact, the order reversed
every other round so that the host's load drifts over both plans alike. The default request
(``{"query": ...}``, one hit per page, the settings' BM25 weight) from ``--clients`` clients.
docs/retrieval.md, "Sixteenth session: the exact-scan band".
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from pathlib import Path

import httpx

from bench.chat_servers import stop_servers
from bench.common import (
    ROOT,
    Table,
    database_versions,
    pct,
)
from bench.search_http import choose_pages, measure, require_corpus, start_bench
from bench.search_tables import Cell, Target
from bench.search_workload import (
    QUESTIONS,
    api_workspace,
    drop_index,
    fill,
    plan_of,
    unique_queries,
)


async def build_index(owner_url: str, workspace_id: str) -> tuple[float, int]:
    """The product's partial HNSW index for the workspace: (seconds, bytes)."""
    import asyncpg

    from rag.knowledge import indexing
    from rag.knowledge.repository import indexes

    ws = uuid.UUID(workspace_id)
    policy = indexing.DEFAULT_POLICY
    started = time.perf_counter()
    await indexes.build_concurrently(
        owner_url, ws, m=policy.m, ef_construction=policy.ef_construction
    )
    seconds = time.perf_counter() - started
    conn = await asyncpg.connect(owner_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        size = await conn.fetchval(
            "SELECT pg_relation_size(c.oid) FROM pg_class c WHERE c.relname = $1",
            indexes.index_name(ws),
        )
    finally:
        await conn.close()
    return seconds, int(size or 0)


def band_table(cells: list[Cell]) -> Table:
    table = Table(
        [
            "workspace",
            "plan",
            "round",
            "clients",
            "requests",
            "client p50 ms",
            "client p95 ms",
            "server p95 ms",
            "PostgreSQL CPU ms/req",
            "server CPU ms/req",
            "load (1 min)",
        ]
    )
    for cell in cells:
        table.add(
            f"{cell.chunks:,} chunks",
            cell.plan,
            cell.queries,
            cell.clients,
            len(cell.client_ms),
            f"{pct(cell.client_ms, 0.5):.1f}",
            f"{pct(cell.client_ms, 0.95):.1f}",
            f"{pct(cell.server_ms, 0.95):.1f}",
            f"{cell.cpu_ms.get('postgres', float('nan')):.1f}",
            f"{cell.cpu_ms.get('server', float('nan')):.1f}",
            f"{cell.load[0]:.2f}-{cell.load[1]:.2f}",
        )
    return table


async def run(args: argparse.Namespace) -> str:
    from rag.knowledge import eval as rag_eval

    rng = random.Random(args.seed)
    chosen = choose_pages(rng, {n: n for n in args.sizes})
    servers, processes, (owner_url, app_url) = await start_bench(args, "trulybot_bench_band")
    server = servers[0]
    questions = [q.question for q in rag_eval.load_questions(QUESTIONS)]
    cells: list[Cell] = []
    builds: list[tuple[int, float, int]] = []
    try:
        targets: dict[int, Target] = {}
        for n in args.sizes:
            workspace_id, key = await api_workspace(server.url, f"Band bench {n}", owner_url)
            targets[n] = Target(f"{n}", workspace_id, key, 0, "")
        summaries = await fill(
            (app_url, owner_url),
            [(targets[n].workspace_id, chosen[n]) for n in args.sizes],
            args.cache,
        )
        for n, target in targets.items():
            target.chunks, target.plan = await plan_of(owner_url, target.workspace_id)
            print(f"{n}: {target.chunks:,} chunks, {target.plan}", flush=True)
            print(f"  {summaries[target.workspace_id]['outcomes']}", flush=True)
        limits = httpx.Limits(max_connections=max(args.clients) + 4)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            for r in range(args.rounds):
                plans = ("partial HNSW", "exact") if r % 2 == 0 else ("exact", "partial HNSW")
                for target in targets.values():
                    for plan in plans:
                        if plan == "exact":
                            await drop_index(owner_url, target.workspace_id)
                        elif (await plan_of(owner_url, target.workspace_id))[1] == "exact":
                            seconds, size = await build_index(owner_url, target.workspace_id)
                            builds.append((target.chunks, seconds, size))
                            print(f"  built: {seconds:.1f} s, {size / 2**20:.1f} MiB", flush=True)
                        target.plan = (await plan_of(owner_url, target.workspace_id))[1]
                        for clients in args.clients:
                            queries = unique_queries(questions, args.requests, rng)
                            cell = await measure(
                                client,
                                server,
                                processes,
                                target,
                                queries,
                                clients=clients,
                                per_document=True,
                                label=f"{r + 1}",
                            )
                            cells.append(cell)
    finally:
        stop_servers(servers)
    versions = await database_versions(owner_url)
    table = band_table(cells)
    table.print("The exact-scan band over HTTP")
    build_table = Table(["chunks", "index build s", "index MiB"])
    for chunks, seconds, size in builds:
        build_table.add(f"{chunks:,}", f"{seconds:.1f}", f"{size / 2**20:.1f}")
    build_table.print("Index builds")
    argv = " ".join(args.argv)
    return "\n".join(
        [
            f"`python -m bench.search_band{' ' + argv if argv else ''}` ({args.requests} requests"
            f" per cell, the default request; PostgreSQL {versions['postgresql']}, pgvector"
            f" {versions['pgvector']}; server and clients on the same 2 cores):",
            "",
            table.markdown(),
            "",
            build_table.markdown(),
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5000,9800", help="chunks per workspace (at least)")
    parser.add_argument("--requests", type=int, default=200, help="requests per cell")
    parser.add_argument("--clients", default="1,4", help="concurrent clients per cell")
    parser.add_argument("--rounds", type=int, default=2, help="index/exact alternations")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--no-cache", dest="cache", action="store_false")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".trulybot" / "bench-band")
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    args.argv = raw
    args.sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    args.clients = [int(c) for c in args.clients.split(",") if c.strip()]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    require_corpus()
    print(asyncio.run(run(args)))  # the markdown, for docs/benchmarks.md by hand


if __name__ == "__main__":
    main()
