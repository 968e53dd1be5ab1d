"""Kept BM25 statistics per workspace, maintained by triggers (issue 12).

Revision ID: 0048
Revises: 0047
Create Date: 2026-12-05

The BM25 search (``search.lexical_search``) needs, per question, the workspace's chunk count and
total length and each question term's document frequency. Counting them from ``chunks`` and
``chunk_terms`` on every question read every chunk's index entry and every posting; they are now
kept, exact, in two tenant tables:

- ``lexical_stats (workspace_id, chunks, total_terms, chunks_without_terms)``: the workspace's
  chunk count, the sum of their ``term_count`` and how many have none (NULL: terms never stored,
  the search then keeps the vector order).
- ``lexical_df (workspace_id, term, df)``: how many of the workspace's chunks have the term
  (``chunk_terms`` rows, one per chunk and term); no row for a term no chunk has.

Every writer keeps them, whatever its path: statement-level ``AFTER INSERT / UPDATE / DELETE``
triggers with transition tables on ``chunks`` (``tb_lexical_stats_chunks``) and on
``chunk_terms`` (``tb_lexical_df_terms``) add each statement's difference, so ``replace_chunks``,
``store_terms``, ``forget_terms``, ``fill_terms``, a document's or source's deletion (``ON DELETE
CASCADE`` to the chunks and their terms), the workspace purge and a bulk ``COPY`` are counted
alike. An ``UPDATE`` that changes no counted column (embeddings, positions, metadata) writes
nothing. Rows only ever inserted by an ``INSERT`` of chunks or terms (a deletion only updates
rows, so a cascade from a deleted workspace, whose own rows may already be gone, never inserts).

Locks: a statement of ``chunk_terms`` first locks its workspaces' ``lexical_stats`` rows (in
workspace order), an ``INSERT`` of chunks locks the row by writing it: the first write to a
workspace's statistics takes its stats row until the commit, so two transactions writing one
workspace's chunks or terms run one after the other from there (they wait, never deadlock,
whatever terms each writes in whatever statements); ``lexical_df`` rows are then written in
``(workspace_id, term)`` order. The ingestion job already serialized such transactions on the
workspace row (``knowledge_version``), taken after the chunks are written.

Upgrade: the tables, the triggers, then the rows counted from ``chunks`` and ``chunk_terms`` in
the same transaction (``CREATE TRIGGER`` holds writers of both tables off until the commit, so
nothing written meanwhile is missed or counted twice); row-level security is lifted for the
count (the owner is subject to ``FORCE``) and put back, an ``ACCESS EXCLUSIVE`` lock on both
tables for the count's time (a few seconds at a few million terms). The previous release
writes through the same triggers: a rolling upgrade. Downgrade drops triggers, functions and
tables.
"""

# ruff: noqa: S608  # SQL text built from this file's constants only

from collections.abc import Sequence

from alembic import op

from migrations import rls

revision: str = "0048"
down_revision: str | None = "0047"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What a statement changed per workspace: -1 chunk per old row, +1 per new one (a DELETE's
# transition tables have no new rows, an UPDATE's both).
_OLD = (
    "SELECT workspace_id, -1 AS c, -coalesce(term_count, 0) AS t,"
    " -(term_count IS NULL)::int AS w FROM old_rows"
)
_NEW = "SELECT workspace_id, 1, coalesce(term_count, 0), (term_count IS NULL)::int FROM new_rows"


def _changed(rows: str) -> str:
    """Deleted or updated chunks: the workspaces' rows locked in workspace order, then updated
    (never inserted: a cascade from a deleted workspace may come after its row went); nothing
    when no count changed (an UPDATE of embeddings or metadata)."""
    delta = (
        "(SELECT workspace_id, sum(c) AS chunks, sum(t) AS total, sum(w) AS without"
        f" FROM ({rows}) u GROUP BY workspace_id"
        " HAVING sum(c) <> 0 OR sum(t) <> 0 OR sum(w) <> 0) d"
    )
    return f"""
        PERFORM 1 FROM lexical_stats
         WHERE workspace_id IN (SELECT d.workspace_id FROM {delta})
         ORDER BY workspace_id FOR NO KEY UPDATE;
        UPDATE lexical_stats AS s
           SET chunks = s.chunks + d.chunks, total_terms = s.total_terms + d.total,
               chunks_without_terms = s.chunks_without_terms + d.without
          FROM {delta} WHERE s.workspace_id = d.workspace_id;"""


# One function per table: each branch names only the transition tables its event has
# (PL/pgSQL plans a statement when it first runs it).
STATS_FUNCTION = f"""
CREATE OR REPLACE FUNCTION tb_lexical_stats_chunks() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO lexical_stats AS s (workspace_id, chunks, total_terms, chunks_without_terms)
        SELECT workspace_id, count(*), coalesce(sum(term_count), 0),
               count(*) FILTER (WHERE term_count IS NULL)
          FROM new_rows GROUP BY workspace_id ORDER BY workspace_id
        ON CONFLICT (workspace_id) DO UPDATE
           SET chunks = s.chunks + EXCLUDED.chunks,
               total_terms = s.total_terms + EXCLUDED.total_terms,
               chunks_without_terms = s.chunks_without_terms + EXCLUDED.chunks_without_terms;
    ELSIF TG_OP = 'DELETE' THEN{_changed(_OLD)}
    ELSE{_changed(_OLD + " UNION ALL " + _NEW)}
    END IF;
    RETURN NULL;
END
$$
"""

DF_FUNCTION = """
CREATE OR REPLACE FUNCTION tb_lexical_df_terms() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        PERFORM 1 FROM lexical_stats
         WHERE workspace_id IN (SELECT workspace_id FROM old_rows)
         ORDER BY workspace_id FOR NO KEY UPDATE;
        -- A term's last chunk gone: its row goes; else one less (disjoint rows).
        WITH d AS (SELECT workspace_id, term, count(*) AS n FROM old_rows
                    GROUP BY workspace_id, term),
             gone AS (DELETE FROM lexical_df l USING d
                       WHERE l.workspace_id = d.workspace_id AND l.term = d.term
                         AND l.df = d.n RETURNING l.term)
        UPDATE lexical_df AS l SET df = l.df - d.n FROM d
         WHERE l.workspace_id = d.workspace_id AND l.term = d.term AND l.df <> d.n;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM 1 FROM lexical_stats
         WHERE workspace_id IN (SELECT workspace_id FROM new_rows)
         ORDER BY workspace_id FOR NO KEY UPDATE;
        INSERT INTO lexical_df AS l (workspace_id, term, df)
        SELECT workspace_id, term, count(*) FROM new_rows
         GROUP BY workspace_id, term ORDER BY workspace_id, term
        ON CONFLICT (workspace_id, term) DO UPDATE SET df = l.df + EXCLUDED.df;
    END IF;
    RETURN NULL;
END
$$
"""

TRIGGERS = {
    "chunks": "tb_lexical_stats_chunks",
    "chunk_terms": "tb_lexical_df_terms",
}


def upgrade() -> None:
    op.execute(
        "CREATE TABLE lexical_stats ("
        " workspace_id uuid PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,"
        " chunks bigint NOT NULL CHECK (chunks >= 0),"
        " total_terms bigint NOT NULL CHECK (total_terms >= 0),"
        " chunks_without_terms bigint NOT NULL"
        "  CHECK (chunks_without_terms >= 0 AND chunks_without_terms <= chunks))"
    )
    op.execute(
        "CREATE TABLE lexical_df ("
        " workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,"
        " term text NOT NULL,"
        " df bigint NOT NULL CHECK (df > 0),"
        " PRIMARY KEY (workspace_id, term))"
    )
    op.execute(STATS_FUNCTION)
    op.execute(DF_FUNCTION)
    for table, function in TRIGGERS.items():
        for event in ("INSERT", "UPDATE", "DELETE"):
            referencing = {
                "INSERT": "NEW TABLE AS new_rows",
                "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                "DELETE": "OLD TABLE AS old_rows",
            }[event]
            op.execute(
                f"CREATE TRIGGER lexical_{table}_{event.lower()} AFTER {event} ON {table}"
                f" REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
    # The rows so far, counted while the triggers hold writers off (row-level security lifted
    # for the owner's count, then put back).
    for table in ("chunks", "chunk_terms"):
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(
        "INSERT INTO lexical_stats (workspace_id, chunks, total_terms, chunks_without_terms)"
        " SELECT workspace_id, count(*), coalesce(sum(term_count), 0),"
        " count(*) FILTER (WHERE term_count IS NULL) FROM chunks GROUP BY workspace_id"
    )
    op.execute(
        "INSERT INTO lexical_df (workspace_id, term, df)"
        " SELECT workspace_id, term, count(*) FROM chunk_terms GROUP BY workspace_id, term"
    )
    for table in ("chunks", "chunk_terms"):
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    rls.enable("lexical_stats")
    rls.enable("lexical_df")


def downgrade() -> None:
    for table in TRIGGERS:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS lexical_{table}_{event} ON {table}")
    for function in TRIGGERS.values():
        op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    op.execute("DROP TABLE IF EXISTS lexical_df")
    op.execute("DROP TABLE IF EXISTS lexical_stats")
