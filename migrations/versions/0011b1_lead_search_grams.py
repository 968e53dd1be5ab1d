"""Leads search through a GIN index of trigrams (the leads page's search box at 10,000 leads).

Revision ID: 0011b1
Revises: 0010
Create Date: 2026-12-01

The search is "email or name contains the text, ignoring case". As ``ILIKE '%q%'`` it read and
case-folded every lead of the workspace twice (the page and its count): about 45 ms at 10,000
leads on a loaded machine. pg_trgm is not part of the embedded PostgreSQL (pgserver ships only
plpgsql and vector), so the same idea is built from core parts:

- ``tb_search_grams(email, name)``: the distinct trigrams of ``lower(email)`` and of
  ``lower(name)`` (none across the two), each as one bigint (three code points of 21 bits: exact,
  no hash, the same on every server version);
- ``leads.search_grams``: that array, a stored generated column (PostgreSQL keeps it current on
  every insert and update; checking it for a row costs an integer-array comparison, not the
  function);
- ``ix_leads_search_grams``: a GIN index on it.

Row-level security would keep that index unused: a query's own conditions may be index
conditions only if their operators are leakproof, and ``@>`` (like pg_trgm's) is not; the
planner then reads every lead of the workspace. So the index is asked through
``tb_lead_search_candidates(q, pattern)``, a SECURITY DEFINER function that runs as the table's
owner (the policy ``owner_searches`` lets that role read leads) and itself keeps to the tenant of
the transaction (``app.workspace_id``, as the policies do): it returns the ids of that
workspace's leads whose trigrams contain every trigram of ``q`` and whose ``lower(email)`` or
``lower(name)`` is ``LIKE lower(pattern)`` (the exact test), nothing else. Its query is planned
for the very values (plpgsql EXECUTE): through the index when the trigrams are rare, as a scan of
the workspace's leads when most of them contain the text. When most leads hold the trigrams
(``tb_lead_search_estimate(q)``, the planner's estimate, is large) the repository does not ask
the index at all: the first page is then found among the newest leads at once, as before. The repository then
reads those ids (``id = ANY(...)``, the primary key: equality is leakproof) under the usual
policies, so the results are those of before. The app role may execute the function
(core/migrate.py grants it).

Adding a stored column rewrites ``leads`` under an exclusive lock: seconds for a million leads.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011b1"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRAMS = "tb_search_grams(text, text)"
CANDIDATES = "tb_lead_search_candidates(text, text)"
ESTIMATE = "tb_lead_search_estimate(text)"


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tb_search_grams(a text, b text) RETURNS bigint[]
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
        $$ SELECT coalesce(array_agg(DISTINCT
                     (ascii(substr(s, i, 1))::bigint << 42)
                   | (ascii(substr(s, i + 1, 1))::bigint << 21)
                   | ascii(substr(s, i + 2, 1))::bigint), '{}')
             FROM unnest(ARRAY[lower(a), lower(b)]) AS s,
                  generate_series(1, length(s) - 2) AS i $$
        """
    )
    op.execute(
        "ALTER TABLE leads ADD COLUMN search_grams bigint[] NOT NULL"
        " GENERATED ALWAYS AS (tb_search_grams(email, name)) STORED"
    )
    # Written straight into the index (no pending list): leads are written one at a time, read
    # by searches, and the planner's costs stay right without waiting for a vacuum.
    op.execute(
        "CREATE INDEX ix_leads_search_grams ON leads USING gin (search_grams)"
        " WITH (fastupdate = off)"
    )
    # TO the table's owner, whoever ran the migrations that created it (as 0006f).
    op.execute(
        """
        DO $$ BEGIN
            EXECUTE format(
                'CREATE POLICY owner_searches ON leads FOR SELECT TO %I USING (true)',
                (SELECT pg_get_userbyid(relowner) FROM pg_class
                  WHERE oid = 'public.leads'::regclass));
        END $$
        """
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tb_lead_search_candidates(q text, pattern text)
        RETURNS SETOF uuid
        LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp ROWS 100 AS
        $$ BEGIN
            -- Planned for these very values (EXECUTE): the index when the trigrams are rare,
            -- a scan of the workspace's leads when most of them contain the text.
            RETURN QUERY EXECUTE format(
                'SELECT id FROM leads WHERE workspace_id = %L::uuid'
                ' AND search_grams @> %L::bigint[]'
                ' AND (lower(email) LIKE %L OR lower(name) LIKE %L)',
                NULLIF(current_setting('app.workspace_id', true), ''),
                tb_search_grams(q, NULL), lower(pattern), lower(pattern));
        END $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {CANDIDATES} FROM PUBLIC")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tb_lead_search_estimate(q text) RETURNS double precision
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS
        $$ DECLARE plan json;
        BEGIN
            -- The planner's estimate of the workspace's leads holding every trigram of q.
            EXECUTE format(
                'EXPLAIN (FORMAT JSON) SELECT 1 FROM leads WHERE workspace_id = %L::uuid'
                ' AND search_grams @> %L::bigint[]',
                NULLIF(current_setting('app.workspace_id', true), ''),
                tb_search_grams(q, NULL)) INTO plan;
            RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::double precision;
        END $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {ESTIMATE} FROM PUBLIC")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {ESTIMATE}")
    op.execute(f"DROP FUNCTION IF EXISTS {CANDIDATES}")
    op.execute("DROP POLICY IF EXISTS owner_searches ON leads")
    op.execute("DROP INDEX IF EXISTS ix_leads_search_grams")
    op.execute("ALTER TABLE leads DROP COLUMN IF EXISTS search_grams")
    op.execute(f"DROP FUNCTION IF EXISTS {GRAMS}")
