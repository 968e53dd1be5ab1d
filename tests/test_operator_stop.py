"""SIGTERM to an operator command under way (a deploy's migration job replaced, an operator's
Ctrl-C in another form): what the database is left with. `trulybot migrate` in a process of
its own against a database of its own in the test cluster, stopped while a revision waits for
a table's lock behind a reader (a statement that is under way in the server, deterministically:
it waits until the test lets the reader go)."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from core import migrate
from core.db import create_engine
from core.embedded import EmbeddedPostgres, ensure_database
from tests.cli_process import command_env, run_trulybot_here
from tests.conftest import APP_ROLE
from tests.forked_cli import spawn
from tests.operator_scratch import Scratch, _scalar, _scratch, trulybot
from tests.test_operator_start import heads

DATABASE = "trulybot_operator_stop"
GUARD = 120  # seconds: a guard against hanging, never an assertion on time
MIGRATION_LOCK = 7301530  # core.migrate._MIGRATION_LOCK


@pytest.fixture(scope="module")
async def cluster(pg: EmbeddedPostgres) -> EmbeddedPostgres:
    await ensure_database(pg.socket_dir, DATABASE, recreate=True)
    scratch = EmbeddedPostgres(server=pg.server, socket_dir=pg.socket_dir, database=DATABASE)
    await migrate.upgrade(scratch.owner_url(), app_role=APP_ROLE)
    return scratch


async def _one(owner_url: str, sql: str, **params: object) -> object:
    engine = create_engine(owner_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return (await conn.execute(text(sql), params)).scalar()
    finally:
        await engine.dispose()


async def _waiting(owner_url: str, statement: str) -> int:
    """Backends of ``owner_url``'s database waiting for a lock in a statement that begins
    with ``statement`` (another test's database, in another worker, is not looked at)."""
    return int(
        await _one(  # type: ignore[arg-type]
            owner_url,
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database() AND query ILIKE :pattern",
            pattern=f"{statement}%",
        )
    )


async def _alter_waits(owner_url: str) -> int:
    return await _waiting(owner_url, "ALTER TABLE messages")


async def stopped_while_waiting(
    args: list[str],
    env: dict[str, str],
    log: Path,
    waiting: Callable[[], Awaitable[int]],
    signum: signal.Signals = signal.SIGTERM,
) -> tuple[int, str]:
    """``trulybot ARGS`` in a process of its own, sent ``signum`` once ``waiting()`` sees its
    statement wait for a lock the test holds; its exit code and output."""
    process = spawn(args, env, log)
    try:
        deadline = time.monotonic() + GUARD
        while not await waiting():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.05)
        process.send_signal(signum)
        code = await asyncio.to_thread(process.wait, GUARD)
    finally:
        process.kill()
    return code, log.read_text()


async def stopped_behind_a_lock(
    owner_url: str,
    lock: str,
    args: list[str],
    env: dict[str, str],
    log: Path,
    waiting: Callable[[], Awaitable[int]],
    signum: signal.Signals = signal.SIGTERM,
    **params: object,
) -> tuple[int, str]:
    """``stopped_while_waiting`` while the owner holds what ``lock`` (a statement, with
    ``params``) takes, in a transaction kept open until the command has ended: then no
    backend of the database waits for a lock any longer (the command's own were cancelled)."""
    engine = create_engine(owner_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as holder:
            held = await holder.execute(text(lock), params)
            assert held.returns_rows is False or held.scalar() == 1, lock
            code, said = await stopped_while_waiting(args, env, log, waiting, signum)
            assert await _waiting(owner_url, "") == 0, said
            await holder.rollback()
    finally:
        await engine.dispose()
    return code, said


def operator_env(scratch: Scratch, tmp_path: Path) -> dict[str, str]:
    return command_env(
        {
            "DATABASE_URL": scratch.cluster.app_url(APP_ROLE),
            "MIGRATION_DATABASE_URL": scratch.owner_url,
            "DATA_DIR": str(tmp_path),
            "JWT_SECRET": "operator-stop-" + "s" * 40,
            "LOG_JSON": "false",
        }
    )


@pytest.fixture
async def behind_a_reader(cluster: EmbeddedPostgres) -> AsyncIterator[object]:
    """The database at 0013, and a transaction that read `messages` still open (0015 ALTERs
    it): yields the reader's connection; everything put back after."""
    owner_url = cluster.owner_url()
    await migrate.downgrade(owner_url, "0013")
    engine = create_engine(owner_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as reader:
            await reader.execute(text("SELECT count(*) FROM messages"))
            yield reader
            await reader.rollback()
    finally:
        await engine.dispose()
        await migrate.upgrade(owner_url, app_role=APP_ROLE)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_stop_during_a_migration_rolls_its_revision_back_and_frees_the_lock(
    cluster: EmbeddedPostgres, behind_a_reader: object, tmp_path: Path, signum: signal.Signals
) -> None:
    """Before, SIGTERM killed the process at once and left its backend in the server, still
    waiting for the table's lock (and then running the ALTER) with the migration's advisory
    lock held: the next `trulybot migrate` waited behind it, and every statement on the table
    queued behind the ALTER, for as long as the reader ran (Ctrl-C's SIGINT cancelled it, and
    said so in a KeyboardInterrupt traceback). Now the statement is cancelled,
    the revision under way rolled back, the lock released, and the command says so and exits
    non-zero; the revisions before it stay applied, and running it again finishes the job."""
    owner_url = cluster.owner_url()
    env = command_env(
        {
            "DATABASE_URL": cluster.app_url(APP_ROLE),
            "MIGRATION_DATABASE_URL": owner_url,
            "MIGRATION_LOCK_TIMEOUT_MS": "0",  # waits for the lock as long as the reader runs
            "DATA_DIR": str(tmp_path),
            "LOG_JSON": "false",
        }
    )
    code, said = await stopped_while_waiting(
        ["migrate"], env, tmp_path / "migrate.log", lambda: _alter_waits(owner_url), signum
    )
    # The reader still holds `messages`: whatever waited for it is the stopped command's.
    assert await _alter_waits(owner_url) == 0, said
    free = await _one(owner_url, f"SELECT pg_try_advisory_lock({MIGRATION_LOCK})")
    await _one(owner_url, f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
    assert free is True, said
    assert await heads(owner_url) == ["0014"], said  # 0014 kept, 0015 rolled back
    assert code != 0, said
    assert "Traceback" not in said, said
    assert f"trulybot migrate: stopped by {signum.name}: the revision" in said, said
    assert "at 0014" in said, said

    await behind_a_reader.rollback()  # type: ignore[attr-defined]
    again = await run_trulybot_here(
        "migrate",
        env={
            "DATABASE_URL": cluster.app_url(APP_ROLE),
            "MIGRATION_DATABASE_URL": owner_url,
            "DATA_DIR": str(tmp_path),
        },
    )
    assert again.code == 0, again.out
    assert await heads(owner_url) == sorted(migrate.code_heads())


# --- reindex -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def reindex_scratch(pg: EmbeddedPostgres) -> AsyncIterator[Scratch]:
    async for value in _scratch(pg, "trulybot_operator_stop_reindex"):
        yield value


async def _ingest(scratch: Scratch, tmp_path: Path, markdown: str) -> None:
    """One document more in the scratch workspace (its chunks, terms and statistics)."""
    guide = tmp_path / f"guide-{uuid.uuid4().hex[:8]}.md"
    guide.write_text(markdown)
    ingested = await trulybot(scratch, tmp_path, "ingest", str(guide), "--workspace", scratch.slug)
    assert ingested.code == 0, ingested.out


async def _updates_waiting(owner_url: str) -> int:
    return await _waiting(owner_url, "UPDATE workspaces")


async def test_sigterm_during_a_reindex_rolls_its_batch_back_and_a_rerun_finishes(
    reindex_scratch: Scratch, tmp_path: Path
) -> None:
    """`trulybot reindex` runs without a statement timeout. Before, SIGTERM ended it at once
    and its backend stayed in the server with its batch's transaction open, the re-embedded
    chunks' rows locked, waiting for the workspace's row behind another transaction, for as
    long as that one ran. Now the batch is cancelled and rolled back, the command says so and
    exits non-zero, and running it again re-embeds every chunk."""
    scratch = reindex_scratch
    await _ingest(scratch, tmp_path, "# Refunds\n\nYearly plans are refunded within 30 days.\n")
    owner_url = scratch.cluster.owner_url()
    engine = create_engine(owner_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as holder:
            # An owner's settings change in flight: the workspace's row locked.
            await holder.execute(
                text("SELECT 1 FROM workspaces WHERE id = :w FOR UPDATE"),
                {"w": scratch.workspace_id},
            )
            code, said = await stopped_while_waiting(
                ["reindex", "--workspace", scratch.slug],
                operator_env(scratch, tmp_path),
                tmp_path / "reindex.log",
                lambda: _updates_waiting(owner_url),
            )
            assert await _updates_waiting(owner_url) == 0, said
            # No chunk row is held by the stopped command's transaction.
            locked = await _scalar(
                scratch,
                "SELECT count(*) FROM (SELECT id FROM chunks WHERE workspace_id = :w"
                " FOR UPDATE SKIP LOCKED) AS free",
                w=scratch.workspace_id,
            )
            total = await _scalar(
                scratch,
                "SELECT count(*) FROM chunks WHERE workspace_id = :w",
                w=scratch.workspace_id,
            )
            assert locked == total, said
            await holder.rollback()
    finally:
        await engine.dispose()
    assert code != 0, said
    assert "Traceback" not in said, said
    assert "trulybot reindex: stopped by SIGTERM" in said, said

    again = await trulybot(scratch, tmp_path, "reindex", "--workspace", scratch.slug)
    assert again.code == 0, again.out
    assert "re-embedded" in again.out, again.out
    missing = await _scalar(
        scratch,
        "SELECT count(*) FROM chunks WHERE workspace_id = :w AND embedding IS NULL",
        w=scratch.workspace_id,
    )
    assert missing == 0


async def _recount_waits(owner_url: str) -> int:
    return await _waiting(owner_url, "SELECT chunks, total_terms, chunks_without_terms")


async def test_sigterm_during_a_recount_releases_the_workspaces_statistics(
    reindex_scratch: Scratch, tmp_path: Path
) -> None:
    """`trulybot recount-lexical` holds a workspace's statistics row (every ingestion of the
    workspace waits for it) with no statement timeout. Before, SIGTERM ended it at once and its
    backend went on waiting for that row, then counting with it held; now it is cancelled,
    nothing is held, and the command says so."""
    scratch = reindex_scratch
    await _ingest(scratch, tmp_path, "# Linux\n\nInstall the agent with the .deb package.\n")
    owner_url = scratch.cluster.owner_url()
    code, said = await stopped_behind_a_lock(
        owner_url,
        "SELECT 1 FROM lexical_stats WHERE workspace_id = :w FOR UPDATE",
        ["recount-lexical", "--workspace", scratch.slug],
        operator_env(scratch, tmp_path),
        tmp_path / "recount.log",
        lambda: _recount_waits(owner_url),
        w=scratch.workspace_id,
    )
    assert code != 0, said
    assert "Traceback" not in said, said
    assert "trulybot recount-lexical: stopped by SIGTERM" in said, said
    again = await trulybot(scratch, tmp_path, "recount-lexical", "--workspace", scratch.slug)
    assert again.code == 0, again.out
