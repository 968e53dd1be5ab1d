"""Pages an owner deleted from a sitemap source stay deleted.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

A page of a sitemap source that its owner deleted came back at the next sync, since the sitemap
still lists it (a tester's finding). ``sources.excluded_urls`` holds the pages deleted from the
source; its syncs leave them out until the sitemap is submitted again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sources",
        sa.Column("excluded_urls", ARRAY(sa.Text()), nullable=False, server_default="{}"),
    )


def downgrade() -> None:
    op.drop_column("sources", "excluded_urls")
