"""How many times a document's job was put back in the queue because its server stopped mid-run.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-08

Without REDIS_URL the jobs run inside `trulybot serve`. A document whose job was running when the
server stopped (SIGTERM, Ctrl-C) ended ``failed`` (``interrupted``), and the owner had to press
Retry after every restart. Now it goes back to ``queued`` and the next start runs it, at most
``MAX_STOP_REQUEUES`` times in a row (rag/knowledge/unfinished.py): a document whose job is always
running when the server stops (it hangs, or the operator stops the server because of it) then
ends ``failed`` (``interrupted``) as before. 0 for existing rows: additive, nothing to backfill.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "documents",
        sa.Column("stop_requeues", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("documents", "stop_requeues")
