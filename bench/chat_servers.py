"""The processes behind bench.chat_http: its embedded database, the fake LLM's replies and the
`trulybot serve` processes (environment, start, stop).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.common import ROOT
from core.config import RATE_LIMIT_SETTINGS

DEMO = ROOT / "api" / "demo"
DOCUMENTS = ("pricing.md", "refunds.md", "setup.md", "platforms.md")
APP_ROLE = "trulybot_app"
HIGH_LIMIT = "1000000/minute"
RATE_LIMIT_ENV = {name.upper(): HIGH_LIMIT for name in RATE_LIMIT_SETTINGS}

METRICS_TOKEN = "bench-metrics-token"
# Read from each server's /metrics after a cell: (name, labels) -> what the cell added.
WATCHED = {
    "loop lag ms": ("trulybot_event_loop_lag_seconds", ""),
    "pool wait ms": ("trulybot_db_pool_wait_seconds", ""),
    "query batch": ("trulybot_embedding_batch_size", 'kind="query"'),
    "doc slice": ("trulybot_embedding_batch_size", 'kind="document"'),
    "query call ms": ("trulybot_embedding_call_seconds", 'kind="query"'),
    "chat POST ms": (
        "trulybot_http_request_duration_seconds",
        'method="POST",route="/api/v1/chat",status="200"',
    ),
    "gc0 ms": ("trulybot_gc_pause_seconds", 'generation="0"'),
    "gc1 ms": ("trulybot_gc_pause_seconds", 'generation="1"'),
    "gc2 ms": ("trulybot_gc_pause_seconds", 'generation="2"'),
}

# Every request opens a conversation: the per-hour caps on new widget conversations raised too.
CONVERSATION_CAP_ENV = {
    name.upper(): "100000000"
    for name in (
        "widget_conversations_per_ip_per_hour",
        "widget_conversations_per_hour",
        "widget_server_conversations_per_ip_per_hour",
    )
}


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
    args: argparse.Namespace,
    db: Database,
    fake_url: str,
    redis_url: str | None,
    *,
    batching: bool = True,
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
            "EMBED_BATCHING": "true" if batching else "false",
            "METRICS_TOKEN": METRICS_TOKEN,
            **RATE_LIMIT_ENV,
            **CONVERSATION_CAP_ENV,
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


async def start_servers(
    count: int, env: dict[str, str], log_dir: Path, *, root: Path = ROOT
) -> list[Server]:
    """``count`` servers from the checkout at ``root`` (this one by default; another, e.g. an
    export of an earlier commit, runs its own code with this environment's packages)."""
    servers = []
    for i in range(count):
        port = free_port()
        log = log_dir / f"server-{i}-{port}.log"
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before any load
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
            cwd=root,
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
