"""The operator commands' scaffolding (tests/test_operator_commands.py,
tests/test_operator_reindex.py, and the migration tests that need the table-owning role): a
database of its own in the test cluster with one workspace, migrated by the superuser or by a
table-owning role without superuser or BYPASSRLS (as docs/deploy.md says production is), and
`trulybot` run with the operator's environment."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from core import migrate
from core.db import Database, create_engine
from core.embedded import EmbeddedPostgres, ensure_database
from rag.knowledge import submissions
from tests.cli_process import Run, run_trulybot, run_trulybot_here
from tests.conftest import APP_ROLE, make_settings
from workspaces import repository as ws_repo
from workspaces import service

SCRATCH = "trulybot_operator_cli"
PRODUCTION_LIKE = "trulybot_operator_roles"
OWNER_ROLE = "trulybot_owner_norls"
CREATE_OWNER_ROLE = (
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trulybot_owner_norls')"
    " THEN CREATE ROLE trulybot_owner_norls LOGIN NOSUPERUSER NOBYPASSRLS; END IF; END $$"
)
SECRET = "operator-test-" + "s" * 40
GUIDES = {
    "billing/refunds.md": "# Refunds\n\nYearly plans are refunded in full within 30 days.\n",
    "setup/linux.md": "# Linux\n\nInstall the agent with the .deb package on Debian or Ubuntu.\n",
    "_drafts/ignored.md": "# Draft\n\nNot published yet.\n",
}


@dataclass
class Scratch:
    cluster: EmbeddedPostgres
    db: Database
    slug: str
    workspace_id: uuid.UUID
    owner_url: str
    """The migration role's connection (MIGRATION_DATABASE_URL)."""


async def _scratch(
    pg: EmbeddedPostgres, name: str, owner_role: str | None = None
) -> AsyncIterator[Scratch]:
    """A fresh database migrated by ``owner_role`` (the superuser by default), with one
    workspace."""
    await ensure_database(pg.socket_dir, name, recreate=True)
    cluster = EmbeddedPostgres(server=pg.server, socket_dir=pg.socket_dir, database=name)
    if owner_role is not None:
        async with _superuser(cluster) as conn:
            await conn.execute(text(CREATE_OWNER_ROLE))
            await conn.execute(text(f'ALTER DATABASE "{name}" OWNER TO {owner_role}'))
            # As docs/deploy.md: the provider's admin creates the extension.
            await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
    owner_url = cluster.owner_url() if owner_role is None else cluster.app_url(owner_role)
    await migrate.upgrade(owner_url, app_role=APP_ROLE)
    db = Database.from_url(cluster.app_url(APP_ROLE), pool_size=2, max_overflow=2)
    async with db.transaction() as session:
        _, workspace = await service.signup(
            session,
            email=f"operator-{uuid.uuid4().hex[:8]}@example.com",
            password="correct horse battery",
            workspace_name="Operator docs",
            name=None,
            plan="unlimited",
        )
    yield Scratch(cluster, db, workspace.slug, workspace.id, owner_url)
    await db.dispose()


@asynccontextmanager
async def _superuser(cluster: EmbeddedPostgres) -> AsyncIterator[AsyncConnection]:
    engine = create_engine(cluster.owner_url(), pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")
    finally:
        await engine.dispose()


async def trulybot(
    scratch: Scratch,
    tmp: Path,
    *args: str,
    owner: bool = True,
    process: bool = False,
    **env: str,
) -> Run:
    """``trulybot ARGS...`` with the operator's environment, in this process (the command's
    output, exit code and database effects are the same; a process start is 5 s of imports),
    or with ``process=True`` in its own (serve and worker: a server, arq's signal handlers);
    ``owner=False`` leaves MIGRATION_DATABASE_URL unset."""
    run = run_trulybot if process else run_trulybot_here
    return await run(
        *args,
        env={
            "DATABASE_URL": scratch.cluster.app_url(APP_ROLE),
            **({"MIGRATION_DATABASE_URL": scratch.owner_url} if owner else {}),
            "DATA_DIR": str(tmp),
            "JWT_SECRET": SECRET,
            **env,
        },
    )


async def queued_document(scratch: Scratch, text: str) -> uuid.UUID:
    """A text document of the scratch workspace committed ``queued``, its job not enqueued."""
    async with scratch.db.transaction(workspace_id=scratch.workspace_id) as session:
        workspace = await ws_repo.get_workspace(session, scratch.workspace_id)
        assert workspace is not None
        sub = await submissions.submit_text(
            session,
            service.WorkspaceAccess.operator(workspace, command="test"),
            title=f"Hours {uuid.uuid4().hex[:6]}",
            text=text,
            settings=make_settings(),
        )
    return sub.document.id


async def _scalar(scratch: Scratch, sql: str, **params: object) -> object:
    """One value, read as the owner (past row-level security)."""
    owner = Database.from_url(scratch.cluster.owner_url(), pool_size=1, max_overflow=0)
    try:
        async with owner.transaction() as session:
            return (await session.execute(text(sql), params)).scalar_one()
    finally:
        await owner.dispose()


def write_guides(folder: Path) -> Path:
    """``GUIDES`` written under ``folder``."""
    for name, body in GUIDES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(body)
    return folder
