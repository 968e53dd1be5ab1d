"""``documents.ingested_notice`` / ``ingested_notice_code``: what the version answering lacks.

Revision ID: 0054
Revises: 0053
Create Date: 2026-12-07

A document ingested with a warning (a PDF page left out, ``pages_unreadable``) kept it in
``error``/``error_code``, the columns a failure writes: a replacement that failed (or one only
queued) replaced it, and the owner no longer read that the version still answering lacks a page.
The job now writes the warning here too, with the chunks (as ``ingested_at`` and
``ingested_hash``), and a failure's reason names it (``rag.knowledge.unfinished.what_answers``).

Old rows: a ``ready`` document's ``error``/``error_code`` are its warning, copied; any other
keeps NULL (its warning, if it had one, is gone already). A release below this one, still
running during the deploy, leaves the columns NULL on the documents it makes ready: their
notice shows on a ready document as before, and a later failure's reason does not name it.
Every workspace's rows: the FORCEd policy is lifted for this transaction, as in 0052. The
downgrade drops the columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0054"
down_revision: str | None = "0053"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("ingested_notice", sa.Text(), nullable=True))
    op.add_column("documents", sa.Column("ingested_notice_code", sa.String(64), nullable=True))
    op.execute("ALTER TABLE documents NO FORCE ROW LEVEL SECURITY")
    op.execute(
        "UPDATE documents SET ingested_notice = error, ingested_notice_code = error_code"
        " WHERE status = 'ready' AND error_code IS NOT NULL"
    )
    op.execute("ALTER TABLE documents FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.drop_column("documents", "ingested_notice_code")
    op.drop_column("documents", "ingested_notice")
