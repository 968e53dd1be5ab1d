"""A lead submission's conversation: a foreign key that sets it NULL, and when retention took it.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-04

``lead_submissions.conversation_id`` had no foreign key: after retention deleted a conversation
the submission still named it (the API's submissions, the workspace export), and a transcript
asked for by that id was 404. ``leads.conversation_id`` had one (``ON DELETE SET NULL``, 0002),
and the lead page then dropped its link with no word why. Now:

- ``leads.conversation_deleted_at`` and ``lead_submissions.conversation_deleted_at``
  (nullable): when retention deleted the conversation; the purge sets them as it unlinks them;
- ``fk_lead_submissions_conversation_id_conversations``: ``ON DELETE SET NULL``, added
  ``NOT VALID`` (a brief lock), then validated (no lock that stops writes);
- the submissions already naming a deleted conversation are unlinked and marked (a lead's own
  link was already set NULL by its key),
  workspace by workspace under the tables' forced row-level security (the migration role sees a
  workspace's rows with ``app.workspace_id`` set, and lists the workspaces through
  ``owner_reads``, 0006f): no ``NO FORCE``, no lock on ``conversations`` beyond the key's;
- partial indexes on both ``conversation_id`` columns, built ``CONCURRENTLY``: deleting a
  conversation looks up the rows pointing at it (the key's action, and the purge's unlinking);
  without them every deleted conversation scanned both tables.

Everything runs outside a transaction, each step can be run again (a step the lock timeout
interrupted is tried again with the revision: an INVALID index is dropped first). The key is
added before the old rows are unlinked, so a purge running meanwhile leaves none behind.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "fk_lead_submissions_conversation_id_conversations"
INDEXES = {
    "leads": "ix_leads_conversation",
    "lead_submissions": "ix_lead_submissions_conversation",
}

# Every workspace (owner_reads), then in each its submissions naming a conversation that is
# gone: the rows RLS shows the migration role with app.workspace_id set.
_UNLINK_DANGLING = """
DO $$
DECLARE ws uuid;
BEGIN
  FOR ws IN SELECT id FROM workspaces LOOP
    PERFORM set_config('app.workspace_id', ws::text, true);
    UPDATE lead_submissions s SET conversation_id = NULL, conversation_deleted_at = now()
     WHERE s.workspace_id = ws AND s.conversation_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = s.conversation_id);
  END LOOP;
  PERFORM set_config('app.workspace_id', '', true);
END $$
"""


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for table, index in INDEXES.items():
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS conversation_deleted_at timestamptz"
            )
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {index}")
            op.execute(
                f"CREATE INDEX CONCURRENTLY {index} ON {table} (conversation_id)"
                " WHERE conversation_id IS NOT NULL"
            )
        op.execute(
            f"ALTER TABLE lead_submissions DROP CONSTRAINT IF EXISTS {KEY},"
            f" ADD CONSTRAINT {KEY} FOREIGN KEY (conversation_id)"
            " REFERENCES conversations (id) ON DELETE SET NULL NOT VALID"
        )
        op.execute(_UNLINK_DANGLING)
        op.execute(f"ALTER TABLE lead_submissions VALIDATE CONSTRAINT {KEY}")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(f"ALTER TABLE lead_submissions DROP CONSTRAINT IF EXISTS {KEY}")
        for table, index in INDEXES.items():
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {index}")
            op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS conversation_deleted_at")
