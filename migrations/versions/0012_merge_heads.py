"""Merge the notifications (0011n1) and the lead search index (0011b1) into one head.

Revision ID: 0012
Revises: 0011n1, 0011b1
"""

from collections.abc import Sequence

revision: str = "0012"
down_revision: str | Sequence[str] | None = ("0011n1", "0011b1")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
