"""``documents.ingested_at``: when the version of a document whose chunks answer was ingested.

Revision ID: 0051
Revises: 0050
Create Date: 2026-12-06

A replacement that fails (a new file with no text, one that will not parse, past the chunks
quota) leaves the document ``failed`` while its previous chunks keep answering: they are
swapped only in the ingestion job's last transaction. The owner is now told so, with the chunk
count and the time that version was ingested (``rag.knowledge.unfinished.mark_failed``, the
documents API's ``ingested_at``, the dashboard). ``processed_at`` cannot say it: a failure
writes it too. The job sets ``ingested_at`` when it stores a document's chunks.

Old rows: a ``ready`` document's chunks are those of its last processing, so it gets its
``processed_at``; any other keeps NULL (not known: a failed or queued document's
``processed_at`` may be a failure's). A release below this one, still running during the
deploy, leaves the column NULL on the documents it makes ready: the owner is then told the
chunk count without the time. Every workspace's rows: the owner role (no BYPASSRLS in
production) is bound by the FORCEd policy too, lifted for this transaction. The downgrade drops
the column.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0051"
down_revision: str | None = "0050"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("ALTER TABLE documents NO FORCE ROW LEVEL SECURITY")
    op.execute("UPDATE documents SET ingested_at = processed_at WHERE status = 'ready'")
    op.execute("ALTER TABLE documents FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.drop_column("documents", "ingested_at")
