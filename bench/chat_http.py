"""Chat over HTTP: POST /api/v1/chat on the real server under 1, 16 and 64 concurrent visitors.

    .venv/bin/python -m bench.chat_http                 # default: local MiniLM, ~6-8 minutes
    .venv/bin/python -m bench.chat_http --quick         # a smoke run, ~2 minutes
    .venv/bin/python -m bench.chat_http --embedder hash --configs 1:redis,2:redis
    .venv/bin/python -m bench.chat_http --profile       # cProfile of the cache-hit path, in-process
    .venv/bin/python -m bench.chat_http --configs 1:memory --scenarios rag,sse,ingest \
        --levels 1,10,16,64 --latencies 0    # issue 15: batching on vs off, ~5 minutes

What runs: an embedded PostgreSQL owned by this process (under --data-dir; or the database in
DATABASE_URL + MIGRATION_DATABASE_URL when both are set), a FakeOpenAI on 127.0.0.1 in this
process (its ``latency`` set per scenario), and one or more ``python -m api.cli serve`` processes
(ENVIRONMENT=development, DEFAULT_PLAN=unlimited, rate limits raised far above the load), with
or without Redis (REDIS_URL=redis://127.0.0.1:6379/10 by default, flushed first). A workspace is
created through the API (signup, the demo FAQs, the demo markdown documents, waiting until they
are ready).

Scenarios, each with every visitor on its own session_id (each request opens a conversation):
- faq: the FAQ questions and their alternatives (exact FAQ match);
- cache: questions answered once before (exact response-cache hit);
- rag: unique questions (varied wording, nothing caches): retrieval + generation by the fake LLM at
  a fixed latency (0.5 s) and at zero latency.
- sse: the rag questions streamed (Accept: text/event-stream) at zero LLM latency: the client's
  time to the first ``delta`` and the server's overhead before the first token
  (``timings_ms.first_token`` minus ``model_first_token``);
- ingest: the rag scenario while documents (the Python HTML docs, as ``bench.ingestion`` reads
  them) are uploaded into another workspace of the same server process, one after the other.
With ``--batching on,off`` (the default) every server runs once with EMBED_BATCHING on and once off,
faq/cache only in the first; the rag, sse and ingest scenarios in both, side by side.
Reported per level: requests/s, client latency p50/p95/p99 and server overhead p50/p95/p99 (the
response's ``timings_ms.total`` minus ``timings_ms.generation``). The load generator (httpx) runs in
this process on the same cores as the server and the database: on a 2-core machine the figures are
a lower bound of what the server alone could do. ``--clients httpx,lean`` runs every server with
the default generator and with a lean one too (bench.chat_raw_client's visitors and
bench.lean_fake_llm's model: about a third of the bench's CPU per request), side by side; the
goal tables come from the default's cells, the lean one's follow, marked.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import sys
import time
from typing import Any

import httpx2

from bench import chat_args
from bench.chat_args import Config
from bench.chat_profile import profile_cache_hits
from bench.chat_questions import CACHE_QUESTIONS, unique_questions
from bench.chat_raw_client import RawClient
from bench.chat_servers import (
    Database,
    fake_reply,
    flush_redis,
    open_database,
    server_env,
    set_async_commit,
    start_servers,
    stop_servers,
)
from bench.chat_tables import (
    batching_table,
    checkouts_table,
    goals_table,
    ingest_table,
    load_goals,
    report_cell,
    results_table,
    sse_table,
    stage_breakdown,
)
from bench.chat_workload import (
    Cell,
    Workspace,
    cpu_per_request,
    cpu_seconds,
    create_workspace,
    describe_metrics,
    drive,
    feeding_documents,
    scrape,
    warm_cache,
)
from bench.common import (
    ROOT,
    Table,
    database_versions,
    package_version,
    write_section,
    writes_docs,
)
from bench.lean_fake_llm import LeanFakeLLM


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return chat_args.parse_args(argv, description=__doc__.split("\n\n")[0])


async def run_config(
    args: argparse.Namespace,
    config: Config,
    db: Database,
    fake: Any,
    ws: Workspace,
    rng: random.Random,
    *,
    hits: bool = True,
) -> list[Cell]:
    """The scenarios on ``config``'s servers; ``hits``: faq and cache too (once per config,
    batching changes nothing there)."""
    redis_url = args.redis_url if config.redis else None
    if redis_url and not await flush_redis(redis_url):
        return []
    env = server_env(args, db, fake.base_url, redis_url, batching=config.batching)
    env.update(config.env)
    servers = await start_servers(config.servers, env, args.data_dir, root=config.root)
    cells: list[Cell] = []
    processes = {"server": [s.proc.pid for s in servers], "bench": [os.getpid()]}
    if db.embedded is not None:
        postmaster = args.data_dir / "pgdata" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError):
            processes["postgres"] = [int(postmaster.read_text().split()[0])]
    # httpx2, the fork the OpenAI SDK already uses, not httpx: with 64 requests queued, httpx's
    # pool (httpcore) scanned every connection for each (encode/httpcore#1035), the load
    # generator took 8-20 ms of CPU per request and paced some cells (client p95 3-4 s against a
    # server overhead p95 under 300 ms); httpx2's pool assigns in one pass, about 3 ms.
    limits = httpx2.Limits(max_connections=max(args.levels) + 8, max_keepalive_connections=None)
    fake_thread = getattr(getattr(getattr(fake, "_http", fake), "_thread", None), "native_id", None)
    if fake_thread is not None:
        processes["fake llm"] = [fake_thread]  # a thread of the bench's process
    visitors = RawClient() if config.client == "lean" else None
    try:
        async with httpx2.AsyncClient(timeout=60, limits=limits) as client:
            fake.latency = 0.0
            cached = await warm_cache(client, servers, ws.public_key, CACHE_QUESTIONS)
            print(f"  {len(cached)} of {len(CACHE_QUESTIONS)} warm-up questions cached", flush=True)
            plan: list[tuple[str, float | None, list[str], list[int]]] = []
            if hits:
                plan += [
                    ("faq", None, ws.faq_questions, args.levels),
                    ("cache", None, cached, args.levels),
                ]
            if config.servers == 1 or args.rag_multi:
                plan += [("rag", lat, [], args.levels) for lat in args.latencies]
                plan += [("sse", 0.0, [], args.sse_levels), ("ingest", 0.0, [], args.ingest_levels)]
            for scenario, latency, messages, levels in plan:
                if scenario not in args.scenarios:
                    continue
                for level in levels:
                    unique = scenario in ("rag", "sse", "ingest")
                    total = args.rag_requests if unique else args.requests
                    if unique:
                        messages = unique_questions(total, rng)
                    fake.latency = latency or 0.0
                    # a short warm-up of the connections and the code path, not measured
                    warm = Cell(config.label, scenario, latency, level)
                    await drive(
                        warm, visitors or client, servers, ws.public_key, messages, level, 10
                    )
                    if unique:
                        messages = unique_questions(total, rng)
                    cell = Cell(config.label, scenario, latency, level, batching=config.batching)
                    before = await scrape(client, servers)
                    cpu_before = cpu_seconds(processes)
                    feeding = (
                        feeding_documents(servers[0].url, args.ingest_files)
                        if scenario == "ingest"
                        else contextlib.nullcontext(None)
                    )
                    async with feeding as fed:
                        await drive(
                            cell,
                            visitors or client,
                            servers,
                            ws.public_key,
                            messages,
                            total,
                            args.cap,
                        )
                    if fed is not None:
                        cell.note = fed.describe()
                    cell.cpu_ms = cpu_per_request(
                        cpu_before, cpu_seconds(processes), len(cell.client_ms)
                    )
                    cell.metrics = describe_metrics(before, await scrape(client, servers))
                    cells.append(cell)
                    report_cell(cell)
    finally:
        if visitors is not None:
            await visitors.aclose()
        stop_servers(servers)
    return cells


# --- report ----------------------------------------------------------------------------------


LEAN_NOTE = (
    " (rows marked lean bench: bench.chat_raw_client's visitors and bench.lean_fake_llm's model"
    " instead of httpx2 and FakeOpenAI)"
)


def goal_tables(cells: list[Cell], suffix: str = "") -> list[tuple[str, Table]]:
    """Batching off vs on, rag while ingesting, the streamed first token and issue 15's goals,
    from ``cells`` (one load generator's), those with rows; ``suffix`` ends each title."""
    extra = [
        (
            "rag at zero LLM latency, micro-batching off vs on (overhead in ms)",
            batching_table(cells),
        ),
        (
            "rag while documents are ingested in the same process (overhead in ms)",
            ingest_table(cells),
        ),
        ("streamed answers at zero LLM latency: time to the first token (ms)", sse_table(cells)),
        ("issue 15 goals", load_goals(cells)),
    ]
    return [(title + suffix, table) for title, table in extra if table.rows]


async def run(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.fakes.openai_server import FakeOpenAI

    args.data_dir.mkdir(parents=True, exist_ok=True)
    db = await open_database(args.data_dir)
    versions = await database_versions(db.owner_url)
    if db.embedded is not None:
        await set_async_commit(db, args.async_commit)
    load_before = os.getloadavg()[0]
    fake = FakeOpenAI(chat_reply=fake_reply).start()
    lean = LeanFakeLLM(chat_reply=fake_reply).start() if "lean" in args.clients else None
    try:
        if args.profile:
            text = await profile_cache_hits(args, db, fake)
            print(text)
            path = args.data_dir / f"{args.profile_scenario}-profile.txt"
            path.write_text(text)
            print(f"profile written to {path}")
            return
        rng = random.Random(args.seed)
        setup_env = server_env(args, db, fake.base_url, None)
        print(f"setting up a workspace ({args.embedder} embedder) ...", flush=True)
        setup = await start_servers(1, setup_env, args.data_dir)
        try:
            t0 = time.perf_counter()
            ws = await create_workspace(setup[0].url)
            print(f"  workspace ready in {time.perf_counter() - t0:.1f} s", flush=True)
        finally:
            stop_servers(setup)
        cells: list[Cell] = []
        for round_ in range(args.rounds):
            for config in args.configs:
                for i, batching in enumerate(args.batching):
                    for j, (checkout, root, env) in enumerate(args.server_roots):
                        for k, client in enumerate(args.clients):
                            config = Config(
                                config.servers, config.redis, batching, checkout, root, env, client
                            )
                            print(f"config: {config.label}", flush=True)
                            first = round_ == 0 and i == 0 and j == 0 and k == 0
                            model = lean if client == "lean" and lean is not None else fake
                            cells += await run_config(args, config, db, model, ws, rng, hits=first)
    finally:
        fake.stop()
        if lean is not None:
            lean.stop()
    results = results_table(cells)
    stages = stage_breakdown(cells)
    goals = goals_table([c for c in cells if ", lean bench" not in c.config])
    results.print("POST /api/v1/chat (times in ms)")
    if len(args.server_roots) > 1:
        checkouts_table(cells, [label for label, _, _ in args.server_roots]).print(
            "server CPU ms per request by checkout (median of the rounds; each round's figures)"
        )
    stages.print("median server time per stage at 1 visitor (ms)")
    if goals.rows:
        goals.print("goals")
    # The goals' tables from the default load generator's cells; the lean one's after them.
    lean_cells = [c for c in cells if ", lean bench" in c.config]
    extra = goal_tables([c for c in cells if ", lean bench" not in c.config])
    extra += goal_tables(lean_cells, " (lean bench)")
    for title, table in extra:
        table.print(title)
    where = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded PostgreSQL"
    load_after = os.getloadavg()[0]
    body = "\n".join(
        [
            f"`python -m bench.chat_http {' '.join(args.argv)}`".replace(" `", "`"),
            "",
            f"Embedder: {args.embedder}; database: {where}"
            f" (synchronous_commit {'off' if args.async_commit else 'on'}); FakeOpenAI"
            " (in the bench process)"
            f"{LEAN_NOTE if 'lean' in args.clients else ''}"
            f" at LLM latency {', '.join(f'{x:g} s' for x in args.latencies)}; at most"
            f" {args.requests} requests per level for hits and {args.rag_requests} for rag,"
            f" capped at {args.cap:g} s per level. Each request opens a new conversation"
            " (up to three short transactions: the visitor's message, the read, the answer)."
            " CPU ms/request: CPU time of the server process, PostgreSQL and this process per"
            " answered request (not inflated by other processes the way wall times are)."
            " Overhead = the"
            " server's `timings_ms.total` minus `timings_ms.generation`; client latency includes"
            " the load generator, which shares the 2 cores with the server and PostgreSQL.",
            "",
            f"Load average (1 min) on this {os.cpu_count()}-core machine: {load_before:.1f}"
            f" when the run started, {load_after:.1f} when it ended"
            + (
                " (above the core count: other processes were sharing the cores and every figure"
                " is slower for it)."
                if max(load_before, load_after) > (os.cpu_count() or 1)
                else " (nothing else was running)."
            ),
            "",
            results.markdown(),
            "",
            "Median server time per stage at 1 visitor (ms):",
            "",
            stages.markdown(),
            "",
            *([goals.markdown(), ""] if goals.rows else []),
            *[line for title, table in extra for line in (f"{title}:", "", table.markdown(), "")],
            f"uvicorn {package_version('uvicorn')}, fastapi {package_version('fastapi')},"
            f" httpx {package_version('httpx')}, redis-py {package_version('redis')}.",
        ]
    )
    if writes_docs(args):
        name = args.section or (
            f"chat_http_{args.embedder}" + ("_async_commit" if args.async_commit else "")
        )
        write_section(name, body, machine=versions)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if shutil.which("redis-cli") is None and any(c.redis for c in args.configs):
        print("note: redis-cli not found; Redis configs need a Redis at --redis-url")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
