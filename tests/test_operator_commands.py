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
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from core import migrate
from core.db import Database, create_engine
from core.embedded import EmbeddedPostgres, ensure_database
from core.errors import ConfigError
from core.jobs import ArqQueue
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge import submissions
from rag.knowledge.chunking import EMBED_FORMAT
from rag.knowledge.repository import indexes
from tests.cli_process import Run, run_trulybot, run_trulybot_here
from tests.conftest import APP_ROLE, REDIS_URL, ROOT, make_settings
from tests.ports import free_port as _free_port
from tests.topology import postgres_bin_dir
from workspaces import notification_delivery, notifications, service
from workspaces import repository as ws_repo

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


async def test_reindex_rechunks_documents_of_an_older_chunk_format(
    scratch: Scratch, tmp_path: Path
) -> None:
    name = f"hours-{uuid.uuid4().hex[:6]}.md"
    (tmp_path / name).write_text("# Opening hours\n\nThe shop opens at nine on weekdays.\n")
    # A man page, titled "git-demo(1)" by the parser of format 2 and by its NAME line since.
    command = f"git-demo{uuid.uuid4().hex[:6]}"
    page = f"{command}.html"
    (tmp_path / page).write_text(
        f"<html><head><title>{command}(1)</title></head><body><div id='header'>"
        f"<h1>{command}(1) Manual Page</h1><h2>NAME</h2><div class='sectionbody'>"
        f"<p>{command} - Show a demonstration of the index</p></div></div>"
        "<div class='sect1'><h2>DESCRIPTION</h2><div class='sectionbody'><p>This command shows"
        " how the index and the working tree differ, one path a line.</p></div></div>"
        "</body></html>"
    )
    dims = await _scalar(
        scratch,
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'chunks'::regclass"
        " AND attname = 'embedding'",
    )
    env = {"EMBEDDING_DIMENSIONS": str(dims)}  # whatever an earlier test left the column at
    for file in (name, page):
        ingested = await trulybot(
            scratch, tmp_path, "ingest", str(tmp_path / file), "--workspace", scratch.slug, **env
        )
        assert ingested.code == 0, ingested.out
    document_id = await _scalar(scratch, "SELECT id FROM documents WHERE source = :s", s=name)
    page_id = await _scalar(scratch, "SELECT id FROM documents WHERE source = :s", s=page)
    name_line = f"{command} - Show a demonstration of the index"
    assert await _scalar(scratch, "SELECT title FROM documents WHERE id = :d", d=page_id) == (
        name_line
    )
    # Make its chunks look like chunks from before the "title > headings" format (no
    # embed_format, the hash of the text alone).
    owner = Database.from_url(scratch.cluster.owner_url(), pool_size=1, max_overflow=0)
    try:
        async with owner.transaction() as session:
            await session.execute(
                text(
                    "UPDATE chunks SET metadata = metadata - 'embed_format',"
                    " content_hash = encode(sha256(convert_to(text, 'UTF8')), 'hex')"
                    " WHERE document_id = :d"
                ),
                {"d": document_id},
            )
            # ... and the man page as format 2 left it: titled by its <title>.
            await session.execute(
                text(
                    "UPDATE chunks SET metadata = jsonb_set(metadata, '{embed_format}', '2')"
                    " || jsonb_build_object('title', CAST(:t AS text)) WHERE document_id = :d"
                ),
                {"d": page_id, "t": f"{command}(1)"},
            )
            await session.execute(
                text("UPDATE documents SET title = :t WHERE id = :d"),
                {"d": page_id, "t": f"{command}(1)"},
            )
    finally:
        await owner.dispose()
    old_ids = await _scalar(
        scratch, "SELECT array_agg(id) FROM chunks WHERE document_id = :d", d=document_id
    )
    old_page_ids = await _scalar(
        scratch, "SELECT array_agg(id ORDER BY id) FROM chunks WHERE document_id = :d", d=page_id
    )
    ran = await trulybot(
        scratch, tmp_path, "reindex", "--workspace", scratch.slug, "--outdated-only", **env
    )
    assert ran.code == 0, ran.out
    assert "re-chunked 2 documents" in ran.out
    fmt = "SELECT min(coalesce((metadata->>'embed_format')::int, 1)) FROM chunks"
    assert await _scalar(scratch, fmt + " WHERE document_id = :d", d=document_id) == EMBED_FORMAT
    # The man page's stored title was the old parser's, not an owner's: the NAME line now.
    assert await _scalar(scratch, "SELECT title FROM documents WHERE id = :d", d=page_id) == (
        name_line
    )
    titles = "SELECT array_agg(DISTINCT metadata->>'title') FROM chunks WHERE document_id = :d"
    assert await _scalar(scratch, titles, d=page_id) == [name_line]
    # Its embedded text was already the new one: the chunks keep their vectors (and ids).
    page_ids = "SELECT array_agg(id ORDER BY id) FROM chunks WHERE document_id = :d"
    assert await _scalar(scratch, page_ids, d=page_id) == old_page_ids
    new_ids = await _scalar(
        scratch, "SELECT array_agg(id) FROM chunks WHERE document_id = :d", d=document_id
    )
    assert set(new_ids).isdisjoint(old_ids)  # embedded anew, not kept
    status = await _scalar(scratch, "SELECT status FROM documents WHERE id = :d", d=document_id)
    assert status == "ready"
    again = await trulybot(
        scratch, tmp_path, "reindex", "--workspace", scratch.slug, "--outdated-only", **env
    )
    assert "re-chunked 0 documents" in again.out  # nothing left in the old format


async def test_reindex_stores_the_terms_of_chunks_written_before_0047(
    scratch: Scratch, tmp_path: Path
) -> None:
    name = f"flags-{uuid.uuid4().hex[:6]}.md"
    (tmp_path / name).write_text("# Flags\n\nPass --frobnicate-level=3 to raise it.\n")
    dims = await _scalar(
        scratch,
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'chunks'::regclass"
        " AND attname = 'embedding'",
    )
    # Terms are stored only with the lexical weight on (docs/deploy.md's upgrade note).
    env = {"EMBEDDING_DIMENSIONS": str(dims), "RETRIEVAL_LEXICAL_WEIGHT": "0.3"}
    ingested = await trulybot(
        scratch, tmp_path, "ingest", str(tmp_path / name), "--workspace", scratch.slug, **env
    )
    assert ingested.code == 0, ingested.out
    document_id = await _scalar(scratch, "SELECT id FROM documents WHERE source = :s", s=name)
    terms = "SELECT count(*) FROM chunk_terms t JOIN chunks c ON c.id = t.chunk_id"
    terms += " WHERE c.document_id = :d"
    stored = await _scalar(scratch, terms, d=document_id)
    assert stored > 0
    owner = Database.from_url(scratch.cluster.owner_url(), pool_size=1, max_overflow=0)
    try:  # as the release before 0047 wrote them: no terms, no term_count
        async with owner.transaction() as session:
            await session.execute(
                text(
                    "DELETE FROM chunk_terms WHERE chunk_id IN"
                    " (SELECT id FROM chunks WHERE document_id = :d)"
                ),
                {"d": document_id},
            )
            await session.execute(
                text("UPDATE chunks SET term_count = NULL WHERE document_id = :d"),
                {"d": document_id},
            )
    finally:
        await owner.dispose()
    # Every chunk of the workspace without terms: this one's, and any the module's other
    # tests ingested with the weight at 0 (none when the default is above 0).
    chunks = await _scalar(
        scratch,
        "SELECT count(*) FROM chunks WHERE term_count IS NULL AND workspace_id ="
        " (SELECT workspace_id FROM documents WHERE id = :d)",
        d=document_id,
    )
    assert chunks >= 1
    off = await trulybot(  # the weight at 0: the feature off costs no storage
        scratch,
        tmp_path,
        "reindex",
        "--workspace",
        scratch.slug,
        "--outdated-only",
        **{**env, "RETRIEVAL_LEXICAL_WEIGHT": "0"},
    )
    assert off.code == 0, off.out
    assert "stored the terms of 0 chunks (RETRIEVAL_LEXICAL_WEIGHT is 0)" in off.out
    assert await _scalar(scratch, terms, d=document_id) == 0
    ran = await trulybot(
        scratch, tmp_path, "reindex", "--workspace", scratch.slug, "--outdated-only", **env
    )
    assert ran.code == 0, ran.out
    assert f"stored the terms of {chunks} chunks," in ran.out
    assert await _scalar(scratch, terms, d=document_id) == stored
    missing = "SELECT count(*) FROM chunks WHERE document_id = :d AND term_count IS NULL"
    assert await _scalar(scratch, missing, d=document_id) == 0


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


async def test_a_dimension_change_happens_only_when_the_operator_asks(
    scratch: Scratch, tmp_path: Path
) -> None:
    """Order-independent: it ingests chunks of its own (run alone, or before the tests that
    ingest, it had none to re-embed), and leaves the column at 384 (the tests after it
    failed ingesting 384-dimension vectors into vector(64))."""
    folder = tmp_path / "parts"
    folder.mkdir()
    tag = uuid.uuid4().hex
    for part in ("one", "two", "three"):
        (folder / f"{part}-{tag[:8]}.md").write_text(f"# Part {part}\n\nPart {part} of {tag}.\n")
    seeded = await trulybot(scratch, tmp_path, "ingest", str(folder), "--workspace", scratch.slug)
    assert seeded.code == 0, seeded.out
    same = await trulybot(scratch, tmp_path, "reindex", "--workspace", scratch.slug)
    assert same.code == 0, same.out
    assert "re-embedded" in same.out

    refused = await trulybot(scratch, tmp_path, "reindex", EMBEDDING_DIMENSIONS="64")
    assert refused.code != 0
    assert "--change-dimension" in refused.out
    assert "vector(384)" in refused.out
    dims = "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'chunks'::regclass"
    dims += " AND attname = 'embedding'"
    assert await _scalar(scratch, dims) == 384  # nothing changed
    assert await _scalar(scratch, "SELECT count(*) FROM chunks WHERE embedding IS NULL") == 0
    # Neither the API nor a worker starts with vectors the stored ones cannot be compared with
    # (every question and every ingested chunk failed as a 500); they name the way out, in one
    # paragraph with both dimensions (it was a traceback of 60 lines, and under serve the same
    # frames of the framework's lifespan over and over).
    for command in (("serve",), ("worker", "--burst")):
        stopped = await trulybot(
            scratch,
            tmp_path,
            *command,
            process=True,
            EMBEDDING_DIMENSIONS="64",
            REDIS_URL=REDIS_URL,
            PORT=str(_free_port()),
        )
        assert stopped.code != 0, stopped.out
        assert "Traceback" not in stopped.out, stopped.out
        assert "listening" not in stopped.out, stopped.out
        [refusal] = [line for line in stopped.out.splitlines() if "vector(384)" in line]
        assert f"trulybot {command[0]}: the stored vectors are vector(384)" in refusal
        assert "makes 64-dimension vectors" in refusal
        assert "`trulybot reindex --change-dimension`" in refusal

    changed = await trulybot(
        scratch, tmp_path, "reindex", "--change-dimension", EMBEDDING_DIMENSIONS="64"
    )
    try:
        assert changed.code == 0, changed.out
        assert "vector(384) -> vector(64)" in changed.out
        assert await _scalar(scratch, dims) == 64
        assert await _scalar(scratch, "SELECT count(*) FROM chunks") >= 3
        assert await _scalar(scratch, "SELECT count(*) FROM chunks WHERE embedding IS NULL") == 0
        not_null = "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'chunks'::regclass"
        assert await _scalar(scratch, not_null + " AND attname = 'embedding'") is True
    finally:
        # Back to the settings' 384 for the tests that share the module's database after this.
        restored = await trulybot(scratch, tmp_path, "reindex", "--change-dimension")
    assert restored.code == 0, restored.out
    assert await _scalar(scratch, dims) == 384


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


async def test_reindex_says_which_index_maintenance_it_skipped(
    scratch: Scratch, tmp_path: Path
) -> None:
    """A worker's maintenance of the workspace's index holds its lock (docs/deploy.md,
    "Upgrading to HNSW ef_construction 200"): reindex leaves the index to it and says so,
    rather than counting it among the indexes that needed nothing."""
    async with indexes.maintenance_lock(scratch.db, scratch.owner_url, scratch.workspace_id):
        ran = await trulybot(
            scratch, tmp_path, "reindex", "--workspace", scratch.slug, "--outdated-only"
        )
    assert ran.code == 0, ran.out
    assert "rebuilt 0 vector indexes" in ran.out
    assert "1 workspaces skipped (another maintenance was running), 0 failed" in ran.out
    again = await trulybot(
        scratch, tmp_path, "reindex", "--workspace", scratch.slug, "--outdated-only"
    )
    assert again.code == 0, again.out
    assert "skipped" not in again.out


async def test_reindex_exits_1_when_an_index_maintenance_failed(
    scratch: Scratch, tmp_path: Path
) -> None:
    """The upgrade's rebuild is what an operator runs reindex for: a maintenance that failed
    (here MIGRATION_DATABASE_URL names a database that does not exist) is said, and the exit
    code is 1 (before: "rebuilt 0" and 0, as if no index needed it)."""
    missing = scratch.cluster.app_url(APP_ROLE).replace(
        f"/{scratch.cluster.database}?", f"/{scratch.cluster.database}_missing?"
    )
    assert missing != scratch.cluster.app_url(APP_ROLE)
    ran = await trulybot(
        scratch,
        tmp_path,
        "reindex",
        "--workspace",
        scratch.slug,
        "--outdated-only",
        owner=False,
        MIGRATION_DATABASE_URL=missing,
    )
    assert ran.code == 1, ran.out
    assert "0 workspaces skipped (another maintenance was running), 1 failed" in ran.out
