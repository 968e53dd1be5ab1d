"""What an operator sees when a deploy goes wrong: an app role granted nothing, a schema behind
the code, a database or Redis that cannot be reached, a migration behind a long reader. Each
is refused in one line naming the setting or the way out; nothing answers 500 while /readyz
says ready. Against a database of its own in the test cluster, migrated by its superuser.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.app import create_app
from api.start_checks import SchemaNotReady, check_schema
from core import migrate
from core.db import Database, create_engine
from core.embedded import EmbeddedPostgres, ensure_database
from core.errors import ConfigError
from tests.cli_process import Run, run_trulybot, run_trulybot_here
from tests.conftest import APP_ROLE, REDIS_URL, client_for, json_logs, make_runtime, started_app
from tests.conftest import make_settings as settings_for
from tests.ports import free_port

DATABASE = "trulybot_operator_start"
SECRET = "operator-start-" + "s" * 40


async def heads(owner_url: str) -> list[str]:
    """The revisions alembic_version holds, sorted."""
    engine = create_engine(owner_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
            return sorted(str(row[0]) for row in rows)
    finally:
        await engine.dispose()


@dataclass
class Scratch:
    cluster: EmbeddedPostgres
    owner_url: str

    def app_url(self, role: str = APP_ROLE) -> str:
        return self.cluster.app_url(role)

    async def owner(self, sql: str, **params: object) -> object:
        """One statement as the cluster's superuser (autocommit); the first value, if any."""
        engine = create_engine(self.owner_url, pool_size=1, max_overflow=0)
        try:
            async with engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                result = await conn.execute(text(sql), params)
                return result.scalar() if result.returns_rows else None
        finally:
            await engine.dispose()

    async def heads(self) -> list[str]:
        return await heads(self.owner_url)


@pytest.fixture(scope="module")
async def scratch(pg: EmbeddedPostgres) -> Scratch:
    await ensure_database(pg.socket_dir, DATABASE, recreate=True)
    cluster = EmbeddedPostgres(server=pg.server, socket_dir=pg.socket_dir, database=DATABASE)
    await migrate.upgrade(cluster.owner_url(), app_role=APP_ROLE)
    return Scratch(cluster, cluster.owner_url())


@pytest.fixture
async def ungranted_role(scratch: Scratch) -> AsyncIterator[str]:
    """A login role that exists and was granted nothing (APP_DB_ROLE named another)."""
    role = f"tb_ungranted_{uuid.uuid4().hex[:8]}"
    await scratch.owner(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS")
    yield role
    await scratch.owner(f"DROP ROLE {role}")


async def trulybot(*args: str, **env: str) -> Run:
    """``trulybot ARGS...`` with only these settings (and the test's): `serve` and `worker` in
    their own processes (a server, arq's signal handlers), `migrate` in this one
    (tests/cli_process.py: the same output, exit code and schema, without a process start)."""
    run = run_trulybot_here if args[0] == "migrate" else run_trulybot
    return await run(*args, env={"JWT_SECRET": SECRET, "SEED_DEMO": "false", **env})


def _one_line_refusal(run: Run, *expected: str) -> None:
    assert run.code != 0, run.out
    assert "Traceback" not in run.out, run.out
    assert "listening" not in run.out, run.out
    for part in expected:
        assert part in run.out, run.out


# --- F1: the app role granted nothing ----------------------------------------------------------


async def test_migrate_refuses_an_app_db_role_that_is_not_the_apps_user_or_does_not_exist(
    scratch: Scratch, tmp_path: Path
) -> None:
    """`trulybot migrate` said "migrations applied" with exit 0 and granted nothing, and every
    request then failed with 500."""
    mismatch = await trulybot(
        "migrate",
        DATABASE_URL=scratch.app_url(APP_ROLE),
        MIGRATION_DATABASE_URL=scratch.owner_url,
        APP_DB_ROLE="trulybot_appx",
        DATA_DIR=str(tmp_path),
    )
    _one_line_refusal(mismatch, f"DATABASE_URL connects as '{APP_ROLE}'", "APP_DB_ROLE")
    assert "migrations applied" not in mismatch.out

    ghost = f"tb_ghost_{uuid.uuid4().hex[:8]}"
    missing = await trulybot(
        "migrate",
        DATABASE_URL=scratch.app_url(ghost),
        MIGRATION_DATABASE_URL=scratch.owner_url,
        APP_DB_ROLE=ghost,
        DATA_DIR=str(tmp_path),
    )
    _one_line_refusal(missing, f"APP_DB_ROLE '{ghost}' does not exist")
    assert "migrations applied" not in missing.out

    invalid = await trulybot(
        "migrate",
        DATABASE_URL=scratch.owner_url.replace("postgres@", "trulybot-app@"),
        MIGRATION_DATABASE_URL=scratch.owner_url,
        APP_DB_ROLE="trulybot-app",
        DATA_DIR=str(tmp_path),
    )
    _one_line_refusal(invalid, "APP_DB_ROLE 'trulybot-app' is not a role name")


async def test_a_role_granted_nothing_is_refused_at_start_and_not_ready(
    scratch: Scratch, ungranted_role: str, tmp_path: Path
) -> None:
    """The API started, /readyz said ready and signup, chat and login answered 500."""
    settings = settings_for(
        database_url=scratch.app_url(ungranted_role),
        migration_database_url=None,
        redis_url=None,
        data_dir=str(tmp_path),
    )
    app = create_app(settings)
    with pytest.raises(SchemaNotReady, match="has no privileges on the tables") as refused:
        async with app.router.lifespan_context(app):
            pass
    assert f"APP_DB_ROLE={ungranted_role}" in str(refused.value)

    db = Database.from_url(scratch.app_url(ungranted_role), pool_size=1, max_overflow=1)
    try:
        async with make_runtime(settings, db, None) as runtime, client_for(runtime) as client:
            ready = await client.get("/readyz")
    finally:
        await db.dispose()
    assert ready.status_code == 503, ready.text
    assert "no privileges" in ready.json()["error"]["details"]["database"]

    served = await trulybot(
        "serve",
        "--port",
        str(_closed_port()),
        DATABASE_URL=scratch.app_url(ungranted_role),
        DATA_DIR=str(tmp_path),
    )
    _one_line_refusal(served, "has no privileges on the tables", "trulybot migrate")


async def test_a_database_error_logs_the_statement_without_its_values(
    scratch: Scratch, ungranted_role: str
) -> None:
    """The error line of an unhandled database error carried SQLAlchemy's parameters: email
    addresses, argon2 password hashes, visitors' messages and widget keys, in the logs."""
    email = f"private-{uuid.uuid4().hex[:10]}@example.com"
    password = f"secret {uuid.uuid4().hex}"
    db = Database.from_url(scratch.app_url(ungranted_role), pool_size=1, max_overflow=1)
    try:
        with json_logs() as lines:
            settings = settings_for(redis_url=None, rate_limits="off")
            async with make_runtime(settings, db, None) as runtime, client_for(runtime) as client:
                response = await client.post(
                    "/api/v1/auth/signup",
                    json={"email": email, "password": password, "workspace_name": "Leak"},
                )
    finally:
        await db.dispose()
    assert response.status_code == 500, response.text
    errors = [line for line in lines if line.get("level") == "error"]
    assert errors, lines
    logged = "\n".join(str(line) for line in errors)
    assert "permission denied" in logged  # the reason and the statement are still there
    assert "[SQL:" in logged
    assert email not in logged
    assert "$argon2" not in logged
    assert password not in logged


# --- F2: the schema behind the code ------------------------------------------------------------


async def test_a_schema_behind_the_release_is_refused_and_a_newer_one_accepted(
    scratch: Scratch, tmp_path: Path
) -> None:
    """The new image on a database not yet migrated passed /readyz and answered every chat 500
    (a missing column); nothing said the schema was behind."""
    head = migrate.code_heads()
    db = Database.from_url(scratch.app_url(), pool_size=1, max_overflow=1)
    try:
        await check_schema(db)  # at this release's head
        await migrate.downgrade(scratch.owner_url, "0014")
        with pytest.raises(SchemaNotReady, match="run `trulybot migrate` first") as older:
            await check_schema(db)
        assert f"this release needs {head[0]}" in str(older.value)

        served = await trulybot(
            "serve",
            "--port",
            str(_closed_port()),
            DATABASE_URL=scratch.app_url(),
            DATA_DIR=str(tmp_path),
        )
        _one_line_refusal(served, "run `trulybot migrate` first", f"needs {head[0]}")
        worked = await trulybot(
            "worker",
            "--burst",
            DATABASE_URL=scratch.app_url(),
            REDIS_URL=REDIS_URL,
            DATA_DIR=str(tmp_path),
        )
        _one_line_refusal(worked, "run `trulybot migrate` first")

        await migrate.upgrade(scratch.owner_url, app_role=APP_ROLE)
        await check_schema(db)
        # A newer release migrated first (the documented rolling deploy): this one keeps going.
        await scratch.owner("UPDATE alembic_version SET version_num = '9999_from_the_future'")
        try:
            await check_schema(db)
        finally:
            await scratch.owner("UPDATE alembic_version SET version_num = :v", v=head[0])
        # A revision this release knows, behind its head: said by its name.
        await scratch.owner("UPDATE alembic_version SET version_num = '0017'")
        try:
            with pytest.raises(SchemaNotReady, match="the database is at 0017"):
                await check_schema(db)
        finally:
            await scratch.owner("UPDATE alembic_version SET version_num = :v", v=head[0])
    finally:
        await db.dispose()
        await migrate.upgrade(scratch.owner_url, app_role=APP_ROLE)


async def test_the_previous_release_with_the_owner_url_starts_on_a_newer_schema(
    scratch: Scratch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Upgrade review F2: a `serve` given MIGRATION_DATABASE_URL upgrades at start, and on a
    database a newer release migrated alembic stopped it ("Can't locate revision"), so the
    previous release restarting during a rolling deploy, or a rollback, crash-looped. Now it
    says the schema is newer and starts; `trulybot migrate` says so and exits 0."""
    newer = f"9999_{uuid.uuid4().hex[:8]}"
    head = migrate.code_heads()
    await scratch.owner("UPDATE alembic_version SET version_num = :v", v=newer)
    try:
        settings = settings_for(
            database_url=scratch.app_url(),
            migration_database_url=scratch.owner_url,
            redis_url=None,
            data_dir=str(tmp_path),
        )
        async with started_app(settings) as client:
            ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        said = capsys.readouterr().out
        assert f"the database is at {newer}, newer than this release" in said, said
        assert await scratch.heads() == [newer]  # left as the newer release wrote it

        migrated = await trulybot(
            "migrate",
            DATABASE_URL=scratch.app_url(),
            MIGRATION_DATABASE_URL=scratch.owner_url,
            DATA_DIR=str(tmp_path),
        )
        assert migrated.code == 0, migrated.out
        assert "Traceback" not in migrated.out, migrated.out
        assert f"the database is at {newer}, newer than this release" in migrated.out
        assert "migrations applied" not in migrated.out
        assert await scratch.heads() == [newer]
    finally:
        await scratch.owner("UPDATE alembic_version SET version_num = :v", v=head[0])


# --- F6: the first connection ------------------------------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_database_or_redis_is_one_line_naming_the_setting(
    scratch: Scratch, tmp_path: Path
) -> None:
    """`serve` said "listening on" and then 270 lines of traceback naming no setting; `migrate`
    and `worker` 127 and 62 lines."""
    port = _closed_port()
    unreachable = f"postgresql://trulybot_app:hunter2secret@127.0.0.1:{port}/trulybot"
    # A port of its own, as the other serve runs here: on 8000 it met whatever listened there
    # (a `make run` on the same machine) and was refused for that instead.
    served = await trulybot(
        "serve", "--port", str(free_port()), DATABASE_URL=unreachable, DATA_DIR=str(tmp_path)
    )
    _one_line_refusal(served, f"DATABASE_URL: cannot connect to 127.0.0.1:{port}", "refused")
    assert "hunter2secret" not in served.out

    migrated = await trulybot(
        "migrate",
        DATABASE_URL=scratch.app_url(),
        MIGRATION_DATABASE_URL=unreachable.replace("trulybot_app", "trulybot_owner"),
        DATA_DIR=str(tmp_path),
    )
    _one_line_refusal(migrated, f"MIGRATION_DATABASE_URL: cannot connect to 127.0.0.1:{port}")
    assert "hunter2secret" not in migrated.out

    worked = await trulybot(
        "worker",
        "--burst",
        DATABASE_URL=scratch.app_url(),
        REDIS_URL=f"redis://:hunter2secret@127.0.0.1:{port}/0",
        DATA_DIR=str(tmp_path),
    )
    _one_line_refusal(worked, f"REDIS_URL: cannot connect to 127.0.0.1:{port}")
    assert "hunter2secret" not in worked.out


async def test_serve_says_listening_after_start_and_names_an_unreachable_redis(
    scratch: Scratch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _closed_port()
    settings = settings_for(
        database_url=scratch.app_url(),
        migration_database_url=None,
        redis_url=f"redis://127.0.0.1:{port}/0",
        data_dir=str(tmp_path),
    )
    async with started_app(settings) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    # Started as it goes on when Redis is lost while it runs (docs/deploy.md: Redis down is
    # not "not ready"), and said so: /readyz degraded, and the start line a warning (it was
    # "info", which an alert on warnings never sees).
    assert ready.json()["status"] == "degraded", ready.text
    assert ready.json()["checks"]["redis"].startswith("unavailable"), ready.text
    out = capsys.readouterr().out
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    warned = [record for record in records if "does not answer" in record["event"]]
    assert [record["level"] for record in warned] == ["warning"], warned
    lines = [
        json.loads(line)["event"] if line.startswith("{") else line for line in out.splitlines()
    ]
    said = "\n".join(lines)
    assert f"redis: REDIS_URL at 127.0.0.1:{port} does not answer" in said
    assert "in-process fallbacks" in said
    listening = [i for i, line in enumerate(lines) if "TrulyBot listening on" in line]
    start_lines = [i for i, line in enumerate(lines) if line.startswith("  ")]
    assert start_lines, said
    assert len(listening) == 1, said
    assert listening[0] > max(start_lines), said  # said once start-up succeeded


@pytest.mark.parametrize(
    ("spelled", "refused"),
    [
        ("redis://:not-the-password@127.0.0.1:6379/{db}", "password"),
        ("redis://127.0.0.1:6379/9999", "DB index is out of range"),
    ],
    ids=["password", "database"],
)
async def test_serve_refuses_a_redis_url_that_redis_refuses(
    scratch: Scratch, tmp_path: Path, spelled: str, refused: str
) -> None:
    """A Redis that answers and refuses the URL's password or database number started the
    server on its fallbacks, "degraded", every upload failing ``queue_unavailable`` (an
    operator's finding): no outage to wait out, so the start is refused, in one line without
    the password, as `trulybot worker` refuses it."""
    db = urlsplit(REDIS_URL).path.lstrip("/") or "0"
    settings = settings_for(
        database_url=scratch.app_url(),
        migration_database_url=None,
        redis_url=spelled.format(db=db),
        data_dir=str(tmp_path),
    )
    with pytest.raises(ConfigError) as stopped:
        async with started_app(settings):
            pass
    said = str(stopped.value)
    assert said.startswith("REDIS_URL: 127.0.0.1:6379 refused the connection"), said
    assert refused in said, said
    assert "not-the-password" not in said


# --- F3: migrations behind a long reader -------------------------------------------------------


async def test_a_migration_behind_a_long_reader_gives_up_without_stalling_chat(
    scratch: Scratch, tmp_path: Path
) -> None:
    """0015 ALTERs `messages`. Behind an export's open transaction the ALTER waited with no
    lock timeout, every chat statement on `messages` queued behind it and failed on its
    statement timeout for as long as the reader ran; all revisions in one transaction."""
    await migrate.downgrade(scratch.owner_url, "0013")
    reader_engine = create_engine(scratch.owner_url, pool_size=1, max_overflow=0)
    chat = Database.from_url(
        scratch.app_url(), pool_size=1, max_overflow=0, statement_timeout_ms=5000
    )
    try:
        async with reader_engine.connect() as reader:
            # An export streaming the table: a transaction that has read `messages`, still open.
            await reader.execute(text("SELECT count(*) FROM messages"))
            run = asyncio.create_task(
                trulybot(
                    "migrate",
                    DATABASE_URL=scratch.app_url(),
                    MIGRATION_DATABASE_URL=scratch.owner_url,
                    MIGRATION_LOCK_TIMEOUT_MS="300",
                    MIGRATION_LOCK_RETRIES="1",
                    DATA_DIR=str(tmp_path),
                )
            )
            while not run.done() and not await _alter_waits(scratch):
                await asyncio.sleep(0.02)
            outcomes = [await _chat_statement(chat) for _ in range(3)]
            if not run.done():
                await asyncio.wait({run}, timeout=60)
            try:
                assert outcomes == ["ok", "ok", "ok"]  # none waited out its statement timeout
                assert run.done()  # it gave up while the reader still ran
                given_up = run.result()
                _one_line_refusal(given_up, "MIGRATION_LOCK_TIMEOUT_MS (300 ms) in 2 tries")
                # One transaction per revision: 0014 stayed applied, 0015 was rolled back.
                assert "stays at 0014" in given_up.out
                assert await scratch.heads() == ["0014"]
            finally:
                await reader.rollback()
                if not run.done():
                    await run
        done = await trulybot(
            "migrate",
            DATABASE_URL=scratch.app_url(),
            MIGRATION_DATABASE_URL=scratch.owner_url,
            MIGRATION_LOCK_TIMEOUT_MS="300",
            DATA_DIR=str(tmp_path),
        )
        assert done.code == 0, done.out
        assert await scratch.heads() == sorted(migrate.code_heads())
    finally:
        await chat.dispose()
        await reader_engine.dispose()
        await migrate.upgrade(scratch.owner_url, app_role=APP_ROLE)


async def _alter_waits(scratch: Scratch) -> bool:
    waiting = await scratch.owner(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND query ILIKE 'ALTER TABLE messages%'"
    )
    return bool(waiting)


async def _chat_statement(chat: Database) -> str:
    """What a chat turn does to `messages` (count a conversation's), as the app role."""
    try:
        async with chat.transaction(workspace_id=uuid.uuid4()) as session:
            await session.execute(
                text("SELECT count(*) FROM messages WHERE conversation_id = :c"),
                {"c": uuid.uuid4()},
            )
    except DBAPIError as exc:
        return f"failed: {type(exc.orig).__name__}"
    return "ok"


# --- /readyz after a database restart ----------------------------------------------------------


async def test_readyz_after_the_pooled_connection_died_answers_ready(
    scratch: Scratch, tmp_path: Path
) -> None:
    """After a database restart the first /readyz pinged a pooled connection handed back
    moments before (not pinged on checkout), which was dead: 503 once, and a balancer that
    takes a process out after one failed check took every replica out."""
    name = f"tb-readyz-{uuid.uuid4().hex[:8]}"
    db = Database.from_url(scratch.app_url(), pool_size=1, max_overflow=0, application_name=name)
    try:
        settings = settings_for(redis_url=None, data_dir=str(tmp_path))
        async with make_runtime(settings, db, None) as runtime, client_for(runtime) as client:
            assert (await client.get("/readyz")).status_code == 200  # the connection pooled
            # What a restart does to it: the server side of the pooled connection goes away.
            ended = await scratch.owner(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = :name",
                name=name,
            )
            assert ended == 1
            again = await client.get("/readyz")
    finally:
        await db.dispose()
    assert again.status_code == 200, again.text
