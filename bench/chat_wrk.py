"""Cache-hit and FAQ-hit throughput of `POST /api/v1/chat` driven by `wrk`, a load generator in C.

`bench.chat_http` drives the server from Python, and that client takes most of one of the two
cores; this script measures the server's capacity with a load generator that costs little, so the
number is the server's and not the client's. Needs Debian's `wrk` (`apt-get install -y wrk`).

    python -m bench.chat_wrk                       # 1 worker, and 2 workers with Redis
    python -m bench.chat_wrk --duration 5 --connections 16

It starts `trulybot serve` (with `--workers` via WORKERS) on its own embedded PostgreSQL, creates a
workspace through the API, warms the cache, then runs `wrk` for each configuration and connection
count and writes the `chat_wrk` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.chat_servers import (
    fake_reply,
    flush_redis,
    open_database,
    server_env,
    start_servers,
    stop_servers,
)
from bench.chat_workload import chat, create_workspace
from bench.common import ROOT, Table, add_write_options, write_section, writes_docs

LUA = """
wrk.method = "POST"
wrk.body = %s
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Widget-Key"] = "%s"
"""
_LATENCY = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)", re.MULTILINE)
_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")


@dataclass
class Run:
    config: str
    scenario: str
    connections: int
    rps: float
    latency_ms: dict[str, float]
    errors: int


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, body: dict[str, str], key: str, connections: int, duration: int) -> Run:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % (json.dumps(json.dumps(body)), key))
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            script.name,
            url + "/api/v1/chat",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    Path(script.name).unlink()
    rps = float(_RPS.search(out).group(1))  # type: ignore[union-attr]
    latency = {f"p{m[0]}": _ms(m[1], m[2]) for m in _LATENCY.findall(out)}
    errors = int(m.group(1)) if (m := _NON2XX.search(out)) else 0
    return Run("", "", connections, rps, latency, errors)


async def main_async(args: argparse.Namespace) -> list[Run]:
    sys.path.insert(0, str(ROOT))
    from tests.fakes.openai_server import FakeOpenAI

    args.data_dir.mkdir(parents=True, exist_ok=True)
    args.embedder, args.log_level = "hash", "WARNING"
    db = await open_database(args.data_dir)
    fake = FakeOpenAI(chat_reply=fake_reply).start()
    runs: list[Run] = []
    try:
        # The workspace is made once, by a server without Redis: its ingestion jobs then run
        # in-process (with Redis they would wait for a `trulybot worker`).
        setup = await start_servers(1, server_env(args, db, fake.base_url, None), args.data_dir)
        try:
            ws = await create_workspace(setup[0].url)
        finally:
            stop_servers(setup)
        for workers, redis in ((1, False), (2, True)):
            if redis and not await flush_redis(args.redis_url):
                print("Redis not reachable: skipping the 2-worker configuration")
                continue
            env = server_env(args, db, fake.base_url, args.redis_url if redis else None)
            env["WORKERS"] = str(workers)
            label = f"{workers} worker{'s' if workers > 1 else ''}, " + (
                "Redis" if redis else "memory"
            )
            servers = await start_servers(1, env, args.data_dir)
            try:
                base = servers[0].url
                question = "What does the Family plan cost per month?"
                async with httpx.AsyncClient(timeout=60) as client:
                    for _ in range(4 * workers):  # every worker's cache (memory) or Redis
                        await chat(client, base, ws.public_key, question, uuid.uuid4().hex[:8])
                scenarios = {
                    "cache hit": question,
                    "faq hit": ws.faq_questions[0],
                }
                for scenario, message in scenarios.items():
                    for connections in args.connections:
                        body = {"message": message, "session_id": "wrk-visitor"}
                        run = run_wrk(base, body, ws.public_key, connections, args.duration)
                        run.config, run.scenario = label, scenario
                        runs.append(run)
                        print(
                            f"{label:18} {scenario:10} c={connections:<3} {run.rps:8.1f} req/s"
                            f"  p50 {run.latency_ms.get('p50', 0):7.2f} ms"
                            f"  p99 {run.latency_ms.get('p99', 0):7.2f} ms  non-2xx {run.errors}",
                            flush=True,
                        )
            finally:
                stop_servers(servers)
    finally:
        fake.stop()
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/tb-bench-wrk"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", default="16,64")
    add_write_options(parser)
    args = parser.parse_args(argv)
    args.connections = [int(c) for c in args.connections.split(",")]
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    runs = asyncio.run(main_async(args))
    table = Table(
        ["config", "scenario", "connections", "req/s", "p50 ms", "p90 ms", "p99 ms", "non-2xx"]
    )
    for r in runs:
        table.add(
            r.config,
            r.scenario,
            r.connections,
            f"{r.rps:.1f}",
            f"{r.latency_ms.get('p50', 0):.2f}",
            f"{r.latency_ms.get('p90', 0):.2f}",
            f"{r.latency_ms.get('p99', 0):.2f}",
            r.errors,
        )
    table.print("POST /api/v1/chat under wrk (client latency)")
    best = max((r.rps for r in runs if r.scenario == "cache hit" and r.errors == 0), default=0.0)
    body = "\n".join(
        [
            f"`python -m bench.chat_wrk --duration {args.duration}` (wrk 1 thread, each request a"
            " new conversation: the visitor's message and the answer are both recorded; hash"
            " embedder, embedded PostgreSQL; the server, PostgreSQL, Redis and wrk share the 2"
            " cores).",
            "",
            table.markdown(),
            "",
            f"Best cache-hit throughput: **{best:.0f} req/s** (goal: 300 on 2 cores).",
        ]
    )
    if writes_docs(args):
        write_section("chat_wrk", body)


if __name__ == "__main__":
    main()
