"""Logins under load: does the API keep answering while passwords are hashed?

`python -m bench.login_hashing [--logins 30] [--compare PYTHON]`

Starts one `trulybot serve` process (on an embedded PostgreSQL this bench owns, hashing embedder,
rate limits off), signs one account up, then sends N logins at once while a probe asks `/healthz`
over and over on its own connection. Prints the logins' wall time and latencies and the probe's
latency during the flood. ``--compare PYTHON`` runs the same against another checkout's
interpreter too (e.g. ``/work/main/.venv/bin/python``: the code before a change); both servers
run from a scratch directory, so neither reads a ``.env``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench.common import Table, add_write_options, pct, write_section, writes_docs

APP_ROLE = "trulybot_app"
PASSWORD = "bench password 123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_server(
    python: str, env: dict[str, str], cwd: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (cwd / f"server-{port}.log").open("wb")
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before any load
        [python, "-m", "api.cli", "serve", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited; see {log.name}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url + "/readyz")).status_code == 200:
                    return proc, url
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready")
            await asyncio.sleep(0.3)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def flood(url: str, logins: int) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
        signup = await client.post(
            "/api/v1/auth/signup",
            json={"email": email, "password": PASSWORD, "workspace_name": "Bench"},
        )
        signup.raise_for_status()
    done = asyncio.Event()
    probe_ms: list[float] = []

    async def probe() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            while not done.is_set():
                t0 = time.perf_counter()
                (await client.get("/healthz")).raise_for_status()
                probe_ms.append((time.perf_counter() - t0) * 1000)
                await asyncio.sleep(0.01)

    async def login(client: httpx.AsyncClient) -> float:
        t0 = time.perf_counter()
        response = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        )
        response.raise_for_status()
        return (time.perf_counter() - t0) * 1000

    limits = httpx.Limits(max_connections=logins + 4, max_keepalive_connections=logins + 4)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        prober = asyncio.create_task(probe())
        await asyncio.sleep(0.2)  # the probe's own baseline first
        t0 = time.perf_counter()
        login_ms = await asyncio.gather(*(login(client) for _ in range(logins)))
        wall = time.perf_counter() - t0
        done.set()
        await prober
    return {
        "wall_s": wall,
        "login_p50": pct(login_ms, 0.5),
        "login_p95": pct(login_ms, 0.95),
        "probes": float(len(probe_ms)),
        "probe_p50": pct(probe_ms, 0.5),
        "probe_p95": pct(probe_ms, 0.95),
        "probe_max": max(probe_ms),
    }


async def run(args: argparse.Namespace) -> None:
    from core import migrate
    from core.embedded import embedded_postgres

    scratch = Path(tempfile.mkdtemp(prefix="tb-bench-login-"))
    pg = await embedded_postgres(scratch / "pg", database="trulybot_bench_login", recreate=True)
    await migrate.ensure_app_role(pg.owner_url(), APP_ROLE)
    await migrate.upgrade(pg.owner_url(), app_role=APP_ROLE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "MIGRATION_"))}
    env |= {
        "DATA_DIR": str(scratch / "data"),
        "DATABASE_URL": pg.app_url(APP_ROLE),
        "MIGRATION_DATABASE_URL": pg.owner_url(),
        "JWT_SECRET": secrets.token_urlsafe(32),
        "SEED_DEMO": "false",
        "EMBEDDING_PROVIDER": "hash",
        "RATE_LIMITS": "off",
        "LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
    }
    runs = [("this checkout", sys.executable)]
    if args.compare:
        runs.append((f"--compare {args.compare}", args.compare))
    table = Table(
        [
            "server",
            "logins",
            "wall s",
            "login p50 ms",
            "login p95 ms",
            "/healthz probes",
            "/healthz p50 ms",
            "/healthz p95 ms",
            "/healthz max ms",
        ]
    )
    for label, python in runs:
        proc, url = await start_server(python, env, scratch)
        try:
            r = await flood(url, args.logins)
        finally:
            stop_server(proc)
        table.add(
            label,
            args.logins,
            round(r["wall_s"], 2),
            round(r["login_p50"]),
            round(r["login_p95"]),
            int(r["probes"]),
            round(r["probe_p50"], 1),
            round(r["probe_p95"], 1),
            round(r["probe_max"], 1),
        )
    table.print("logins at once, and /healthz meanwhile")
    if writes_docs(args):
        body = "\n".join(
            [
                f"`python -m bench.login_hashing {' '.join(args.argv)}`".replace(" `", "`"),
                "",
                f"{args.logins} logins sent at once to one `trulybot serve` process (argon2id with"
                " argon2-cffi's default parameters, `PASSWORD_HASH_CONCURRENCY` at its default of"
                " one per core) while a probe asks `/healthz` in a loop on its own connection;"
                " the load generator shares the machine's cores with the server and PostgreSQL.",
                "",
                table.markdown(),
            ]
        )
        write_section("login_hashing", body)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=30)
    parser.add_argument("--compare", help="another interpreter (checkout) to run the same against")
    add_write_options(parser)
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
