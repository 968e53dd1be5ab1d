"""Each chunk's terms for BM25 (issue 12).

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-05

- ``chunk_terms (workspace_id, chunk_id, term, tf, len)``: a chunk's terms (``rag.knowledge.lexical.
  chunk_terms``) with their counts, one row each, written in the transaction that writes the
  chunk and deleted with it (``ON DELETE CASCADE`` from ``chunks``: a document deleted, a page
  gone from a site, a workspace purged); ``len`` is the chunk's term count, repeated on each of
  its rows so that scoring a question's postings reads the index alone. Row-level security as
  every tenant table (``app.workspace_id``); ``ix_chunk_terms_workspace_term`` (with ``chunk_id,
  tf, len``) serves the per-workspace document frequencies and the postings of a question's
  terms.
- ``chunks.term_count``: the number of terms of the chunk (its BM25 length), NULL until its
  terms are stored. A workspace with a chunk whose ``term_count`` is NULL (written by the
  previous release, or before ``trulybot reindex`` filled it) is searched by the vector order
  alone: nothing is mixed. ``ix_chunks_workspace_term_count`` (``workspace_id`` with
  ``term_count``) gives a workspace's chunk count, average length and chunks without terms from
  the index; built ``CONCURRENTLY`` outside a transaction (writes to ``chunks`` go on; an
  interrupted build is dropped and built again with the revision).

Both are new (an empty table, a nullable column without default: ACCESS EXCLUSIVE on
``chunks`` a moment, no row rewritten). The previous release neither reads nor writes them: a
rolling upgrade. Downgrade drops both.
"""

from collections.abc import Sequence

from alembic import op

from migrations import rls

revision: str = "0047"
down_revision: str | None = "0046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


CHUNKS_INDEX = "ix_chunks_workspace_term_count"


def upgrade() -> None:
    op.execute("ALTER TABLE chunks ADD COLUMN IF NOT EXISTS term_count integer")
    op.execute(
        "CREATE TABLE IF NOT EXISTS chunk_terms ("
        " workspace_id uuid NOT NULL,"
        " chunk_id uuid NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,"
        " term text NOT NULL,"
        " tf integer NOT NULL CHECK (tf > 0),"
        " len integer NOT NULL,"
        " PRIMARY KEY (chunk_id, term))"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_chunk_terms_workspace_term"
        " ON chunk_terms (workspace_id, term) INCLUDE (chunk_id, tf, len)"
    )
    rls.enable("chunk_terms")
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {CHUNKS_INDEX}")
        op.execute(
            f"CREATE INDEX CONCURRENTLY {CHUNKS_INDEX} ON chunks (workspace_id)"
            " INCLUDE (term_count)"
        )


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {CHUNKS_INDEX}")
    op.execute("DROP TABLE IF EXISTS chunk_terms")
    op.execute("ALTER TABLE chunks DROP COLUMN IF EXISTS term_count")
