"""The vector index functions keep to the transaction's workspace.

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-05

``tb_build_workspace_indexes(ws, m, efc)`` and ``tb_drop_workspace_indexes(ws)`` (0002k), the
SECURITY DEFINER path of the app role for a workspace's partial HNSW index, took any workspace's
id: a statement in workspace A's transaction (a repository's mistake, an injection) could drop B's
index (B's searches fell back to the shared index and its lower recall) or build one for B
(a SHARE lock on ``chunks`` for the whole build: every workspace's writes waited). Every caller
runs in the named workspace's transaction (``rag.knowledge.indexing.maintain``, the purge of
``lifecycle.deletion``), so each function now refuses (42501) a workspace other than the
transaction's (``app.workspace_id``), as the row-level policies do. Operator tools with an owner
connection (``MIGRATION_DATABASE_URL``) build and drop concurrently without them.

Functions only: no table is locked. Downgrade restores the earlier bodies.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHECK_TENANT = """
            IF ws IS DISTINCT FROM tb_current_workspace() THEN
                RAISE EXCEPTION 'workspace % is not the transaction''s workspace', ws
                    USING ERRCODE = 'insufficient_privilege';
            END IF;"""


def _build(check: str) -> str:
    return f"""
        CREATE OR REPLACE FUNCTION tb_build_workspace_indexes(ws uuid, m integer, efc integer)
        RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
            suffix text := replace(ws::text, '-', '');
        BEGIN
            IF m < 4 OR m > 64 OR efc < 16 OR efc > 1000 THEN
                RAISE EXCEPTION 'invalid HNSW parameters m=% ef_construction=%', m, efc;
            END IF;{check}
            PERFORM set_config('maintenance_work_mem', '1GB', true);
            EXECUTE format(
                'CREATE INDEX IF NOT EXISTS %I ON chunks USING hnsw (embedding vector_cosine_ops)'
                ' WITH (m = %s, ef_construction = %s) WHERE workspace_id = %L::uuid',
                'ix_chunks_hnsw_' || suffix, m, efc, ws::text);
        END $$
        """


def _drop(check: str) -> str:
    return f"""
        CREATE OR REPLACE FUNCTION tb_drop_workspace_indexes(ws uuid)
        RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN{check}
            EXECUTE format('DROP INDEX IF EXISTS %I', 'ix_chunks_hnsw_' || replace(ws::text, '-', ''));
        END $$
        """


def upgrade() -> None:
    # CREATE OR REPLACE keeps the functions' owner and grants (PUBLIC's EXECUTE stays revoked).
    op.execute(_build(_CHECK_TENANT))
    op.execute(_drop(_CHECK_TENANT))


def downgrade() -> None:
    op.execute(_build(""))
    op.execute(_drop(""))
