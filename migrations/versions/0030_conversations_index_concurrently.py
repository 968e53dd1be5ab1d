"""``ix_conversations_workspace_created`` gains ``id``, built concurrently.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-04

The conversation export pages on ``(created_at, id)`` through this index. It was rebuilt in
0028's transaction, which held a SHARE lock on ``conversations`` for the whole build: every new
visitor's first message (a new conversation) waited meanwhile. Here the new index is built
``CONCURRENTLY`` under a temporary name outside a transaction, the old one dropped
``CONCURRENTLY`` and the new one renamed (a brief lock). Each step can be run again: a build
the lock timeout interrupted (``MIGRATION_LOCK_TIMEOUT_MS``; core.migrate tries the revision
again) leaves an INVALID index under the temporary name, dropped first on the next try.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_conversations_workspace_created"
BUILDING = "ix_conversations_workspace_created_next"


def _rebuild(columns: str) -> None:
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {BUILDING}")
        op.execute(f"CREATE INDEX CONCURRENTLY {BUILDING} ON conversations ({columns})")
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
        op.execute(f"ALTER INDEX {BUILDING} RENAME TO {INDEX}")


def upgrade() -> None:
    _rebuild("workspace_id, created_at, id")


def downgrade() -> None:
    _rebuild("workspace_id, created_at")
