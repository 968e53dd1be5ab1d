"""Merge the dashboard checklist (0006d) and the re-syncing sources (0008s1) into one head.

Revision ID: 0009
Revises: 0006d, 0008s1
"""

from collections.abc import Sequence

revision: str = "0009"
down_revision: str | Sequence[str] | None = ("0006d", "0008s1")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
