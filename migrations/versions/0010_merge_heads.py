"""Merge the analytics rollup (0008t1) into the one head.

Revision ID: 0010
Revises: 0009, 0008t1
"""

from collections.abc import Sequence

revision: str = "0010"
down_revision: str | Sequence[str] | None = ("0009", "0008t1")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
