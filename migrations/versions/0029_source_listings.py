"""What each sitemap source lists, and its sitemap files' validators.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-08

``sources.listed_urls``: the pages a sitemap source's last read listing named (at most
SITEMAP_MAX_PAGES). A page two sitemaps list is kept by one of them (``documents.source_id``);
deleting that source, or its dropping the page, hands the page over to another sitemap source
that still lists it instead of deleting it.

``sources.sitemap_files``: per sitemap file of the source, its ETag / Last-Modified and what it
listed (zlib-compressed JSON), so the next sync asks each file conditionally and an unchanged
file (a 304) is neither downloaded nor parsed again. NULL until the next sync: additive, nothing
to backfill.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sources",
        sa.Column("listed_urls", ARRAY(sa.Text()), nullable=False, server_default="{}"),
    )
    op.add_column("sources", sa.Column("sitemap_files", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("sources", "sitemap_files")
    op.drop_column("sources", "listed_urls")
