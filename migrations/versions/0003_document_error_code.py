"""Documents: the stable code of the error a failed document ended with (``error_code``).

Revision ID: 0003r
Revises: 0002r
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003r"
down_revision: str | None = "0002r"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("error_code", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("documents", "error_code")
