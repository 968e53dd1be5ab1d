"""Webhook deliveries: ``cancelled``, and the retry job's listing of workspaces with due ones.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-08

A delivery is posted to the workspace's webhook URL as it is at each attempt; one whose
workspace has no URL any more (removed by its owner, or the workspace deleted) is not sent and
becomes ``cancelled`` (rag/chat/notify.py). The status check gains that value.

The periodic ``webhook_retry`` used to walk every live workspace each minute, one transaction
each, to find the few with due deliveries. While ``app.lookup`` is ``webhook_deliveries:due``
the app role may now read (never write: the check stays the tenant's) every workspace's
deliveries, to list the workspaces that have one due (ix_webhook_deliveries_due); each
workspace's retry then runs in its own context.
"""

from collections.abc import Sequence

from alembic import op

from migrations import rls

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DUE_LOOKUP = "webhook_deliveries:due"
STATUSES = "'pending', 'delivered', 'failed', 'cancelled'"
OLD_STATUSES = "'pending', 'delivered', 'failed'"


def _status_check(statuses: str) -> None:
    op.execute(
        "ALTER TABLE webhook_deliveries DROP CONSTRAINT IF EXISTS ck_webhook_deliveries_status"
    )
    op.execute("ALTER TABLE webhook_deliveries DROP CONSTRAINT IF EXISTS status")
    op.execute(
        "ALTER TABLE webhook_deliveries ADD CONSTRAINT ck_webhook_deliveries_status"
        f" CHECK (status IN ({statuses}))"
    )


def upgrade() -> None:
    _status_check(STATUSES)
    tenant = f"workspace_id = {rls.CURRENT_WORKSPACE}"
    due = f"{tenant} OR tb_setting('app.lookup') = '{DUE_LOOKUP}'"
    rls.enable("webhook_deliveries", using=due, check=tenant)


def downgrade() -> None:
    rls.enable("webhook_deliveries")
    # Every workspace's rows: the owner role (no BYPASSRLS in production) is bound by the FORCEd
    # policy too, which shows it none with no workspace set; lifted for this transaction only.
    op.execute("ALTER TABLE webhook_deliveries NO FORCE ROW LEVEL SECURITY")
    op.execute("UPDATE webhook_deliveries SET status = 'failed' WHERE status = 'cancelled'")
    op.execute("ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY")
    _status_check(OLD_STATUSES)
