"""Search over HTTP: ``POST /api/v1/workspaces/{id}/search`` on the real server, as an API client.

    .venv/bin/python -m bench.search_http               # 1k and 10k chunks, 1/4/16 clients
    .venv/bin/python -m bench.search_http --quick       # a smoke run (150 pages, few requests)
    .venv/bin/python -m bench.search_http --no-write    # print only

What runs: an embedded PostgreSQL under --data-dir (recreated every run) and one
``python -m api.cli serve`` on it with the product's defaults (local MiniLM embedder, EMBED_BATCHING
on, EMBED_THREADS 1, the DB pool, RERANKER none, INFO JSON logs); only the rate limits are raised.
Two workspaces are created through the API (signup, login, an API key each) and filled with the
Python 3.11 HTML documentation (``apt-get install python3-doc``) through ``trulybot ingest``'s
path (``api.commands.ingest.ingest_files``: parse, chunk, embed, store, index maintenance) in this
process, one to about 1,000 chunks and one past 10,000 (which gets its partial HNSW index). The
MiniLM vectors of the chunks come from ``bench.embed_cache`` (``.cache/levers``) where present,
so a rerun ingests in about a minute; the texts embedded are the product's.

Each cell sends unique visitor-phrased questions (eval/python-docs.jsonl, varied so that the
server's query-embedding cache never hits) with ``Authorization: Bearer <API key>``, at default
settings (``{"query": ...}``: vector, one hit per page, k=5) or with ``per_document: false``,
from 1 and more concurrent clients. Reported per cell: client p50/p95/p99, the server's own
duration of the request (its access log line) p50/p95/p99, CPU ms per request of the server and
of PostgreSQL (steadier than wall times on a shared machine), the query embedding's model time per
request (``trulybot_embedding_call_seconds{kind="query"}``, one call may serve several
concurrent questions) and its share of the server's CPU, and the 1-minute load average. Two
extra cells: the 10k workspace with its index dropped (what a workspace just under the
10,000-chunk threshold gets: an exact scan) and repeated questions (the query-embedding cache
hits: what a search costs without the model).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bench.chat_servers import (
    APP_ROLE,
    METRICS_TOKEN,
    RATE_LIMIT_ENV,
    Server,
    start_servers,
    stop_servers,
)
from bench.chat_workload import cpu_per_request, cpu_seconds, workspace_with_key
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

CORPUS = Path("/usr/share/doc/python3.11/html")
QUESTIONS = ROOT / "eval" / "python-docs.jsonl"
SEARCH_ROUTE = "/api/v1/workspaces/{workspace_id}/search"
GOAL_MS = 50.0
T = TypeVar("T")
OPENERS = ["", "Hi, ", "Quick question: ", "Hello! ", "Sorry if this is obvious, but ", "Hey, "]
CLOSERS = ["", "?", " please", " in Python 3.11", " (for a script at work)", " - thanks!"]


# --- what the clients send -------------------------------------------------------------------


def unique_queries(questions: Sequence[str], n: int, rng: random.Random) -> list[str]:
    """``n`` distinct visitor-phrased queries: the eval's questions with an opener, a closer
    and a number, so the server's query-embedding cache (EMBED_QUERY_CACHE_SIZE) never hits."""
    if not questions:
        raise ValueError("no questions")
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        q = f"{rng.choice(OPENERS)}{rng.choice(questions)}{rng.choice(CLOSERS)}"
        q = f"{q} #{rng.randint(1, 999_999)}"
        if q not in seen:
            seen.add(q)
            out.append(q)
    return out


def pages_until(counts: Iterable[tuple[T, int]], target: int) -> list[T]:
    """The first pages (in order) whose chunk counts add up to at least ``target``; ``counts``
    is read no further than that."""
    out: list[T] = []
    total = 0
    for page, count in counts:
        out.append(page)
        total += count
        if total >= target:
            return out
    raise ValueError(f"the corpus has only {total:,} chunks, fewer than {target:,}")


def access_log_ms(lines: Sequence[str], route: str = SEARCH_ROUTE) -> list[float]:
    """The durations (ms) of the successful requests to ``route`` in the server's JSON log."""
    out = []
    for line in lines:
        if '"duration_ms"' not in line:
            continue
        with contextlib.suppress(ValueError):
            row = json.loads(line)
            if row.get("route") == route and row.get("status") == 200:
                out.append(float(row["duration_ms"]))
    return out


def metric_sums(text: str, name: str, labels: str = "") -> tuple[float, float]:
    """(sum, count) of histogram ``name`` with exactly ``labels`` in a /metrics text."""
    wanted = {
        f"{name}_{part}" + (f"{{{labels}}}" if labels else ""): part for part in ("sum", "count")
    }
    found = {"sum": 0.0, "count": 0.0}
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        if key in wanted:
            found[wanted[key]] = float(value)
    return found["sum"], found["count"]


def load_average() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


# --- the cells -------------------------------------------------------------------------------


@dataclass
class Target:
    label: str
    workspace_id: str
    key: str
    chunks: int
    plan: str


@dataclass
class Cell:
    target: str
    chunks: int
    plan: str
    grouping: str
    clients: int
    queries: str = "unique"
    wall: float = 0.0
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    cpu_ms: dict[str, float] = field(default_factory=dict)
    embed_ms: float = float("nan")
    embed_calls: float = 0.0
    load: tuple[float, float] = (float("nan"), float("nan"))
    errors: int = 0

    @property
    def rps(self) -> float:
        return len(self.client_ms) / self.wall if self.wall else 0.0


async def drive(
    client: httpx.AsyncClient,
    base: str,
    target: Target,
    queries: list[str],
    clients: int,
    per_document: bool,
    cell: Cell | None,
) -> None:
    url = f"{base}/api/v1/workspaces/{target.workspace_id}/search"
    headers = {"Authorization": f"Bearer {target.key}"}
    work = iter(queries)

    async def one_client() -> None:
        for query in work:
            body: dict[str, Any] = {"query": query}
            if not per_document:
                body["per_document"] = False
            t0 = time.perf_counter()
            r = await client.post(url, json=body, headers=headers)
            ms = (time.perf_counter() - t0) * 1000
            if cell is None:
                continue
            if r.status_code != 200 or not r.json()["results"]:
                cell.errors += 1
                continue
            cell.client_ms.append(ms)

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    if cell is not None:
        cell.wall = time.perf_counter() - started


async def measure(
    client: httpx.AsyncClient,
    server: Server,
    processes: dict[str, list[int]],
    target: Target,
    queries: list[str],
    *,
    clients: int,
    per_document: bool,
    label: str = "unique",
) -> Cell:
    cell = Cell(
        target.label,
        target.chunks,
        target.plan,
        "per document" if per_document else "chunks",
        clients,
        label,
    )
    # a warm-up of the connections, with questions of its own (a measured one must not be in
    # the server's query-embedding cache)
    warm = [f"{q} (warm-up)" for q in queries[: max(clients, 5)]]
    await drive(client, server.url, target, warm, clients, per_document, None)
    metrics_url = server.url + "/metrics"
    auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    before_metrics = (await client.get(metrics_url, headers=auth)).text
    log_offset = server.log.stat().st_size
    load_before = load_average()
    cpu_before = cpu_seconds(processes)
    await drive(client, server.url, target, queries, clients, per_document, cell)
    cell.cpu_ms = cpu_per_request(cpu_before, cpu_seconds(processes), len(cell.client_ms))
    cell.load = (load_before, load_average())
    after_metrics = (await client.get(metrics_url, headers=auth)).text
    with server.log.open("rb") as fh:
        fh.seek(log_offset)
        cell.server_ms = access_log_ms(fh.read().decode(errors="replace").splitlines())
    name, labels = "trulybot_embedding_call_seconds", 'kind="query"'
    s0, n0 = metric_sums(before_metrics, name, labels)
    s1, n1 = metric_sums(after_metrics, name, labels)
    if cell.client_ms:
        cell.embed_ms = (s1 - s0) * 1000 / len(cell.client_ms)
        cell.embed_calls = n1 - n0
    print(describe(cell), flush=True)
    return cell


def describe(cell: Cell) -> str:
    server = cell.cpu_ms.get("server", float("nan"))
    return (
        f"  {cell.target:<16} {cell.grouping:<12} {cell.queries:<8} x{cell.clients:<3}"
        f" {len(cell.client_ms):4d} req {cell.rps:6.1f}/s  client p50/p95 "
        f"{pct(cell.client_ms, 0.5):6.1f}/{pct(cell.client_ms, 0.95):6.1f} ms  server p95 "
        f"{pct(cell.server_ms, 0.95):6.1f} ms  CPU server {server:5.1f} ms/req  "
        f"embed {cell.embed_ms:5.1f} ms/req  load {cell.load[0]:.2f}-{cell.load[1]:.2f}"
        + (f"  errors {cell.errors}" if cell.errors else "")
    )


def results_table(cells: Sequence[Cell]) -> Table:
    table = Table(
        [
            "workspace",
            "plan",
            "results",
            "questions",
            "clients",
            "requests",
            "req/s",
            "client p50 / p95 / p99 ms",
            "server p50 / p95 / p99 ms",
            "CPU ms/req server / postgres",
            "query embedding: model ms/req (calls)",
            "load 1m",
        ],
        digits=1,
    )
    for c in cells:
        server_cpu = c.cpu_ms.get("server", float("nan"))
        table.add(
            f"{c.chunks:,} chunks",
            c.plan,
            c.grouping,
            c.queries,
            c.clients,
            len(c.client_ms),
            c.rps,
            " / ".join(f"{pct(c.client_ms, q):.1f}" for q in (0.5, 0.95, 0.99)),
            " / ".join(f"{pct(c.server_ms, q):.1f}" for q in (0.5, 0.95, 0.99)),
            f"{server_cpu:.1f} / {c.cpu_ms.get('postgres', float('nan')):.1f}",
            f"{c.embed_ms:.1f} ({c.embed_calls:.0f})",
            f"{c.load[0]:.2f}-{c.load[1]:.2f}",
        )
    return table


def find(cells: Sequence[Cell], **match: Any) -> Cell | None:
    """The first cell whose attributes equal ``match``."""
    return next((c for c in cells if all(getattr(c, k) == v for k, v in match.items())), None)


def embedding_share(cells: Sequence[Cell]) -> str:
    """The query embedding's share of the server's CPU per default request at 10k chunks: what
    the repeated questions (query-cache hits, no model call) save against unique ones."""
    unique = find(cells, target="10k", grouping="per document", clients=1, queries="unique")
    repeated = find(cells, target="10k", queries="repeated")
    if unique is None or repeated is None:
        return "query embedding's share: not measured"
    full, rest = unique.cpu_ms.get("server", 0.0), repeated.cpu_ms.get("server", 0.0)
    if not full:
        return "query embedding's share: not measured"
    return (
        f"query embedding's share of the server's CPU per default request at 10k chunks:"
        f" {full - rest:.1f} of {full:.1f} ms ({(full - rest) / full:.0%}; the same request on"
        f" a query-cache hit costs {rest:.1f} ms); its model time is {unique.embed_ms:.1f} ms"
        f" of the {pct(unique.server_ms, 0.5):.1f} ms server p50 (wall, on the shared cores)"
    )


def goal_line(cells: Sequence[Cell]) -> str:
    """The issue's goal on the default request (one client, per document) at 10k chunks."""
    c = find(cells, target="10k", grouping="per document", clients=1, queries="unique")
    if c is None:
        return "search p95 < 50 ms over HTTP at 10k chunks: not measured"
    if c.chunks < 10_000:
        return f"search p95 < {GOAL_MS:.0f} ms over HTTP at 10k chunks: not measured ({c.chunks:,})"
    p95 = pct(c.client_ms, 0.95)
    return (
        f"search p95 < {GOAL_MS:.0f} ms over HTTP at 10k chunks ({c.chunks:,}, {c.plan}, default"
        f" request, 1 client): {p95:.1f} ms, {'yes' if p95 < GOAL_MS else 'no'}"
        f" (load average {c.load[0]:.2f}-{c.load[1]:.2f})"
    )


# --- the workspaces --------------------------------------------------------------------------


async def api_workspace(base: str, name: str, owner_url: str) -> tuple[str, str]:
    """A workspace made through the API: signup, the email verified, login, an API key."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        return await workspace_with_key(client, name, owner_url)


def chunk_counts(
    files: Iterable[tuple[Path, str]], settings: Any
) -> Iterator[tuple[tuple[Path, str], int]]:
    """Each page with the number of chunks ingestion makes of it (same parse and chunking)."""
    from rag.knowledge.chunking import chunk_document
    from rag.knowledge.parsing import parse

    for path, source in files:
        parsed = parse(
            path.read_bytes(), filename=source.rsplit("/", 1)[-1], content_type="text/html"
        )
        pieces = chunk_document(
            parsed,
            max_tokens=settings.chunk_tokens,
            overlap=settings.chunk_overlap_tokens,
            min_tokens=settings.chunk_min_tokens,
        )
        yield (path, source), len(pieces)


async def fill(
    db_urls: tuple[str, str], plans: list[tuple[str, list[tuple[Path, str]]]], cache: bool
) -> dict[str, dict[str, Any]]:
    """Ingest each (workspace id, pages) through `trulybot ingest`'s path; its summary per id."""
    from api.commands.ingest import ingest_files
    from api.runtime import build_runtime
    from core.config import Settings
    from core.db import Database
    from rag.knowledge.embeddings import build_embedder

    app_url, owner_url = db_urls
    settings = Settings(_env_file=None, environment="development")  # type: ignore[call-arg]
    embedder = build_embedder(settings)
    if cache:
        from bench.embed_cache import DEFAULT_DIR, CachedEmbedder, EmbeddingCache

        embedder = CachedEmbedder(embedder, EmbeddingCache(DEFAULT_DIR / "embeddings.sqlite"))
    db = Database.from_url(app_url, statement_timeout_ms=0)
    out = {}
    try:
        async with build_runtime(
            settings, database=db, owner_url=owner_url, embedder=embedder, jobs="in-process"
        ) as runtime:
            for workspace_id, files in plans:
                out[workspace_id] = await ingest_files(runtime, uuid.UUID(workspace_id), files)
                await runtime.jobs.drain()  # the partial HNSW index, past the threshold
    finally:
        await embedder.aclose()
        await db.dispose()
    return out


async def drop_index(owner_url: str, workspace_id: str) -> None:
    from rag.knowledge.repository import indexes

    await indexes.drop_concurrently(owner_url, uuid.UUID(workspace_id))


async def plan_of(owner_url: str, workspace_id: str) -> tuple[int, str]:
    """(chunks, 'partial HNSW' or 'exact') of a workspace, read as the owner."""
    import asyncpg

    from rag.knowledge.repository import indexes

    conn = await asyncpg.connect(owner_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM chunks WHERE workspace_id = $1", uuid.UUID(workspace_id)
        )
        valid = await conn.fetchval(
            "SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid"
            " WHERE c.relname = $1",
            indexes.index_name(uuid.UUID(workspace_id)),
        )
    finally:
        await conn.close()
    return int(count), "partial HNSW" if valid else "exact"


# --- the run ---------------------------------------------------------------------------------


def server_env(args: argparse.Namespace, app_url: str, owner_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DB_", "EMBED", "REDIS_", "OPENAI_", "RERANK", "LOG_"))
    }
    env.update(
        {
            "DATA_DIR": str(args.data_dir),
            "ENVIRONMENT": "development",
            "SEED_DEMO": "false",
            "DEFAULT_PLAN": "unlimited",
            "EMBEDDING_PROVIDER": "local",
            "DATABASE_URL": app_url,
            "MIGRATION_DATABASE_URL": owner_url,
            "APP_DB_ROLE": APP_ROLE,
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "LOG_LEVEL": "INFO",
            "LOG_JSON": "true",
            "METRICS_TOKEN": METRICS_TOKEN,
            **RATE_LIMIT_ENV,
        }
    )
    return env


async def run(args: argparse.Namespace) -> str:
    from api.commands.ingest import collect
    from core import migrate
    from core.config import Settings
    from core.embedded import embedded_postgres
    from rag.knowledge import eval as rag_eval

    rng = random.Random(args.seed)
    files = collect([str(CORPUS)], "*.html")
    rng.shuffle(files)
    settings = Settings(_env_file=None, environment="development")  # type: ignore[call-arg]
    sizes = {"1k": args.small, "10k": args.large}
    counted: list[tuple[tuple[Path, str], int]] = []
    for item in chunk_counts(files, settings):  # parse and chunk only as many pages as needed
        counted.append(item)
        if sum(n for _, n in counted) >= max(sizes.values()):
            break
    chosen = {label: pages_until(counted, n) for label, n in sizes.items()}

    args.data_dir.mkdir(parents=True, exist_ok=True)
    pg = await embedded_postgres(args.data_dir, database="trulybot_bench_search", recreate=True)
    owner_url, app_url = pg.owner_url(), pg.app_url(APP_ROLE)
    await migrate.ensure_app_role(owner_url, APP_ROLE)
    await migrate.upgrade(owner_url, app_role=APP_ROLE)

    servers = await start_servers(1, server_env(args, app_url, owner_url), args.data_dir)
    server = servers[0]
    processes = {"server": [server.proc.pid], "bench": [os.getpid()]}
    with contextlib.suppress(OSError, ValueError):
        postmaster = args.data_dir / "pgdata" / "postmaster.pid"
        processes["postgres"] = [int(postmaster.read_text().split()[0])]
    questions = [q.question for q in rag_eval.load_questions(QUESTIONS)]
    cells: list[Cell] = []
    spy: subprocess.Popen[bytes] | None = None
    try:
        targets: dict[str, Target] = {}
        for label in sizes:
            workspace_id, key = await api_workspace(server.url, f"Search bench {label}", owner_url)
            targets[label] = Target(label, workspace_id, key, 0, "")
        started = time.perf_counter()
        summaries = await fill(
            (app_url, owner_url),
            [(targets[label].workspace_id, chosen[label]) for label in sizes],
            args.cache,
        )
        fill_s = time.perf_counter() - started
        for label, target in targets.items():
            target.chunks, target.plan = await plan_of(owner_url, target.workspace_id)
            print(
                f"{label}: {len(chosen[label])} pages, {target.chunks:,} chunks, {target.plan}"
                f" ({summaries[target.workspace_id]['outcomes']})",
                flush=True,
            )
        if args.profile:  # py-spy (not a dependency: pip install py-spy) on the server
            spy = subprocess.Popen(  # noqa: ASYNC220 - started once, before the cells
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "--pid",
                    str(server.proc.pid),
                    "--rate",
                    "250",
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--output",
                    str(args.profile),
                ]
            )
        limits = httpx.Limits(max_connections=max(args.clients) + 4)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            for per_document in (True, False):
                for clients in args.clients if per_document else args.clients[:1]:
                    for label in sizes:
                        queries = unique_queries(questions, args.requests, rng)
                        cells.append(
                            await measure(
                                client,
                                server,
                                processes,
                                targets[label],
                                queries,
                                clients=clients,
                                per_document=per_document,
                            )
                        )
            # the same default request, repeated questions: the query-embedding cache hits
            repeated = unique_queries(questions, min(50, args.requests), rng)
            await drive(client, server.url, targets["10k"], repeated, 1, True, None)
            cells.append(
                await measure(
                    client,
                    server,
                    processes,
                    targets["10k"],
                    repeated * max(1, args.requests // len(repeated)),
                    clients=1,
                    per_document=True,
                    label="repeated",
                )
            )
            if targets["10k"].plan != "exact":
                await drop_index(owner_url, targets["10k"].workspace_id)
                exact = Target("10k", targets["10k"].workspace_id, targets["10k"].key, 0, "exact")
                exact.chunks, exact.plan = await plan_of(owner_url, exact.workspace_id)
                exact.plan += " (index dropped)"
                for clients in args.clients[:2]:
                    cells.append(
                        await measure(
                            client,
                            server,
                            processes,
                            exact,
                            unique_queries(questions, args.requests, rng),
                            clients=clients,
                            per_document=True,
                        )
                    )
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        stop_servers(servers)
    versions = await database_versions(owner_url)
    table = results_table(cells)
    table.print("Search over HTTP")
    goal, share = goal_line(cells), embedding_share(cells)
    print(f"\n{goal}\n{share}")
    argv = " ".join(args.argv)
    lines = [
        f"`python -m bench.search_http{' ' + argv if argv else ''}` ({args.requests} requests per"
        f" cell; each workspace filled through `trulybot ingest`'s path in {fill_s:.0f} s in all,"
        f" MiniLM vectors {'from bench.embed_cache' if args.cache else 'embedded'};"
        f" sentence-transformers {package_version('sentence-transformers')}, torch"
        f" {package_version('torch')}; PostgreSQL {versions['postgresql']}, pgvector"
        f" {versions['pgvector']}; server and clients on the same 2 cores):",
        "",
        table.markdown(),
        "",
        f"- Goal: {goal}.",
        f"- The {share}.",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per cell")
    parser.add_argument("--clients", default="1,4,16", help="concurrent clients per cell")
    parser.add_argument("--small", type=int, default=1_000, help="chunks in the small workspace")
    parser.add_argument("--large", type=int, default=10_000, help="chunks in the large one")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="smoke: 1k vs 3k, 40 requests")
    parser.add_argument("--no-cache", dest="cache", action="store_false")
    parser.add_argument(
        "--profile", type=Path, default=None, help="py-spy the server over the cells (raw stacks)"
    )
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".trulybot" / "bench-search")
    add_write_options(parser)
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    args.argv = [a for a in raw if a not in ("--write", "--no-write")]
    if args.quick:
        args.requests, args.small, args.large = 40, 300, 3_000
        args.clients = "1,4"
    args.clients = [int(c) for c in args.clients.split(",") if c.strip()]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not CORPUS.is_dir():
        raise SystemExit(f"{CORPUS} is missing: apt-get install -y python3-doc")
    body = asyncio.run(run(args))
    if writes_docs(args):
        write_section("search_http", body)


if __name__ == "__main__":
    main()
