"""Merge the accounts (0006b*) and operator-lookup (0006f) branches into one head.

Revision ID: 0007
Revises: 0006b4, 0006f
"""

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | Sequence[str] | None = ("0006b4", "0006f")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
