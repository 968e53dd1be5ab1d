"""`trulybot reindex` as an operator runs it (the operator's environment, in this process:
tests/cli_process.py), against a database of its own in the test cluster: older chunk formats
re-cut, BM25 terms stored for chunks written before 0047, a dimension change only when asked, and
the index maintenances it skipped or that failed (the scaffolding: tests/operator_scratch.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from core.db import Database
from core.embedded import EmbeddedPostgres
from rag.knowledge.chunking import EMBED_FORMAT
from rag.knowledge.repository import indexes
from tests.conftest import APP_ROLE, REDIS_URL
from tests.operator_scratch import (
    Scratch,
    _scalar,
    _scratch,
    trulybot,
)
from tests.ports import free_port as _free_port

REINDEX_SCRATCH = "trulybot_operator_reindex"


@pytest.fixture(scope="module")
async def scratch(pg: EmbeddedPostgres) -> AsyncIterator[Scratch]:
    """Migrated by the cluster's superuser, as the embedded default is; a database apart from
    tests/test_operator_commands.py's (the two files may run at once in two workers)."""
    async for value in _scratch(pg, REINDEX_SCRATCH):
        yield value


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
    # frames of the framework's lifespan over and over). With WORKERS=2 every process refuses
    # and the command fails too (it exited 0: a service manager restarting on failure, or a
    # deploy script, took it for a clean stop).
    for command, workers in ((("serve",), "1"), (("serve",), "2"), (("worker", "--burst"), "1")):
        stopped = await trulybot(
            scratch,
            tmp_path,
            *command,
            process=True,
            EMBEDDING_DIMENSIONS="64",
            REDIS_URL=REDIS_URL,
            PORT=str(_free_port()),
            WORKERS=workers,
        )
        assert stopped.code != 0, stopped.out
        assert "Traceback" not in stopped.out, stopped.out
        assert "listening" not in stopped.out, stopped.out
        refusals = [line for line in stopped.out.splitlines() if "vector(384)" in line]
        assert 1 <= len(refusals) <= int(workers), stopped.out
        refusal = refusals[0]
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


async def test_reindex_builds_the_index_of_a_workspace_the_old_thresholds_left_exact(
    scratch: Scratch, tmp_path: Path
) -> None:
    """The upgrade to the 5,000-chunk threshold (docs/deploy.md, "Upgrading to the 5,000-chunk
    index threshold"): a workspace of 5,000 chunks had no index under the previous 10,000;
    `reindex --outdated-only` builds it and says so."""
    ws = uuid.uuid4()
    doc = uuid.uuid4()
    dims = await _scalar(
        scratch,
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'chunks'::regclass"
        " AND attname = 'embedding'",
    )
    owner = Database.from_url(scratch.cluster.owner_url(), pool_size=1, max_overflow=0)
    try:
        async with owner.transaction() as session:
            await session.execute(
                text(
                    "INSERT INTO workspaces (id, name, slug, plan, public_key)"
                    " VALUES (:id, 'band', :slug, 'unlimited', :pk)"
                ),
                {"id": ws, "slug": f"band-{ws.hex[:12]}", "pk": f"pk_{ws.hex}"},
            )
            await session.execute(
                text(
                    "INSERT INTO documents (id, workspace_id, title, source_type, source, status)"
                    " VALUES (:d, :w, 'band', 'text', 'band', 'ready')"
                ),
                {"d": doc, "w": ws},
            )
            await session.execute(  # current format: nothing to re-cut, only the index is due
                text(
                    "INSERT INTO chunks (id, workspace_id, document_id, position, text, metadata,"
                    " token_count, content_hash, embedding)"
                    " SELECT gen_random_uuid(), :w, :d, g, 'chunk ' || g,"
                    " jsonb_build_object('embed_format', CAST(:fmt AS int)), 2, g::text,"
                    " (SELECT array_agg(random()::real + 0 * (d + g))"  # one vector a row
                    " FROM generate_series(1, :dims) d)::vector FROM generate_series(1, 5000) g"
                ),
                {"w": ws, "d": doc, "fmt": EMBED_FORMAT, "dims": dims},
            )
    finally:
        await owner.dispose()
    state = "SELECT count(*) FROM pg_class WHERE relname = :n"
    assert await _scalar(scratch, state, n=indexes.index_name(ws)) == 0
    ran = await trulybot(
        scratch,
        tmp_path,
        "reindex",
        "--workspace",
        str(ws),
        "--outdated-only",
        EMBEDDING_DIMENSIONS=str(dims),
    )
    assert ran.code == 0, ran.out
    assert "built 1 vector indexes for workspaces past the build threshold" in ran.out
    valid = "SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid"
    assert await _scalar(scratch, valid + " WHERE c.relname = :n", n=indexes.index_name(ws))
