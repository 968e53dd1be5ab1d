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

**Mail being sent during the rollout.** The previous release's mail job claims a message
(``locked_until``), hands it to the relay with no transaction open, then marks it sent; it sets
no ``app.lookup``. Applied between its claim and its mark, this policy hid the row from the
mark: the message stayed unsent under a claim nobody would settle, and once the claim ran out
(5 minutes or more) this release's mail job sent it again: a second password reset, invitation
or "Payment received". So the policy waits until no message is claimed and unsent (a send in
flight, or a claim of a job that died, which runs out by itself), takes the table's lock, and
checks again under it: a claim made in between lets the lock go (a savepoint) and waits once
more. After ``SETTLE_SECONDS`` of mail always in flight it stops with an error that says to
stop the previous release's workers (docs/deploy.md); nothing is applied then, and ``trulybot
migrate`` may simply be run again.
"""

import time
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from core.errors import ConfigError

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Longer than a claim of the previous release lasts (300 s at least; its tries per flush times
# the SMTP timeouts beyond that): a claim of a job that died runs out within it.
SETTLE_SECONDS = 900.0
POLL_SECONDS = 0.2

# clock_timestamp(), not now(): now() is the transaction's start, fixed while this one waits.
_IN_FLIGHT = sa.text(
    "SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL"
    " AND locked_until > clock_timestamp()"
)


class MailInFlight(ConfigError):
    """Said by ``trulybot migrate`` as its reason to stop, with no traceback."""


def _settle_sends() -> None:
    """Return holding ``mail_outbox``'s ACCESS EXCLUSIVE lock with no message claimed and
    unsent: each send of the previous release claimed before it has been marked (see the
    module). Waiting holds no lock its mail job's statements wait for."""
    if context.is_offline_mode():
        return
    bind = op.get_bind()
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        if not bind.execute(_IN_FLIGHT).scalar():
            attempt = bind.begin_nested()
            bind.execute(sa.text("LOCK TABLE mail_outbox IN ACCESS EXCLUSIVE MODE"))
            if not bind.execute(_IN_FLIGHT).scalar():
                attempt.commit()  # the lock stays until the revision commits
                return
            attempt.rollback()  # claimed meanwhile: the lock goes, its mark may come
        if time.monotonic() > deadline:
            raise MailInFlight(
                "mail_outbox: the previous release's mail job has had mail in flight for"
                f" {SETTLE_SECONDS:.0f} s; stop its workers and run the migration again"
                " (nothing of 0034 is applied)"
            )
        bind.execute(sa.text("SELECT pg_sleep(:s)"), {"s": POLL_SECONDS})


def upgrade() -> None:
    _settle_sends()
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
