"""Helpers for the hardening tests: apps with their own settings, clients from a chosen IP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from redis.asyncio import Redis

from core.config import Settings
from core.db import Database
from core.embedded import EmbeddedPostgres
from tests.conftest import APP_ROLE, ROOT, client_for, fresh_ip, make_runtime, make_settings

ClientFactory = Callable[..., Any]

# The value older versions signed with when JWT_SECRET was unset, published in their source.
PUBLISHED = "dev-only-insecure-jwt-secret-change-me"


def environment_without_settings() -> dict[str, str]:
    """The test process's environment minus every TrulyBot setting (for a process of its own)."""
    settings = {name.upper() for name in Settings.model_fields}
    return {k: v for k, v in os.environ.items() if k.upper() not in settings}


def start_serve(
    cwd: Path, pg: EmbeddedPostgres, *args: str, **settings: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """`trulybot serve ARGS` in ``cwd`` in its own process group, its output in a log file: on
    the suite's cluster, hashing embeddings, no demo, no other setting of this process, plus
    ``settings``."""
    env = environment_without_settings() | {
        "DATABASE_URL": pg.app_url(APP_ROLE),
        "MIGRATION_DATABASE_URL": pg.owner_url(),
        "SEED_DEMO": "false",
        "EMBEDDING_PROVIDER": "hash",
        "HF_HUB_OFFLINE": "1",
        # This checkout's code, not the copy the virtualenv installed (another checkout's,
        # in a worktree): the server runs from ``cwd``, outside the repository.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **settings,
    }
    log = cwd / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", *args],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, log


def serve_ready(process: subprocess.Popen[bytes], log: Path, port: int) -> None:
    """Once the server ``start_serve`` started answers /readyz 200; one that exits, or is not
    ready after a generous guard, fails the test with its last output."""
    deadline = time.monotonic() + 180  # a guard against hanging, not a timing assertion
    while True:
        assert process.poll() is None, log.read_text()[-4000:]
        assert time.monotonic() < deadline, log.read_text()[-4000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)


def forged_token(user_id: str, secret: str = PUBLISHED) -> str:
    """An access token for ``user_id`` signed by someone who knows (or guessed) ``secret``."""
    now = int(time.time())
    claims = {"sub": user_id, "iat": now, "exp": now + 600, "typ": "access", "jti": "forged"}
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture
def app_client(db: Database, redis_client: Redis) -> ClientFactory:
    """``async with app_client(rate_limits="on", ...) as client:`` an app with these settings."""

    @asynccontextmanager
    async def factory(
        *,
        ip: str | None = None,
        redis: Redis | str | None = "default",
        database: Database | None = None,
        base_url: str = "http://testserver",
        **overrides: Any,
    ) -> AsyncIterator[httpx.AsyncClient]:
        if redis is None:
            overrides.setdefault("redis_url", None)
        async with (
            make_runtime(
                make_settings(**overrides),
                database or db,
                redis_client if redis == "default" else redis,  # type: ignore[arg-type]
            ) as runtime,
            client_for(runtime, ip=ip or fresh_ip(), base_url=base_url) as client,
        ):
            yield client

    return factory
