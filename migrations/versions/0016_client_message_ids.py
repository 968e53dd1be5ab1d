"""A visitor's message sent again is recognised by its client_message_id, not recorded twice.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04

The widget re-sent a message the server had already recorded and metered (the connection lost
after the stream's first event, an embedding failure after the message's transaction): the owner
got the question, its answer and a conversation once per try, each metered. A message may now
carry the client's id for it (``client_message_id``), unique in its workspace; a repeat is
answered from what the first try recorded (rag/chat/repeats.py).

On the visitor's message:
- ``client_message_id``: the id the client sent with it (NULL when it sent none);
- ``reply_id``: the id its answer is recorded under (the answer's ``messages.id``);
- ``reply_claimed_at``: when a try took up answering it; NULL once a try failed without an
  answer (a repeat then answers it), and a claim older than the lease is taken over too.

On an answer, ``answer_flags``: what its response said beyond the row (``lead_capture``,
``lead_saved``, ``extractive``), so that a repeat answers the same; NULL when none is set.

New columns are NULL for existing rows (no rewrite of the table); the unique index is partial,
over the messages that carry an id only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_messages_client_message_id"


def upgrade() -> None:
    op.add_column("messages", sa.Column("client_message_id", sa.String(64), nullable=True))
    op.add_column("messages", sa.Column("reply_id", pg.UUID(as_uuid=True), nullable=True))
    op.add_column(
        "messages", sa.Column("reply_claimed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("messages", sa.Column("answer_flags", pg.JSONB, nullable=True))
    op.create_index(
        INDEX,
        "messages",
        ["workspace_id", "client_message_id"],
        unique=True,
        postgresql_where=sa.text("client_message_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="messages")
    op.drop_column("messages", "answer_flags")
    op.drop_column("messages", "reply_claimed_at")
    op.drop_column("messages", "reply_id")
    op.drop_column("messages", "client_message_id")
