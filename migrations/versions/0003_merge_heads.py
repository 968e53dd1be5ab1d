"""Merge the four 0002 branches (audit, billing, conversations, knowledge) into one head.

Revision ID: 0003
Revises: 0002a, 0002b, 0002p, 0002r
Create Date: 2026-12-02
"""

from collections.abc import Sequence

revision: str = "0003"
down_revision: str | Sequence[str] | None = ("0002a", "0002b", "0002p", "0002r")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
