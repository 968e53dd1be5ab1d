"""Chat over HTTP: POST /api/v1/chat on the real server under 1, 16 and 64 concurrent visitors.

    .venv/bin/python -m bench.chat_http                 # default: local MiniLM, ~6-8 minutes
    .venv/bin/python -m bench.chat_http --quick         # a smoke run, ~2 minutes
    .venv/bin/python -m bench.chat_http --embedder hash --configs 1:redis,2:redis
    .venv/bin/python -m bench.chat_http --profile       # cProfile of the cache-hit path, in-process

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
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import ROOT, Table, database_versions, package_version, pct, write_section

DEMO = ROOT / "api" / "demo"
DOCUMENTS = ("pricing.md", "refunds.md", "setup.md", "platforms.md")
APP_ROLE = "trulybot_app"
HIGH_LIMIT = "1000000/minute"
RATE_LIMIT_ENV = {
    name.upper(): HIGH_LIMIT
    for name in (
        "rate_limit_ip",
        "rate_limit_api_key",
        "rate_limit_auth",
        "rate_limit_chat_visitor",
        "rate_limit_chat_ip",
        "rate_limit_chat_workspace",
        "rate_limit_ingest",
    )
}

# Questions the demo documents answer (warmed once, then served from the response cache).
CACHE_QUESTIONS = [
    "How much is the Family plan?",
    "Can I get a refund on a yearly plan?",
    "Does it work on Linux?",
    "How do I restore a deleted file?",
    "What happens if I lose my encryption key?",
    "How many devices does the Personal plan cover?",
    "Can I downgrade from Business to Family?",
    "How long are file versions kept on the Business plan?",
    "How much does the Family plan cost per month?",
    "What does the Personal plan cost per month?",
    "How much is the Business plan per user per month?",
    "Do students and non-profits get a discount on any plan?",
]

TOPICS = [
    "the Family plan price",
    "the Personal plan storage",
    "Business plan single sign-on",
    "a refund for a yearly subscription",
    "cancelling my subscription",
    "downgrading my plan",
    "installing the app on Windows",
    "backing up an external drive",
    "restoring an old version of a file",
    "my encryption key",
    "Linux support",
    "the student discount",
    "phone backups",
    "versioned backups",
    "how long versions are kept",
    "the minimum number of business users",
]
TEMPLATES = [
    "Could you tell me about {t} for {w}?",
    "I need details on {t}, asking on behalf of {w}",
    "{w} wants to know: what about {t}?",
    "Quick question regarding {t} ({w})",
    "Please explain {t}; this is for {w}",
    "What are the rules for {t} when it comes to {w}?",
    "Is there anything I should know about {t} as {w}?",
    "Help me understand {t}, I am asking for {w}",
]
WHO = [
    "my grandmother",
    "a small bakery",
    "our school club",
    "a photographer in Pune",
    "my two laptops",
    "a dental clinic",
    "our non-profit",
    "a remote team of six",
    "my gaming PC",
    "a law office",
    "my home NAS",
    "a startup in Bengaluru",
    "an old MacBook",
    "a yoga studio",
    "my teenage kids",
    "a freelance designer",
]


def unique_questions(n: int, rng: random.Random) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        q = rng.choice(TEMPLATES).format(t=rng.choice(TOPICS), w=rng.choice(WHO))
        q = f"{q} Reference {rng.randint(100, 99999)}-{rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}."
        if q not in seen:
            seen.add(q)
            out.append(q)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fake_reply(body: dict[str, Any]) -> str:
    return "According to the documentation, this is covered in the knowledge base [1]."


# --- the servers -------------------------------------------------------------------------------


@dataclass
class Database:
    app_url: str
    owner_url: str
    embedded: Any = None


async def open_database(data_dir: Path) -> Database:
    env_app, env_owner = os.environ.get("DATABASE_URL"), os.environ.get("MIGRATION_DATABASE_URL")
    if env_app and env_owner:
        from core import migrate

        await migrate.upgrade(env_owner, app_role=APP_ROLE)
        return Database(env_app, env_owner)
    from core import migrate
    from core.embedded import embedded_postgres

    pg = await embedded_postgres(data_dir, database="trulybot_bench_chat", recreate=True)
    await migrate.ensure_app_role(pg.owner_url(), APP_ROLE)
    await migrate.upgrade(pg.owner_url(), app_role=APP_ROLE)
    return Database(pg.app_url(APP_ROLE), pg.owner_url(), pg)


async def set_async_commit(db: Database, on: bool) -> None:
    """Experiment on the bench's own database only: the app role's synchronous_commit."""
    import asyncpg

    conn = await asyncpg.connect(db.owner_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        value = "off" if on else "on"
        await conn.execute(f"ALTER ROLE {APP_ROLE} SET synchronous_commit = {value}")
    finally:
        await conn.close()


@dataclass
class Server:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def server_env(
    args: argparse.Namespace, db: Database, fake_url: str, redis_url: str | None
) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("REDIS_URL", "DATABASE_URL", "MIGRATION_DATABASE_URL"):
        env.pop(key, None)
    env.update(
        {
            "DATA_DIR": str(args.data_dir),
            "ENVIRONMENT": "development",
            "SEED_DEMO": "false",
            "DEFAULT_PLAN": "unlimited",
            "EMBEDDING_PROVIDER": args.embedder,
            "OPENAI_API_KEY": "bench-key",
            "OPENAI_BASE_URL": fake_url,
            "DATABASE_URL": db.app_url,
            "MIGRATION_DATABASE_URL": db.owner_url,
            "APP_DB_ROLE": APP_ROLE,
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "LOG_LEVEL": args.log_level,
            "DB_POOL_SIZE": "20",
            "DB_MAX_OVERFLOW": "20",
            **RATE_LIMIT_ENV,
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


async def start_servers(count: int, env: dict[str, str], log_dir: Path) -> list[Server]:
    servers = []
    for i in range(count):
        port = free_port()
        log = log_dir / f"server-{i}-{port}.log"
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before any load
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        servers.append(Server(port, proc, log))
    async with httpx.AsyncClient(timeout=2) as client:
        for server in servers:
            deadline = time.monotonic() + 120
            while True:
                if server.proc.poll() is not None:
                    raise RuntimeError(f"server exited; see {server.log}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(server.url + "/readyz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server did not become ready; see {server.log}")
                await asyncio.sleep(0.3)
    return servers


def stop_servers(servers: list[Server]) -> None:
    for server in servers:
        if server.proc.poll() is None:
            server.proc.send_signal(signal.SIGINT)
    for server in servers:
        try:
            server.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


# --- the workspace ---------------------------------------------------------------------------


@dataclass
class Workspace:
    id: str
    public_key: str
    token: str
    faq_questions: list[str]


async def _signup(client: httpx.AsyncClient, email: str, name: str) -> tuple[str, dict[str, Any]]:
    """Sign up (202), sign in (an unverified owner may set up documents and FAQs), and return
    the access token and the workspace."""
    password = "bench password 123"
    r = await client.post(
        "/api/v1/auth/signup",
        json={"email": email, "password": password, "workspace_name": name},
    )
    r.raise_for_status()
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    r.raise_for_status()
    token = r.json()["access_token"]
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()
    workspace: dict[str, Any] = r.json()["workspaces"][0]
    return token, workspace


async def create_workspace(base: str) -> Workspace:
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        token, ws = await _signup(
            client, f"bench-{uuid.uuid4().hex[:10]}@example.com", "Bench Backup"
        )
        headers = {"Authorization": f"Bearer {token}"}
        prefix = f"/api/v1/workspaces/{ws['id']}"
        faqs = json.loads((DEMO / "faqs.json").read_text())
        questions: list[str] = []
        for item in faqs:
            r = await client.post(f"{prefix}/faqs", json=item, headers=headers)
            r.raise_for_status()
            questions += [item["question"], *item.get("alt_questions", [])]
        for name in DOCUMENTS:
            r = await client.post(
                f"{prefix}/documents",
                files={"file": (name, (DEMO / name).read_bytes(), "text/markdown")},
                headers=headers,
            )
            r.raise_for_status()
        deadline = time.monotonic() + 300
        while True:
            r = await client.get(f"{prefix}/documents", headers=headers)
            r.raise_for_status()
            statuses = [d["status"] for d in r.json()["items"]]
            if statuses and all(s == "ready" for s in statuses):
                break
            if any(s == "failed" for s in statuses):
                raise RuntimeError(f"a demo document failed: {r.text}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"documents not ready: {statuses}")
            await asyncio.sleep(0.5)
    return Workspace(ws["id"], ws["public_key"], token, questions)


# --- the load --------------------------------------------------------------------------------


@dataclass
class Cell:
    config: str
    scenario: str
    latency: float | None
    concurrency: int
    wall: float = 0.0
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    overhead_ms: list[float] = field(default_factory=list)
    stages: list[dict[str, float]] = field(default_factory=list)
    sources: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def rps(self) -> float:
        return len(self.client_ms) / self.wall if self.wall else 0.0


async def chat(
    client: httpx.AsyncClient, base: str, key: str, message: str, session: str
) -> tuple[int, dict[str, Any]]:
    r = await client.post(
        base + "/api/v1/chat",
        json={"message": message, "session_id": session},
        headers={"X-Widget-Key": key},
    )
    return r.status_code, (r.json() if r.headers.get("content-type", "").startswith("app") else {})


async def drive(
    cell: Cell,
    client: httpx.AsyncClient,
    servers: list[Server],
    key: str,
    messages: list[str],
    total: int,
    cap: float,
) -> Cell:
    counter = iter(range(total))
    started = time.perf_counter()
    deadline = started + cap

    async def visitor(v: int) -> None:
        session = f"bench-{cell.scenario}-{cell.concurrency}-{v}-{uuid.uuid4().hex[:8]}"
        for i in counter:
            if time.perf_counter() > deadline:
                return
            base = servers[i % len(servers)].url
            t0 = time.perf_counter()
            try:
                status, body = await chat(client, base, key, messages[i % len(messages)], session)
            except httpx.HTTPError as exc:
                cell.errors[type(exc).__name__] += 1
                continue
            elapsed = (time.perf_counter() - t0) * 1000
            if status != 200:
                cell.errors[str(status)] += 1
                continue
            timings = body.get("timings_ms", {})
            total_ms = float(timings.get("total", 0.0))
            cell.client_ms.append(elapsed)
            cell.server_ms.append(total_ms)
            cell.overhead_ms.append(total_ms - float(timings.get("generation", 0.0)))
            cell.stages.append(timings)
            cell.sources[str(body.get("source"))] += 1

    await asyncio.gather(*(visitor(v) for v in range(cell.concurrency)))
    cell.wall = time.perf_counter() - started
    return cell


async def warm_cache(
    client: httpx.AsyncClient, servers: list[Server], key: str, questions: list[str]
) -> list[str]:
    """Ask each question once per server (memory caches are per process); keep those that hit."""
    cached = []
    for q in questions:
        hits = 0
        for server in servers:
            await chat(client, server.url, key, q, f"warm-{uuid.uuid4().hex[:8]}")
            _, body = await chat(client, server.url, key, q, f"warm-{uuid.uuid4().hex[:8]}")
            hits += body.get("source") == "cache"
        if hits == len(servers):
            cached.append(q)
    if not cached:
        raise RuntimeError("no question produced a cache hit (is the fake LLM citing [1]?)")
    return cached


# --- a configuration: N server processes, with or without Redis --------------------------------


@dataclass
class Config:
    servers: int
    redis: bool

    @property
    def label(self) -> str:
        return f"{self.servers} proc, {'Redis' if self.redis else 'memory'}"


def parse_configs(text: str) -> list[Config]:
    out = []
    for part in text.split(","):
        count, _, store = part.strip().partition(":")
        out.append(Config(int(count), store == "redis"))
    return out


async def flush_redis(url: str) -> bool:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        await client.flushdb()
        return True
    except Exception as exc:
        print(f"  Redis at {url} unusable ({type(exc).__name__}); skipping Redis configs")
        return False
    finally:
        await client.aclose()


async def run_config(
    args: argparse.Namespace,
    config: Config,
    db: Database,
    fake: Any,
    ws: Workspace,
    rng: random.Random,
) -> list[Cell]:
    redis_url = args.redis_url if config.redis else None
    if redis_url and not await flush_redis(redis_url):
        return []
    env = server_env(args, db, fake.base_url, redis_url)
    servers = await start_servers(config.servers, env, args.data_dir)
    cells: list[Cell] = []
    limits = httpx.Limits(max_connections=max(args.levels) + 8, max_keepalive_connections=None)
    try:
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            fake.latency = 0.0
            cached = await warm_cache(client, servers, ws.public_key, CACHE_QUESTIONS)
            print(f"  {len(cached)} of {len(CACHE_QUESTIONS)} warm-up questions cached", flush=True)
            plan: list[tuple[str, float | None, list[str]]] = [
                ("faq", None, ws.faq_questions),
                ("cache", None, cached),
            ]
            if config.servers == 1 or args.rag_multi:
                plan += [("rag", lat, []) for lat in args.latencies]
            for scenario, latency, messages in plan:
                if scenario not in args.scenarios:
                    continue
                for level in args.levels:
                    total = args.rag_requests if scenario == "rag" else args.requests
                    if scenario == "rag":
                        messages = unique_questions(total, rng)
                    fake.latency = latency or 0.0
                    # a short warm-up of the connections and the code path, not measured
                    warm = Cell(config.label, scenario, latency, level)
                    await drive(warm, client, servers, ws.public_key, messages, level, 10)
                    if scenario == "rag":
                        messages = unique_questions(total, rng)
                    cell = Cell(config.label, scenario, latency, level)
                    await drive(cell, client, servers, ws.public_key, messages, total, args.cap)
                    cells.append(cell)
                    report_cell(cell)
    finally:
        stop_servers(servers)
    return cells


def report_cell(c: Cell) -> None:
    lat = "-" if c.latency is None else f"{c.latency:g}s"
    print(
        f"  {c.config:16} {c.scenario:5} llm={lat:5} c={c.concurrency:<3} n={len(c.client_ms):<4}"
        f" {c.rps:7.1f} req/s  client p50/p95 {pct(c.client_ms, 0.5):7.1f}/"
        f"{pct(c.client_ms, 0.95):7.1f} ms  server-overhead p50/p95 {pct(c.overhead_ms, 0.5):6.2f}/"
        f"{pct(c.overhead_ms, 0.95):6.2f} ms  sources {dict(c.sources)}"
        + (f" errors {dict(c.errors)}" if c.errors else ""),
        flush=True,
    )


# --- profiling (in-process, ASGI transport, no network) ----------------------------------------


async def profile_cache_hits(args: argparse.Namespace, db: Database, fake: Any) -> str:
    """cProfile of N cache-hit requests through the whole ASGI app in this process."""
    from api.app import create_app
    from core.config import Settings

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="development",
        data_dir=args.data_dir,
        seed_demo=False,
        default_plan="unlimited",
        embedding_provider=args.embedder,
        openai_api_key="bench-key",
        openai_base_url=fake.base_url,
        database_url=db.app_url,
        migration_database_url=db.owner_url,
        redis_url=args.redis_url if args.profile_redis else None,
        log_level=args.log_level,
        **{k.lower(): v for k, v in RATE_LIMIT_ENV.items()},
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
            profiler = cProfile.Profile()
            server_ms: list[float] = []
            t0 = time.perf_counter()
            profiler.enable()
            for i in range(args.profile_requests):
                body = await _chat_rel(client, signup.public_key, cached[i % len(cached)])
                server_ms.append(float(body["timings_ms"]["total"]))
            profiler.disable()
            wall = time.perf_counter() - t0
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(35)
    stats.sort_stats("cumulative").print_stats(60)
    n = args.profile_requests
    head = (
        f"{n} cache hits in-process (cProfile on): {n / wall:.0f} req/s, "
        f"server p50 {pct(server_ms, 0.5):.2f} ms, p95 {pct(server_ms, 0.95):.2f} ms\n"
    )
    return head + out.getvalue()


async def _chat_rel(client: httpx.AsyncClient, key: str, message: str) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/chat",
        json={"message": message, "session_id": f"p-{uuid.uuid4().hex[:8]}"},
        headers={"X-Widget-Key": key},
    )
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


async def _workspace_in_process(client: httpx.AsyncClient) -> Workspace:
    token, ws = await _signup(client, f"prof-{uuid.uuid4().hex[:10]}@example.com", "Profile")
    headers = {"Authorization": f"Bearer {token}"}
    prefix = f"/api/v1/workspaces/{ws['id']}"
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


def stage_breakdown(cells: list[Cell]) -> Table:
    """Median per-stage server time (ms) at concurrency 1, per config and scenario."""
    stages = ["validate", "record", "intent", "faq", "cache", "embed", "faq_semantic"]
    stages += ["cache_semantic", "retrieval", "generation", "record_answer", "total"]
    table = Table(["config", "scenario", *stages])
    for c in cells:
        if c.concurrency != 1 or not c.stages or (c.scenario == "rag" and c.latency):
            continue
        row = []
        for s in stages:
            values = [t[s] for t in c.stages if s in t]
            row.append(pct(values, 0.5) if values else None)
        table.add(c.config, c.scenario, *row)
    return table


def results_table(cells: list[Cell]) -> Table:
    table = Table(
        [
            "config",
            "scenario",
            "LLM latency",
            "visitors",
            "requests",
            "req/s",
            "client p50",
            "client p95",
            "client p99",
            "overhead p50",
            "overhead p95",
            "overhead p99",
            "answered from",
        ]
    )
    for c in cells:
        sources = ", ".join(f"{k} {v}" for k, v in c.sources.most_common())
        if c.errors:
            sources += "; errors " + ", ".join(f"{k} {v}" for k, v in c.errors.items())
        table.add(
            c.config,
            c.scenario,
            "-" if c.latency is None else f"{c.latency:g} s",
            c.concurrency,
            len(c.client_ms),
            round(c.rps, 1),
            pct(c.client_ms, 0.5),
            pct(c.client_ms, 0.95),
            pct(c.client_ms, 0.99),
            pct(c.overhead_ms, 0.5),
            pct(c.overhead_ms, 0.95),
            pct(c.overhead_ms, 0.99),
            sources,
        )
    return table


def goals_table(cells: list[Cell]) -> Table:
    table = Table(["goal", "best measured", "where", "met"])
    for scenario in ("faq", "cache"):
        own = [c for c in cells if c.scenario == scenario and c.overhead_ms]
        if own:
            best = min(own, key=lambda c: pct(c.overhead_ms, 0.95))
            p95 = pct(best.overhead_ms, 0.95)
            table.add(
                f"{scenario} hit: server p95 <= 5 ms",
                f"{p95:.2f} ms",
                f"{best.config}, {best.concurrency} visitor(s)",
                "yes" if p95 <= 5 else f"no (+{p95 - 5:.1f} ms)",
            )
    hits = [c for c in cells if c.scenario == "cache" and c.client_ms]
    if hits:
        best = max(hits, key=lambda c: c.rps)
        table.add(
            ">= 300 cache-hit req/s (2 cores)",
            f"{best.rps:.0f} req/s",
            f"{best.config}, {best.concurrency} visitors",
            "yes" if best.rps >= 300 else f"no ({best.rps / 300:.0%} of it)",
        )
    return table


async def run(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.fakes.openai_server import FakeOpenAI

    args.data_dir.mkdir(parents=True, exist_ok=True)
    db = await open_database(args.data_dir)
    versions = await database_versions(db.owner_url)
    if db.embedded is not None:
        await set_async_commit(db, args.async_commit)
    fake = FakeOpenAI(chat_reply=fake_reply).start()
    try:
        if args.profile:
            text = await profile_cache_hits(args, db, fake)
            print(text)
            path = args.data_dir / "cache-hit-profile.txt"
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
        for config in args.configs:
            print(f"config: {config.label}", flush=True)
            cells += await run_config(args, config, db, fake, ws, rng)
    finally:
        fake.stop()
    results = results_table(cells)
    stages = stage_breakdown(cells)
    goals = goals_table(cells)
    results.print("POST /api/v1/chat (times in ms)")
    stages.print("median server time per stage at 1 visitor (ms)")
    goals.print("goals")
    where = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded PostgreSQL"
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
            " (two short transactions: the visitor's message, then the answer). Overhead = the"
            " server's `timings_ms.total` minus `timings_ms.generation`; client latency includes"
            " the load generator, which shares the 2 cores with the server and PostgreSQL.",
            "",
            results.markdown(),
            "",
            "Median server time per stage at 1 visitor (ms):",
            "",
            stages.markdown(),
            "",
            goals.markdown(),
            "",
            f"uvicorn {package_version('uvicorn')}, fastapi {package_version('fastapi')},"
            f" httpx {package_version('httpx')}, redis-py {package_version('redis')}.",
        ]
    )
    if not args.no_write:
        name = f"chat_http_{args.embedder}" + ("_async_commit" if args.async_commit else "")
        write_section(name, body, machine=versions)


def main(argv: list[str] | None = None) -> None:
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
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--async-commit",
        action="store_true",
        help="experiment (embedded database only): the app role's synchronous_commit = off",
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument("--profile", action="store_true", help="cProfile the cache-hit path")
    parser.add_argument("--profile-redis", action="store_true")
    parser.add_argument("--profile-requests", type=int, default=500)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.levels, args.requests, args.rag_requests, args.cap = "1,16", 100, 60, 6.0
        args.configs = "1:memory,2:redis"
    args.levels = [int(x) for x in str(args.levels).split(",")]
    args.latencies = [float(x) for x in str(args.latencies).split(",")]
    args.scenarios = set(str(args.scenarios).split(","))
    args.configs = parse_configs(str(args.configs))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if shutil.which("redis-cli") is None and any(c.redis for c in args.configs):
        print("note: redis-cli not found; Redis configs need a Redis at --redis-url")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
