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
a lower bound of what the server alone could do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import random
import shutil
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2

from bench.chat_questions import CACHE_QUESTIONS, unique_questions
from bench.chat_servers import (
    CONVERSATION_CAP_ENV,
    DEMO,
    DOCUMENTS,
    RATE_LIMIT_ENV,
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
    _signup,
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
    add_write_options,
    database_versions,
    package_version,
    pct,
    write_section,
    writes_docs,
)


@dataclass
class Config:
    servers: int
    redis: bool
    batching: bool = True
    checkout: str = ""
    """The label of the checkout the servers run from (``--server-roots``); "" for this one."""
    root: Path = ROOT
    env: tuple[tuple[str, str], ...] = ()
    """Settings the servers get on top of the bench's (``--server-roots LABEL=DIR@KEY=VALUE``)."""

    @property
    def label(self) -> str:
        store = "Redis" if self.redis else "memory"
        label = f"{self.servers} proc, {store}, batching {'on' if self.batching else 'off'}"
        return f"{label}, {self.checkout}" if self.checkout else label


def parse_configs(text: str) -> list[Config]:
    out = []
    for part in text.split(","):
        count, _, store = part.strip().partition(":")
        out.append(Config(int(count), store == "redis"))
    return out


def parse_roots(text: str) -> list[tuple[str, Path, tuple[tuple[str, str], ...]]]:
    """``LABEL=DIR[@KEY=VALUE...],...`` -> [(label, checkout directory, server settings)];
    empty: this checkout, unlabelled. ``share=.@EMBED_DOCUMENT_SHARE=0.5`` runs this checkout's
    servers with that setting."""
    roots = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        label, _, rest = part.partition("=")
        directory, *settings = rest.split("@")
        root = Path(directory or ".").resolve()
        if not (root / "api" / "cli.py").is_file():
            raise SystemExit(f"--server-roots: {root} is not a TrulyBot checkout")
        env = []
        for setting in settings:
            key, sep, value = setting.partition("=")
            if not sep or not key:
                raise SystemExit(f"--server-roots: {setting!r} is not KEY=VALUE")
            env.append((key, value))
        roots.append((label, root, tuple(env)))
    return roots or [("", ROOT, ())]


def checkouts_table(cells: list[Cell], checkouts: list[str]) -> Table:
    """Server CPU per request of each checkout, per scenario and level, over the rounds."""
    table = Table(["scenario", "visitors", "batching", *checkouts])
    keys = dict.fromkeys((c.scenario, c.latency, c.concurrency, c.batching) for c in cells)
    for scenario, latency, level, batching in keys:
        row = []
        for checkout in checkouts:
            figures = [
                c.cpu_ms.get("server", 0.0)
                for c in cells
                if (c.scenario, c.latency, c.concurrency, c.batching)
                == (scenario, latency, level, batching)
                and c.config.endswith(f", {checkout}")
            ]
            each = " / ".join(f"{x:.1f}" for x in figures)
            row.append(f"{statistics.median(figures):.1f} ({each})" if figures else "-")
        name = scenario if latency in (None, 0.0) else f"{scenario} {latency:g} s"
        table.add(name, level, "on" if batching else "off", *row)
    return table


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
                    await drive(warm, client, servers, ws.public_key, messages, level, 10)
                    if unique:
                        messages = unique_questions(total, rng)
                    cell = Cell(config.label, scenario, latency, level, batching=config.batching)
                    before = await scrape(client, servers)
                    cpu_before = cpu_seconds(processes)
                    if scenario == "ingest":
                        async with feeding_documents(servers[0].url, args.ingest_files) as fed:
                            await drive(
                                cell, client, servers, ws.public_key, messages, total, args.cap
                            )
                        cell.note = fed.describe()
                    else:
                        await drive(cell, client, servers, ws.public_key, messages, total, args.cap)
                    cell.cpu_ms = cpu_per_request(
                        cpu_before, cpu_seconds(processes), len(cell.client_ms)
                    )
                    cell.metrics = describe_metrics(before, await scrape(client, servers))
                    cells.append(cell)
                    report_cell(cell)
    finally:
        stop_servers(servers)
    return cells


# --- documents fed into the server while visitors ask (the ingest scenario) --------------------


def in_process_settings(
    args: argparse.Namespace, db: Database, fake_url: str, *, redis_url: str | None = None
) -> Any:
    """The settings of an app run inside the bench process (``--profile``, ``bench.chat_db``)."""
    from core.config import Settings

    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="development",
        data_dir=args.data_dir,
        seed_demo=False,
        default_plan="unlimited",
        embedding_provider=args.embedder,
        openai_api_key="bench-key",
        openai_base_url=fake_url,
        database_url=db.app_url,
        migration_database_url=db.owner_url,
        redis_url=redis_url,
        log_level=getattr(args, "log_level", "WARNING"),
        **{k.lower(): v for k, v in RATE_LIMIT_ENV.items()},
        **{k.lower(): int(v) for k, v in CONVERSATION_CAP_ENV.items()},
    )


async def profile_cache_hits(args: argparse.Namespace, db: Database, fake: Any) -> str:
    """cProfile of N cache-hit requests through the whole ASGI app in this process."""
    from api.app import create_app

    settings = in_process_settings(
        args, db, fake.base_url, redis_url=args.redis_url if args.profile_redis else None
    )
    if args.profile_redis:
        await flush_redis(args.redis_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            signup = await _workspace_in_process(client)
            fake.latency = 0.0
            cached = []
            for q in CACHE_QUESTIONS:
                await _chat_rel(client, signup.public_key, q)
                if (await _chat_rel(client, signup.public_key, q))["source"] == "cache":
                    cached.append(q)
            if not cached:
                raise RuntimeError("no question produced a cache hit")
            trips = _count_round_trips(app.state.runtime.db.engine.sync_engine)
            profiler = cProfile.Profile()
            server_ms: list[float] = []
            t0 = time.perf_counter()
            profiler.enable()
            rag = args.profile_scenario == "rag"  # unique questions: retrieval + generation
            messages = (
                unique_questions(args.profile_requests, random.Random(args.seed)) if rag else cached
            )
            for i in range(args.profile_requests):
                body = await _chat_rel(client, signup.public_key, messages[i % len(messages)])
                server_ms.append(float(body["timings_ms"]["total"]))
            profiler.disable()
            wall = time.perf_counter() - t0
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(35)
    stats.sort_stats("cumulative").print_stats(60)
    n = args.profile_requests
    head = (
        f"{n} {args.profile_scenario} requests in-process (cProfile on): {n / wall:.0f} req/s, "
        f"server p50 {pct(server_ms, 0.5):.2f} ms, p95 {pct(server_ms, 0.95):.2f} ms\n"
        "database round trips per request: "
        + ", ".join(f"{k} {v / n:.2f}" for k, v in trips.items())
        + f" (total {sum(trips.values()) / n:.2f})\n"
    )
    return head + out.getvalue()


def _count_round_trips(engine: Any) -> dict[str, int]:
    """Counts, from now on, what the engine sends to PostgreSQL: BEGIN, statements, COMMIT and
    ROLLBACK (each a round trip; a statement's first use on a connection adds a prepare)."""
    from sqlalchemy import event

    counts = {"begin": 0, "statements": 0, "commit": 0, "rollback": 0}

    def bump(key: str) -> Any:
        def listener(*_: Any, **__: Any) -> None:
            counts[key] += 1

        return listener

    event.listen(engine, "begin", bump("begin"))
    event.listen(engine, "before_cursor_execute", bump("statements"))
    event.listen(engine, "commit", bump("commit"))
    event.listen(engine, "rollback", bump("rollback"))
    return counts


async def _chat_rel(client: httpx.AsyncClient, key: str, message: str) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/chat",
        json={"message": message, "session_id": f"p-{uuid.uuid4().hex[:8]}"},
        headers={"X-Widget-Key": key},
    )
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


async def _workspace_in_process(client: httpx.AsyncClient, *, faqs: bool = False) -> Workspace:
    """A workspace with the demo documents (and ``faqs``: the demo FAQs), through ``client``."""
    token, ws = await _signup(client, f"prof-{uuid.uuid4().hex[:10]}@example.com", "Profile")
    headers = {"Authorization": f"Bearer {token}"}
    prefix = f"/api/v1/workspaces/{ws['id']}"
    for item in json.loads((DEMO / "faqs.json").read_text()) if faqs else []:
        (await client.post(f"{prefix}/faqs", json=item, headers=headers)).raise_for_status()
    for name in DOCUMENTS:
        r = await client.post(
            f"{prefix}/documents",
            files={"file": (name, (DEMO / name).read_bytes(), "text/markdown")},
            headers=headers,
        )
        r.raise_for_status()
    for _ in range(600):
        r = await client.get(f"{prefix}/documents", headers=headers)
        if all(d["status"] == "ready" for d in r.json()["items"]):
            break
        await asyncio.sleep(0.5)
    return Workspace(ws["id"], ws["public_key"], "", [])


# --- report ----------------------------------------------------------------------------------


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
                        config = Config(config.servers, config.redis, batching, checkout, root, env)
                        print(f"config: {config.label}", flush=True)
                        first = round_ == 0 and i == 0 and j == 0
                        cells += await run_config(args, config, db, fake, ws, rng, hits=first)
    finally:
        fake.stop()
    results = results_table(cells)
    stages = stage_breakdown(cells)
    goals = goals_table(cells)
    results.print("POST /api/v1/chat (times in ms)")
    if len(args.server_roots) > 1:
        checkouts_table(cells, [label for label, _, _ in args.server_roots]).print(
            "server CPU ms per request by checkout (median of the rounds; each round's figures)"
        )
    stages.print("median server time per stage at 1 visitor (ms)")
    if goals.rows:
        goals.print("goals")
    extra: list[tuple[str, Table]] = [
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
    extra = [(title, table) for title, table in extra if table.rows]
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


QUICK = {"levels": "1,16", "requests": 100, "rag_requests": 60, "cap": 6.0}
"""What --quick sets, for each option not given on the command line."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedder", choices=["local", "hash"], default="local")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/tb-bench-chat"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/10")
    parser.add_argument(
        "--configs",
        default="1:memory,2:redis",
        help="comma-separated PROCESSES:memory|redis (default %(default)s)",
    )
    parser.add_argument("--levels", default="1,16,64")
    parser.add_argument("--latencies", default="0.5,0", help="fake LLM latencies for rag, s")
    parser.add_argument("--scenarios", default="faq,cache,rag")
    parser.add_argument("--requests", type=int, default=400, help="per level, faq and cache")
    parser.add_argument("--rag-requests", type=int, default=200, help="per level, rag")
    parser.add_argument("--cap", type=float, default=8.0, help="seconds per level at most")
    parser.add_argument("--rag-multi", action="store_true", help="rag also with >1 process")
    parser.add_argument(
        "--batching", default="on,off", help="EMBED_BATCHING modes, each a server run (on,off)"
    )
    parser.add_argument(
        "--server-roots",
        default="",
        help="LABEL=DIR,...: run every config's servers from each of these checkouts in turn"
        " (e.g. before=/tmp/base,after=.), side by side in one run",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="run the configs this many times, in turn"
    )
    parser.add_argument("--sse-levels", default="16", help="visitors for the sse scenario")
    parser.add_argument("--ingest-levels", default="16", help="visitors for the ingest scenario")
    parser.add_argument("--ingest-files", type=int, default=200, help="corpus pages to cycle")
    parser.add_argument(
        "--section", default=None, help="docs/benchmarks.md section (default chat_http_EMBEDDER)"
    )
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--async-commit",
        action="store_true",
        help="experiment (embedded database only): the app role's synchronous_commit = off",
    )
    add_write_options(parser)
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one path (--profile-scenario)"
    )
    parser.add_argument("--profile-redis", action="store_true")
    parser.add_argument("--profile-scenario", choices=["cache", "rag"], default="cache")
    parser.add_argument("--profile-requests", type=int, default=500)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.quick:  # smaller, but what the command line asks for stays (--configs, --levels)
        for name, value in QUICK.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    args.levels = [int(x) for x in str(args.levels).split(",")]
    args.sse_levels = [int(x) for x in str(args.sse_levels).split(",")]
    args.ingest_levels = [int(x) for x in str(args.ingest_levels).split(",")]
    args.batching = [x.strip() == "on" for x in str(args.batching).split(",")]
    args.latencies = [float(x) for x in str(args.latencies).split(",")]
    args.scenarios = set(str(args.scenarios).split(","))
    args.configs = parse_configs(str(args.configs))
    args.server_roots = parse_roots(str(args.server_roots))
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if shutil.which("redis-cli") is None and any(c.redis for c in args.configs):
        print("note: redis-cli not found; Redis configs need a Redis at --redis-url")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
