"""The embedded PostgreSQL + pgvector (``pgserver``) used when DATABASE_URL is unset."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.db import create_engine

log = logging.getLogger(__name__)


@dataclass
class EmbeddedPostgres:
    server: Any
    socket_dir: str
    database: str

    def owner_url(self) -> str:
        return f"postgresql+asyncpg://postgres@/{self.database}?host={self.socket_dir}"

    def app_url(self, role: str) -> str:
        return f"postgresql+asyncpg://{role}@/{self.database}?host={self.socket_dir}"

    def release(self) -> None:
        """This process is done with the cluster: pgserver stops it when no other process uses
        it (it counts them), unless it was started to keep running. The same as its exit hook,
        which a process ended by a signal (uvicorn re-raises SIGTERM after its graceful
        shutdown) never runs."""
        self.server.cleanup()


HANDLES = ".handle_pids.json"
"""pgserver's list of the processes using a cluster: the last one to leave stops it."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def forget_dead_users(pgdata: Path) -> list[int]:
    """Drop the pids of processes that are gone from the cluster's list of users; the pids
    dropped. A server killed outright (kill -9, the OOM killer) never takes its pid out, and
    while it stays there no later server is ever the last user, so none stops the cluster."""
    from pgserver.postgres_server import PostgresServer

    path = pgdata / HANDLES
    # pgserver's own cross-process lock around its list: a worker registering itself meanwhile
    # is not written over (with --workers N they start together).
    with PostgresServer._lock:
        try:
            pids = [int(pid) for pid in json.loads(path.read_text())]
        except (FileNotFoundError, ValueError, TypeError):
            return []
        dead = [pid for pid in pids if not _alive(pid)]
        if dead:
            path.write_text(json.dumps([pid for pid in pids if pid not in dead]))
    if dead:
        log.info("embedded database: %d earlier process(es) had not left: %s", len(dead), dead)
    return dead


def start_embedded(pgdata: Path, *, keep_running: bool = False) -> tuple[Any, str]:
    """Start (or reuse) the cluster in ``pgdata``; returns the server handle and its socket dir."""
    import pgserver

    pgdata.mkdir(parents=True, exist_ok=True)
    forget_dead_users(pgdata)
    server = pgserver.get_server(
        str(pgdata.resolve()), cleanup_mode=None if keep_running else "stop"
    )
    uri = server.get_uri()
    host = parse_qs(urlsplit(uri).query).get("host", [""])[0]
    if not host:
        raise RuntimeError(f"pgserver gave an unexpected URI: {uri}")
    return server, host


async def ensure_database(socket_dir: str, database: str, *, recreate: bool = False) -> None:
    engine = create_engine(
        f"postgresql+asyncpg://postgres@/postgres?host={socket_dir}", pool_size=1
    )
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            if recreate:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            exists = (
                await conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}
                )
            ).scalar()
            if not exists:
                try:
                    await conn.execute(text(f'CREATE DATABASE "{database}"'))
                except DBAPIError as exc:  # another worker process created it just now
                    if "already exists" not in str(exc) and "datname" not in str(exc):
                        raise
    finally:
        await engine.dispose()


async def embedded_postgres(
    data_dir: Path,
    *,
    database: str = "trulybot",
    recreate: bool = False,
    keep_running: bool = False,
) -> EmbeddedPostgres:
    server, socket_dir = start_embedded(data_dir / "pgdata", keep_running=keep_running)
    await ensure_database(socket_dir, database, recreate=recreate)
    log.info("embedded PostgreSQL ready at %s (database %s)", socket_dir, database)
    return EmbeddedPostgres(server=server, socket_dir=socket_dir, database=database)
