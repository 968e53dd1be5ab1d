"""The `pgbouncer.ini` and `userlist.txt` of docs/deploy.md ("PgBouncer") as an operator copies
them: Debian's PgBouncer must start on that file (only the addresses changed for this machine),
take the app role's password by SCRAM through the documented userlist, refuse a wrong one, and
hand the connection to PostgreSQL. The ini the docs showed carried comments after values, which
PgBouncer 1.18 reads as part of the value ("invalid value "scram-sha-256        ; the tests use
trust..." for parameter auth_type", FATAL: cannot load config file), and the docs never said
what goes in the userlist."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from core.embedded import EmbeddedPostgres
from tests.conftest import TEST_DATA_DIR
from tests.operator_scratch import _superuser
from tests.ports import free_port
from tests.topology import (
    PgBouncer,
    give_to_cluster_user,
    launch_pgbouncer,
    pgbouncer_binary,
)

ROOT = Path(__file__).resolve().parents[2]
ROLE = "trulybot_pooler_docs"
"""Stands for the docs' `trulybot_app`: a login role with a password of its own."""


def _section() -> str:
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    return deploy.split("\n### PgBouncer\n", 1)[1].split("\n### ", 1)[0]


def _block(section: str, language: str) -> str:
    [block] = re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)
    return block


@pytest.fixture
def workdir() -> Path:
    """A directory the cluster's OS user (PgBouncer's) may read."""
    path = TEST_DATA_DIR / "pgbouncer-documented"
    give_to_cluster_user(path, 0o755)
    return path


async def test_the_documented_pgbouncer_ini_starts_and_logs_the_app_role_in_by_scram(
    pg: EmbeddedPostgres, workdir: Path
) -> None:
    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed: `make system-deps` (apt-get install pgbouncer)")
    section = _section()
    password = f"pooled-{uuid.uuid4().hex}"
    async with _superuser(pg) as conn:
        exists = await conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": ROLE})
        verb = "ALTER" if exists.first() else "CREATE"
        await conn.execute(text(f"{verb} ROLE {ROLE} LOGIN PASSWORD '{password}'"))
        # The documented query that writes userlist.txt's lines, as the admin.
        query = _block(section, "sql").replace("trulybot_app", ROLE)
        lines = (await conn.execute(text(query))).scalars().all()
    [line] = lines
    assert line.startswith(f'"{ROLE}" "SCRAM-SHA-256$'), line
    userlist = workdir / "userlist.txt"
    userlist.write_text(line + "\n")
    userlist.chmod(0o644)

    port = free_port()
    ini = _block(section, "ini")
    # This machine's addresses for the docs' 10.0.0.5 and /etc/pgbouncer; nothing else changes.
    replaced = {
        "host=10.0.0.5 port=5432 dbname=trulybot": f"host={pg.socket_dir} dbname={pg.database}",
        "listen_addr = 0.0.0.0": "listen_addr = 127.0.0.1",
        "listen_port = 6432": f"listen_port = {port}",
        "auth_file = /etc/pgbouncer/userlist.txt": f"auth_file = {userlist}",
    }
    for documented, here in replaced.items():
        assert documented in ini, documented
        ini = ini.replace(documented, here)
    ini += f"unix_socket_dir = {workdir}\n"  # not the shared /tmp of other runs
    bouncer: PgBouncer = launch_pgbouncer(workdir, ini, port)
    try:
        conn = await asyncpg.connect(
            host="127.0.0.1",
            port=port,
            user=ROLE,
            password=password,
            database="trulybot",
            statement_cache_size=0,
        )
        try:
            assert await conn.fetchval("SELECT current_user") == ROLE
            assert await conn.fetchval("SELECT current_database()") == pg.database
        finally:
            await conn.close()
        with pytest.raises(asyncpg.PostgresError, match="SASL authentication failed"):
            await asyncpg.connect(
                host="127.0.0.1", port=port, user=ROLE, password="not-" + password,
                database="trulybot", statement_cache_size=0,
            )  # fmt: skip
    finally:
        bouncer.stop()
