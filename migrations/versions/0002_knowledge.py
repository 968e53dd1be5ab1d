"""Knowledge: documents and chunks (pgvector + full text), with RLS and the index helpers.

No shared ANN index on chunks.embedding: small workspaces are searched exactly through the btree
on (workspace_id); a workspace past the threshold gets its own partial HNSW index, built by a job
(see rag/knowledge/indexing.py and docs/retrieval.md). The app role owns no table, so the narrow privileged
path for that DDL is two SECURITY DEFINER functions owned by the migration role.

Revision ID: 0002r
Revises: 0001
Create Date: 2026-11-23
"""

# ruff: noqa: S608  # SQL text only ever inlines a workspace_literal() of a uuid.UUID

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql as pg

from migrations import rls

revision: str = "0002r"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)
NOW = sa.text("now()")
DIMENSIONS = 384  # `trulybot reindex` alters the column when the embedding model changes
APP_ROLE = "trulybot_app"  # Settings.app_db_role's default; EXECUTE is granted when it exists

TSV = (
    "setweight(to_tsvector('english'::regconfig, coalesce(metadata->>'title', '')), 'A')"
    " || setweight(to_tsvector('english'::regconfig,"
    " coalesce(metadata->>'heading_text', '')), 'B')"
    " || setweight(to_tsvector('english'::regconfig, text), 'C')"
)


def _ws() -> sa.Column:
    return sa.Column(
        "workspace_id", UUID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", UUID, primary_key=True),
        _ws(),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("source_type", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("content_type", sa.String(200), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("body", sa.LargeBinary, nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="queued"),
        sa.Column("progress", sa.Float, nullable=False, server_default="0"),
        sa.Column("chunk_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
        sa.Column("counted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "source_type IN ('upload', 'text', 'url', 'sitemap')", name="source_type"
        ),
        sa.CheckConstraint("status IN ('queued', 'processing', 'ready', 'failed')", name="status"),
    )
    op.create_index("ix_documents_workspace_created", "documents", ["workspace_id", "created_at"])
    op.create_index(
        "uq_documents_workspace_source",
        "documents",
        ["workspace_id", "source_type", "source"],
        unique=True,
    )
    op.create_index("ix_documents_workspace_hash", "documents", ["workspace_id", "content_hash"])

    op.create_table(
        "chunks",
        sa.Column("id", UUID, primary_key=True),
        _ws(),
        sa.Column(
            "document_id", UUID, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("metadata", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("token_count", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("embedding", Vector(DIMENSIONS), nullable=False),
        sa.Column("tsv", pg.TSVECTOR, sa.Computed(TSV, persisted=True), nullable=False),
    )
    # Keep vectors inline: with the default EXTENDED storage a 384-d vector plus text and tsvector
    # pushes rows over the TOAST threshold and every exact scan pays for detoasting.
    op.execute("ALTER TABLE chunks ALTER COLUMN embedding SET STORAGE PLAIN")
    # Exact search for small workspaces and every per-workspace filter.
    op.create_index("ix_chunks_workspace_id", "chunks", ["workspace_id"])
    op.create_index("ix_chunks_document_position", "chunks", ["document_id", "position"])
    op.execute("CREATE INDEX ix_chunks_tsv ON chunks USING gin (tsv)")

    rls.enable("documents")
    rls.enable("chunks")

    # The privileged path for per-workspace index DDL (see rag/knowledge/repository/indexes.py). The argument is a
    # typed uuid, the index name and predicate derive from it: no caller text reaches the DDL.
    # Non-concurrent (a function runs inside a transaction): it holds a SHARE lock on chunks
    # while it builds, so writers wait; the worker uses CREATE INDEX CONCURRENTLY on an owner
    # connection instead whenever one is configured.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tb_build_workspace_indexes(ws uuid, m integer, efc integer)
        RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
            suffix text := replace(ws::text, '-', '');
        BEGIN
            IF m < 4 OR m > 64 OR efc < 16 OR efc > 1000 THEN
                RAISE EXCEPTION 'invalid HNSW parameters m=% ef_construction=%', m, efc;
            END IF;
            PERFORM set_config('maintenance_work_mem', '1GB', true);
            EXECUTE format(
                'CREATE INDEX IF NOT EXISTS %I ON chunks USING hnsw (embedding vector_cosine_ops)'
                ' WITH (m = %s, ef_construction = %s) WHERE workspace_id = %L::uuid',
                'ix_chunks_hnsw_' || suffix, m, efc, ws::text);
        END $$
        """
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tb_drop_workspace_indexes(ws uuid)
        RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
            EXECUTE format('DROP INDEX IF EXISTS %I', 'ix_chunks_hnsw_' || replace(ws::text, '-', ''));
        END $$
        """
    )
    for fn in (
        "tb_build_workspace_indexes(uuid, integer, integer)",
        "tb_drop_workspace_indexes(uuid)",
    ):
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(
            f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN"
            f" GRANT EXECUTE ON FUNCTION {fn} TO {APP_ROLE}; END IF; END $$"
        )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS tb_drop_workspace_indexes(uuid)")
    op.execute("DROP FUNCTION IF EXISTS tb_build_workspace_indexes(uuid, integer, integer)")
    op.drop_table("chunks")
    op.drop_table("documents")
