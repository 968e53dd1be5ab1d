"""`trulybot serve` and `worker` as an operator runs them in the first hour, each in its own
process: a libpq-style DATABASE_URL, a port already taken, a worker on a fresh embedded DATA_DIR
whose Redis goes away. Each said too much (tracebacks, "listening on" for an address that
served something else) or refused what `serve` does by itself."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import clusters
from tests.cli_process import (
    kill_group,
    run_trulybot,
    run_trulybot_here,
    start_worker,
)
from tests.forked_cli import Forked
from tests.own_redis import start_redis
from tests.ports import free_port

SECRET = "first-hour-" + "s" * 40


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("query", ["sslmode=require", "sslmode=disable", "connect_timeout=5"])
async def test_a_libpq_style_database_url_connects_or_says_why_in_one_line(
    query: str, tmp_path: Path
) -> None:
    """asyncpg took ``sslmode`` as a keyword it does not know: an 80-line TypeError traceback.
    Run in this process (what it prints and its exit code, not the process, are the point),
    serving on a free port of its own."""
    port = _closed_port()
    url = f"postgresql://app:hunter2secret@127.0.0.1:{port}/db?{query}"
    env = {"DATABASE_URL": url, "DATA_DIR": str(tmp_path), "JWT_SECRET": SECRET}
    run = await run_trulybot_here("serve", env=env | {"PORT": str(free_port())})
    assert run.code != 0, run.out
    assert "Traceback" not in run.out, run.out
    assert f"DATABASE_URL: cannot connect to 127.0.0.1:{port} (connection refused)" in run.out
    assert "hunter2secret" not in run.out


async def test_a_port_in_use_is_said_before_start_up_and_never_as_listening(
    tmp_path: Path,
) -> None:
    """The whole start-up ran (the embedded database, migrations, the demo's password), then
    "TrulyBot listening on" the taken address, then uvicorn's bind error."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = await run_trulybot(
            "serve",
            "--port",
            str(port),
            env={"DATA_DIR": str(tmp_path), "SEED_DEMO": "true", "JWT_SECRET": SECRET},
        )
    assert run.code != 0, run.out
    assert f"trulybot serve: 127.0.0.1:{port} is in use" in run.out, run.out
    assert "listening on" not in run.out, run.out
    assert "Traceback" not in run.out, run.out
    assert not (tmp_path / "pgdata").exists()  # nothing started


@pytest.fixture
def own_redis() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = _closed_port()
    process = start_redis(port)
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_a_worker_on_a_fresh_embedded_data_dir_migrates_and_says_a_lost_redis_in_one_line(
    own_redis: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    """`worker` on a fresh DATA_DIR said "run `trulybot migrate` first" where `serve` migrates
    the embedded database itself; and when its Redis went away it printed three chained
    tracebacks and skipped its own shutdown."""
    redis, port = own_redis
    data = tmp_path / "data"
    pgdata = data / "pgdata"
    clusters.STARTED.add(pgdata)
    log = tmp_path / "worker.log"
    env = {
        "DATA_DIR": str(data),
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "LOG_JSON": "false",
        "JWT_SECRET": SECRET,
        # The give-up's line after 1.5 s instead of the default 31.5 s of patience.
        "WORKER_REDIS_PATIENCE_SECONDS": "1.5",
    }
    worker: Forked | None = None
    try:
        worker = start_worker(env=env, log=log)
        redis.send_signal(signal.SIGTERM)  # a Redis restart, a failover
        redis.wait(timeout=30)
        code = worker.wait(timeout=120)
        said = log.read_text(errors="replace")
        assert code != 0, said
        assert "Traceback" not in said, said
        assert f"REDIS_URL: lost the connection to 127.0.0.1:{port}" in said, said
    finally:
        if worker is not None:
            kill_group(worker)
        clusters.stop_clusters(pgdata)
