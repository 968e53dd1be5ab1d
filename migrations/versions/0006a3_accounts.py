"""Accounts: verified emails, one-time account links, invitations.

Revision ID: 0006a3
Revises: 0006a2
Create Date: 2026-12-01

- ``users.email_verified_at``: set when the owner of the address opens the verification link
  (or a password-reset or invitation link, which prove the same). Accounts that existed before
  this revision are taken as verified (they signed up when nothing was asked).
- ``account_tokens``: single-use links of a user (purpose ``verify_email`` or
  ``password_reset``), stored as the sha256 of the secret. A per-user table like
  ``user_sessions``: visible to its user, or when looked up by the hash a link carries.
- ``invitations``: tenant data (a workspace's invitations), visible in the workspace, or when
  looked up by the hash its link carries.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from migrations import rls

revision: str = "0006a3"
down_revision: str | None = "0006a2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)
TS = sa.DateTime(timezone=True)
NOW = sa.text("now()")


def upgrade() -> None:
    op.add_column("users", sa.Column("email_verified_at", TS, nullable=True))
    op.execute("UPDATE users SET email_verified_at = created_at")

    op.create_table(
        "account_tokens",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("user_id", UUID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=NOW),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_account_tokens_token_hash"),
        sa.CheckConstraint("purpose IN ('verify_email', 'password_reset')", name="purpose"),
    )
    op.create_index("ix_account_tokens_user", "account_tokens", ["user_id", "purpose"])
    rls.enable(
        "account_tokens",
        using="user_id = tb_current_user() OR token_hash = tb_setting('app.lookup')",
        check="user_id = tb_current_user()",
    )

    op.create_table(
        "invitations",
        sa.Column("id", UUID, primary_key=True),
        sa.Column(
            "workspace_id", UUID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column(
            "invited_by", UUID, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("created_at", TS, nullable=False, server_default=NOW),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("accepted_at", TS, nullable=True),
        sa.Column(
            "accepted_by", UUID, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("revoked_at", TS, nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_invitations_token_hash"),
        sa.CheckConstraint("role IN ('owner', 'admin', 'member')", name="role"),
    )
    op.create_index("ix_invitations_workspace", "invitations", ["workspace_id", "created_at"])
    rls.enable(
        "invitations",
        using=f"workspace_id = {rls.CURRENT_WORKSPACE} OR token_hash = tb_setting('app.lookup')",
    )


def downgrade() -> None:
    op.drop_table("invitations")
    op.drop_table("account_tokens")
    op.drop_column("users", "email_verified_at")
