"""Merge the branches that grew from 0001 (audit, billing, conversations, knowledge with its
document error codes) into one head.

Revision ID: 0003
Revises: 0002a, 0002b, 0002p, 0003r
Create Date: 2026-12-02
"""

from collections.abc import Sequence

revision: str = "0003"
down_revision: str | Sequence[str] | None = ("0002a", "0002b", "0002p", "0003r")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
