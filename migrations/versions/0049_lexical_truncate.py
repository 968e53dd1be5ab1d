"""Kept BM25 statistics follow a TRUNCATE of chunks or chunk_terms (0048's drift, review).

Revision ID: 0049
Revises: 0048
Create Date: 2026-12-05

Migration 0048's statement-level triggers see INSERT, UPDATE and DELETE, not TRUNCATE: an
owner's ``TRUNCATE chunks CASCADE`` (or ``TRUNCATE chunk_terms``) left ``lexical_stats`` and
``lexical_df`` counting rows that were gone, so searches ranked with wrong statistics and a
later deletion of a workspace's chunks could break the tables' CHECK constraints. A TRUNCATE
empties a table for every workspace, so the kept rows it invalidates are all of them:

- ``TRUNCATE chunk_terms``: every ``lexical_df`` row goes (no chunk has a term any more);
  ``lexical_stats`` counts ``chunks.term_count``, which the truncate does not touch.
- ``TRUNCATE chunks`` (``CASCADE`` takes ``chunk_terms`` along, firing its trigger too): every
  ``lexical_stats`` row goes (no row: no chunk, as for a workspace that never had one).

The triggers empty the kept tables with ``TRUNCATE`` too: row-level security (forced, so it
binds the owner) would hide every row from a ``DELETE`` run without a workspace set, and
whoever may truncate ``chunks`` owns the kept tables as well. Other drift the triggers cannot
see (a data-only restore with triggers on, a chunk moved between workspaces by hand) is
repaired by ``trulybot recount-lexical`` (docs/deploy.md).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0049"
down_revision: str | None = "0048"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRUNCATES = {
    # table: (function, the kept tables it empties)
    "chunks": ("tb_lexical_truncate_chunks", "lexical_stats, lexical_df"),
    "chunk_terms": ("tb_lexical_truncate_terms", "lexical_df"),
}


def upgrade() -> None:
    for table, (function, kept) in TRUNCATES.items():
        op.execute(
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN TRUNCATE {kept}; RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER lexical_{table}_truncate AFTER TRUNCATE ON {table}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )


def downgrade() -> None:
    for table, (function, _) in TRUNCATES.items():
        op.execute(f"DROP TRIGGER IF EXISTS lexical_{table}_truncate ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {function}()")
