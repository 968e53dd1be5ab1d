"""Sources that re-sync: a web page or sitemap the workspace keeps fresh, and each sync's record.

Revision ID: 0008s1
Revises: 0006a3
Create Date: 2026-12-01

``sources``: one row per page URL or sitemap URL an owner added (``kind`` page | sitemap), its
schedule (never | daily | weekly), the validators of its last fetch (etag, last_modified,
content_hash), the sync state (``next_due_at``, a lease: ``leased_by`` / ``lease_until``, the
resume ``cursor`` of a large sitemap, consecutive failures, ``failing``).
``source_syncs``: one row per sync run (pages checked / changed / added / removed / failed,
errors). ``documents`` gain ``source_id`` and their own page validators plus
``missing_syncs`` (a page is removed only after it was gone on two syncs in a row).

Backfill: every existing ``url`` document becomes a page source (schedule never) linked to it.
Sitemap pages stored before this revision do not record their sitemap; they are linked to a
sitemap source when its sitemap is submitted or synced again.

RLS: tenant policy, plus one narrow lookup clause: while ``app.lookup`` is the scheduler's
value, the app role sees and may lease the due sources of every workspace (the sync itself
then runs in the source's own workspace context).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from migrations import rls

revision: str = "0008s1"
down_revision: str | None = "0006a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = PG_UUID(as_uuid=True)
NOW = sa.text("now()")
DUE_LOOKUP = "sources:due"


def _ws() -> sa.Column:
    return sa.Column(
        "workspace_id", UUID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )


def _ts(name: str, *, nullable: bool = True) -> sa.Column:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        nullable=nullable,
        server_default=None if nullable else NOW,
    )


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", UUID, primary_key=True),
        _ws(),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("schedule", sa.String(16), nullable=False, server_default="never"),
        sa.Column("etag", sa.String(300), nullable=True),
        sa.Column("last_modified", sa.String(100), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("consecutive_missing", sa.Integer, nullable=False, server_default="0"),
        sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failing", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("last_status", sa.String(16), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        _ts("last_synced_at"),
        _ts("next_due_at"),
        sa.Column("cursor", sa.Text, nullable=True),
        sa.Column("leased_by", sa.String(64), nullable=True),
        _ts("lease_until"),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.CheckConstraint("kind IN ('page', 'sitemap')", name="kind"),
        sa.CheckConstraint("schedule IN ('never', 'daily', 'weekly')", name="schedule"),
    )
    op.create_index(
        "uq_sources_workspace_kind_url", "sources", ["workspace_id", "kind", "url"], unique=True
    )
    op.create_index(
        "ix_sources_due",
        "sources",
        ["next_due_at"],
        postgresql_where=sa.text("next_due_at IS NOT NULL"),
    )
    op.create_table(
        "source_syncs",
        sa.Column("id", UUID, primary_key=True),
        _ws(),
        sa.Column(
            "source_id", UUID, sa.ForeignKey("sources.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="running"),
        _ts("started_at", nullable=False),
        _ts("finished_at"),
        sa.Column("pages_checked", sa.Integer, nullable=False, server_default="0"),
        sa.Column("pages_changed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("pages_added", sa.Integer, nullable=False, server_default="0"),
        sa.Column("pages_removed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("pages_failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("pages_unchanged", sa.Integer, nullable=False, server_default="0"),
        sa.Column("complete", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("errors", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    op.create_index("ix_source_syncs_source_started", "source_syncs", ["source_id", "started_at"])
    op.add_column(
        "documents",
        sa.Column(
            "source_id", UUID, sa.ForeignKey("sources.id", ondelete="SET NULL"), nullable=True
        ),
    )
    op.add_column("documents", sa.Column("etag", sa.String(300), nullable=True))
    op.add_column("documents", sa.Column("last_modified", sa.String(100), nullable=True))
    op.add_column(
        "documents",
        sa.Column("missing_syncs", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_documents_source", "documents", ["source_id"])

    # Backfill: each URL document gets its page source (as the owner: RLS binds the app role).
    op.execute(
        """
        INSERT INTO sources (id, workspace_id, url, kind, schedule, content_hash, created_at,
                             updated_at)
        SELECT gen_random_uuid(), workspace_id, source, 'page', 'never', content_hash, now(),
               now()
        FROM documents WHERE source_type = 'url'
        ON CONFLICT DO NOTHING
        """
    )
    op.execute(
        """
        UPDATE documents d SET source_id = s.id
        FROM sources s
        WHERE d.source_type = 'url' AND s.kind = 'page'
          AND s.workspace_id = d.workspace_id AND s.url = d.source
        """
    )

    tenant = f"workspace_id = {rls.CURRENT_WORKSPACE}"
    due = f"{tenant} OR tb_setting('app.lookup') = '{DUE_LOOKUP}'"
    rls.enable("sources", using=due, check=due)
    rls.enable("source_syncs")


def downgrade() -> None:
    op.drop_index("ix_documents_source", "documents")
    for column in ("missing_syncs", "last_modified", "etag", "source_id"):
        op.drop_column("documents", column)
    op.drop_table("source_syncs")
    op.drop_table("sources")
