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
extra cells: the 10k workspace with its index dropped (an exact scan: what a workspace under
``indexing.BUILD_THRESHOLD`` gets; ``bench.search_band`` compares both near the threshold) and
repeated questions (the query-embedding cache hits: what a search costs without the model).
"""

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.chat_servers import APP_ROLE, METRICS_TOKEN, Server, start_servers, stop_servers
from bench.chat_workload import cpu_per_request, cpu_seconds
from bench.common import (
    ROOT,
    add_write_options,
    database_versions,
    package_version,
    write_section,
    writes_docs,
)
from bench.search_tables import Cell, Target, describe, embedding_share, goal_line, results_table
from bench.search_workload import (
    CORPUS,
    QUESTIONS,
    api_workspace,
    chunk_counts,
    drop_index,
    fill,
    pages_until,
    plan_of,
    server_env,
    unique_queries,
)

SEARCH_ROUTE = "/api/v1/workspaces/{workspace_id}/search"


# --- the server's own numbers ----------------------------------------------------------------


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


# --- the cells --------------------------------------------------------------------------------


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


# --- the run ----------------------------------------------------------------------------------


def choose_pages(rng: random.Random, sizes: dict[Any, int]) -> dict[Any, list[tuple[Path, str]]]:
    """Per label, the first pages of the shuffled Python docs holding at least its chunks (so a
    smaller workspace's pages are the first of a larger one's); parses only what it needs."""
    from api.commands.ingest import collect
    from core.config import Settings

    files = collect([str(CORPUS)], "*.html")
    rng.shuffle(files)
    settings = Settings(_env_file=None, environment="development")  # type: ignore[call-arg]
    counted: list[tuple[tuple[Path, str], int]] = []
    for item in chunk_counts(files, settings):
        counted.append(item)
        if sum(n for _, n in counted) >= max(sizes.values()):
            break
    return {label: pages_until(counted, n) for label, n in sizes.items()}


async def start_bench(
    args: argparse.Namespace, database: str
) -> tuple[list[Server], dict[str, list[int]], tuple[str, str]]:
    """A new embedded database under ``args.data_dir``, migrated, and one server on it: the
    servers, the processes whose CPU is counted, and the (owner, app) URLs."""
    from core import migrate
    from core.embedded import embedded_postgres

    args.data_dir.mkdir(parents=True, exist_ok=True)
    pg = await embedded_postgres(args.data_dir, database=database, recreate=True)
    owner_url, app_url = pg.owner_url(), pg.app_url(APP_ROLE)
    await migrate.ensure_app_role(owner_url, APP_ROLE)
    await migrate.upgrade(owner_url, app_role=APP_ROLE)
    servers = await start_servers(1, server_env(args, app_url, owner_url), args.data_dir)
    processes = {"server": [servers[0].proc.pid], "bench": [os.getpid()]}
    with contextlib.suppress(OSError, ValueError):
        postmaster = args.data_dir / "pgdata" / "postmaster.pid"
        processes["postgres"] = [int(postmaster.read_text().split()[0])]
    return servers, processes, (owner_url, app_url)


async def run(args: argparse.Namespace) -> str:
    from rag.knowledge import eval as rag_eval

    rng = random.Random(args.seed)
    sizes = {"1k": args.small, "10k": args.large}
    chosen = choose_pages(rng, sizes)
    servers, processes, (owner_url, app_url) = await start_bench(args, "trulybot_bench_search")
    server = servers[0]
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


def require_corpus() -> None:
    if not CORPUS.is_dir():
        raise SystemExit(f"{CORPUS} is missing: apt-get install -y python3-doc")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    require_corpus()
    body = asyncio.run(run(args))
    if writes_docs(args):
        write_section("search_http", body)


if __name__ == "__main__":
    main()
