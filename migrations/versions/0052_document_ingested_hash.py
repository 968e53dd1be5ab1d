"""``documents.ingested_hash``: the ``content_hash`` of the version whose chunks answer.

Revision ID: 0052
Revises: 0051
Create Date: 2026-12-06

A document that fails keeps its last good version's chunks (0051). Its stored content (the
body, ``content_hash``) is the version that failed: a replacement, or the version answering
run again (``trulybot reindex`` re-cutting it for a new chunk format, a Retry of that). The
owner's reason told both to upload the file again to go back to the last good version; a
re-indexing that failed had nothing to go back to. ``rag.knowledge.unfinished.what_answers``
now compares the two hashes. The job sets ``ingested_hash`` when it stores a document's chunks.

Old rows: a ``ready`` document's chunks are those of its stored content, so it gets its
``content_hash``; any other keeps NULL (not known: a failed or queued document's stored content
may be a replacement), and its failure is worded as a replacement's, as before. A release
below this one, still running during the deploy, leaves the column NULL on the documents it
makes ready: the same. Every workspace's rows: the owner role (no BYPASSRLS in production) is
bound by the FORCEd policy too, lifted for this transaction. The downgrade drops the column.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0052"
down_revision: str | None = "0051"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("ingested_hash", sa.String(64), nullable=True))
    op.execute("ALTER TABLE documents NO FORCE ROW LEVEL SECURITY")
    op.execute("UPDATE documents SET ingested_hash = content_hash WHERE status = 'ready'")
    op.execute("ALTER TABLE documents FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.drop_column("documents", "ingested_hash")
