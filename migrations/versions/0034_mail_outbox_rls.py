"""Row-level security on the mail outbox: no transaction reads it without a reason to.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-05

``mail_outbox`` had none (0006a2: "not tenant data, like ``users``"), yet it holds every
account's live links in its bodies (a password reset for an hour, an invitation for days, an
address to confirm) and, for 7 days, the leads and visitors' words the owners' mails quote. Any
statement without a tenant context (a repository that forgot one, an injected one) read all of
it: whoever could read it could take over any account with a reset link not used yet.

ENABLE + FORCE, and one policy:

- reads, updates and deletes: with ``app.lookup = 'mail_outbox:send'`` (the mail job: claiming,
  sending, marking, the clean-up; ``core.mail_repository.OUTBOX_SENDER``), or in a workspace's
  context the mails about it (``about_workspace``: erasure, retention, purge, a deleted lead),
  or those carrying an invitation the transaction can see (``about_invitation``, under the
  invitations' own policy: withdrawing it deletes its mail not sent yet);
- writes: any transaction (a mail is written in the transaction of the action that causes it,
  whatever its context).

The policy only: no row is rewritten (ACCESS EXCLUSIVE on ``mail_outbox`` for a moment).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE mail_outbox ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE mail_outbox FORCE ROW LEVEL SECURITY")
    op.execute("DROP POLICY IF EXISTS tenant_isolation ON mail_outbox")
    op.execute(
        "CREATE POLICY tenant_isolation ON mail_outbox USING ("
        " tb_setting('app.lookup') = 'mail_outbox:send'"
        " OR about_workspace = tb_current_workspace()"
        " OR about_invitation IN (SELECT id FROM invitations)"
        ") WITH CHECK (true)"
    )


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS tenant_isolation ON mail_outbox")
    op.execute("ALTER TABLE mail_outbox NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE mail_outbox DISABLE ROW LEVEL SECURITY")
