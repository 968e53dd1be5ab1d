"""Applying migrations (as the owner) and granting the app role what it needs (and no more)."""

from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from core.db import create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_ROLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# The migrations' SECURITY DEFINER functions the app role may call: fixed DDL of a workspace's
# vector index (0002k), a workspace's id from its slug for operator tools (0006f), the leads
# whose trigrams contain a search's (0011b1).
APP_FUNCTIONS = (
    "tb_build_workspace_indexes(uuid, integer, integer)",
    "tb_drop_workspace_indexes(uuid)",
    "tb_workspace_id_by_slug(text)",
    "tb_lead_search_candidates(text, text)",
    "tb_lead_search_estimate(text)",
)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _quote_role(role: str) -> str:
    if not _ROLE_RE.match(role):
        raise ValueError(f"invalid role name {role!r}")
    return f'"{role}"'


def _upgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


async def upgrade(owner_url: str, *, app_role: str | None, revision: str = "heads") -> None:
    """Apply migrations as the owner, then grant the app role table privileges."""
    engine = create_engine(owner_url, pool_size=1, max_overflow=0, statement_timeout_ms=0)
    try:
        async with engine.begin() as conn:
            # One migrator at a time, also across replicas starting together.
            await conn.execute(text("SELECT pg_advisory_xact_lock(7301530)"))
            await conn.run_sync(_upgrade, revision)
            if app_role:
                await conn.run_sync(grant_app_role, app_role)
    finally:
        await engine.dispose()


async def downgrade(owner_url: str, revision: str) -> None:
    engine = create_engine(owner_url, pool_size=1, max_overflow=0, statement_timeout_ms=0)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade, revision)
    finally:
        await engine.dispose()


def grant_app_role(connection: Connection, role: str) -> None:
    """The app role may read and write rows (RLS decides which), call the migrations' narrow
    SECURITY DEFINER functions, and owns nothing."""
    exists = connection.execute(
        text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
    ).scalar()
    if not exists:
        return
    q = _quote_role(role)
    connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {q}"))
    connection.execute(
        text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {q}")
    )
    connection.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {q}"))
    connection.execute(text(f"REVOKE ALL ON TABLE alembic_version FROM {q}"))
    for function in APP_FUNCTIONS:
        if connection.execute(text("SELECT to_regprocedure(:f)"), {"f": function}).scalar():
            connection.execute(text(f"GRANT EXECUTE ON FUNCTION {function} TO {q}"))


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
