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

The repository asks ``search_grams @> tb_search_grams(q, NULL)`` (every trigram of a query of 3
or more characters) and keeps the exact ``lower(...) LIKE`` test, so the results are those of
before; the index only narrows the rows read. Adding a stored column rewrites ``leads`` under an
exclusive lock: seconds for a million leads.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011b1"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRAMS = "tb_search_grams(text, text)"


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
    op.execute("CREATE INDEX ix_leads_search_grams ON leads USING gin (search_grams)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_leads_search_grams")
    op.execute("ALTER TABLE leads DROP COLUMN IF EXISTS search_grams")
    op.execute(f"DROP FUNCTION IF EXISTS {GRAMS}")
