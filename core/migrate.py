"""Applying migrations (as the owner) and granting the app role what it needs (and no more)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.db import create_engine
from core.db_reach import connect_problem, sqlstate
from core.errors import ConfigError

log = logging.getLogger("trulybot.migrate")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_ROLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# The migrations' SECURITY DEFINER functions the app role may call: fixed DDL of a workspace's
# vector index (0002k; the transaction's workspace only, 0041), a workspace's id from its slug
# for operator tools (0006f), the leads whose trigrams contain a search's (0011b1), the schema's
# revision for the start check (0018), the password hash of the account a transaction names:
# read, locked, set (0038).
APP_FUNCTIONS = (
    "tb_build_workspace_indexes(uuid, integer, integer)",
    "tb_drop_workspace_indexes(uuid)",
    "tb_workspace_id_by_slug(text)",
    "tb_lead_search_candidates(text, text)",
    "tb_lead_search_estimate(text)",
    "tb_schema_heads()",
    "tb_password_hash(uuid)",
    "tb_lock_password_hash(uuid, boolean)",
    "tb_set_password_hash(uuid, text, text)",
)
CLOSED_COLUMNS = {"users": ("password_hash",)}
"""Columns the app role may write in a new row but never read or update: its functions (0038)
read and set them, for the account a transaction names."""
CLOSED_SINCE = "tb_password_hash(uuid)"
"""Present from 0038 on: before it (a downgrade), the app role's code reads the columns."""
SCHEMA_HEADS_SINCE = "0018"
"""The revision that added ``tb_schema_heads()``: a database without it is older."""
LOCK_NOT_AVAILABLE = "55P03"
DEFAULT_LOCK_TIMEOUT_MS = 5000
DEFAULT_LOCK_RETRIES = 5
_MIGRATION_LOCK = 7301530
"""The advisory lock one migrator holds at a time, also across replicas starting together."""


INSUFFICIENT_PRIVILEGE = "42501"


def _not_the_owner(role: str, problem: str, app_role: str | None) -> str:
    """A migration refused for privileges, in one line naming the way out (it was a traceback
    of the driver's and alembic's frames): the app role's URL given for both, or an owner role
    that does not own the database, or a `vector` extension the admin did not create."""
    line = f"MIGRATION_DATABASE_URL connects as {role!r}, which was refused a change ({problem})"
    if role == app_role:
        return (
            f"{line}: that is APP_DB_ROLE, the app's role; give MIGRATION_DATABASE_URL the owner"
            " role's connection, the role that owns the database and its tables (docs/deploy.md,"
            " Database roles and migrations)"
        )
    return (
        f"{line}: it must own the database and its tables (CREATE DATABASE ... OWNER it), and"
        " the admin creates the `vector` extension first (docs/deploy.md, Database roles and"
        " migrations)"
    )


class MigrationLockTimeout(ConfigError):
    """A migration could not take a table's lock within MIGRATION_LOCK_TIMEOUT_MS, every try."""


class MigrationStopped(Exception):
    """The migration was cancelled (SIGTERM) during a revision: that revision rolled back, the
    ones before it applied (``heads``: where the database is), the migration lock released."""

    def __init__(self, heads: Sequence[str]) -> None:
        super().__init__(", ".join(heads))
        self.heads = tuple(heads)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def revision_module(revision: str) -> ModuleType:
    """A revision's module, loaded from ``migrations/versions`` (its file name starts with a
    digit, so it is no importable name): its frozen constants for tests and benchmarks."""
    [path] = MIGRATIONS_DIR.glob(f"versions/{revision}_*.py")
    spec = importlib.util.spec_from_file_location(f"migration_{revision}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _quote_role(role: str) -> str:
    if not _ROLE_RE.match(role):
        raise ConfigError(
            f"APP_DB_ROLE {role!r} is not a role name this accepts (lower-case letters, digits"
            " and _, not starting with a digit)"
        )
    return f'"{role}"'


def code_heads() -> tuple[str, ...]:
    """The schema revision(s) this release's code is written for."""
    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


def newer_heads(
    database_heads: Sequence[str], script: ScriptDirectory | None = None
) -> tuple[str, ...]:
    """The revisions among ``database_heads`` this code does not know: a newer release's."""
    script = script or ScriptDirectory.from_config(alembic_config())
    known = {revision.revision for revision in script.walk_revisions()}
    return tuple(sorted(set(database_heads) - known))


def newer_schema_line(newer: Sequence[str]) -> str:
    return (
        f"the database is at {', '.join(newer)}, newer than this release"
        f" ({', '.join(code_heads())}): not migrated (a newer release migrated it; this one runs"
        " on it, as during a rolling deploy or a rollback)"
    )


def schema_refusal(database_heads: Sequence[str] | None) -> str | None:
    """Why this release must not run on a database at ``database_heads`` (None: it may).
    ``None`` heads: the database has no ``tb_schema_heads()``, so it is older than 0018.
    A revision this code does not know is a newer release's: the code runs on it (the
    documented rolling deploy, where the previous version keeps serving on the new schema)."""
    script = ScriptDirectory.from_config(alembic_config())
    wanted = tuple(script.get_heads())
    needs = ", ".join(wanted)
    if database_heads is None:
        at = f"a revision before {SCHEMA_HEADS_SINCE}"
    elif not database_heads:
        at = "no revision (never migrated)"
    else:
        if set(database_heads) == set(wanted) or newer_heads(database_heads, script):
            return None
        at = ", ".join(sorted(database_heads))
    return (
        f"the database is at {at}, this release needs {needs}: run `trulybot migrate` first"
        " (docs/deploy.md, Database roles and migrations)"
    )


async def database_heads(session: AsyncSession) -> list[str] | None:
    """The database's schema revision(s) as the app role reads them (``tb_schema_heads()``,
    0018: the app role has no access to ``alembic_version``); None when the function is not
    there (a database older than 0018). Other errors (no privilege) go to the caller."""
    try:
        async with session.begin_nested():
            rows = await session.execute(text("SELECT * FROM tb_schema_heads()"))
            return [str(row[0]) for row in rows]
    except DBAPIError as exc:
        if sqlstate(exc) == "42883":  # undefined_function
            return None
        raise


async def open_closed_columns(session: AsyncSession) -> list[str]:
    """The ``CLOSED_COLUMNS`` the connected role may read on a schema that closes them (0038
    on): a table's whole grant from the previous release's `trulybot migrate` (a rollback) or
    by hand. Empty before 0038, where the code reads them."""
    if not (
        await session.execute(text("SELECT to_regprocedure(:f)"), {"f": CLOSED_SINCE})
    ).scalar():
        return []
    readable = text("SELECT has_column_privilege(CAST(:t AS regclass), :c, 'SELECT')")
    return [
        f"{table}.{column}"
        for table, columns in CLOSED_COLUMNS.items()
        for column in columns
        if (await session.execute(readable, {"t": table, "c": column})).scalar()
    ]


async def table_access(session: AsyncSession) -> tuple[str, str | None]:
    """(the connected role, the SQLSTATE of a tenant-less read of one table, None if it
    worked): ``42501`` when the role was granted nothing, ``42P01`` when there are no tables."""
    role = str((await session.execute(text("SELECT current_user"))).scalar_one())
    try:
        async with session.begin_nested():
            await session.execute(text("SELECT 1 FROM scheduled_runs LIMIT 1"))
    except DBAPIError as exc:
        if (code := sqlstate(exc)) in ("42501", "42P01"):
            return role, code
        raise
    return role, None


def _upgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


async def upgrade(
    owner_url: str,
    *,
    app_role: str | None,
    revision: str = "heads",
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
    lock_retries: int = DEFAULT_LOCK_RETRIES,
    backoff_seconds: float = 1.0,
) -> tuple[str, ...]:
    """Apply migrations as the owner, then grant the app role table privileges.

    Each revision runs in its own transaction (migrations/env.py), so one revision's locks are
    released before the next starts. Each statement waits at most ``lock_timeout_ms`` for a
    table's lock (MIGRATION_LOCK_TIMEOUT_MS; 0: forever): an ALTER queued behind a long reader
    (an export, a reindex) made every statement on that table wait behind it, chat's too,
    for as long as the reader ran. A revision that times out is rolled back and tried again
    ``lock_retries`` times with a growing pause (the revisions before it stay applied);
    then ``MigrationLockTimeout``. ``app_role`` must exist (``ConfigError`` before any
    revision runs): an unknown role was skipped, so the app had no privileges and every
    request failed.

    A database at a revision this code does not know (a newer release migrated it: the previous
    release restarting during a rolling deploy, or a rollback) is not migrated, one line
    logged; its revisions are returned (empty when migrated). Alembic refused it ("Can't
    locate revision"), and every `serve` with MIGRATION_DATABASE_URL failed to start."""
    if app_role:
        _quote_role(app_role)
    engine = create_engine(owner_url, pool_size=1, max_overflow=0, statement_timeout_ms=0)
    try:
        async with engine.connect() as conn:
            if app_role and not await conn.run_sync(_role_exists, app_role):
                raise ConfigError(_missing_role(app_role))
            await conn.commit()
            await _take_migration_lock(conn)
            await conn.execute(text(f"SET lock_timeout = {int(lock_timeout_ms)}"))
            await conn.commit()
            try:
                newer = newer_heads(await conn.run_sync(_current_heads))
                await conn.rollback()  # alembic runs a revision per transaction outside one
                if newer:
                    log.warning("migration: %s", newer_schema_line(newer))
                else:
                    try:
                        await _upgrade_retried(
                            conn, revision, lock_timeout_ms, lock_retries, backoff_seconds
                        )
                    except asyncio.CancelledError:
                        # SIGTERM (api.stop_signal): the statement under way was cancelled in
                        # the server; its revision's transaction is rolled back here, the lock
                        # released below, before the process ends.
                        await conn.rollback()
                        raise MigrationStopped(await conn.run_sync(_current_heads)) from None
                if app_role:  # idempotent, on a newer schema too
                    await conn.run_sync(grant_app_role, app_role)
                    await conn.commit()
            except DBAPIError as exc:
                if sqlstate(exc) != INSUFFICIENT_PRIVILEGE:
                    raise
                await conn.rollback()
                role = (await conn.execute(text("SELECT current_user"))).scalar_one()
                raise ConfigError(
                    _not_the_owner(str(role), connect_problem(exc), app_role)
                ) from None
            finally:
                with contextlib.suppress(DBAPIError):
                    await conn.rollback()
                    await conn.execute(text(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})"))
                    await conn.commit()
    finally:
        await engine.dispose()
    return newer


LOCK_POLL_SECONDS: Final = 0.25
"""How often a migrator waiting for another's lock tries it again."""


async def _take_migration_lock(conn: AsyncConnection) -> None:
    """The migration's session advisory lock (held across the revisions' own transactions),
    tried until it is free, with no transaction open between tries. Waiting for it inside the
    statement that asks for it held a snapshot, and a revision of the migrator holding the
    lock that builds an index CONCURRENTLY waits for every older snapshot to end: the two
    deadlocked, PostgreSQL cancelled one, and a second `trulybot migrate` (or a replica, or a
    worker process, starting beside another) failed."""
    told = False
    while True:
        taken = await conn.scalar(text(f"SELECT pg_try_advisory_lock({_MIGRATION_LOCK})"))
        await conn.commit()
        if taken:
            return
        if not told:
            log.info("migration: another migrator holds the lock; waiting for it to finish")
            told = True
        await asyncio.sleep(LOCK_POLL_SECONDS)


async def _upgrade_retried(
    conn: AsyncConnection,
    revision: str,
    lock_timeout_ms: int,
    lock_retries: int,
    backoff_seconds: float,
) -> None:
    for attempt in range(lock_retries + 1):
        try:
            await conn.run_sync(_upgrade, revision)
            return
        except DBAPIError as exc:
            if sqlstate(exc) != LOCK_NOT_AVAILABLE:
                raise
            await conn.rollback()
            if attempt == lock_retries:
                at = await conn.run_sync(_current_heads)
                raise MigrationLockTimeout(
                    _lock_message(at, lock_timeout_ms, attempt + 1)
                ) from None
        pause = min(backoff_seconds * 2**attempt, 30.0)
        log.warning(
            "migration: a table's lock was not free within %d ms (a long"
            " transaction holds it); trying again in %.0f s",
            lock_timeout_ms,
            pause,
        )
        await asyncio.sleep(pause)


def _current_heads(connection: Connection) -> list[str]:
    if not connection.execute(text("SELECT to_regclass('alembic_version')")).scalar():
        return []
    rows = connection.execute(text("SELECT version_num FROM alembic_version"))
    return sorted(str(row[0]) for row in rows)


def _lock_message(heads: list[str], lock_timeout_ms: int, tries: int) -> str:
    at = ", ".join(heads) or "no revision"
    return (
        f"a migration could not take a table's lock within MIGRATION_LOCK_TIMEOUT_MS"
        f" ({lock_timeout_ms} ms) in {tries} tries: a long transaction holds the table (an"
        " export, a reindex, a retention purge; see pg_stat_activity). The revision was rolled"
        f" back and the database stays at {at}; run `trulybot migrate` again when it has ended"
        " (docs/deploy.md, Migrations and table locks)"
    )


def _role_exists(connection: Connection, role: str) -> bool:
    found = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
    return found.scalar() is not None


def _missing_role(role: str) -> str:
    return (
        f"APP_DB_ROLE {role!r} does not exist, so nothing could be granted to it: create it"
        " (docs/deploy.md, PostgreSQL) or set APP_DB_ROLE to the user in DATABASE_URL"
    )


async def downgrade(owner_url: str, revision: str) -> None:
    """Undo revisions down to ``revision``, each in its own transaction as ``upgrade`` applies
    them (those that build an index CONCURRENTLY, 0030 and 0032, run outside any)."""
    engine = create_engine(owner_url, pool_size=1, max_overflow=0, statement_timeout_ms=0)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_downgrade, revision)
            await conn.commit()
    finally:
        await engine.dispose()


def grant_app_role(connection: Connection, role: str) -> None:
    """The app role may read and write rows (RLS decides which), call the migrations' narrow
    SECURITY DEFINER functions (which no other role may: PUBLIC's EXECUTE is taken back each
    time), and owns nothing. It never reads ``CLOSED_COLUMNS`` (0038):
    the password hash comes from its functions."""
    q = _quote_role(role)
    if not _role_exists(connection, role):
        raise ConfigError(_missing_role(role))
    connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {q}"))
    connection.execute(
        text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {q}")
    )
    connection.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {q}"))
    connection.execute(text(f"REVOKE ALL ON TABLE alembic_version FROM {q}"))
    if connection.execute(text("SELECT to_regprocedure(:f)"), {"f": CLOSED_SINCE}).scalar():
        for table, closed in CLOSED_COLUMNS.items():
            _close_columns(connection, q, table, closed)
    for function in APP_FUNCTIONS:
        if connection.execute(text("SELECT to_regprocedure(:f)"), {"f": function}).scalar():
            # Their migrations revoke PUBLIC's EXECUTE, but a restore of a dump made without
            # privileges (docs/deploy.md, Backups and restores) gives it back: every role that
            # may connect could then read and set any account's password hash.
            connection.execute(text(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC"))
            connection.execute(text(f"GRANT EXECUTE ON FUNCTION {function} TO {q}"))


def _close_columns(connection: Connection, q: str, table: str, closed: Sequence[str]) -> None:
    """SELECT and UPDATE on ``table``'s other columns only (a table's privilege covers every
    column, so it is taken back first); INSERT stays on the table."""
    rows = connection.execute(
        text(
            "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:t AS regclass)"
            " AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        ),
        {"t": table},
    )
    listed = ", ".join(f'"{name}"' for name in rows.scalars() if name not in closed)
    hidden = ", ".join(f'"{name}"' for name in closed)
    connection.execute(text(f"REVOKE SELECT, UPDATE ON TABLE {table} FROM {q}"))
    revoke = f"REVOKE SELECT ({hidden}), UPDATE ({hidden}) ON {table} FROM {q}"  # noqa: S608
    connection.execute(text(revoke))  # constant names, the catalog's columns, a checked role
    connection.execute(text(f"GRANT SELECT ({listed}), UPDATE ({listed}) ON {table} TO {q}"))


async def ensure_app_role(owner_url: str, role: str, password: str | None = None) -> None:
    """Create the login role the app runs as: no superuser, no BYPASSRLS, owns nothing."""
    q = _quote_role(role)
    engine = create_engine(owner_url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            exists = (
                await conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
            ).scalar()
            if not exists:
                # Serialised: several worker processes may start at once.
                await conn.execute(text("SELECT pg_advisory_xact_lock(7301531)"))
                exists = (
                    await conn.execute(
                        text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
                    )
                ).scalar()
            if not exists:
                await conn.execute(
                    text(
                        f"CREATE ROLE {q} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                        " NOINHERIT"
                    )
                )
            if password:
                await conn.execute(
                    text(f"ALTER ROLE {q} PASSWORD '{password.replace(chr(39), chr(39) * 2)}'")
                )
    finally:
        await engine.dispose()
