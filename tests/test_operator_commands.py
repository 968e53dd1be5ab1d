"""The operator commands as an operator runs them: `trulybot ingest`, `eval` and `reindex`
with the operator's environment (in this process: tests/cli_process.py), `serve` and `worker` in
their own processes, against a database of their own in the test cluster (the app
role for the work, MIGRATION_DATABASE_URL for the operator's listing of workspaces and DDL).

Two databases: one migrated by the cluster's superuser (the embedded default), and one set up as
docs/deploy.md says production is, where the migration role owns the tables but is no superuser
and has no BYPASSRLS, so forced row-level security binds it too.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core import migrate
from core.embedded import EmbeddedPostgres, ensure_database
from core.errors import ConfigError
from core.jobs import ArqQueue
from rag.knowledge import jobs as knowledge_jobs
from tests.conftest import APP_ROLE, REDIS_URL, ROOT
from tests.operator_scratch import (
    CREATE_OWNER_ROLE,
    GUIDES,
    OWNER_ROLE,
    PRODUCTION_LIKE,
    SCRATCH,
    Scratch,
    _scalar,
    _scratch,
    _superuser,
    queued_document,
    trulybot,
    write_guides,
)
from tests.topology import postgres_bin_dir
from workspaces import notification_delivery, notifications


@pytest.fixture(scope="module")
async def scratch(pg: EmbeddedPostgres) -> AsyncIterator[Scratch]:
    """Migrated by the cluster's superuser, as the embedded default is."""
    async for value in _scratch(pg, SCRATCH):
        yield value


@pytest.fixture(scope="module")
async def production_like(pg: EmbeddedPostgres) -> AsyncIterator[Scratch]:
    """Migrated by a table-owning role without superuser or BYPASSRLS, as in production."""
    async for value in _scratch(pg, PRODUCTION_LIKE, OWNER_ROLE):
        yield value


async def test_ingest_then_eval_a_folder_by_workspace_slug(
    scratch: Scratch, tmp_path: Path
) -> None:
    folder = write_guides(tmp_path / "guides")
    ingested = await trulybot(scratch, tmp_path, "ingest", str(folder), "--workspace", scratch.slug)
    assert ingested.code == 0, ingested.out
    assert "2 files" in ingested.out  # the _drafts folder is skipped
    async with scratch.db.transaction(workspace_id=scratch.workspace_id) as session:
        rows = (  # GUIDES' documents (the other tests' share the module's workspace)
            await session.execute(
                text(
                    "SELECT source, status, chunk_count FROM documents"
                    " WHERE source = ANY(:sources) ORDER BY source"
                ),
                {"sources": list(GUIDES)},
            )
        ).all()
    assert [(r.source, r.status) for r in rows] == [
        ("billing/refunds.md", "ready"),
        ("setup/linux.md", "ready"),
    ]
    assert all(r.chunk_count >= 1 for r in rows)

    questions = tmp_path / "questions.jsonl"
    rows_in = [  # op2 falls in the tune half, op1 and op3 in the held-out half (eval.splits)
        {"id": "op2", "question": "refunds of yearly plans", "expected": ["billing/refunds.md"]},
        {"id": "op1", "question": "install the agent on Debian", "expected": ["setup/linux.md"]},
        {"id": "op3", "question": "yearly plan refund", "expected": ["billing/refunds.md"]},
    ]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows_in))
    evaluated = await trulybot(
        scratch,
        tmp_path,
        "eval",
        "--workspace",
        scratch.slug,
        "--questions",
        str(questions),
        "--mode",
        "fulltext",
    )
    assert evaluated.code == 0, evaluated.out
    assert "hash:384" in evaluated.out  # the runtime's embedder, from the settings
    assert "reranker: none available" in evaluated.out  # RERANKER unset, no model reachable
    lines = [line for line in evaluated.out.splitlines() if line.startswith("| questions |")]
    halves = {line.split("|")[2].strip(): line.split("|") for line in lines}
    assert sorted(halves) == ["all", "heldout", "tune"]
    assert all(row[3].strip() == "fulltext" for row in halves.values())
    assert [halves[h][8].strip() for h in ("tune", "heldout", "all")] == ["1", "2", "3"]
    # Both sets at once, by WORKSPACE=QUESTIONS, every mode; a malformed pair is refused.
    both = await trulybot(
        scratch, tmp_path, "eval", "--set", f"{scratch.slug}={questions}", "--mode", "all"
    )
    assert both.code == 0, both.out
    assert sum(line.startswith("| questions |") for line in both.out.splitlines()) == 9
    bad = await trulybot(scratch, tmp_path, "eval", "--set", str(questions))
    assert bad.code != 0
    assert "WORKSPACE=QUESTIONS" in bad.out


async def test_the_worker_runs_what_the_api_queued(scratch: Scratch, tmp_path: Path) -> None:
    queue = await ArqQueue.connect(REDIS_URL)
    try:
        document_id = await queued_document(
            scratch, "The support desk answers from 9 to 17, Monday to Friday."
        )
        async with scratch.db.transaction(workspace_id=scratch.workspace_id) as session:
            # A notification event (a lead): the worker's dispatch job has what it needs.
            lead_key = uuid.uuid4().hex
            await notifications.emit(
                session, scratch.workspace_id, "lead.created", lead_key, {"lead_id": None}
            )
        await queue.enqueue(
            knowledge_jobs.INGEST_JOB,
            workspace_id=str(scratch.workspace_id),
            document_id=str(document_id),
        )
        await queue.enqueue(
            notification_delivery.DISPATCH_JOB, workspace_id=str(scratch.workspace_id)
        )
        worked = await trulybot(
            scratch, tmp_path, "worker", "--burst", process=True, REDIS_URL=REDIS_URL
        )
    finally:
        await queue.close()
    assert worked.code == 0, worked.out
    status = await _scalar(scratch, "SELECT status FROM documents WHERE id = :d", d=document_id)
    assert status == "ready"
    dispatched = await _scalar(
        scratch,
        "SELECT dispatched_at IS NOT NULL FROM notification_events WHERE dedupe_key = :k",
        k=lead_key,
    )
    assert dispatched is True


async def test_operator_tools_find_workspaces_under_forced_row_level_security(
    production_like: Scratch, tmp_path: Path
) -> None:
    """Neither role bypasses RLS: a slug resolves with DATABASE_URL alone, and the migration role
    lists every workspace for a reindex."""
    scratch = production_like
    folder = tmp_path / "guides"
    folder.mkdir()
    (folder / "refunds.md").write_text(GUIDES["billing/refunds.md"])
    ingested = await trulybot(
        scratch, tmp_path, "ingest", str(folder), "--workspace", scratch.slug, owner=False
    )
    assert ingested.code == 0, ingested.out
    async with scratch.db.transaction(workspace_id=scratch.workspace_id) as session:
        rows = (await session.execute(text("SELECT source, status FROM documents"))).all()
    assert [(r.source, r.status) for r in rows] == [("refunds.md", "ready")]

    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        json.dumps({"id": "q1", "question": "yearly refunds", "expected": ["refunds.md"]}) + "\n"
    )
    evaluated = await trulybot(
        scratch,
        tmp_path,
        *("eval", "--workspace", scratch.slug, "--questions", str(questions)),
        *("--mode", "fulltext"),
        owner=False,
    )
    assert evaluated.code == 0, evaluated.out
    assert "fulltext" in evaluated.out

    unknown = await trulybot(
        scratch,
        tmp_path,
        "eval",
        "--workspace",
        "no-such-workspace",
        "--questions",
        str(questions),
        owner=False,
    )
    assert unknown.code != 0
    assert "no workspace with slug 'no-such-workspace'" in unknown.out

    everything = await trulybot(scratch, tmp_path, "reindex")
    assert everything.code == 0, everything.out
    assert "in 1 workspaces" in everything.out
    assert "re-embedded 0 chunks" not in everything.out


def _audit_purge() -> str:
    """docs/deploy.md's retention purge of the audit log (its SQL block)."""
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    section = deploy.split("The audit log (`audit_log`) is append-only", 1)[1].split("\n### ", 1)[0]
    [block] = re.findall(r"```sql\n(.*?)```", section, flags=re.DOTALL)
    return block


async def test_the_documented_audit_log_purge_deletes_the_old_entries_as_the_owner(
    production_like: Scratch,
) -> None:
    """The owner is bound by the audit log's forced row-level security like every role but a
    superuser: the documented purge (disable the trigger, delete, enable) deleted 0 rows and
    said so only in its `DELETE 0`."""
    scratch = production_like
    tag = uuid.uuid4().hex[:8]
    insert = (
        "INSERT INTO audit_log (id, workspace_id, action, target_id, created_at)"
        " VALUES (gen_random_uuid(), :w, 'test.purge', :t, now() - make_interval(days => :d))"
    )
    async with _superuser(scratch.cluster) as conn:
        for days in (800, 400, 30):
            await conn.execute(text(insert), {"w": scratch.workspace_id, "t": tag, "d": days})
    script = _audit_purge().replace("trulybot_owner", OWNER_ROLE)
    run = subprocess.run(
        [str(postgres_bin_dir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
         f"postgresql://{OWNER_ROLE}@/{scratch.cluster.database}?host={scratch.cluster.socket_dir}"],
        input=script, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    async with _superuser(scratch.cluster) as conn:
        kept = await conn.execute(
            text(
                "SELECT created_at > now() - interval '1 year' FROM audit_log WHERE target_id = :t"
            ),
            {"t": tag},
        )
        assert kept.scalars().all() == [True]
        table = await conn.execute(
            text(
                "SELECT c.relrowsecurity, c.relforcerowsecurity, t.tgenabled::text FROM pg_class c"
                " JOIN pg_trigger t ON t.tgrelid = c.oid AND t.tgname = 'audit_log_append_only'"
                " WHERE c.relname = 'audit_log'"
            )
        )
        assert tuple(table.one()) == (True, True, "O")  # as the migrations left it
    # And still append-only for the app.
    with pytest.raises(DBAPIError, match="append-only"):
        async with scratch.db.transaction(workspace_id=scratch.workspace_id) as session:
            await session.execute(text("DELETE FROM audit_log WHERE target_id = :t"), {"t": tag})


async def test_migrate_as_the_app_role_says_which_role_it_needs_in_one_line(
    production_like: Scratch, pg: EmbeddedPostgres
) -> None:
    """MIGRATION_DATABASE_URL set to the app role's connection (the two URLs mixed up, or the
    same one pasted twice): `trulybot migrate` printed a 120-line traceback ending in
    "permission denied for table alembic_version" (or, on an empty database, "for schema
    public"). The owner role, which owns the database and its tables, is what it needs."""
    empty = "trulybot_operator_empty"
    await ensure_database(pg.socket_dir, empty, recreate=True)
    async with _superuser(EmbeddedPostgres(pg.server, pg.socket_dir, empty)) as conn:
        await conn.execute(text(CREATE_OWNER_ROLE))
        await conn.execute(text(f'ALTER DATABASE "{empty}" OWNER TO {OWNER_ROLE}'))
    for database in (production_like.cluster.database, empty):
        cluster = EmbeddedPostgres(pg.server, pg.socket_dir, database)
        with pytest.raises(ConfigError) as refused:
            await migrate.upgrade(cluster.app_url(APP_ROLE), app_role=APP_ROLE)
        message = str(refused.value)
        assert f"MIGRATION_DATABASE_URL connects as '{APP_ROLE}'" in message
        assert "permission denied for" in message
        assert "that is APP_DB_ROLE" in message
        assert "the owner role" in message
    # The owner role, on a database without the `vector` extension the admin creates.
    with pytest.raises(ConfigError) as refused:
        await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    message = str(refused.value)
    assert f"MIGRATION_DATABASE_URL connects as '{OWNER_ROLE}'" in message
    assert "permission denied to create extension" in message
    assert "the admin creates the `vector` extension first" in message
