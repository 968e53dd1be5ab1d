"""A lead with a phone number and no email address.

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-05

A visitor who leaves only a phone number ("call me on +91 98765 43210", "mera number
9876543210 hai") was detected as a sales lead, asked for an email address, and no lead was
saved: ``leads.email`` was NOT NULL. Now:

- ``leads.email`` and ``lead_submissions.email`` may be NULL, and a check
  (``ck_leads_email_or_phone``) keeps a lead with neither (added NOT VALID, then validated in
  a transaction of its own: every existing lead has an email; no table rewrite, writes wait
  only for the brief catalog changes).
- ``uq_leads_workspace_phone``: one lead without email per phone number of a workspace, the
  number compared by its digits alone ("+91 98765-43210" is "919876543210"), as leads with an
  email are one per address (``uq_leads_workspace_email``, lowered). Partial (``email IS
  NULL``): no existing row is in it, so building it reads the table once and writes nothing;
  built ``CONCURRENTLY``, outside a transaction, so writes go on meanwhile.

Row-level security is the table's own (``leads`` and ``lead_submissions`` keep their policies
on ``app.workspace_id``). Downgrade refuses while a lead without email exists (deleting a
workspace's leads is not a migration's to do).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PHONE_KEY = "regexp_replace(phone, '[^0-9]', '', 'g')"
"""The phone number's digits: what ``workspaces.lead_repository`` names the conflict by."""
CHECK = "ck_leads_email_or_phone"
INDEX = "uq_leads_workspace_phone"


def upgrade() -> None:
    # Outside a transaction, step by step, as 0032: each ALTER holds its ACCESS EXCLUSIVE lock
    # a moment (catalog changes only); the validating scan (SHARE UPDATE EXCLUSIVE) and the
    # index build (CONCURRENTLY) let reads and writes of ``leads`` go on. In one transaction
    # the first ALTER's lock was held through both passes over the table. Every step can run
    # again after an interruption (an INVALID index left by a failed build is dropped first).
    with op.get_context().autocommit_block():
        op.execute("ALTER TABLE leads ALTER COLUMN email DROP NOT NULL")
        op.execute("ALTER TABLE lead_submissions ALTER COLUMN email DROP NOT NULL")
        op.execute(
            f"ALTER TABLE leads DROP CONSTRAINT IF EXISTS {CHECK},"
            f" ADD CONSTRAINT {CHECK} CHECK (email IS NOT NULL OR phone IS NOT NULL) NOT VALID"
        )
        op.execute(f"ALTER TABLE leads VALIDATE CONSTRAINT {CHECK}")
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
        op.execute(
            f"CREATE UNIQUE INDEX CONCURRENTLY {INDEX} ON leads (workspace_id, {PHONE_KEY})"
            " WHERE email IS NULL"
        )


def downgrade() -> None:
    op.execute(
        """
        DO $$ BEGIN
            -- (a submission without email is always a lead's without email; the owner reads
            -- leads through 0011b1's owner_searches)
            IF EXISTS (SELECT 1 FROM leads WHERE email IS NULL) THEN
                RAISE EXCEPTION 'leads without an email address exist: delete them first';
            END IF;
        END $$
        """
    )
    op.execute("DROP INDEX IF EXISTS uq_leads_workspace_phone")
    op.execute("ALTER TABLE leads DROP CONSTRAINT IF EXISTS ck_leads_email_or_phone")
    op.execute("ALTER TABLE lead_submissions ALTER COLUMN email SET NOT NULL")
    op.execute("ALTER TABLE leads ALTER COLUMN email SET NOT NULL")
