"""Sign-in sessions: one row per refresh token (or web cookie), grouped in families.

Revision ID: 0006a1
Revises: 0005a
Create Date: 2026-12-01

A session is a family: login starts one (row ``id`` = ``family_id``), each refresh revokes the
row it used (reason ``rotated``) and adds the next row of the family. Access tokens carry the
family id (claim ``sid``); a family is alive while one of its rows is unrevoked and unexpired.

Not tenant data: a per-user table, protected like memberships. A row is visible to its user
(``app.user_id``) or when looked up by its token hash (``app.lookup``: a refresh or cookie
secret presented by a client); rows are written only as their user.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from migrations import rls

revision: str = "0006a1"
down_revision: str | None = "0005a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("user_id", UUID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("family_id", UUID, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.text("now()")),
        sa.Column("last_used_at", TS, nullable=False, server_default=sa.text("now()")),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("revoked_reason", sa.String(32), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_user_sessions_token_hash"),
        sa.CheckConstraint("kind IN ('api', 'web')", name="kind"),
    )
    # The per-request check: is family `sid` of this user still alive?
    op.execute(
        "CREATE INDEX ix_user_sessions_live_family ON user_sessions (family_id)"
        " WHERE revoked_at IS NULL"
    )
    op.create_index("ix_user_sessions_user", "user_sessions", ["user_id", "created_at"])
    rls.enable(
        "user_sessions",
        using="user_id = tb_current_user() OR token_hash = tb_setting('app.lookup')",
        check="user_id = tb_current_user()",
    )


def downgrade() -> None:
    op.drop_table("user_sessions")
