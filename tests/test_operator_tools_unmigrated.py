"""The operator tools (`trulybot reindex`, `ingest`, `eval`, `billing reconcile`) on a database
`trulybot migrate` has not prepared: a new deployment that ran `reindex` or `ingest` before
`migrate`, or the new image's tools on the old schema. They printed 30 lines of SQLAlchemy
traceback ending in 'relation "chunks" does not exist' or 'function
tb_workspace_id_by_slug(character varying) does not exist'; `serve` and `worker` said the same
in one line naming `trulybot migrate`. Now every tool says it as they do, with exit 1."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from core.db import create_engine
from core.embedded import EmbeddedPostgres, ensure_database
from tests.cli_process import run_trulybot_here
from tests.conftest import APP_ROLE

SECRET = "operator-unmigrated-" + "s" * 40
PREFIX = "tb_unmigrated_"


async def _databases(pg: EmbeddedPostgres, *drop: str) -> set[str]:
    """The cluster's databases made for these tests, after dropping ``drop``."""
    engine = create_engine(pg.owner_url(), pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for name in drop:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            rows = await conn.execute(
                text("SELECT datname FROM pg_database WHERE starts_with(datname, :p)"),
                {"p": PREFIX},
            )
            return {str(row[0]) for row in rows}
    finally:
        await engine.dispose()


@asynccontextmanager
async def unmigrated_database(pg: EmbeddedPostgres) -> AsyncIterator[EmbeddedPostgres]:
    """A new empty database in the suite's cluster (`trulybot migrate` never ran on it),
    dropped when the block ends. The cluster is this test process's own and keeps its data
    from run to run: those that runs before this left behind are dropped first."""
    await _databases(pg, *await _databases(pg))
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    await ensure_database(pg.socket_dir, name, recreate=True)
    try:
        yield EmbeddedPostgres(server=pg.server, socket_dir=pg.socket_dir, database=name)
    finally:
        await _databases(pg, name)


async def test_the_database_of_a_test_is_dropped_when_it_ends(pg: EmbeddedPostgres) -> None:
    """Each run of the tests below left its four databases in the suite's cluster, which keeps
    its data between runs: they piled up run after run."""
    async with unmigrated_database(pg) as cluster:
        assert cluster.database in await _databases(pg)
    assert cluster.database not in await _databases(pg)


@pytest.mark.parametrize(
    "args",
    [
        ("reindex",),
        ("ingest", "--workspace", "docs", "guides"),
        ("eval", "--workspace", "docs", "--questions", "questions.jsonl"),
        ("billing", "reconcile"),
    ],
    ids=lambda args: args[0],
)
async def test_a_tool_on_a_database_not_migrated_names_trulybot_migrate(
    pg: EmbeddedPostgres, tmp_path: Path, args: tuple[str, ...]
) -> None:
    async with unmigrated_database(pg) as cluster:
        (tmp_path / "guides").mkdir()
        (tmp_path / "guides" / "a.md").write_text("# A\n\nSome text.\n")
        (tmp_path / "questions.jsonl").write_text('{"id": "1", "question": "a?", "expected": []}\n')
        run = await run_trulybot_here(
            *[str(tmp_path / a) if a in {"guides", "questions.jsonl"} else a for a in args],
            env={
                "DATABASE_URL": cluster.app_url(APP_ROLE),
                "MIGRATION_DATABASE_URL": cluster.owner_url(),
                "DATA_DIR": str(tmp_path / "data"),
                "JWT_SECRET": SECRET,
                "LOG_JSON": "false",
                # reconcile needs billing on; it stops at the schema before calling Razorpay
                "RAZORPAY_KEY_ID": "rzp_test_unmigrated",
                "RAZORPAY_KEY_SECRET": "unmigrated-secret",
            },
        )
    assert run.code == 1, run.out
    assert "Traceback" not in run.out, run.out[-3000:]
    last = run.out.strip().splitlines()[-1]
    assert last == (
        f"trulybot {args[0]}: the database has no tables: run `trulybot migrate` first"
        " (docs/deploy.md)"
    ), run.out[-3000:]
